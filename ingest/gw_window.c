/* gw_window: see gw_window.h. */
#include "gw_window.h"

void gw_window_init(gw_window_t *w, int64_t max_ms, int64_t full_lag_us, int64_t now_ms)
{
    *w = (gw_window_t){.max_ms = max_ms, .full_lag_us = full_lag_us, .period_start_ms = now_ms};
    w->ms = full_lag_us > 0 ? 0 : max_ms; /* adaptive windows open only when a delay shows */
}

int64_t gw_window_size(const gw_window_t *w, double mean_lag_us)
{
    if (w->full_lag_us <= 0)
        return w->max_ms;
    double lo = (double)w->full_lag_us / 4, hi = (double)w->full_lag_us;
    if (mean_lag_us <= lo)
        return 0;
    if (mean_lag_us >= hi)
        return w->max_ms;
    return (int64_t)((double)w->max_ms * (mean_lag_us - lo) / (hi - lo) + 0.5);
}

bool gw_window_observe(gw_window_t *w, int64_t lag_us, int64_t now_ms)
{
    w->lag_sum_us += lag_us > 0 ? lag_us : 0;
    w->nlag++;
    if (now_ms - w->period_start_ms < GW_WINDOW_PERIOD_MS)
        return false;
    int64_t target = gw_window_size(w, (double)w->lag_sum_us / w->nlag);
    /* half-way, rounding towards the target so it is reached, not approached forever */
    int64_t step = (target - w->ms) / 2;
    w->ms += step ? step : target - w->ms;
    w->period_start_ms = now_ms;
    w->lag_sum_us = 0;
    w->nlag = 0;
    return true;
}
