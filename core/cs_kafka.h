/*
 * cs_kafka — librdkafka client setup shared by every binary.
 *
 * Builds an rd_kafka_conf_t with: bootstrap servers and client id from our
 * config, librdkafka's logs routed into cs_log, errors logged and counted,
 * statistics turned into per-partition consumer-lag gauges, and finally the
 * operator's `kafka.*` properties (which win over everything above).
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
    /* partition lag gauges, owned here so they can be removed on revoke */
    struct cs_kafka_lag *lags;
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
/* Frees the lag gauges kept in ctx. */
void cs_kafka_ctx_clear(cs_kafka_ctx_t *ctx);
/* Drops the lag gauge of one partition (after it is revoked). */
void cs_kafka_lag_forget(cs_kafka_ctx_t *ctx, const char *topic, int32_t partition);
/* Current lag of one partition as last reported by librdkafka's statistics, or -1. */
int64_t cs_kafka_lag_get(cs_kafka_ctx_t *ctx, const char *topic, int32_t partition);

/* prefix + base ("eu1." + "chat.messages"), into out. */
void cs_kafka_topic_name(const char *prefix, const char *base, char *out, size_t out_size);
/* Maps an rd_kafka_resp_err_t to our retriable/permanent status. */
cs_err_t cs_kafka_err(rd_kafka_resp_err_t err);

#endif
