#include "cs_metrics.h"

#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const double cs_metrics_latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                             0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                             1,      2.5,     5,      10};
const size_t cs_metrics_latency_nbuckets =
    sizeof(cs_metrics_latency_buckets) / sizeof(cs_metrics_latency_buckets[0]);

typedef enum { CS_METRIC_COUNTER, CS_METRIC_GAUGE, CS_METRIC_HISTOGRAM } cs_metric_type_t;

typedef struct cs_family {
    char *name;
    char *help;
    cs_metric_type_t type;
    struct cs_metric *series;    /* singly linked, in registration order */
    struct cs_family *next;
} cs_family_t;

struct cs_metric {
    cs_family_t *family;
    char *labels;                /* preformatted, may be "" */
    _Atomic uint64_t u64;        /* counter value, histogram count */
    _Atomic uint64_t bits;       /* gauge value / histogram sum, as double bits */
    double (*fn)(void *);        /* computed gauge */
    void *fn_arg;
    double *bounds;              /* histogram upper bounds */
    _Atomic uint64_t *buckets;   /* histogram per-bucket counts (not cumulative) */
    size_t nbuckets;
    struct cs_metric *next;
};

struct cs_metrics {
    pthread_mutex_t lock;
    cs_family_t *families;
    cs_family_t **tail;
};

static uint64_t cs_d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double cs_u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

cs_metrics_t *cs_metrics_new(void)
{
    cs_metrics_t *metrics = calloc(1, sizeof(*metrics));
    if (!metrics)
        return NULL;
    pthread_mutex_init(&metrics->lock, NULL);
    metrics->tail = &metrics->families;
    return metrics;
}

static void cs_metric_free(struct cs_metric *m)
{
    free(m->labels);
    free(m->bounds);
    free(m->buckets);
    free(m);
}

void cs_metrics_destroy(cs_metrics_t *metrics)
{
    if (!metrics)
        return;
    cs_family_t *f = metrics->families;
    while (f) {
        cs_family_t *fnext = f->next;
        struct cs_metric *m = f->series;
        while (m) {
            struct cs_metric *mnext = m->next;
            cs_metric_free(m);
            m = mnext;
        }
        free(f->name);
        free(f->help);
        free(f);
        f = fnext;
    }
    pthread_mutex_destroy(&metrics->lock);
    free(metrics);
}

/* Finds or creates name{labels}; called with the lock held. */
static struct cs_metric *cs_metrics_get(cs_metrics_t *metrics, const char *name,
                                        const char *labels, const char *help,
                                        cs_metric_type_t type, bool *created)
{
    *created = false;
    if (!labels)
        labels = "";
    cs_family_t *fam = metrics->families;
    while (fam && strcmp(fam->name, name) != 0)
        fam = fam->next;
    if (fam && fam->type != type)
        return NULL;
    if (!fam) {
        fam = calloc(1, sizeof(*fam));
        if (!fam)
            return NULL;
        fam->name = strdup(name);
        fam->help = strdup(help ? help : "");
        fam->type = type;
        if (!fam->name || !fam->help) {
            free(fam->name);
            free(fam->help);
            free(fam);
            return NULL;
        }
        *metrics->tail = fam;
        metrics->tail = &fam->next;
    }
    struct cs_metric **pp = &fam->series;
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->labels, labels) == 0)
            return *pp;
    struct cs_metric *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->labels = strdup(labels);
    if (!m->labels) {
        free(m);
        return NULL;
    }
    m->family = fam;
    *pp = m;
    *created = true;
    return m;
}

cs_counter_t *cs_metrics_counter(cs_metrics_t *metrics, const char *name, const char *labels,
                                 const char *help)
{
    bool created;
    pthread_mutex_lock(&metrics->lock);
    struct cs_metric *m = cs_metrics_get(metrics, name, labels, help, CS_METRIC_COUNTER, &created);
    pthread_mutex_unlock(&metrics->lock);
    return m;
}

cs_gauge_t *cs_metrics_gauge(cs_metrics_t *metrics, const char *name, const char *labels,
                             const char *help)
{
    bool created;
    pthread_mutex_lock(&metrics->lock);
    struct cs_metric *m = cs_metrics_get(metrics, name, labels, help, CS_METRIC_GAUGE, &created);
    pthread_mutex_unlock(&metrics->lock);
    return m;
}

cs_gauge_t *cs_metrics_gauge_fn(cs_metrics_t *metrics, const char *name, const char *labels,
                                const char *help, double (*fn)(void *arg), void *arg)
{
    bool created;
    pthread_mutex_lock(&metrics->lock);
    struct cs_metric *m = cs_metrics_get(metrics, name, labels, help, CS_METRIC_GAUGE, &created);
    if (m) {
        m->fn = fn;
        m->fn_arg = arg;
    }
    pthread_mutex_unlock(&metrics->lock);
    return m;
}

cs_histogram_t *cs_metrics_histogram(cs_metrics_t *metrics, const char *name, const char *labels,
                                     const char *help, const double *buckets, size_t nbuckets)
{
    bool created;
    pthread_mutex_lock(&metrics->lock);
    struct cs_metric *m =
        cs_metrics_get(metrics, name, labels, help, CS_METRIC_HISTOGRAM, &created);
    if (m && created) {
        m->bounds = malloc(nbuckets * sizeof(*m->bounds));
        m->buckets = calloc(nbuckets + 1, sizeof(*m->buckets));
        if (!m->bounds || !m->buckets) {
            /* Leave a usable series with no buckets rather than a dangling one. */
            free(m->bounds);
            free(m->buckets);
            m->bounds = NULL;
            m->buckets = NULL;
        } else {
            memcpy(m->bounds, buckets, nbuckets * sizeof(*m->bounds));
            m->nbuckets = nbuckets;
        }
    }
    pthread_mutex_unlock(&metrics->lock);
    return m;
}

