/*
 * chatstream-persist: chat.messages -> a message store (PostgreSQL, or MongoDB).
 *
 * Each batch from the framework is decoded (a record that is not a valid envelope
 * is dead-lettered with the decoder's reason) and written with one idempotent
 * write_batch() call. Everything else (offsets only after the write, pausing
 * while the store is down, splitting a refused batch) is the framework's.
 */
#include "cs_envelope_batch.h"
#include "cs_log.h"
#include "cs_processor.h"
#include "cs_sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CS_PERSIST_MAX_SINKS 8

typedef struct cs_persist_conf {
    char *sink;                                   /* "postgres" or "mongodb" */
    void *sink_conf[CS_PERSIST_MAX_SINKS];        /* per sink, owned by the config */
} cs_persist_conf_t;

static const cs_conf_def_t cs_persist_defs[] = {
    CS_CONF_ROW_STR(cs_persist_conf_t, sink, "sink", "postgres", 32,
                    "Message store: postgres, postgres-search (the full-text index of the search "
                    "fallback; run as a second group) or mongodb (when built with libmongoc)."),
};

typedef struct cs_persist {
    const cs_sink_ops_t *ops;
    void *sink;
    cs_envelope_batch_t batch;
} cs_persist_t;

static void cs_persist_add_conf(cs_conf_t *conf, void *vpconf)
{
    cs_persist_conf_t *pconf = vpconf;
    for (size_t i = 0; i < cs_sink_count() && i < CS_PERSIST_MAX_SINKS; i++) {
        const cs_sink_ops_t *ops = cs_sink_at(i);
        pconf->sink_conf[i] =
            cs_conf_add_owned_section(conf, ops->name, ops->conf_defs, ops->conf_ndefs,
                                      ops->conf_size);
    }
}

static void *cs_persist_init(const cs_proc_ctx_t *ctx, void *vpconf, char *errstr,
                             size_t errstr_size)
{
    cs_persist_conf_t *pconf = vpconf;
    cs_persist_t *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    size_t idx = 0;
    while (idx < cs_sink_count() && strcmp(cs_sink_at(idx)->name, pconf->sink) != 0)
        idx++;
    p->ops = cs_sink_at(idx);
    if (!p->ops) {
        snprintf(errstr, errstr_size, "sink '%s' is not built into this binary", pconf->sink);
        free(p);
        return NULL;
    }
    p->sink = p->ops->open(pconf->sink_conf[idx], ctx->metrics, errstr, errstr_size);
    if (!p->sink) {
        free(p);
        return NULL;
    }
    cs_log(CS_LOG_INFO, "persist", "writing to %s", p->ops->name);
    return p;
}

static cs_err_t cs_persist_process(void *state, cs_record_t *recs, size_t n, char *errstr,
                                   size_t errstr_size)
{
    cs_persist_t *p = state;
    cs_err_t rc = cs_envelope_batch_decode(&p->batch, recs, n, errstr, errstr_size);
    if (rc != CS_ERR_OK)
        return rc;
    cs_sink_stats_t stats;
    return p->ops->write_batch(p->sink, p->batch.envs, p->batch.n, &stats, errstr, errstr_size);
}

static bool cs_persist_ready(void *state, char *reason, size_t reason_size)
{
    cs_persist_t *p = state;
    if (p->ops->healthy(p->sink))
        return true;
    snprintf(reason, reason_size, "%s sink unavailable", p->ops->name);
    return false;
}

static void cs_persist_destroy(void *state)
{
    cs_persist_t *p = state;
    p->ops->close(p->sink);
    cs_envelope_batch_free(&p->batch);
    free(p);
}

const cs_processor_t cs_persist_processor = {
    .name = "persist",
    .summary = "Writes chat messages from Kafka to PostgreSQL (or MongoDB), idempotently, in "
               "batches.",
    .input_topic = "chat.messages",
    .conf_defs = cs_persist_defs,
    .conf_ndefs = sizeof(cs_persist_defs) / sizeof(cs_persist_defs[0]),
    .conf_size = sizeof(cs_persist_conf_t),
    .add_conf = cs_persist_add_conf,
    .init = cs_persist_init,
    .process = cs_persist_process,
    .ready = cs_persist_ready,
    .destroy = cs_persist_destroy,
};
