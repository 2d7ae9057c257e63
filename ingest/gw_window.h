/*
 * gw_window — the coalescing window of one service thread, sized by how far behind the
 * thread is (plain data: unit-tested without lws).
 *
 * Holding a busy socket's next write for W ms saves sends, the gateway's main CPU cost,
 * at up to W ms of latency. That trade pays only when the CPU is short: on the 2-core
 * benchmark box a fixed 50 ms took 11-15 % off the gateways' CPU at 4,500-6,000 users, and
 * doubled the median delivery latency at 500 (22 -> 40 ms), where the CPU was plentiful.
 * The event-loop delay tells the two apart (mean per drain: 0.05-0.08 ms at 500 users,
 * 0.2-0.35 at 2,500, 1.3-1.5 at 5,000). So the window is 0 while the thread's mean delay
 * is under a quarter of ws.coalesce.lag.us, ws.coalesce.ms from ws.coalesce.lag.us up, and
 * in proportion between; re-sized every GW_WINDOW_PERIOD_MS, half-way towards the new size
 * each time so one noisy period does not swing it.
 */
#ifndef GW_WINDOW_H
#define GW_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#define GW_WINDOW_PERIOD_MS 250

typedef struct gw_window {
    int64_t max_ms;      /* ws.coalesce.ms: the window at full pressure; 0: never hold */
    int64_t full_lag_us; /* ws.coalesce.lag.us: the delay that opens it fully; 0: always open */
    int64_t ms;          /* the window now */
    int64_t period_start_ms;
    int64_t lag_sum_us;
    uint32_t nlag;
} gw_window_t;

void gw_window_init(gw_window_t *w, int64_t max_ms, int64_t full_lag_us, int64_t now_ms);
/* The window for a mean delay: 0 under full_lag/4, max at full_lag and over, linear between. */
int64_t gw_window_size(const gw_window_t *w, double mean_lag_us);
/* One drain's delay (post -> drain start). The first drain GW_WINDOW_PERIOD_MS or more
 * after the last re-size re-sizes w->ms from the mean of the drains since; true when it did. */
bool gw_window_observe(gw_window_t *w, int64_t lag_us, int64_t now_ms);

#endif