void cs_metrics_remove(cs_metrics_t *metrics, cs_gauge_t *series)
{
    if (!series)
        return;
    pthread_mutex_lock(&metrics->lock);
    cs_family_t *fam = series->family;
    for (struct cs_metric **pp = &fam->series; *pp; pp = &(*pp)->next) {
        if (*pp == series) {
            *pp = series->next;
            cs_metric_free(series);
            break;
        }
    }
    pthread_mutex_unlock(&metrics->lock);
}

void cs_counter_add(cs_counter_t *counter, uint64_t n)
{
    if (counter)
        atomic_fetch_add_explicit(&counter->u64, n, memory_order_relaxed);
}

uint64_t cs_counter_value(const cs_counter_t *counter)
{
    return counter ? atomic_load_explicit(&((cs_counter_t *)counter)->u64, memory_order_relaxed)
                   : 0;
}

void cs_gauge_set(cs_gauge_t *gauge, double value)
{
    if (gauge)
        atomic_store_explicit(&gauge->bits, cs_d2u(value), memory_order_relaxed);
}

static void cs_atomic_add_double(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, cs_d2u(cs_u2d(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void cs_gauge_add(cs_gauge_t *gauge, double delta)
{
    if (gauge)
        cs_atomic_add_double(&gauge->bits, delta);
}

double cs_gauge_value(const cs_gauge_t *gauge)
{
    if (!gauge)
        return 0;
    if (gauge->fn)
        return gauge->fn(gauge->fn_arg);
    return cs_u2d(atomic_load_explicit(&((cs_gauge_t *)gauge)->bits, memory_order_relaxed));
}

void cs_histogram_observe(cs_histogram_t *h, double value)
{
    if (!h)
        return;
    if (h->buckets) {
        size_t i = 0;
        while (i < h->nbuckets && value > h->bounds[i])
            i++;
        atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&h->u64, 1, memory_order_relaxed);
    cs_atomic_add_double(&h->bits, value);
}

uint64_t cs_histogram_count(const cs_histogram_t *h)
{
    return cs_counter_value(h);
}

static void cs_render_double(cs_buf_t *out, double v)
{
    if (isnan(v))
        cs_buf_puts(out, "NaN");
    else if (isinf(v))
        cs_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(int64_t)v && fabs(v) < 1e15)
        cs_buf_printf(out, "%lld", (long long)v);
    else
        cs_buf_printf(out, "%.17g", v);
}

/* name{labels,extra} — `extra` is one more label such as le="0.5". */
static void cs_render_name(cs_buf_t *out, const char *name, const char *suffix, const char *labels,
                           const char *extra)
{
    cs_buf_puts(out, name);
    cs_buf_puts(out, suffix);
    bool has = labels && *labels;
    if (has || extra) {
        cs_buf_putc(out, '{');
        if (has)
            cs_buf_puts(out, labels);
        if (extra) {
            if (has)
                cs_buf_putc(out, ',');
            cs_buf_puts(out, extra);
        }
        cs_buf_putc(out, '}');
    }
    cs_buf_putc(out, ' ');
}

void cs_metrics_render(cs_metrics_t *metrics, cs_buf_t *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&metrics->lock);
    for (cs_family_t *fam = metrics->families; fam; fam = fam->next) {
        if (!fam->series)
            continue;
        cs_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                      types[fam->type]);
        for (struct cs_metric *m = fam->series; m; m = m->next) {
            switch (fam->type) {
            case CS_METRIC_COUNTER:
                cs_render_name(out, fam->name, "", m->labels, NULL);
                cs_buf_printf(out, "%llu\n", (unsigned long long)cs_counter_value(m));
                break;
            case CS_METRIC_GAUGE:
                cs_render_name(out, fam->name, "", m->labels, NULL);
                cs_render_double(out, cs_gauge_value(m));
                cs_buf_putc(out, '\n');
                break;
            case CS_METRIC_HISTOGRAM: {
                uint64_t cum = 0;
                char le[64];
                for (size_t i = 0; i <= m->nbuckets && m->buckets; i++) {
                    cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
                    if (i < m->nbuckets)
                        snprintf(le, sizeof(le), "le=\"%g\"", m->bounds[i]);
                    else
                        snprintf(le, sizeof(le), "le=\"+Inf\"");
                    cs_render_name(out, fam->name, "_bucket", m->labels, le);
                    cs_buf_printf(out, "%llu\n", (unsigned long long)cum);
                }
                cs_render_name(out, fam->name, "_sum", m->labels, NULL);
                cs_render_double(out, cs_u2d(atomic_load_explicit(&m->bits,
                                                                  memory_order_relaxed)));
                cs_buf_putc(out, '\n');
                /* The +Inf bucket and _count must agree; report what the buckets saw. */
                cs_render_name(out, fam->name, "_count", m->labels, NULL);
                cs_buf_printf(out, "%llu\n",
                              (unsigned long long)(m->buckets ? cum : cs_counter_value(m)));
                break;
            }
            }
        }
    }
    pthread_mutex_unlock(&metrics->lock);
}
