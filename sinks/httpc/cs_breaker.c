#include "cs_breaker.h"
#include "cs_rand.h"

void cs_breaker_init(cs_breaker_t *b, int threshold, int64_t open_ms, int64_t open_max_ms)
{
    pthread_mutex_init(&b->lock, NULL);
    b->state = CS_BREAKER_CLOSED;
    b->failures = 0;
    b->threshold = threshold > 0 ? threshold : 1;
    b->open_ms = open_ms > 0 ? open_ms : 1;
    b->open_max_ms = open_max_ms >= b->open_ms ? open_max_ms : b->open_ms;
    b->period_ms = b->open_ms;
    b->open_until = 0;
    b->not_before = 0;
    b->probe_out = false;
    b->opened = 0;
}

void cs_breaker_destroy(cs_breaker_t *b)
{
    pthread_mutex_destroy(&b->lock);
}

/* Opens for the current period (80-100 % of it, never less than Retry-After). Lock held. */
static void cs_breaker_open(cs_breaker_t *b, int64_t now)
{
    int64_t d = b->period_ms - (int64_t)cs_rand_below((uint64_t)b->period_ms / 5 + 1);
    b->open_until = now + d;
    if (b->open_until < b->not_before)
        b->open_until = b->not_before;
    b->state = CS_BREAKER_OPEN;
    b->probe_out = false;
    b->opened++;
}

bool cs_breaker_allow(cs_breaker_t *b, int64_t now, int64_t *wait_ms)
{
    bool ok = false;
    int64_t wait = 0;
    pthread_mutex_lock(&b->lock);
    if (now < b->not_before) {
        wait = b->not_before - now;
    } else {
        switch (b->state) {
        case CS_BREAKER_CLOSED:
            ok = true;
            break;
        case CS_BREAKER_OPEN:
            if (now < b->open_until) {
                wait = b->open_until - now;
                break;
            }
            b->state = CS_BREAKER_HALF_OPEN;
            b->probe_out = false;
            /* the first caller after the period is the probe */
            __attribute__((fallthrough));
        case CS_BREAKER_HALF_OPEN:
            if (!b->probe_out) {
                b->probe_out = true;
                ok = true;
            } else {
                wait = 100; /* the probe's answer decides; ask again soon */
            }
            break;
        }
    }
    pthread_mutex_unlock(&b->lock);
    if (wait_ms)
        *wait_ms = wait;
    return ok;
}

void cs_breaker_success(cs_breaker_t *b, int64_t now)
{
    (void)now;
    pthread_mutex_lock(&b->lock);
    b->failures = 0;
    if (b->state != CS_BREAKER_CLOSED) {
        b->state = CS_BREAKER_CLOSED;
        b->period_ms = b->open_ms;
        b->probe_out = false;
    }
    pthread_mutex_unlock(&b->lock);
}

void cs_breaker_failure(cs_breaker_t *b, int64_t now, int64_t retry_after_ms)
{
    pthread_mutex_lock(&b->lock);
    if (retry_after_ms >= 0 && now + retry_after_ms > b->not_before)
        b->not_before = now + retry_after_ms;
    switch (b->state) {
    case CS_BREAKER_CLOSED:
        if (++b->failures >= b->threshold)
            cs_breaker_open(b, now);
        break;
    case CS_BREAKER_HALF_OPEN:
        /* the probe failed: longer this time */
        b->period_ms = b->period_ms * 2 < b->open_max_ms ? b->period_ms * 2 : b->open_max_ms;
        cs_breaker_open(b, now);
        break;
    case CS_BREAKER_OPEN:
        /* a request sent before the circuit opened came back failed: nothing new */
        if (b->open_until < b->not_before)
            b->open_until = b->not_before;
        break;
    }
    pthread_mutex_unlock(&b->lock);
}

void cs_breaker_cancel(cs_breaker_t *b)
{
    pthread_mutex_lock(&b->lock);
    if (b->state == CS_BREAKER_HALF_OPEN)
        b->probe_out = false;
    pthread_mutex_unlock(&b->lock);
}

cs_breaker_state_t cs_breaker_state(cs_breaker_t *b)
{
    pthread_mutex_lock(&b->lock);
    cs_breaker_state_t s = b->state;
    pthread_mutex_unlock(&b->lock);
    return s;
}

uint64_t cs_breaker_opened(cs_breaker_t *b)
{
    pthread_mutex_lock(&b->lock);
    uint64_t n = b->opened;
    pthread_mutex_unlock(&b->lock);
    return n;
}

const char *cs_breaker_state_name(cs_breaker_state_t state)
{
    switch (state) {
    case CS_BREAKER_CLOSED:
        return "closed";
    case CS_BREAKER_OPEN:
        return "open";
    case CS_BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}
