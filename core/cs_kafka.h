/*
 * cs_kafka — librdkafka client setup shared by every binary.
 *
 * Builds an rd_kafka_conf_t with: bootstrap servers and client id from our
 * config, librdkafka's logs routed into cs_log, errors logged and counted,
 * statistics turned into per-partition consumer-lag gauges and a watch on
 * partitions that are assigned but not fetched, and finally the operator's
 * `kafka.*` properties (which win over everything above).
 */
#ifndef CS_KAFKA_H
#define CS_KAFKA_H

#include "cs_conf.h"
#include "cs_err.h"
#include "cs_metrics.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef enum { CS_KAFKA_PRODUCER, CS_KAFKA_CONSUMER } cs_kafka_role_t;

/* What the callbacks installed by cs_kafka_conf_new need; must outlive the client. */
typedef struct cs_kafka_ctx {
    cs_metrics_t *metrics;
    const char *group;          /* consumer group, for the lag gauges' labels */
    const char *component;      /* "persist", "gateway"... for labels */
    cs_counter_t *errors;       /* chatstream_kafka_errors_total */
    volatile int fatal;         /* set when librdkafka reports a fatal error */
    atomic_bool broker_up;      /* false after ALL_BROKERS_DOWN until statistics show one UP */
    int fetch_wait_ms;          /* consumers: fetch.wait.max.ms (0: CS_KAFKA_FETCH_WAIT_MS) */
    /* per-partition lag and fetch-watch gauges, owned here so they can be removed on revoke */
    struct cs_kafka_part *parts;
} cs_kafka_ctx_t;

/* A consumer's fetch is answered when CS_KAFKA_FETCH_MIN_BYTES have accumulated or after
 * fetch.wait.max.ms, not as soon as one record is there: under load every consumer was
 * sending a fetch per round trip (the fan-out ~300 a second at 1,000 users), and requests,
 * not bytes, are what the broker's CPU goes on. kafka.consumer.fetch.* override both. */
#define CS_KAFKA_FETCH_MIN_BYTES "65536"
#define CS_KAFKA_FETCH_WAIT_MS 10

/* Returns a configured rd_kafka_conf_t (caller owns it) or NULL with errstr. */
rd_kafka_conf_t *cs_kafka_conf_new(cs_kafka_role_t role, const char *brokers,
                                   const char *client_id, const cs_conf_t *conf,
                                   cs_kafka_ctx_t *ctx, char *errstr, size_t errstr_size);
/* A fetch that has not started this long after the assignment (normally well under a
 * second; the statistics come every 5 s) is logged as a warning, once per assignment. */
#define CS_KAFKA_STALL_WARN_S 60

/* Frees the per-partition gauges kept in ctx. */
void cs_kafka_ctx_clear(cs_kafka_ctx_t *ctx);
/* From the rebalance callback, with the partitions given to this consumer (now_us:
 * cs_mono_us()). From then on chatstream_consumer_not_fetching_seconds{group,topic,
 * partition} says how long librdkafka has gone without fetching each: a partition whose
 * fetch never starts has no lag to alert on (seen once: a new group left one partition
 * of twelve unfetched for over a minute, no error anywhere). */
void cs_kafka_partitions_assigned(cs_kafka_ctx_t *ctx,
                                  const rd_kafka_topic_partition_list_t *parts, int64_t now_us);
/* Drops the partitions' gauges (after they are revoked or lost). */
void cs_kafka_partitions_revoked(cs_kafka_ctx_t *ctx,
                                 const rd_kafka_topic_partition_list_t *parts);
/* Applies one librdkafka statistics document (see its STATISTICS.md) as seen at now_us:
 * the lag gauges, broker_up, the fetch watch. What is not statistics changes nothing.
 * The statistics callback calls it; exposed for tests. */
void cs_kafka_stats_apply(cs_kafka_ctx_t *ctx, const char *json, size_t json_len,
                          int64_t now_us);

/* prefix + base ("eu1." + "chat.messages"), into out. */
void cs_kafka_topic_name(const char *prefix, const char *base, char *out, size_t out_size);
/* Maps an rd_kafka_resp_err_t to our retriable/permanent status. */
cs_err_t cs_kafka_err(rd_kafka_resp_err_t err);

#endif
