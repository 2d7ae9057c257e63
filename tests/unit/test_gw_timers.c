/*
 * The gateway's session timers (ingest/gw_timers.c): due times per queue, firing in due
 * order across queues, re-arming moves a timer (never twice in a queue), disarming anywhere
 * in a queue, a stale clock cannot break a queue's order, and a long random run against a
 * brute-force model (every armed timer fires exactly once, at its due time, earliest first).
 */
#include "cs_test.h"
#include "gw_timers.h"

#include <stdint.h>
#include <stdlib.h>

static const int64_t periods[GW_TIMER_QUEUES] = {
    [GW_TIMER_AUTH] = 100, [GW_TIMER_IDLE] = 250, [GW_TIMER_RETRY] = 40};

static void test_due_times_and_order(void)
{
    gw_timers_t t;
    gw_timers_init(&t, periods);
    gw_timer_t a = {0}, b = {0}, c = {0};
    CHECK_INT(gw_timers_next(&t), -1);
    CHECK(gw_timers_pop_due(&t, 1000000) == NULL);
    CHECK_INT(gw_timer_arm(&t, &a, GW_TIMER_IDLE, 1000), 1250);
    CHECK_INT(gw_timer_arm(&t, &b, GW_TIMER_AUTH, 1010), 1110);
    CHECK_INT(gw_timer_arm(&t, &c, GW_TIMER_RETRY, 1020), 1060);
    CHECK_INT(t.armed, 3);
    CHECK_INT(gw_timers_next(&t), 1060);
    CHECK(gw_timers_pop_due(&t, 1059) == NULL); /* nothing early */
    CHECK(gw_timers_pop_due(&t, 1300) == &c);   /* earliest first, across queues */
    CHECK(gw_timers_pop_due(&t, 1300) == &b);
    CHECK(gw_timers_pop_due(&t, 1300) == &a);
    CHECK(gw_timers_pop_due(&t, 1300) == NULL);
    CHECK(!a.armed && !b.armed && !c.armed);
    CHECK_INT(t.armed, 0);
    CHECK_INT(gw_timers_next(&t), -1);
}

static void test_rearm_moves_and_disarm(void)
{
    gw_timers_t t;
    gw_timers_init(&t, periods);
    gw_timer_t x[5] = {{0}};
    for (int i = 0; i < 5; i++)
        gw_timer_arm(&t, &x[i], GW_TIMER_AUTH, 100 + i);
    /* re-arming moves the timer: to the tail of its queue, or to another queue */
    gw_timer_arm(&t, &x[0], GW_TIMER_AUTH, 110);
    gw_timer_arm(&t, &x[2], GW_TIMER_IDLE, 110);
    CHECK_INT(t.armed, 5);
    gw_timer_disarm(&t, &x[3]); /* from the middle */
    gw_timer_disarm(&t, &x[3]); /* twice: a no-op */
    gw_timer_disarm(&t, &x[4]); /* the tail */
    CHECK_INT(t.armed, 3);
    CHECK(gw_timers_pop_due(&t, 10000) == &x[1]); /* due 201 */
    CHECK(gw_timers_pop_due(&t, 10000) == &x[0]); /* due 210 */
    CHECK(gw_timers_pop_due(&t, 10000) == &x[2]); /* due 360 */
    CHECK(gw_timers_pop_due(&t, 10000) == NULL);
    /* a queue emptied from its tail and head takes new entries */
    CHECK_INT(gw_timer_arm(&t, &x[3], GW_TIMER_AUTH, 500), 600);
    CHECK(gw_timers_pop_due(&t, 600) == &x[3]);
}

static void test_stale_clock_keeps_order(void)
{
    gw_timers_t t;
    gw_timers_init(&t, periods);
    gw_timer_t a = {0}, b = {0};
    gw_timer_arm(&t, &a, GW_TIMER_IDLE, 2000);
    /* an older now_ms: clamped to the tail's due time, not put before it */
    CHECK_INT(gw_timer_arm(&t, &b, GW_TIMER_IDLE, 1500), 2250);
    CHECK(gw_timers_pop_due(&t, 3000) == &a);
    CHECK(gw_timers_pop_due(&t, 3000) == &b);
}

/* Random arms, re-arms, disarms and time steps; the model is an array of due times. */
static void test_matches_brute_force_model(void)
{
    enum { N = 2000 };
    gw_timers_t t;
    gw_timers_init(&t, periods);
    static gw_timer_t tm[N];
    static int64_t due[N]; /* -1: not armed */
    for (int i = 0; i < N; i++)
        due[i] = -1;
    srand(7);
    int64_t now = 0;
    long fired = 0, armed_total = 0, bad = 0;
    for (int step = 0; step < 200000; step++) {
        int r = rand() % 100;
        int i = rand() % N;
        if (r < 55) {
            gw_timer_queue_t q = (gw_timer_queue_t)(rand() % GW_TIMER_QUEUES);
            due[i] = gw_timer_arm(&t, &tm[i], q, now);
            bad += due[i] != now + periods[q];
            armed_total++;
        } else if (r < 65) {
            gw_timer_disarm(&t, &tm[i]);
            due[i] = -1;
        } else {
            now += rand() % 30;
            int64_t last = -1;
            gw_timer_t *f;
            while ((f = gw_timers_pop_due(&t, now))) {
                int k = (int)(f - tm);
                bad += due[k] < 0 || due[k] > now || due[k] < last; /* armed, due, in order */
                last = due[k];
                due[k] = -1;
                fired++;
            }
            for (int k = 0; k < N; k++) /* nothing due was left behind */
                bad += due[k] >= 0 && due[k] <= now;
        }
        long armed = 0;
        int64_t min = -1;
        for (int k = 0; k < N; k++)
            if (due[k] >= 0) {
                armed++;
                if (min < 0 || due[k] < min)
                    min = due[k];
            }
        bad += (long)t.armed != armed || gw_timers_next(&t) != min;
        if (bad)
            break;
    }
    CHECK_INT(bad, 0);
    CHECK(fired > 10000); /* the run exercised firing, not only arming */
    CHECK(armed_total > 100000);
}

int main(void)
{
    RUN(test_due_times_and_order);
    RUN(test_rearm_moves_and_disarm);
    RUN(test_stale_clock_keeps_order);
    RUN(test_matches_brute_force_model);
    CS_TEST_DONE();
}
