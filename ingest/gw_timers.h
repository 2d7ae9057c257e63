/*
 * gw_timers — every session's timer in O(1).
 *
 * A session's timer waits one of a few fixed periods (housekeeping before and after
 * authentication, the pause after `unavailable`). Every timer of one queue waits the same
 * period, so arming appends to the queue's tail and the queue stays sorted by due time; the
 * service loop wakes once for the earliest head and pops whatever is due.
 *
 * Why not one libwebsockets timer per session: lws 4.1 keeps them in one sorted list and
 * lws_dll2_add_sorted walks it on every insert, so each re-arm costs O(sessions). With
 * 12,500 idle sessions per gateway (re-armed every 5 s) that walk was 71 % of the gateway's
 * CPU and new connections timed out behind it.
 *
 * No locking: a loop's timers belong to its service thread. Plain data, no lws: unit-tested
 * on its own (tests/unit/test_gw_timers.c).
 */
#ifndef GW_TIMERS_H
#define GW_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    GW_TIMER_AUTH,  /* not yet authenticated: the auth timeout */
    GW_TIMER_IDLE,  /* authenticated: idle check, ping, token expiry */
    GW_TIMER_RETRY, /* reading paused after `unavailable`: resume */
    GW_TIMER_QUEUES
} gw_timer_queue_t;

/* Embedded in what it times (zeroed = not armed). */
typedef struct gw_timer {
    struct gw_timer *prev, *next;
    int64_t due_ms;
    bool armed;
    uint8_t queue;
} gw_timer_t;

typedef struct {
    struct {
        gw_timer_t *head, *tail;
        int64_t period_ms;
    } q[GW_TIMER_QUEUES];
    size_t armed;
} gw_timers_t;

/* period_ms[q] > 0 for every queue. */
void gw_timers_init(gw_timers_t *t, const int64_t period_ms[GW_TIMER_QUEUES]);
/* (Re)arms `tm` on queue `q`, due its period after now_ms; returns the due time. */
int64_t gw_timer_arm(gw_timers_t *t, gw_timer_t *tm, gw_timer_queue_t q, int64_t now_ms);
/* Disarms `tm` (no-op when it is not armed). */
void gw_timer_disarm(gw_timers_t *t, gw_timer_t *tm);
/* The earliest due time, or -1 when nothing is armed. */
int64_t gw_timers_next(const gw_timers_t *t);
/* Disarms and returns one timer due at or before now_ms, earliest first; NULL when none. */
gw_timer_t *gw_timers_pop_due(gw_timers_t *t, int64_t now_ms);

#endif
