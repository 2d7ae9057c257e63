/*
 * cs_sink — what a message store implements, so PostgreSQL and MongoDB are
 * interchangeable behind chatstream-persist.
 *
 * write_batch() makes the whole batch durable (one transaction, one bulk write)
 * and is idempotent on the envelope id and on (user, cmid): writing a message
 * that is already stored is success, not an error. There is no separate flush:
 * a sink that buffered across calls would force the framework to track which
 * offsets are really safe, and batching is already the framework's job.
 *
 * Errors say what to do: retriable (the store is down or busy; the framework
 * pauses and retries) or CS_ERR_REJECTED (the store refuses this input; the
 * framework splits the batch to dead-letter the record at fault).
 */
#ifndef CS_SINK_H
#define CS_SINK_H

#include "cs_conf.h"
#include "cs_envelope.h"
#include "cs_err.h"
#include "cs_metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_sink_stats {
    size_t written;     /* new rows/documents */
    size_t duplicates;  /* already stored (replays, client retries) */
} cs_sink_stats_t;

/* What every sink reports, and the same way: the time of a batch write, messages new
 * and already stored, failed writes by kind (retriable / rejected), and its health for
 * /readyz (true until a write fails for a retriable reason, true again after one
 * succeeds). All under the label sink="<name>". */
typedef struct cs_sink_meter {
    atomic_bool healthy;
    cs_histogram_t *write;
    cs_counter_t *rows;
    cs_counter_t *dups;
    cs_counter_t *errors_retriable;
    cs_counter_t *errors_rejected;
} cs_sink_meter_t;

void cs_sink_meter_init(cs_sink_meter_t *m, cs_metrics_t *metrics, const char *sink_name);
/* Records the outcome of one write_batch() that started at t0_us (cs_mono_us()). */
void cs_sink_meter_batch(cs_sink_meter_t *m, cs_err_t rc, const cs_sink_stats_t *stats,
                         int64_t t0_us);
bool cs_sink_meter_healthy(cs_sink_meter_t *m);

typedef struct cs_sink_ops {
    const char *name;                /* "postgres", "mongodb" */
    const cs_conf_def_t *conf_defs;  /* the sink's options */
    size_t conf_ndefs;
    size_t conf_size;                /* sizeof its config struct */
    /* Connects lazily or eagerly; NULL + errstr only for configuration errors. */
    void *(*open)(const void *conf, cs_metrics_t *metrics, char *errstr, size_t errstr_size);
    cs_err_t (*write_batch)(void *sink, const cs_envelope_t *msgs, size_t n,
                            cs_sink_stats_t *stats, char *errstr, size_t errstr_size);
    /* Thread-safe: true while the last operation succeeded (for /readyz). */
    bool (*healthy)(void *sink);
    void (*close)(void *sink);
} cs_sink_ops_t;

extern const cs_sink_ops_t cs_sink_postgres;
/* message_search, the full-text index of the search fallback (run as a second group) */
extern const cs_sink_ops_t cs_sink_postgres_search;
#ifdef CS_HAVE_MONGOC
extern const cs_sink_ops_t cs_sink_mongodb;
#endif

/* The sink called `name`, or NULL. */
const cs_sink_ops_t *cs_sink_find(const char *name);
/* All sinks compiled in: cs_sink_at(0 .. cs_sink_count()-1). */
size_t cs_sink_count(void);
const cs_sink_ops_t *cs_sink_at(size_t i);

#endif
