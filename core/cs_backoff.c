#include "cs_backoff.h"
#include "cs_rand.h"

void cs_backoff_init(cs_backoff_t *backoff, int64_t base_ms, int64_t max_ms)
{
    backoff->base_ms = base_ms > 0 ? base_ms : 1;
    backoff->max_ms = max_ms >= backoff->base_ms ? max_ms : backoff->base_ms;
    backoff->attempt = 0;
}

int64_t cs_backoff_next(cs_backoff_t *backoff)
{
    int64_t d = backoff->base_ms;
    for (int i = 0; i < backoff->attempt && d < backoff->max_ms; i++)
        d *= 2;
    if (d > backoff->max_ms)
        d = backoff->max_ms;
    if (backoff->attempt < 62)
        backoff->attempt++;
    int64_t half = d / 2;
    return half + (int64_t)cs_rand_below((uint64_t)(d - half) + 1);
}

void cs_backoff_reset(cs_backoff_t *backoff)
{
    backoff->attempt = 0;
}
