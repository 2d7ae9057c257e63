/*
 * cs_hash — the hashes of in-memory tables.
 *
 * cs_hash_keyed: SipHash-2-4 under a random key drawn once per process, for tables whose
 * keys outsiders choose (a gateway's rooms and rate buckets: room names come from
 * clients, user ids from tokens; its recent fan-out records). Nobody outside can aim
 * collisions at one chain and turn a lookup into a walk. ~20 ns for a short name.
 *
 * cs_fnv1a: FNV-1a, 32 bits, unkeyed and ~4x cheaper, where a collision costs nothing that
 * matters (the PostgreSQL sink spreads users over a few lanes: a crafted collision only
 * puts two users in one lane, which every user shares with others anyway).
 */
#ifndef CS_HASH_H
#define CS_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

uint32_t cs_hash_keyed(const void *data, size_t len);

static inline uint32_t cs_hash_keyed_str(const char *s)
{
    return cs_hash_keyed(s, strlen(s));
}

static inline uint32_t cs_fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

#endif
