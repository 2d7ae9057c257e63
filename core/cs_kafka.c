#include "cs_kafka.h"
#include "cs_log.h"
#include "cs_time.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One partition this consumer has been given or has seen in its statistics. */
typedef struct cs_kafka_part {
    char *topic;
    int32_t partition;
    cs_gauge_t *lag_gauge;       /* created with the first lag reported */
    /* Fetch watch, for partitions handed over by cs_kafka_partitions_assigned only. */
    bool assigned;
    bool fetching;               /* "active" in the last statistics */
    bool warned;                 /* the stall has been logged */
    int64_t waiting_since_us;    /* assigned, or last seen fetching; meaningless while fetching */
    char fetch_state[24];        /* as the last statistics said; "" when not listed */
    cs_gauge_t *idle_gauge;      /* chatstream_consumer_not_fetching_seconds */
    struct cs_kafka_part *next;
} cs_kafka_part_t;

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

static void cs_kafka_part_labels(const cs_kafka_ctx_t *ctx, const cs_kafka_part_t *p,
                                 char *labels, size_t size)
{
    snprintf(labels, size, "group=\"%s\",topic=\"%s\",partition=\"%d\"",
             ctx->group ? ctx->group : "", p->topic, p->partition);
}

static cs_kafka_part_t *cs_kafka_part_find(cs_kafka_ctx_t *ctx, const char *topic,
                                           int32_t partition)
{
    for (cs_kafka_part_t *p = ctx->parts; p; p = p->next)
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    return NULL;
}

static cs_kafka_part_t *cs_kafka_part_new(cs_kafka_ctx_t *ctx, const char *topic,
                                          int32_t partition)
{
    cs_kafka_part_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->topic = strdup(topic);
    if (!p->topic) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->next = ctx->parts;
    ctx->parts = p;
    return p;
}

static void cs_kafka_part_free(cs_kafka_ctx_t *ctx, cs_kafka_part_t *p)
{
    if (p->lag_gauge)
        cs_metrics_remove(ctx->metrics, p->lag_gauge);
    if (p->idle_gauge)
        cs_metrics_remove(ctx->metrics, p->idle_gauge);
    free(p->topic);
    free(p);
}

static void cs_kafka_part_set_lag(cs_kafka_ctx_t *ctx, cs_kafka_part_t *p, int64_t lag)
{
    if (!p->lag_gauge) {
        char labels[512];
        cs_kafka_part_labels(ctx, p, labels, sizeof(labels));
        p->lag_gauge = cs_metrics_gauge(ctx->metrics, "chatstream_consumer_lag", labels,
                                        "Records between the partition's high watermark and "
                                        "the offset this consumer has stored (done, not yet "
                                        "or already committed).");
    }
    cs_gauge_set(p->lag_gauge, (double)lag);
}

static void cs_kafka_partition_assigned(cs_kafka_ctx_t *ctx, const char *topic,
                                        int32_t partition, int64_t now_us)
{
    cs_kafka_part_t *p = cs_kafka_part_find(ctx, topic, partition);
    if (!p && !(p = cs_kafka_part_new(ctx, topic, partition)))
        return;
    p->assigned = true;
    p->fetching = false;
    p->warned = false;
    p->waiting_since_us = now_us;
    p->fetch_state[0] = '\0';
    if (!p->idle_gauge) {
        char labels[512];
        cs_kafka_part_labels(ctx, p, labels, sizeof(labels));
        p->idle_gauge = cs_metrics_gauge(
            ctx->metrics, "chatstream_consumer_not_fetching_seconds", labels,
            "Seconds this assigned partition has spent without librdkafka fetching it (its "
            "fetch state not \"active\"), as of the last statistics; 0 while it fetches. A "
            "partition never fetched has no lag gauge: this is what shows it.");
    }
    cs_gauge_set(p->idle_gauge, 0);
}

void cs_kafka_partitions_assigned(cs_kafka_ctx_t *ctx,
                                  const rd_kafka_topic_partition_list_t *parts, int64_t now_us)
{
    if (!ctx->metrics)
        return;
    for (int i = 0; i < parts->cnt; i++)
        cs_kafka_partition_assigned(ctx, parts->elems[i].topic, parts->elems[i].partition,
                                    now_us);
}

void cs_kafka_partitions_revoked(cs_kafka_ctx_t *ctx,
                                 const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        for (cs_kafka_part_t **pp = &ctx->parts; *pp; pp = &(*pp)->next) {
            cs_kafka_part_t *p = *pp;
            if (p->partition == parts->elems[i].partition &&
                strcmp(p->topic, parts->elems[i].topic) == 0) {
                *pp = p->next;
                cs_kafka_part_free(ctx, p);
                break;
            }
        }
    }
}

