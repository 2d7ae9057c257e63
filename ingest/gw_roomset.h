/*
 * gw_roomset — the rooms this gateway holds, across its loops: a room name with the set of
 * loops (a bit each) that hold it. The loops change it when a room appears on them or is
 * freed; the Kafka thread asks it, by the record's key, which loops a fan-out record
 * concerns before decoding it. Thread-safe (one mutex, held for a hash and a compare).
 */
#ifndef CS_GW_ROOMSET_H
#define CS_GW_ROOMSET_H

#include "cs_metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_ROOMSET_MAX_LOOPS 32

typedef struct gw_roomset gw_roomset_t;

/* `count` (may be NULL) is kept at the number of distinct rooms held. */
gw_roomset_t *gw_roomset_new(cs_gauge_t *count);
void gw_roomset_destroy(gw_roomset_t *set);
/* Loop `loop` (0..GW_ROOMSET_MAX_LOOPS-1) holds `room` (NUL-terminated, non-empty).
 * False: out of memory, unchanged. */
bool gw_roomset_hold(gw_roomset_t *set, const char *room, int loop);
/* Loop `loop` no longer holds `room`; the room leaves the set with the last loop. */
void gw_roomset_release(gw_roomset_t *set, const char *room, int loop);
/* The loops (bit i = loop i) holding the room named by the `len` bytes at `room` (not
 * NUL-terminated: a Kafka key); 0 when none does. */
uint32_t gw_roomset_loops(gw_roomset_t *set, const void *room, size_t len);
size_t gw_roomset_count(gw_roomset_t *set);

#endif
