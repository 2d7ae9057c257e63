#include "cs_producer.h"
#include "cs_kafka.h"
#include "cs_log.h"
#include "cs_time.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cs_producer {
    rd_kafka_t *rk;
    cs_kafka_ctx_t kctx;        /* callbacks' context (the conf opaque); must outlive rk */
    char *brokers;
    char *client_id;
    const cs_conf_t *conf;
    uintptr_t generation;       /* current batch; reports of older batches are ignored */
    size_t pending;             /* sent in this batch, report not yet seen */
    size_t failed;              /* reports with an error in this batch */
    rd_kafka_resp_err_t first_err;
    char first_errstr[256];
    cs_counter_t *sent;
    cs_counter_t *delivery_errors;
};

static cs_producer_t *cs_producer_of(void *opaque)
{
    return (cs_producer_t *)((char *)opaque - offsetof(cs_producer_t, kctx));
}

/* Served by rd_kafka_poll/flush, i.e. on the caller's thread. */
static void cs_producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    cs_producer_t *producer = cs_producer_of(opaque);
    if ((uintptr_t)msg->_private != producer->generation)
        return; /* a batch we already gave up on; it will be redone */
    producer->pending--;
    if (msg->err) {
        cs_counter_inc(producer->delivery_errors);
        if (producer->failed++ == 0) {
            producer->first_err = msg->err;
            snprintf(producer->first_errstr, sizeof(producer->first_errstr),
                     "delivery to %s [%d] failed: %s", rd_kafka_topic_name(msg->rkt),
                     msg->partition, rd_kafka_err2str(msg->err));
        }
    }
}

static cs_err_t cs_producer_connect(cs_producer_t *producer, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kconf =
        cs_kafka_conf_new(CS_KAFKA_PRODUCER, producer->brokers, producer->client_id,
                          producer->conf, &producer->kctx, errstr, errstr_size);
    if (!kconf)
        return CS_ERR_CONFIG;
    rd_kafka_conf_set_dr_msg_cb(kconf, cs_producer_dr_cb);
    producer->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, errstr_size);
    if (!producer->rk) {
        rd_kafka_conf_destroy(kconf);
        return CS_ERR_CONFIG;
    }
    producer->kctx.fatal = 0;
    return CS_ERR_OK;
}

cs_producer_t *cs_producer_new(const char *brokers, const char *client_id, const cs_conf_t *conf,
                               cs_metrics_t *metrics, const char *component, char *errstr,
                               size_t errstr_size)
{
    cs_producer_t *producer = calloc(1, sizeof(*producer));
    if (!producer) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    producer->brokers = strdup(brokers);
    producer->client_id = strdup(client_id);
    producer->conf = conf;
    producer->kctx.metrics = metrics;
    producer->kctx.component = component;
    producer->generation = 1;
    char labels[128];
    snprintf(labels, sizeof(labels), "component=\"%s\"", component);
    producer->sent = cs_metrics_counter(metrics, "chatstream_kafka_produced_total", labels,
                                        "Records handed to the Kafka producer.");
    producer->delivery_errors =
        cs_metrics_counter(metrics, "chatstream_kafka_delivery_errors_total", labels,
                           "Records whose delivery report carried an error.");
    if (!producer->brokers || !producer->client_id ||
        cs_producer_connect(producer, errstr, errstr_size) != CS_ERR_OK) {
        cs_producer_destroy(producer);
        return NULL;
    }
    return producer;
}

void cs_producer_destroy(cs_producer_t *producer)
{
    if (!producer)
        return;
    if (producer->rk) {
        rd_kafka_flush(producer->rk, 5000);
        rd_kafka_destroy(producer->rk);
    }
    free(producer->brokers);
    free(producer->client_id);
    free(producer);
}

cs_err_t cs_producer_send(cs_producer_t *producer, const char *topic, int32_t partition,
                          const void *key, size_t key_len, const void *value, size_t value_len,
                          rd_kafka_headers_t *headers, int queue_timeout_ms)
{
    int64_t deadline = cs_mono_ms() + queue_timeout_ms;
    for (;;) {
        rd_kafka_resp_err_t err;
        if (headers)
            err = rd_kafka_producev(
                producer->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE((void *)producer->generation), RD_KAFKA_V_HEADERS(headers),
                RD_KAFKA_V_END);
        else
            err = rd_kafka_producev(
                producer->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE((void *)producer->generation), RD_KAFKA_V_END);
        if (!err) {
            producer->pending++;
            cs_counter_inc(producer->sent);
            return CS_ERR_OK; /* librdkafka owns the headers now */
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || cs_mono_ms() >= deadline) {
            if (headers)
                rd_kafka_headers_destroy(headers);
            cs_log(CS_LOG_WARN, "producer", "produce to %s failed: %s", topic,
                   rd_kafka_err2str(err));
            return cs_kafka_err(err);
        }
        rd_kafka_poll(producer->rk, 10); /* make room: serve delivery reports */
    }
}

cs_err_t cs_producer_flush(cs_producer_t *producer, int timeout_ms, char *errstr,
                           size_t errstr_size)
{
    cs_err_t status = CS_ERR_OK;
    int64_t deadline = cs_mono_ms() + timeout_ms;
    while (producer->pending > 0) {
        int64_t left = deadline - cs_mono_ms();
        if (left <= 0)
            break;
        rd_kafka_poll(producer->rk, (int)(left < 100 ? left : 100));
        if (producer->kctx.fatal)
            break;
    }
    if (producer->failed > 0) {
        status = cs_kafka_err(producer->first_err);
        if (status == CS_ERR_FATAL)
            status = CS_ERR_UNAVAILABLE;
        snprintf(errstr, errstr_size, "%zu of the batch's records failed; first: %s",
                 producer->failed, producer->first_errstr);
    } else if (producer->pending > 0) {
        status = CS_ERR_TIMEOUT;
        snprintf(errstr, errstr_size, "%zu delivery reports still missing after %d ms",
                 producer->pending, timeout_ms);
    }
    /* Start the next batch clean; reports still in flight belong to this generation. */
    producer->generation++;
    producer->pending = 0;
    producer->failed = 0;
    if (producer->kctx.fatal) {
        /* A fatal idempotence error: the only way forward is a new producer. The batch is
         * redone by the caller, and the idempotent producer and our idempotent sinks make
         * the repeat harmless. */
        cs_log(CS_LOG_ERROR, "producer", "recreating the producer after a fatal error");
        rd_kafka_destroy(producer->rk);
        producer->rk = NULL;
        char err2[256];
        if (cs_producer_connect(producer, err2, sizeof(err2)) != CS_ERR_OK) {
            cs_log(CS_LOG_ERROR, "producer", "cannot recreate the producer: %s", err2);
            return CS_ERR_FATAL;
        }
        if (status == CS_ERR_OK) {
            status = CS_ERR_UNAVAILABLE;
            snprintf(errstr, errstr_size, "producer hit a fatal error; recreated");
        }
    }
    return status;
}

void cs_producer_poll(cs_producer_t *producer)
{
    rd_kafka_poll(producer->rk, 0);
}

size_t cs_producer_pending(const cs_producer_t *producer)
{
    return producer->pending;
}

rd_kafka_t *cs_producer_handle(cs_producer_t *producer)
{
    return producer->rk;
}
