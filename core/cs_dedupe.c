#include "cs_dedupe.h"

#include "cs_time.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void cs_dedupe_new_key(uint8_t key[16])
{
    if (getrandom(key, 16, 0) != 16) {
        for (size_t i = 0; i < 16; i++)
            key[i] = (uint8_t)(cs_mono_us() >> (i % 8) * 8); /* never expected */
    }
}

/* ---- SipHash-2-4 (Aumasson & Bernstein), written from the paper's description ---------- */

#define CS_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define CS_SIPROUND                                                                                \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = CS_ROTL(v1, 13);                                                                      \
        v1 ^= v0;                                                                                  \
        v0 = CS_ROTL(v0, 32);                                                                      \
        v2 += v3;                                                                                  \
        v3 = CS_ROTL(v3, 16);                                                                      \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = CS_ROTL(v3, 21);                                                                      \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = CS_ROTL(v1, 17);                                                                      \
        v1 ^= v2;                                                                                  \
        v2 = CS_ROTL(v2, 32);                                                                      \
    } while (0)

static uint64_t cs_load64_le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void cs_siphash(const uint8_t key[16], const uint8_t *in, size_t len, uint64_t *out,
                       int words)
{
    uint64_t k0 = cs_load64_le(key), k1 = cs_load64_le(key + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    if (words == 2)
        v1 ^= 0xee;
    size_t blocks = len / 8;
    for (size_t i = 0; i < blocks; i++) {
        uint64_t m = cs_load64_le(in + 8 * i);
        v3 ^= m;
        CS_SIPROUND;
        CS_SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)in[8 * blocks + i] << (8 * i);
    v3 ^= b;
    CS_SIPROUND;
    CS_SIPROUND;
    v0 ^= b;
    v2 ^= words == 2 ? 0xee : 0xff;
    CS_SIPROUND;
    CS_SIPROUND;
    CS_SIPROUND;
    CS_SIPROUND;
    out[0] = v0 ^ v1 ^ v2 ^ v3;
    if (words == 1)
        return;
    v1 ^= 0xdd;
    CS_SIPROUND;
    CS_SIPROUND;
    CS_SIPROUND;
    CS_SIPROUND;
    out[1] = v0 ^ v1 ^ v2 ^ v3;
}

void cs_siphash128(const uint8_t key[16], const void *data, size_t len, uint64_t out[2])
{
    cs_siphash(key, data, len, out, 2);
}

uint64_t cs_siphash64(const uint8_t key[16], const void *data, size_t len)
{
    uint64_t out;
    cs_siphash(key, data, len, &out, 1);
    return out;
}

/* ---- the window ------------------------------------------------------------------------ */

typedef struct cs_dedupe_entry {
    uint64_t h0, h1;   /* SipHash-128 of (user, cmid) */
    int64_t ts;        /* envelope ts, ms */
    int64_t offset;    /* input offset */
} cs_dedupe_entry_t;

struct cs_dedupe {
    int64_t max_records;
    int64_t window_ms;
    uint8_t key[16];
    cs_dedupe_entry_t *ring;   /* FIFO in offset order; entry of sequence s at s & ring_mask */
    uint64_t ring_mask;
    uint64_t ring_max;         /* the ring never grows beyond this (pow2 > max_records) */
    uint64_t head, tail;       /* sequence numbers: live entries are [head, tail) */
    uint32_t *slots;           /* open addressing: ring index + 1 of the newest entry of a
                                * pair, 0 = empty; twice the ring's size */
    uint64_t slot_mask;
    int64_t max_ts;            /* newest envelope ts seen */
    int64_t last_offset;       /* previous record's offset, -1 at start */
};

static uint64_t cs_pow2_at_least(uint64_t n)
{
    uint64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static bool cs_dedupe_alloc(cs_dedupe_t *d, uint64_t cap)
{
    cs_dedupe_entry_t *ring = malloc(cap * sizeof(*ring));
    uint32_t *slots = calloc(cap * 2, sizeof(*slots));
    if (!ring || !slots) {
        free(ring);
        free(slots);
        return false;
    }
    d->ring = ring;
    d->ring_mask = cap - 1;
    d->slots = slots;
    d->slot_mask = cap * 2 - 1;
    return true;
}

cs_dedupe_t *cs_dedupe_new(int64_t max_records, int64_t window_ms, const uint8_t key[16])
{
    cs_dedupe_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->max_records = max_records < 1 ? 1 : max_records;
    d->window_ms = window_ms;
    memcpy(d->key, key, 16);
    /* The current record plus the max_records before it must fit. */
    d->ring_max = cs_pow2_at_least((uint64_t)d->max_records + 1);
    uint64_t cap = d->ring_max < 1024 ? d->ring_max : 1024;
    if (!cs_dedupe_alloc(d, cap)) {
        free(d);
        return NULL;
    }
    cs_dedupe_clear(d);
    return d;
}

void cs_dedupe_destroy(cs_dedupe_t *d)
{
    if (!d)
        return;
    free(d->ring);
    free(d->slots);
    free(d);
}

void cs_dedupe_clear(cs_dedupe_t *d)
{
    d->head = d->tail = 0;
    memset(d->slots, 0, (d->slot_mask + 1) * sizeof(*d->slots));
    d->max_ts = INT64_MIN;
    d->last_offset = -1;
}

size_t cs_dedupe_entries(const cs_dedupe_t *d)
{
    return (size_t)(d->tail - d->head);
}

int64_t cs_dedupe_span_ms(const cs_dedupe_t *d)
{
    if (d->tail == d->head)
        return 0;
    int64_t span = d->max_ts - d->ring[d->head & d->ring_mask].ts;
    return span > 0 ? span : 0;
}

size_t cs_dedupe_bytes(const cs_dedupe_t *d)
{
    return sizeof(*d) + (size_t)(d->ring_mask + 1) * sizeof(*d->ring) +
           (size_t)(d->slot_mask + 1) * sizeof(*d->slots);
}

/* Slot holding the pair (h0, h1), or -1. */
static int64_t cs_dedupe_find(const cs_dedupe_t *d, uint64_t h0, uint64_t h1)
{
    for (uint64_t i = h0 & d->slot_mask;; i = (i + 1) & d->slot_mask) {
        uint32_t v = d->slots[i];
        if (v == 0)
            return -1;
        const cs_dedupe_entry_t *e = &d->ring[v - 1];
        if (e->h0 == h0 && e->h1 == h1)
            return (int64_t)i;
    }
}

static void cs_dedupe_put(cs_dedupe_t *d, uint64_t h0, uint32_t value)
{
    uint64_t i = h0 & d->slot_mask;
    while (d->slots[i] != 0)
        i = (i + 1) & d->slot_mask;
    d->slots[i] = value;
}

/* Empties slot i, shifting back the entries of its probe run (no tombstones). */
static void cs_dedupe_unslot(cs_dedupe_t *d, uint64_t i)
{
    uint64_t j = i;
    for (;;) {
        j = (j + 1) & d->slot_mask;
        uint32_t v = d->slots[j];
        if (v == 0)
            break;
        uint64_t home = d->ring[v - 1].h0 & d->slot_mask;
        /* The entry at j may move back to i unless its home lies cyclically in (i, j]. */
        bool stays = i < j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        d->slots[i] = v;
        i = j;
    }
    d->slots[i] = 0;
}

static void cs_dedupe_pop(cs_dedupe_t *d)
{
    uint64_t idx = d->head & d->ring_mask;
    const cs_dedupe_entry_t *e = &d->ring[idx];
    int64_t s = cs_dedupe_find(d, e->h0, e->h1);
    /* Only if the slot points here: a newer occurrence of the pair owns it otherwise. */
    if (s >= 0 && d->slots[s] == idx + 1)
        cs_dedupe_unslot(d, (uint64_t)s);
    d->head++;
}

static bool cs_dedupe_grow(cs_dedupe_t *d)
{
    uint64_t cap = (d->ring_mask + 1) * 2;
    cs_dedupe_entry_t *old = d->ring;
    uint32_t *old_slots = d->slots;
    uint64_t old_mask = d->ring_mask;
    if (!cs_dedupe_alloc(d, cap))
        return false;
    for (uint64_t s = d->head; s < d->tail; s++) {
        cs_dedupe_entry_t *e = &d->ring[s & d->ring_mask];
        *e = old[s & old_mask];
        /* In sequence order, so the newest occurrence of a pair ends up owning its slot. */
        int64_t slot = cs_dedupe_find(d, e->h0, e->h1);
        uint32_t v = (uint32_t)(s & d->ring_mask) + 1;
        if (slot >= 0)
            d->slots[slot] = v;
        else
            cs_dedupe_put(d, e->h0, v);
    }
    free(old);
    free(old_slots);
    return true;
}

bool cs_dedupe_observe(cs_dedupe_t *d, const char *user, size_t user_len, const char *cmid,
                       size_t cmid_len, int64_t ts, int64_t offset)
{
    if (offset <= d->last_offset)
        cs_dedupe_clear(d); /* a replay: whoever replays rebuilds the window first */
    d->last_offset = offset;
    if (ts > d->max_ts)
        d->max_ts = ts;

    /* Leave by count (exact) and, from the head, by age (never alters a decision unless
     * gateway clocks disagree by more than CS_DEDUPE_SKEW_MS). */
    while (d->head < d->tail) {
        const cs_dedupe_entry_t *e = &d->ring[d->head & d->ring_mask];
        bool too_far = e->offset < offset - d->max_records;
        bool too_old = d->max_ts != INT64_MIN && e->ts + d->window_ms + CS_DEDUPE_SKEW_MS < d->max_ts;
        if (!too_far && !too_old)
            break;
        cs_dedupe_pop(d);
    }
    if (d->tail - d->head > d->ring_mask) {
        if (d->ring_mask + 1 >= d->ring_max || !cs_dedupe_grow(d))
            cs_dedupe_pop(d); /* cannot happen at ring_max; out of memory otherwise */
    }

    /* (user length, user, cmid): unambiguous. */
    uint8_t stack[512];
    size_t len = 2 + user_len + cmid_len;
    uint8_t *buf = len <= sizeof(stack) ? stack : malloc(len);
    uint64_t h[2] = {0, 0};
    if (buf) {
        buf[0] = (uint8_t)(user_len & 0xff);
        buf[1] = (uint8_t)(user_len >> 8);
        memcpy(buf + 2, user, user_len);
        memcpy(buf + 2 + user_len, cmid, cmid_len);
        cs_siphash128(d->key, buf, len, h);
        if (buf != stack)
            free(buf);
    }

    bool retry = false;
    int64_t slot = cs_dedupe_find(d, h[0], h[1]);
    if (slot >= 0) {
        const cs_dedupe_entry_t *prev = &d->ring[d->slots[slot] - 1];
        retry = offset - prev->offset <= d->max_records && ts - prev->ts <= d->window_ms;
    }
    uint64_t idx = d->tail & d->ring_mask;
    d->ring[idx] = (cs_dedupe_entry_t){h[0], h[1], ts, offset};
    d->tail++;
    if (slot >= 0)
        d->slots[slot] = (uint32_t)idx + 1;
    else
        cs_dedupe_put(d, h[0], (uint32_t)idx + 1);
    return retry;
}
