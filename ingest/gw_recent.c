/*
 * gw_recent — see gw_recent.h. Records are laid end to end in a list of chunks, oldest
 * first: adding copies into the newest chunk, dropping advances over the oldest and frees
 * a chunk once it is passed (one spare is kept, so a steady stream allocates nothing).
 * Chunks are mapped from the kernel, not malloc'd: when the store shrinks after a burst its
 * pages go back at once, where freed 256 KB blocks of the Kafka thread's malloc arena,
 * among the small long-lived frames it makes for the rooms' rings, could stay. (At a steady
 * 5,000 users the gateway's RSS is the same either way: 110 MB, 98-101 with the store off.)
 *
 * A room's records are chained newest to oldest, and a small table (cs_hash_keyed: room
 * names are chosen by clients) finds a room's newest, so starting a room costs its own
 * records and not the whole store — walking all of it took ~200 us at 50,000 records, and
 * a client joining made-up rooms would have made every join cost that. A link names its
 * record by address and number: the record is still there if its number is not below the
 * oldest kept, and nothing older is followed.
 */
#include "gw_recent.h"

#include "cs_hash.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct gw_recent_rec {
    uint64_t seq;
    int64_t at_ms;
    struct gw_recent_rec *prev; /* the room's record before this one (see prev_seq) */
    uint64_t prev_seq;          /* prev's number; 0 = none */
    uint32_t hash;              /* of the key */
    uint32_t key_len, value_len;
    /* then the key's bytes, the value's, and padding to 8 */
} gw_recent_rec_t;

/* A room with records kept: its newest. The key's bytes are the newest record's. */
typedef struct gw_recent_key {
    struct gw_recent_key *next;
    gw_recent_rec_t *newest;
    uint64_t newest_seq;
} gw_recent_key_t;

#define GW_RECENT_HDR ((sizeof(gw_recent_rec_t) + 7) & ~(size_t)7)
#define GW_RECENT_CHUNK ((size_t)256 * 1024)
#define GW_RECENT_MIN_BUCKETS 256

typedef struct gw_recent_chunk {
    struct gw_recent_chunk *next;
    size_t used, cap;
    unsigned char data[]; /* at offset 24: records stay 8-aligned */
} gw_recent_chunk_t;

struct gw_recent {
    pthread_mutex_t lock;
    int64_t max_ms;
    size_t max_bytes;
    gw_recent_chunk_t *head, *tail; /* oldest, newest */
    size_t head_off;                /* the oldest record kept, in head */
    gw_recent_chunk_t *spare;
    size_t records, bytes;
    uint64_t last_seq;
    uint64_t evicted_full;
    gw_recent_key_t **buckets; /* a power of two of them */
    size_t nbuckets, nkeys;
};