/* After a statistics document: how long each assigned partition has gone unfetched. */
static void cs_kafka_watch_fetching(cs_kafka_ctx_t *ctx, int64_t now_us)
{
    for (cs_kafka_part_t *p = ctx->parts; p; p = p->next) {
        if (!p->assigned)
            continue;
        if (p->fetching) {
            if (p->warned)
                cs_log(CS_LOG_INFO, "kafka", "%s [%d] is being fetched again", p->topic,
                       p->partition);
            p->warned = false;
            p->waiting_since_us = now_us;
            cs_gauge_set(p->idle_gauge, 0);
            continue;
        }
        double idle_s = (double)(now_us - p->waiting_since_us) / 1e6;
        cs_gauge_set(p->idle_gauge, idle_s);
        if (idle_s >= CS_KAFKA_STALL_WARN_S && !p->warned) {
            p->warned = true;
            cs_log(CS_LOG_WARN, "kafka",
                   "%s [%d] assigned but not fetched for %.0f s (fetch state %s): its records "
                   "wait; restarting this consumer makes librdkafka query its offset again",
                   p->topic, p->partition, idle_s, p->fetch_state[0] ? p->fetch_state : "unlisted");
        }
    }
}

void cs_kafka_stats_apply(cs_kafka_ctx_t *ctx, const char *json, size_t json_len, int64_t now_us)
{
    if (!ctx->metrics || json_len > INT32_MAX)
        return;
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return;
    struct json_object *root = json_tokener_parse_ex(tok, json, (int)json_len);
    json_tokener_free(tok);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return; /* not statistics: change nothing */
    }
    struct json_object *brokers = NULL;
    if (json_object_object_get_ex(root, "brokers", &brokers) &&
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
    for (cs_kafka_part_t *p = ctx->parts; p; p = p->next) {
        p->fetching = false;
        p->fetch_state[0] = '\0';
    }
    struct json_object *topics = NULL;
    if (json_object_object_get_ex(root, "topics", &topics) &&
        json_object_is_type(topics, json_type_object)) {
        json_object_object_foreach(topics, tname, tobj)
        {
            struct json_object *parts = NULL;
            if (!json_object_is_type(tobj, json_type_object) ||
                !json_object_object_get_ex(tobj, "partitions", &parts) ||
                !json_object_is_type(parts, json_type_object))
                continue;
            json_object_object_foreach(parts, pname, pobj)
            {
                struct json_object *v = NULL;
                char *end = NULL;
                long partition = strtol(pname, &end, 10);
                if (end == pname || *end || partition < 0 || partition > INT32_MAX ||
                    !json_object_is_type(pobj, json_type_object))
                    continue; /* -1 is librdkafka's internal "unassigned" partition */
                const char *state = "";
                if (json_object_object_get_ex(pobj, "fetch_state", &v) &&
                    json_object_is_type(v, json_type_string))
                    state = json_object_get_string(v);
                cs_kafka_part_t *p = cs_kafka_part_find(ctx, tname, (int32_t)partition);
                if (p) {
                    snprintf(p->fetch_state, sizeof(p->fetch_state), "%s", state);
                    p->fetching = strcmp(state, "active") == 0;
                }
                /* Lag only for partitions this consumer owns: "none" means not assigned
                 * (or, for an assigned one, not started: the fetch watch covers that). */
                if (strcmp(state, "none") == 0)
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
                if (!p)
                    p = cs_kafka_part_new(ctx, tname, (int32_t)partition);
                if (p)
                    cs_kafka_part_set_lag(ctx, p, lag);
            }
        }
    }
    json_object_put(root);
    cs_kafka_watch_fetching(ctx, now_us);
}

/* Called on the thread that serves the consumer queue, i.e. the processor's main loop. */
static int cs_kafka_stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    if (rd_kafka_type(rk) == RD_KAFKA_CONSUMER)
        cs_kafka_stats_apply(opaque, json, json_len, cs_mono_us());
    return 0; /* librdkafka frees the JSON */
}

void cs_kafka_ctx_clear(cs_kafka_ctx_t *ctx)
{
    while (ctx->parts) {
        cs_kafka_part_t *p = ctx->parts;
        ctx->parts = p->next;
        cs_kafka_part_free(ctx, p);
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
