/*
 * cs_backoff — capped exponential backoff with jitter.
 *
 * delay(n) = uniform(d/2, d) with d = min(max_ms, base_ms * 2^n): the "equal
 * jitter" variant, so many clients that failed together do not retry together,
 * yet nobody retries immediately. A server's Retry-After overrides it.
 */
#ifndef CS_BACKOFF_H
#define CS_BACKOFF_H

#include <stdint.h>

typedef struct cs_backoff {
    int64_t base_ms;   /* first delay's upper bound */
    int64_t max_ms;    /* cap */
    int attempt;       /* failures so far */
} cs_backoff_t;

void cs_backoff_init(cs_backoff_t *backoff, int64_t base_ms, int64_t max_ms);
/* Records a failure and returns how long to wait before the next try. */
int64_t cs_backoff_next(cs_backoff_t *backoff);
/* Records a success. */
void cs_backoff_reset(cs_backoff_t *backoff);

#endif
