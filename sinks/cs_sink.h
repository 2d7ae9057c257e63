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

#include <stdbool.h>
#include <stddef.h>

typedef struct cs_sink_stats {
    size_t written;     /* new rows/documents */
    size_t duplicates;  /* already stored (replays, client retries) */
} cs_sink_stats_t;

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
