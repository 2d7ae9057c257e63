/*
 * gw_timers — fixed-period timer queues: arm = append, fire = pop the heads (gw_timers.h).
 */
#include "gw_timers.h"

#include <string.h>

void gw_timers_init(gw_timers_t *t, const int64_t period_ms[GW_TIMER_QUEUES])
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < GW_TIMER_QUEUES; i++)
        t->q[i].period_ms = period_ms[i];
}

void gw_timer_disarm(gw_timers_t *t, gw_timer_t *tm)
{
    if (!tm->armed)
        return;
    if (tm->prev)
        tm->prev->next = tm->next;
    else
        t->q[tm->queue].head = tm->next;
    if (tm->next)
        tm->next->prev = tm->prev;
    else
        t->q[tm->queue].tail = tm->prev;
    tm->prev = tm->next = NULL;
    tm->armed = false;
    t->armed--;
}

int64_t gw_timer_arm(gw_timers_t *t, gw_timer_t *tm, gw_timer_queue_t q, int64_t now_ms)
{
    gw_timer_disarm(t, tm);
    /* every entry of q waits the same period and now_ms does not go back (a monotonic
     * clock), so the tail is the latest: appending keeps the queue sorted (a caller's stale
     * now_ms is clamped to the tail's due time rather than breaking the order) */
    tm->due_ms = now_ms + t->q[q].period_ms;
    if (t->q[q].tail && tm->due_ms < t->q[q].tail->due_ms)
        tm->due_ms = t->q[q].tail->due_ms;
    tm->queue = (uint8_t)q;
    tm->armed = true;
    tm->next = NULL;
    tm->prev = t->q[q].tail;
    if (tm->prev)
        tm->prev->next = tm;
    else
        t->q[q].head = tm;
    t->q[q].tail = tm;
    t->armed++;
    return tm->due_ms;
}

int64_t gw_timers_next(const gw_timers_t *t)
{
    int64_t next = -1;
    for (int i = 0; i < GW_TIMER_QUEUES; i++) {
        const gw_timer_t *h = t->q[i].head;
        if (h && (next < 0 || h->due_ms < next))
            next = h->due_ms;
    }
    return next;
}

gw_timer_t *gw_timers_pop_due(gw_timers_t *t, int64_t now_ms)
{
    gw_timer_t *first = NULL;
    for (int i = 0; i < GW_TIMER_QUEUES; i++) {
        gw_timer_t *h = t->q[i].head;
        if (h && h->due_ms <= now_ms && (!first || h->due_ms < first->due_ms))
            first = h;
    }
    if (first)
        gw_timer_disarm(t, first);
    return first;
}
