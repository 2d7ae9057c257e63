/*
 * cs_breaker — a circuit breaker for one external dependency (an API).
 *
 *   CLOSED     requests flow. A retriable failure counts; `threshold` in a row
 *              open the circuit. A success resets the count.
 *   OPEN       nothing is sent until the open period ends (base `open_ms`,
 *              doubling after each failed probe up to `open_max_ms`, 80-100 %
 *              of it so that instances do not probe in step).
 *   HALF_OPEN  exactly one request (the probe) may go; its success closes the
 *              circuit, its failure opens it again for longer.
 *
 * A server's Retry-After is honoured in every state: no request is allowed
 * before it has passed, and an open period is never shorter than it.
 * The clock is passed in (monotonic ms), so the logic is unit-tested without
 * sleeping. Thread-safe (a mutex): search threads share one breaker per API.
 */
#ifndef CS_BREAKER_H
#define CS_BREAKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    CS_BREAKER_CLOSED = 0,
    CS_BREAKER_OPEN = 1,
    CS_BREAKER_HALF_OPEN = 2,
} cs_breaker_state_t;

typedef struct cs_breaker {
    pthread_mutex_t lock;
    cs_breaker_state_t state;
    int failures;                /* consecutive retriable failures */
    int threshold;
    int64_t open_ms;             /* first open period */
    int64_t open_max_ms;         /* cap */
    int64_t period_ms;           /* current open period (grows while probes fail) */
    int64_t open_until;          /* OPEN: no request before this */
    int64_t not_before;          /* Retry-After: no request before this, in any state */
    bool probe_out;              /* HALF_OPEN: the probe is in flight */
    uint64_t opened;             /* times the circuit opened */
} cs_breaker_t;

void cs_breaker_init(cs_breaker_t *b, int threshold, int64_t open_ms, int64_t open_max_ms);
void cs_breaker_destroy(cs_breaker_t *b);
/*
 * May a request be sent at `now`? When false, *wait_ms (if not NULL) says how long
 * until asking again makes sense. In HALF_OPEN the one true answer is the probe:
 * the caller must report its outcome with cs_breaker_success/failure.
 */
bool cs_breaker_allow(cs_breaker_t *b, int64_t now, int64_t *wait_ms);
void cs_breaker_success(cs_breaker_t *b, int64_t now);
/* A retriable failure; retry_after_ms < 0 when the server gave none. */
void cs_breaker_failure(cs_breaker_t *b, int64_t now, int64_t retry_after_ms);
/* Gives back a probe that was allowed but never sent (e.g. the batch was cut short). */
void cs_breaker_cancel(cs_breaker_t *b);
cs_breaker_state_t cs_breaker_state(cs_breaker_t *b);
uint64_t cs_breaker_opened(cs_breaker_t *b);
const char *cs_breaker_state_name(cs_breaker_state_t state);

#endif
