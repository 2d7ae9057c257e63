/*
 * gw_recent — the fan-out records this gateway read in the last fanout.recent.ms (at most
 * fanout.recent.bytes of them), every room's, kept as they came (key and value bytes).
 *
 * Why: a catch-up is what PostgreSQL has plus what the thread kept of the room in memory.
 * PostgreSQL trails the live stream by persist's delay, so a thread that begins keeping a
 * room (a fresh join, a rejoin after rooms.linger.ms) used to miss a message pushed in that
 * moment before the join. The thread now starts the room with its records from here.
 *
 * Every record gets a sequence number (1, 2, ... in the order added). A thread that starts
 * a room holds it in the room set first and reads this store after: a record is then either
 * here when it reads (added before) or handed to it by the Kafka thread (which adds before
 * it asks the set), and the number says which of those it already has.
 *
 * Thread-safe: one mutex. The Kafka thread adds (a copy into a chunk, no allocation per
 * record but one per room new to the store); service threads read a room's records when
 * they start it.
 */
#ifndef CS_GW_RECENT_H
#define CS_GW_RECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_recent gw_recent_t;

/* Keeps records for `max_ms` (0: none kept, numbers still given) and `max_bytes` at most
 * (headers included; the oldest go first). NULL: out of memory. */
gw_recent_t *gw_recent_new(int64_t max_ms, size_t max_bytes);
void gw_recent_destroy(gw_recent_t *r);

/* Keeps a record read at `now_ms` (monotonic) and drops those older than max_ms. Returns
 * its sequence number, also when it is not kept (off, larger than max_bytes, no memory). */
uint64_t gw_recent_add(gw_recent_t *r, const void *key, size_t key_len, const void *value,
                       size_t value_len, int64_t now_ms);

/* Drops the records older than max_ms (the Kafka thread, when no record comes). */
void gw_recent_expire(gw_recent_t *r, int64_t now_ms);

typedef void (*gw_recent_fn)(void *arg, uint64_t seq, const void *value, size_t value_len);

/* Calls fn, oldest first, for the newest `max` records kept under the key (`key_len`
 * bytes) and not older than max_ms, with the lock held (fn must not call back in). Returns
 * the number of the last record added, of any key: every record up to it was passed to fn,
 * or is not the key's, older than max_ms, or older than those `max`. Costs the key's
 * records (a chain per key), not the store's. */
uint64_t gw_recent_each(gw_recent_t *r, const void *key, size_t key_len, size_t max,
                        int64_t now_ms, gw_recent_fn fn, void *arg);

typedef struct gw_recent_stats {
    size_t records;
    size_t bytes;          /* of the records kept, headers included */
    int64_t span_ms;       /* age of the oldest record kept; 0 when none */
    uint64_t evicted_full; /* records dropped before max_ms because max_bytes was reached */
    size_t rooms;          /* distinct keys among the records */
} gw_recent_stats_t;

void gw_recent_stats(gw_recent_t *r, int64_t now_ms, gw_recent_stats_t *out);

#endif
