#include "cs_kafka.h"
#include "cs_log.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cs_kafka_lag {
    char *topic;
    int32_t partition;
    int64_t lag;
    cs_gauge_t *gauge;
    struct cs_kafka_lag *next;
} cs_kafka_lag_t;

void cs_kafka_topic_name(const char *prefix, const char *base, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s%s", prefix ? prefix : "", base);
}

cs_err_t cs_kafka_err(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return CS_ERR_OK;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return CS_ERR_REJECTED;
    case RD_KAFKA_RESP_ERR__FATAL:
        return CS_ERR_FATAL;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return CS_ERR_TIMEOUT;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
        return CS_ERR_UNAVAILABLE;
    default:
        return CS_ERR_TRANSIENT;
    }
}

static void cs_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    char facility[64];
    snprintf(facility, sizeof(facility), "rdkafka.%s", fac);
    cs_log(cs_log_level_from_syslog(level), facility, "%s: %s", rd_kafka_name(rk), buf);
}

static void cs_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    cs_kafka_ctx_t *ctx = opaque;
    cs_counter_inc(ctx->errors);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        cs_log(CS_LOG_ERROR, "kafka", "FATAL %s: %s", rd_kafka_err2name(orig), fatal);
        ctx->fatal = 1;
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        atomic_store(&ctx->broker_up, false);
    /* Transport errors are routine during broker restarts: librdkafka retries them. */
    cs_log(err == RD_KAFKA_RESP_ERR__TRANSPORT ? CS_LOG_INFO : CS_LOG_WARN, "kafka", "%s: %s",
           rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static cs_kafka_lag_t *cs_kafka_lag_find(cs_kafka_ctx_t *ctx, const char *topic,
                                         int32_t partition, bool create)
{
    for (cs_kafka_lag_t *l = ctx->lags; l; l = l->next)
        if (l->partition == partition && strcmp(l->topic, topic) == 0)
            return l;
    if (!create)
        return NULL;
    cs_kafka_lag_t *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->topic = strdup(topic);
    if (!l->topic) {
        free(l);
        return NULL;
    }
    l->partition = partition;
    l->lag = -1;
    char labels[512];
    snprintf(labels, sizeof(labels), "group=\"%s\",topic=\"%s\",partition=\"%d\"",
             ctx->group ? ctx->group : "", topic, partition);
    l->gauge = cs_metrics_gauge(ctx->metrics, "chatstream_consumer_lag", labels,
                                "Records between the partition's high watermark and the "
                                "offset this consumer has stored (done, not yet or already "
                                "committed).");
    l->next = ctx->lags;
    ctx->lags = l;
    return l;
}

/* librdkafka statistics (JSON) -> chatstream_consumer_lag{group,topic,partition}.
 * Called on the thread that serves the consumer queue, i.e. the processor's main loop. */
static int cs_kafka_stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    cs_kafka_ctx_t *ctx = opaque;
    if (rd_kafka_type(rk) != RD_KAFKA_CONSUMER || !ctx->metrics)
        return 0;
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return 0;
    struct json_object *root = json_tokener_parse_ex(tok, json, (int)json_len);
    json_tokener_free(tok);
    struct json_object *brokers = NULL;
    if (root && json_object_object_get_ex(root, "brokers", &brokers) &&
        json_object_is_type(brokers, json_type_object)) {
        bool up = false;
        json_object_object_foreach(brokers, bname, bobj)
        {
            struct json_object *state = NULL;
            (void)bname;
            if (json_object_object_get_ex(bobj, "state", &state) &&
                json_object_is_type(state, json_type_string) &&
                strcmp(json_object_get_string(state), "UP") == 0)
                up = true;
        }
        atomic_store(&ctx->broker_up, up);
    }
    struct json_object *topics = NULL;
    if (!root || !json_object_object_get_ex(root, "topics", &topics) ||
        !json_object_is_type(topics, json_type_object)) {
        json_object_put(root);
        return 0;
    }
    json_object_object_foreach(topics, tname, tobj)
    {
        struct json_object *parts = NULL;
        if (!json_object_object_get_ex(tobj, "partitions", &parts) ||
            !json_object_is_type(parts, json_type_object))
            continue;
        json_object_object_foreach(parts, pname, pobj)
        {
            struct json_object *v = NULL;
            int32_t partition = atoi(pname);
            if (partition < 0)
                continue; /* the internal "unassigned" partition */
            /* Only partitions this consumer owns: fetch_state "none" means not assigned. */
            if (json_object_object_get_ex(pobj, "fetch_state", &v) &&
                json_object_is_type(v, json_type_string) &&
                strcmp(json_object_get_string(v), "none") == 0)
                continue;
            int64_t lag = -1;
            if (json_object_object_get_ex(pobj, "consumer_lag_stored", &v) &&
                json_object_is_type(v, json_type_int))
                lag = json_object_get_int64(v);
            if (lag < 0 && json_object_object_get_ex(pobj, "consumer_lag", &v) &&
                json_object_is_type(v, json_type_int))
                lag = json_object_get_int64(v);
            if (lag < 0)
                continue;
            cs_kafka_lag_t *l = cs_kafka_lag_find(ctx, tname, partition, true);
            if (l) {
                l->lag = lag;
                cs_gauge_set(l->gauge, (double)lag);
            }
        }
    }
    json_object_put(root);
    return 0; /* librdkafka frees the JSON */
}

