/*
 * cs_hash — FNV-1a, 32 bits: the hash of the in-memory tables (a gateway's rooms and rate
 * buckets) and of the PostgreSQL sink's lanes. Fast and good enough for spreading names;
 * not keyed, so where an outsider could aim collisions at something that matters (the
 * retry windows' fingerprints) use cs_dedupe's keyed SipHash instead.
 */
#ifndef CS_HASH_H
#define CS_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t cs_fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static inline uint32_t cs_fnv1a_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

#endif