static gw_recent_chunk_t *gw_recent_chunk_new(size_t cap)
{
    void *p = mmap(NULL, sizeof(gw_recent_chunk_t) + cap, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    gw_recent_chunk_t *c = p;
    c->cap = cap;
    return c;
}

static void gw_recent_chunk_free(gw_recent_chunk_t *c)
{
    if (c)
        munmap(c, sizeof(*c) + c->cap);
}

static size_t gw_recent_size(size_t key_len, size_t value_len)
{
    return (GW_RECENT_HDR + key_len + value_len + 7) & ~(size_t)7;
}

static gw_recent_rec_t *gw_recent_at(gw_recent_chunk_t *c, size_t off)
{
    return (gw_recent_rec_t *)(void *)(c->data + off);
}

static const unsigned char *gw_recent_key_of(const gw_recent_rec_t *rec)
{
    return (const unsigned char *)rec + GW_RECENT_HDR;
}

/* The number of the oldest record kept; past the last when none is. */
static uint64_t gw_recent_oldest_seq(gw_recent_t *r)
{
    return r->records ? gw_recent_at(r->head, r->head_off)->seq : r->last_seq + 1;
}

gw_recent_t *gw_recent_new(int64_t max_ms, size_t max_bytes)
{
    gw_recent_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->nbuckets = GW_RECENT_MIN_BUCKETS;
    if (!(r->buckets = calloc(r->nbuckets, sizeof(*r->buckets)))) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    r->max_ms = max_ms > 0 ? max_ms : 0;
    r->max_bytes = max_bytes;
    return r;
}

void gw_recent_destroy(gw_recent_t *r)
{
    if (!r)
        return;
    for (gw_recent_chunk_t *c = r->head, *n; c; c = n) {
        n = c->next;
        gw_recent_chunk_free(c);
    }
    for (size_t b = 0; b < r->nbuckets; b++)
        for (gw_recent_key_t *k = r->buckets[b], *n; k; k = n) {
            n = k->next;
            free(k);
        }
    free(r->buckets);
    gw_recent_chunk_free(r->spare);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* The table's slot for the key: where its entry is, or where a new one goes. */
static gw_recent_key_t **gw_recent_slot(gw_recent_t *r, uint32_t hash, const void *key,
                                        size_t key_len)
{
    gw_recent_key_t **pp = &r->buckets[hash & (r->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        const gw_recent_rec_t *n = (*pp)->newest;
        if (n->hash == hash && n->key_len == key_len &&
            memcmp(gw_recent_key_of(n), key, key_len) == 0)
            break;
    }
    return pp;
}

/* Doubles the table when the rooms outnumber its buckets twice over (no memory: stays). */
static void gw_recent_grow(gw_recent_t *r)
{
    if (r->nkeys <= r->nbuckets * 2)
        return;
    size_t n = r->nbuckets * 2;
    gw_recent_key_t **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < r->nbuckets; i++)
        for (gw_recent_key_t *k = r->buckets[i], *next; k; k = next) {
            next = k->next;
            gw_recent_key_t **slot = &b[k->newest->hash & (n - 1)];
            k->next = *slot;
            *slot = k;
        }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}

/* Drops the oldest record (one is kept), and its room's entry if it was the room's last. */
static void gw_recent_pop(gw_recent_t *r)
{
    gw_recent_chunk_t *c = r->head;
    gw_recent_rec_t *rec = gw_recent_at(c, r->head_off);
    gw_recent_key_t **pp = gw_recent_slot(r, rec->hash, gw_recent_key_of(rec), rec->key_len);
    if (*pp && (*pp)->newest_seq == rec->seq) {
        gw_recent_key_t *k = *pp;
        *pp = k->next;
        free(k);
        r->nkeys--;
    }
    size_t size = gw_recent_size(rec->key_len, rec->value_len);
    r->head_off += size;
    r->bytes -= size;
    r->records--;
    if (r->head_off < c->used)
        return;
    r->head_off = 0;
    if (c == r->tail) {
        c->used = 0; /* empty: the one chunk starts over */
        return;
    }
    r->head = c->next;
    if (!r->spare && c->cap == GW_RECENT_CHUNK)
        r->spare = c;
    else
        gw_recent_chunk_free(c);
}

static void gw_recent_expire_locked(gw_recent_t *r, int64_t now_ms)
{
    while (r->records > 0 && gw_recent_at(r->head, r->head_off)->at_ms < now_ms - r->max_ms)
        gw_recent_pop(r);
}

/* A chunk with room for `size` more bytes at the end of the list; NULL: out of memory. */
static gw_recent_chunk_t *gw_recent_room_for(gw_recent_t *r, size_t size)
{
    gw_recent_chunk_t *t = r->tail;
    if (t && t->cap - t->used >= size)
        return t;
    gw_recent_chunk_t *c = NULL;
    if (size <= GW_RECENT_CHUNK && r->spare) {
        c = r->spare;
        r->spare = NULL;
    } else {
        if (!(c = gw_recent_chunk_new(size > GW_RECENT_CHUNK ? size : GW_RECENT_CHUNK)))
            return NULL;
    }
    c->next = NULL;
    c->used = 0;
    if (t && r->records == 0) {
        /* the list is one empty chunk, too small for this record: replace it */
        if (!r->spare && t->cap == GW_RECENT_CHUNK)
            r->spare = t;
        else
            gw_recent_chunk_free(t);
        r->head = r->tail = NULL;
        r->head_off = 0;
        t = NULL;
    }
    if (t)
        t->next = c;
    else
        r->head = c;
    r->tail = c;
    return c;
}

uint64_t gw_recent_add(gw_recent_t *r, const void *key, size_t key_len, const void *value,
                       size_t value_len, int64_t now_ms)
{
    size_t size = gw_recent_size(key_len, value_len);
    pthread_mutex_lock(&r->lock);
    uint64_t seq = ++r->last_seq;
    if (r->max_ms == 0 || size > r->max_bytes || key_len > UINT32_MAX || value_len > UINT32_MAX)
        goto out;
    gw_recent_expire_locked(r, now_ms);
    while (r->records > 0 && r->bytes + size > r->max_bytes) {
        gw_recent_pop(r);
        r->evicted_full++;
    }
    uint32_t hash = cs_hash_keyed(key, key_len);
    gw_recent_key_t **pp = gw_recent_slot(r, hash, key, key_len), *k = *pp;
    if (!k) {
        if (!(k = calloc(1, sizeof(*k))))
            goto out; /* not kept: a room's records are all findable or not there */
        *pp = k;
        r->nkeys++;
    }
    gw_recent_chunk_t *c = gw_recent_room_for(r, size);
    if (!c) {
        if (!k->newest) { /* the entry just made: nothing to find yet */
            *pp = k->next;
            free(k);
            r->nkeys--;
        }
        goto out;
    }
    gw_recent_rec_t *rec = gw_recent_at(c, c->used);
    rec->seq = seq;
    rec->at_ms = now_ms;
    rec->prev = k->newest;
    rec->prev_seq = k->newest ? k->newest_seq : 0;
    rec->hash = hash;
    rec->key_len = (uint32_t)key_len;
    rec->value_len = (uint32_t)value_len;
    unsigned char *p = (unsigned char *)rec + GW_RECENT_HDR;
    if (key_len)
        memcpy(p, key, key_len);
    if (value_len)
        memcpy(p + key_len, value, value_len);
    k->newest = rec;
    k->newest_seq = seq;
    c->used += size;
    r->records++;
    r->bytes += size;
    gw_recent_grow(r);
out:
    pthread_mutex_unlock(&r->lock);
    return seq;
}

void gw_recent_expire(gw_recent_t *r, int64_t now_ms)
{
    pthread_mutex_lock(&r->lock);
    gw_recent_expire_locked(r, now_ms);
    pthread_mutex_unlock(&r->lock);
}

uint64_t gw_recent_each(gw_recent_t *r, const void *key, size_t key_len, size_t max,
                        int64_t now_ms, gw_recent_fn fn, void *arg)
{
    uint32_t hash = cs_hash_keyed(key, key_len);
    pthread_mutex_lock(&r->lock);
    gw_recent_expire_locked(r, now_ms);
    gw_recent_key_t *k = *gw_recent_slot(r, hash, key, key_len);
    uint64_t oldest = gw_recent_oldest_seq(r);
    /* Records leave from the head only, and those read at start are added in partition
     * batches, not in time order: one older than max_ms can sit behind a younger one, so
     * the age is checked here too. */
    int64_t cutoff = now_ms - r->max_ms;
    /* newest to oldest along the chain, then handed out oldest first */
    size_t n = 0;
    gw_recent_rec_t **recs = NULL;
    if (k && max > 0) {
        size_t cap = 0;
        for (gw_recent_rec_t *p = k->newest; p && cap < max; p = p->prev_seq >= oldest ? p->prev : NULL)
            cap += p->at_ms >= cutoff;
        recs = malloc(cap * sizeof(*recs));
        for (gw_recent_rec_t *p = k->newest; recs && p && n < cap;
             p = p->prev_seq >= oldest ? p->prev : NULL)
            if (p->at_ms >= cutoff)
                recs[n++] = p;
    }
    for (size_t i = n; i-- > 0;)
        fn(arg, recs[i]->seq, gw_recent_key_of(recs[i]) + recs[i]->key_len, recs[i]->value_len);
    free(recs);
    uint64_t last = r->last_seq;
    pthread_mutex_unlock(&r->lock);
    return last;
}

void gw_recent_stats(gw_recent_t *r, int64_t now_ms, gw_recent_stats_t *out)
{
    pthread_mutex_lock(&r->lock);
    out->records = r->records;
    out->bytes = r->bytes;
    out->span_ms = r->records ? now_ms - gw_recent_at(r->head, r->head_off)->at_ms : 0;
    out->evicted_full = r->evicted_full;
    out->rooms = r->nkeys;
    pthread_mutex_unlock(&r->lock);
}