void cs_kafka_lag_forget(cs_kafka_ctx_t *ctx, const char *topic, int32_t partition)
{
    for (cs_kafka_lag_t **pp = &ctx->lags; *pp; pp = &(*pp)->next) {
        cs_kafka_lag_t *l = *pp;
        if (l->partition == partition && strcmp(l->topic, topic) == 0) {
            *pp = l->next;
            cs_metrics_remove(ctx->metrics, l->gauge);
            free(l->topic);
            free(l);
            return;
        }
    }
}

int64_t cs_kafka_lag_get(cs_kafka_ctx_t *ctx, const char *topic, int32_t partition)
{
    cs_kafka_lag_t *l = cs_kafka_lag_find(ctx, topic, partition, false);
    return l ? l->lag : -1;
}

void cs_kafka_ctx_clear(cs_kafka_ctx_t *ctx)
{
    while (ctx->lags) {
        cs_kafka_lag_t *l = ctx->lags;
        ctx->lags = l->next;
        cs_metrics_remove(ctx->metrics, l->gauge);
        free(l->topic);
        free(l);
    }
}

static bool cs_kafka_set(rd_kafka_conf_t *kconf, const char *key, const char *value,
                         char *errstr, size_t errstr_size)
{
    if (rd_kafka_conf_set(kconf, key, value, errstr, errstr_size) != RD_KAFKA_CONF_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "kafka.%s: %s", key, errstr);
        snprintf(errstr, errstr_size, "%s", msg);
        return false;
    }
    return true;
}

rd_kafka_conf_t *cs_kafka_conf_new(cs_kafka_role_t role, const char *brokers,
                                   const char *client_id, const cs_conf_t *conf,
                                   cs_kafka_ctx_t *ctx, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();
    if (!ctx->errors && ctx->metrics) {
        char labels[128];
        snprintf(labels, sizeof(labels), "component=\"%s\"",
                 ctx->component ? ctx->component : "");
        ctx->errors = cs_metrics_counter(ctx->metrics, "chatstream_kafka_errors_total", labels,
                                         "Client-level errors reported by librdkafka.");
    }
    atomic_store(&ctx->broker_up, true);
    rd_kafka_conf_set_opaque(kconf, ctx);
    rd_kafka_conf_set_log_cb(kconf, cs_kafka_log_cb);
    rd_kafka_conf_set_error_cb(kconf, cs_kafka_error_cb);
    if (role == CS_KAFKA_CONSUMER)
        rd_kafka_conf_set_stats_cb(kconf, cs_kafka_stats_cb);

    if (!cs_kafka_set(kconf, "bootstrap.servers", brokers, errstr, errstr_size) ||
        !cs_kafka_set(kconf, "client.id", client_id, errstr, errstr_size) ||
        /* Idle connections being reaped by the broker are routine, not news. */
        !cs_kafka_set(kconf, "log.connection.close", "false", errstr, errstr_size))
        goto err;
    if (role == CS_KAFKA_PRODUCER) {
        /* Durable and ordered per partition, without duplicates from retries. */
        if (!cs_kafka_set(kconf, "enable.idempotence", "true", errstr, errstr_size) ||
            !cs_kafka_set(kconf, "acks", "all", errstr, errstr_size) ||
            !cs_kafka_set(kconf, "linger.ms", "5", errstr, errstr_size) ||
            !cs_kafka_set(kconf, "compression.type", "lz4", errstr, errstr_size))
            goto err;
    } else {
        char wait_ms[16];
        snprintf(wait_ms, sizeof(wait_ms), "%d",
                 ctx->fetch_wait_ms > 0 ? ctx->fetch_wait_ms : CS_KAFKA_FETCH_WAIT_MS);
        if (!cs_kafka_set(kconf, "fetch.min.bytes", CS_KAFKA_FETCH_MIN_BYTES, errstr,
                          errstr_size) ||
            !cs_kafka_set(kconf, "fetch.wait.max.ms", wait_ms, errstr, errstr_size))
            goto err;
        /* At-least-once: offsets are stored by the framework after the sink is durable. */
        if (!cs_kafka_set(kconf, "enable.auto.offset.store", "false", errstr, errstr_size) ||
            !cs_kafka_set(kconf, "enable.auto.commit", "true", errstr, errstr_size) ||
            !cs_kafka_set(kconf, "auto.commit.interval.ms", "1000", errstr, errstr_size) ||
            !cs_kafka_set(kconf, "auto.offset.reset", "earliest", errstr, errstr_size) ||
            !cs_kafka_set(kconf, "statistics.interval.ms", "5000", errstr, errstr_size) ||
            /* A crashed instance's partitions move after 10 s, not librdkafka's 45 s:
             * persistence and fan-out stall for that long after a kill -9. */
            !cs_kafka_set(kconf, "session.timeout.ms", "10000", errstr, errstr_size) ||
            !cs_kafka_set(kconf, "heartbeat.interval.ms", "3000", errstr, errstr_size))
            goto err;
    }

    size_t nprops = 0;
    const cs_conf_kv_t *props = conf ? cs_conf_kafka_props(conf, &nprops) : NULL;
    for (size_t i = 0; i < nprops; i++) {
        const char *key = props[i].key;
        if (strncmp(key, "producer.", 9) == 0) {
            if (role != CS_KAFKA_PRODUCER)
                continue;
            key += 9;
        } else if (strncmp(key, "consumer.", 9) == 0) {
            if (role != CS_KAFKA_CONSUMER)
                continue;
            key += 9;
        }
        if (!cs_kafka_set(kconf, key, props[i].value, errstr, errstr_size))
            goto err;
    }
    return kconf;
err:
    rd_kafka_conf_destroy(kconf);
    return NULL;
}
