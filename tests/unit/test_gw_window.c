/*
 * The gateway's coalescing-window controller (ingest/gw_window.c): the size for a mean
 * event-loop delay (closed under a quarter of ws.coalesce.lag.us, full from it, linear
 * between), re-sizing only at period ends and half-way each time, reaching its target,
 * and the fixed window when ws.coalesce.lag.us = 0.
 */
#include "cs_test.h"
#include "gw_window.h"

static void test_size(void)
{
    gw_window_t w;
    gw_window_init(&w, 100, 1000, 0);
    CHECK_INT(w.ms, 0); /* adaptive: closed until a delay shows */
    CHECK_INT(gw_window_size(&w, 0), 0);
    CHECK_INT(gw_window_size(&w, 250), 0);   /* a quarter of 1 ms: still closed */
    CHECK_INT(gw_window_size(&w, 400), 20);  /* (400 - 250) / 750 of 100 */
    CHECK_INT(gw_window_size(&w, 625), 50);
    CHECK_INT(gw_window_size(&w, 999), 100);
    CHECK_INT(gw_window_size(&w, 1000), 100);
    CHECK_INT(gw_window_size(&w, 1e9), 100); /* never past ws.coalesce.ms */
}

static void test_fixed(void)
{
    gw_window_t w;
    gw_window_init(&w, 50, 0, 0);
    CHECK_INT(w.ms, 50);
    CHECK_INT(gw_window_size(&w, 0), 50);
    for (int64_t t = 0; t < 5000; t += 10)
        gw_window_observe(&w, 0, t);
    CHECK_INT(w.ms, 50); /* no delay never closes a fixed window */
}

/* Feeds one drain every 10 ms with the given delay, for `ms` milliseconds from *t. */
static int feed(gw_window_t *w, int64_t *t, int64_t lag_us, int64_t ms)
{
    int resized = 0;
    for (int64_t end = *t + ms; *t < end; *t += 10)
        resized += gw_window_observe(w, lag_us, *t);
    return resized;
}

static void test_opens_and_closes(void)
{
    gw_window_t w;
    int64_t t = 0;
    gw_window_init(&w, 100, 1000, t);
    /* within one period nothing changes, whatever the delay */
    CHECK_INT(feed(&w, &t, 5000, GW_WINDOW_PERIOD_MS), 0);
    CHECK_INT(w.ms, 0);
    /* the period's end re-sizes half-way: 0 -> 50 -> 75 -> 88 ... -> 100 */
    CHECK_INT(feed(&w, &t, 5000, 10), 1);
    CHECK_INT(w.ms, 50);
    feed(&w, &t, 5000, GW_WINDOW_PERIOD_MS);
    CHECK_INT(w.ms, 75);
    feed(&w, &t, 5000, 20 * GW_WINDOW_PERIOD_MS);
    CHECK_INT(w.ms, 100); /* reached, not approached forever */
    /* the pressure gone: back to 0 the same way */
    feed(&w, &t, 50, GW_WINDOW_PERIOD_MS + 10);
    CHECK_INT(w.ms, 50);
    feed(&w, &t, 50, 20 * GW_WINDOW_PERIOD_MS);
    CHECK_INT(w.ms, 0);
    /* in between: settles at the proportional size for the mean */
    feed(&w, &t, 625, 20 * GW_WINDOW_PERIOD_MS);
    CHECK_INT(w.ms, 50);
}

static void test_mean_of_the_period(void)
{
    gw_window_t w;
    int64_t t = 0;
    gw_window_init(&w, 100, 1000, t);
    /* one long stall among many quick drains: the period's mean decides, not its max */
    gw_window_observe(&w, 100000, t); /* 100 ms once */
    t += 1;
    for (int i = 0; i < 998; i++)
        gw_window_observe(&w, 0, t);
    CHECK(gw_window_observe(&w, 0, t + GW_WINDOW_PERIOD_MS)); /* mean 100 us: closed */
    CHECK_INT(w.ms, 0);
    /* a negative delay (a clock oddity) counts as none */
    for (int i = 0; i < 10; i++)
        gw_window_observe(&w, -1000000, t + GW_WINDOW_PERIOD_MS + 1);
    CHECK(gw_window_observe(&w, 2000, t + 2 * GW_WINDOW_PERIOD_MS + 1));
    CHECK_INT(w.ms, 0); /* mean 182 us */
}

int main(void)
{
    RUN(test_size);
    RUN(test_fixed);
    RUN(test_opens_and_closes);
    RUN(test_mean_of_the_period);
    CS_TEST_DONE();
}
