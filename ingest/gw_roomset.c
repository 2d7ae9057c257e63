/*
 * gw_roomset — see gw_roomset.h. Chained hash, doubled when the rooms outnumber the
 * buckets twice over; entries are freed when the last loop releases them.
 */
#include "gw_roomset.h"

#include "cs_hash.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gw_roomset_entry {
    struct gw_roomset_entry *next;
    uint32_t hash;
    uint32_t loops; /* bit i: loop i holds the room */
    size_t len;
    char name[];
} gw_roomset_entry_t;

struct gw_roomset {
    pthread_mutex_t lock;
    gw_roomset_entry_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    cs_gauge_t *gauge;
};

#define GW_ROOMSET_MIN_BUCKETS 1024

gw_roomset_t *gw_roomset_new(cs_gauge_t *count)
{
    gw_roomset_t *set = calloc(1, sizeof(*set));
    if (!set)
        return NULL;
    set->nbuckets = GW_ROOMSET_MIN_BUCKETS;
    if (!(set->buckets = calloc(set->nbuckets, sizeof(*set->buckets)))) {
        free(set);
        return NULL;
    }
    pthread_mutex_init(&set->lock, NULL);
    set->gauge = count;
    cs_gauge_set(set->gauge, 0);
    return set;
}

void gw_roomset_destroy(gw_roomset_t *set)
{
    if (!set)
        return;
    for (size_t b = 0; b < set->nbuckets; b++)
        for (gw_roomset_entry_t *e = set->buckets[b], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(set->buckets);
    pthread_mutex_destroy(&set->lock);
    free(set);
}

static gw_roomset_entry_t **gw_roomset_slot(gw_roomset_t *set, const void *room, size_t len,
                                            uint32_t h)
{
    gw_roomset_entry_t **pp = &set->buckets[h & (set->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->len == len && memcmp((*pp)->name, room, len) == 0)
            break;
    return pp;
}

/* Doubles the buckets; on allocation failure the chains just stay longer. */
static void gw_roomset_grow(gw_roomset_t *set)
{
    size_t n = set->nbuckets * 2;
    gw_roomset_entry_t **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < set->nbuckets; i++)
        for (gw_roomset_entry_t *e = set->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(set->buckets);
    set->buckets = b;
    set->nbuckets = n;
}

bool gw_roomset_hold(gw_roomset_t *set, const char *room, int loop)
{
    uint32_t bit = UINT32_C(1) << loop;
    size_t len = strlen(room);
    uint32_t h = cs_hash_keyed(room, len);
    bool ok = true;
    pthread_mutex_lock(&set->lock);
    gw_roomset_entry_t **pp = gw_roomset_slot(set, room, len, h);
    if (*pp) {
        (*pp)->loops |= bit;
    } else if ((*pp = malloc(sizeof(**pp) + len + 1))) {
        **pp = (gw_roomset_entry_t){.hash = h, .loops = bit, .len = len};
        memcpy((*pp)->name, room, len + 1);
        if (++set->count > set->nbuckets * 2)
            gw_roomset_grow(set);
        cs_gauge_set(set->gauge, (double)set->count);
    } else {
        ok = false;
    }
    pthread_mutex_unlock(&set->lock);
    return ok;
}

void gw_roomset_release(gw_roomset_t *set, const char *room, int loop)
{
    size_t len = strlen(room);
    uint32_t h = cs_hash_keyed(room, len);
    pthread_mutex_lock(&set->lock);
    gw_roomset_entry_t **pp = gw_roomset_slot(set, room, len, h);
    gw_roomset_entry_t *e = *pp;
    if (e && (e->loops &= ~(UINT32_C(1) << loop)) == 0) {
        *pp = e->next;
        free(e);
        set->count--;
        cs_gauge_set(set->gauge, (double)set->count);
    }
    pthread_mutex_unlock(&set->lock);
}

uint32_t gw_roomset_loops(gw_roomset_t *set, const void *room, size_t len)
{
    uint32_t h = cs_hash_keyed(room, len);
    pthread_mutex_lock(&set->lock);
    gw_roomset_entry_t *e = *gw_roomset_slot(set, room, len, h);
    uint32_t loops = e ? e->loops : 0;
    pthread_mutex_unlock(&set->lock);
    return loops;
}

size_t gw_roomset_count(gw_roomset_t *set)
{
    pthread_mutex_lock(&set->lock);
    size_t n = set->count;
    pthread_mutex_unlock(&set->lock);
    return n;
}
