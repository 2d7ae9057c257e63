/*
 * cs_metrics — counters, gauges and histograms, rendered as Prometheus text.
 *
 * A series is registered once (name + preformatted label set, e.g.
 * `topic="chat.messages",partition="3"`) and updated lock-free from any
 * thread afterwards; registering the same name and labels again returns the
 * same series. Only registration, removal and rendering take the registry lock.
 * Names follow Prometheus conventions: prefix chatstream_, base unit seconds,
 * counters end in _total.
 */
#ifndef CS_METRICS_H
#define CS_METRICS_H

#include "cs_buf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs_metrics cs_metrics_t;
typedef struct cs_metric cs_counter_t;
typedef struct cs_metric cs_gauge_t;
typedef struct cs_metric cs_histogram_t;

/* Latency buckets in seconds, 100 µs .. 10 s. */
extern const double cs_metrics_latency_buckets[];
extern const size_t cs_metrics_latency_nbuckets;

cs_metrics_t *cs_metrics_new(void);
/* Frees every series; pointers handed out before are invalid afterwards. NULL-safe. */
void cs_metrics_destroy(cs_metrics_t *metrics);

/* Registration returns NULL only when out of memory or when the name is already
 * registered with another type; updates accept NULL and do nothing, so a failed
 * registration cannot crash a hot path. */
cs_counter_t *cs_metrics_counter(cs_metrics_t *metrics, const char *name, const char *labels,
                                 const char *help);
cs_gauge_t *cs_metrics_gauge(cs_metrics_t *metrics, const char *name, const char *labels,
                             const char *help);
/* A gauge whose value is computed by fn(arg) at scrape time (called with the registry lock held). */
cs_gauge_t *cs_metrics_gauge_fn(cs_metrics_t *metrics, const char *name, const char *labels,
                                const char *help, double (*fn)(void *arg), void *arg);
/* `buckets` are upper bounds in increasing order; +Inf is implicit. Copied. */
cs_histogram_t *cs_metrics_histogram(cs_metrics_t *metrics, const char *name, const char *labels,
                                     const char *help, const double *buckets, size_t nbuckets);
/* Removes one series (e.g. the lag of a partition no longer assigned). */
void cs_metrics_remove(cs_metrics_t *metrics, cs_gauge_t *series);

void cs_counter_add(cs_counter_t *counter, uint64_t n);
static inline void cs_counter_inc(cs_counter_t *counter)
{
    cs_counter_add(counter, 1);
}
uint64_t cs_counter_value(const cs_counter_t *counter);
void cs_gauge_set(cs_gauge_t *gauge, double value);
void cs_gauge_add(cs_gauge_t *gauge, double delta);
double cs_gauge_value(const cs_gauge_t *gauge);
void cs_histogram_observe(cs_histogram_t *histogram, double value);
uint64_t cs_histogram_count(const cs_histogram_t *histogram);

/* Appends the Prometheus text exposition format (version 0.0.4). */
void cs_metrics_render(cs_metrics_t *metrics, cs_buf_t *out);

#endif
