#include "cs_sink.h"

#include "cs_time.h"

#include <stdio.h>
#include <string.h>

static const cs_sink_ops_t *const cs_sinks[] = {
    &cs_sink_postgres,
    &cs_sink_postgres_search,
#ifdef CS_HAVE_MONGOC
    &cs_sink_mongodb,
#endif
};

const cs_sink_ops_t *cs_sink_find(const char *name)
{
    for (size_t i = 0; i < sizeof(cs_sinks) / sizeof(cs_sinks[0]); i++)
        if (strcmp(cs_sinks[i]->name, name) == 0)
            return cs_sinks[i];
    return NULL;
}

size_t cs_sink_count(void)
{
    return sizeof(cs_sinks) / sizeof(cs_sinks[0]);
}

const cs_sink_ops_t *cs_sink_at(size_t i)
{
    return i < cs_sink_count() ? cs_sinks[i] : NULL;
}

void cs_sink_meter_init(cs_sink_meter_t *m, cs_metrics_t *metrics, const char *sink_name)
{
    char l[96], lr[128], lj[128];
    snprintf(l, sizeof(l), "sink=\"%s\"", sink_name);
    snprintf(lr, sizeof(lr), "sink=\"%s\",kind=\"retriable\"", sink_name);
    snprintf(lj, sizeof(lj), "sink=\"%s\",kind=\"rejected\"", sink_name);
    m->write = cs_metrics_histogram(metrics, "chatstream_db_write_seconds", l,
                                    "Time to write one batch (one transaction or bulk write).",
                                    cs_metrics_latency_buckets, cs_metrics_latency_nbuckets);
    m->rows = cs_metrics_counter(metrics, "chatstream_db_rows_written_total", l,
                                 "Messages newly stored.");
    m->dups = cs_metrics_counter(metrics, "chatstream_db_rows_duplicate_total", l,
                                 "Messages already stored (replays and client retries).");
    m->errors_retriable = cs_metrics_counter(metrics, "chatstream_db_errors_total", lr,
                                             "Failed batch writes, by kind.");
    m->errors_rejected = cs_metrics_counter(metrics, "chatstream_db_errors_total", lj,
                                            "Failed batch writes, by kind.");
    atomic_store(&m->healthy, true); /* until a write says otherwise */
}

void cs_sink_meter_batch(cs_sink_meter_t *m, cs_err_t rc, const cs_sink_stats_t *stats,
                         int64_t t0_us)
{
    if (rc == CS_ERR_OK) {
        cs_histogram_observe(m->write, (double)(cs_mono_us() - t0_us) / 1e6);
        cs_counter_add(m->rows, stats->written);
        cs_counter_add(m->dups, stats->duplicates);
        atomic_store(&m->healthy, true);
    } else if (cs_err_retriable(rc)) {
        cs_counter_inc(m->errors_retriable);
        atomic_store(&m->healthy, false);
    } else {
        cs_counter_inc(m->errors_rejected);
    }
}

bool cs_sink_meter_healthy(cs_sink_meter_t *m)
{
    return atomic_load(&m->healthy);
}
