/*
 * cs_dedupe — a bounded window of recently seen keys: (user, client message id) pairs in
 * fan-out (one window per input partition), message ids in the gateway (one window over
 * its own and the mirrored regions' fan-out streams, whose MirrorMaker copies may repeat).
 *
 * The rule, chosen so that the decision depends only on the partition's last `max_records`
 * records (and so can be rebuilt exactly by re-reading them after a restart or a
 * rebalance):
 *
 *   a record is a client retry when the most recent earlier record of the same partition
 *   with the same (user, cmid) is at most `max_records` offsets before it and at most
 *   `window_ms` older by the envelope's `ts` (the gateway's clock).
 *
 * Every record with a cmid is remembered, retries included, so a chain of retries each
 * within the window of the previous one is all dropped. Records must be observed in
 * offset order.
 *
 * Memory: an entry is a 128-bit keyed SipHash of the pair (the key is random per process,
 * so nobody can craft collisions; an accidental one among 10^5 entries has odds of about
 * 10^-29) plus ts and offset, 32 bytes, and a 4-byte hash slot at load <= 1/2: at most
 * 40 bytes x the next power of two above max_records, grown on demand. Entries leave by
 * count (offset < current - max_records) and, from the head, by age (ts older than the
 * newest ts seen minus window_ms minus one minute of tolerated clock skew between gateways).
 *
 * The gateway passes the id as `cmid` with an empty user, and a counter of its own as
 * `offset` (its records come from several partitions, so their offsets are not one order).
 *
 * Not thread-safe; one per partition, used from the processor's main loop.
 */
#ifndef CS_DEDUPE_H
#define CS_DEDUPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_dedupe cs_dedupe_t;

/* Clock skew between gateways tolerated by age-based eviction (it never changes a decision
 * unless two gateways' clocks differ by more than this). */
#define CS_DEDUPE_SKEW_MS 60000

/* A random hash key (getrandom), so nobody outside can craft colliding inputs. */
void cs_dedupe_new_key(uint8_t key[16]);
/* `key` (16 bytes) keys the hash; use the same key for every window of a process. NULL when
 * out of memory. max_records >= 1. */
cs_dedupe_t *cs_dedupe_new(int64_t max_records, int64_t window_ms, const uint8_t key[16]);
void cs_dedupe_destroy(cs_dedupe_t *dedupe);
/* Forgets everything (keeps the allocation). */
void cs_dedupe_clear(cs_dedupe_t *dedupe);
/*
 * Remembers the record and returns true when it is a client retry by the rule above.
 * An offset not above the previous one (a replay) clears the window first.
 */
bool cs_dedupe_observe(cs_dedupe_t *dedupe, const char *user, size_t user_len, const char *cmid,
                       size_t cmid_len, int64_t ts, int64_t offset);
/* Entries held, and bytes allocated for them. */
size_t cs_dedupe_entries(const cs_dedupe_t *dedupe);
/* How far back the window reaches, by envelope ts: the newest ts seen minus the oldest
 * entry's (0 when empty). Once the window is full (entries = max_records), a repeat older
 * than this is no longer recognised. */
int64_t cs_dedupe_span_ms(const cs_dedupe_t *dedupe);
size_t cs_dedupe_bytes(const cs_dedupe_t *dedupe);

/* SipHash-2-4 with a 128-bit result (exposed for tests). */
void cs_siphash128(const uint8_t key[16], const void *data, size_t len, uint64_t out[2]);
/* SipHash-2-4, 64-bit result (the reference test vectors are for this one). */
uint64_t cs_siphash64(const uint8_t key[16], const void *data, size_t len);

#endif
