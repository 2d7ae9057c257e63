#include "cs_producer.h"
#include "cs_kafka.h"
#include "cs_log.h"
#include "cs_time.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The commit's three waits, timed apart (chatstream_kafka_transaction_phase_seconds). */
enum cs_txn_phase {
    CS_TXN_PHASE_DELIVERIES,
    CS_TXN_PHASE_OFFSETS,
    CS_TXN_PHASE_END,
    CS_TXN_NPHASES
};
static const char *const cs_txn_phase_names[CS_TXN_NPHASES] = {"deliveries", "offsets", "end"};

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

    char *transactional_id;     /* NULL: not transactional */
    int txn_timeout_ms;         /* transaction.timeout.ms */
    bool txn_ready;             /* rd_kafka_init_transactions() succeeded on this client */
    bool in_txn;                /* a transaction is open */
    cs_counter_t *txn_committed;
    cs_counter_t *txn_aborted;
    cs_histogram_t *txn_commit_seconds;
    /* The commit's three waits, apart: which one is slow says where to look (the broker's
     * produce path, the group coordinator, or the transaction coordinator's markers). */
    cs_histogram_t *txn_phase_seconds[CS_TXN_NPHASES]; /* by cs_txn_phase */
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
        /* The batch's deciding error is the first, unless a later one is a record the broker
         * refused for good: a failed transaction purges its other records, and their reports
         * ("Purged in queue", retriable) may come first — the batch would be retried forever
         * instead of having the refused record found and dead-lettered. */
        bool refused = cs_kafka_err(msg->err) == CS_ERR_REJECTED;
        if (producer->failed++ == 0 ||
            (refused && cs_kafka_err(producer->first_err) != CS_ERR_REJECTED)) {
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
    if (producer->transactional_id) {
        char ms[32];
        snprintf(ms, sizeof(ms), "%d", producer->txn_timeout_ms);
        if (rd_kafka_conf_set(kconf, "transactional.id", producer->transactional_id, errstr,
                              errstr_size) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(kconf, "transaction.timeout.ms", ms, errstr, errstr_size) !=
                RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(kconf);
            return CS_ERR_CONFIG;
        }
    }
    producer->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, errstr_size);
    if (!producer->rk) {
        rd_kafka_conf_destroy(kconf);
        return CS_ERR_CONFIG;
    }
    producer->kctx.fatal = 0;
    producer->txn_ready = false;
    producer->in_txn = false;
    return CS_ERR_OK;
}

/*
 * Replaces the client after a fatal error. For a transactional producer this is also how
 * an open transaction that cannot be aborted is disposed of: the new client's
 * init_transactions (same transactional id) makes the coordinator abort it.
 */
static cs_err_t cs_producer_recreate(cs_producer_t *producer, const char *why)
{
    cs_log(CS_LOG_ERROR, "producer", "recreating the producer: %s", why);
    if (producer->in_txn) /* ends here, aborted (by the coordinator): counted once, here */
        cs_counter_inc(producer->txn_aborted);
    if (producer->rk)
        rd_kafka_destroy(producer->rk);
    producer->rk = NULL;
    producer->in_txn = false;
    producer->txn_ready = false;
    producer->generation++; /* reports of the old client's records are ignored */
    producer->pending = 0;
    producer->failed = 0;
    char err2[256];
    if (cs_producer_connect(producer, err2, sizeof(err2)) != CS_ERR_OK) {
        cs_log(CS_LOG_ERROR, "producer", "cannot recreate the producer: %s", err2);
        return CS_ERR_FATAL;
    }
    return CS_ERR_OK;
}

static cs_producer_t *cs_producer_create(const char *brokers, const char *client_id,
                                         const char *transactional_id, int txn_timeout_ms,
                                         const cs_conf_t *conf, cs_metrics_t *metrics,
                                         const char *component, char *errstr,
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
    producer->txn_timeout_ms = txn_timeout_ms;
    char labels[128];
    snprintf(labels, sizeof(labels), "component=\"%s\"", component);
    producer->sent = cs_metrics_counter(metrics, "chatstream_kafka_produced_total", labels,
                                        "Records handed to the Kafka producer.");
    producer->delivery_errors =
        cs_metrics_counter(metrics, "chatstream_kafka_delivery_errors_total", labels,
                           "Records whose delivery report carried an error.");
    bool ok = producer->brokers && producer->client_id;
    if (transactional_id) {
        producer->transactional_id = strdup(transactional_id);
        ok = ok && producer->transactional_id;
        char l2[160];
        const char *help = "Kafka transactions ended, by result (committed or aborted).";
        snprintf(l2, sizeof(l2), "component=\"%s\",result=\"committed\"", component);
        producer->txn_committed =
            cs_metrics_counter(metrics, "chatstream_kafka_transactions_total", l2, help);
        snprintf(l2, sizeof(l2), "component=\"%s\",result=\"aborted\"", component);
        producer->txn_aborted =
            cs_metrics_counter(metrics, "chatstream_kafka_transactions_total", l2, help);
        producer->txn_commit_seconds = cs_metrics_histogram(
            metrics, "chatstream_kafka_transaction_commit_seconds", labels,
            "From the commit call (delivery reports, offsets, EndTxn) to the committed "
            "transaction.",
            cs_metrics_latency_buckets, cs_metrics_latency_nbuckets);
        for (int i = 0; i < CS_TXN_NPHASES; i++) {
            snprintf(l2, sizeof(l2), "component=\"%s\",phase=\"%s\"", component,
                     cs_txn_phase_names[i]);
            producer->txn_phase_seconds[i] = cs_metrics_histogram(
                metrics, "chatstream_kafka_transaction_phase_seconds", l2,
                "One part of a commit: waiting for the delivery reports (deliveries), adding "
                "the input offsets (offsets), or EndTxn (end).",
                cs_metrics_latency_buckets, cs_metrics_latency_nbuckets);
        }
    }
    if (!ok) {
        snprintf(errstr, errstr_size, "out of memory");
        cs_producer_destroy(producer);
        return NULL;
    }
    if (cs_producer_connect(producer, errstr, errstr_size) != CS_ERR_OK) {
        cs_producer_destroy(producer);
        return NULL;
    }
    return producer;
}

cs_producer_t *cs_producer_new(const char *brokers, const char *client_id, const cs_conf_t *conf,
                               cs_metrics_t *metrics, const char *component, char *errstr,
                               size_t errstr_size)
{
    return cs_producer_create(brokers, client_id, NULL, 0, conf, metrics, component, errstr,
                              errstr_size);
}

cs_producer_t *cs_producer_new_transactional(const char *brokers, const char *client_id,
                                             const char *transactional_id,
                                             int transaction_timeout_ms, const cs_conf_t *conf,
                                             cs_metrics_t *metrics, const char *component,
                                             char *errstr, size_t errstr_size)
{
    return cs_producer_create(brokers, client_id, transactional_id, transaction_timeout_ms, conf,
                              metrics, component, errstr, errstr_size);
}

void cs_producer_destroy(cs_producer_t *producer)
{
    if (!producer)
        return;
    if (producer->rk) {
        if (producer->in_txn)
            cs_producer_txn_abort(producer, 5000);
        if (producer->rk) {
            rd_kafka_flush(producer->rk, 5000);
            rd_kafka_destroy(producer->rk);
        }
    }
    free(producer->transactional_id);
    free(producer->brokers);
    free(producer->client_id);
    free(producer);
}

cs_err_t cs_producer_send(cs_producer_t *producer, const char *topic, int32_t partition,
                          const void *key, size_t key_len, const void *value, size_t value_len,
                          rd_kafka_headers_t *headers, int queue_timeout_ms)
{
    if (!producer->rk && cs_producer_recreate(producer, "no client") != CS_ERR_OK) {
        if (headers)
            rd_kafka_headers_destroy(headers);
        return CS_ERR_UNAVAILABLE;
    }
    int64_t deadline = -1; /* read the clock only once the queue is full: hot path */
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
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && deadline < 0)
            deadline = cs_mono_ms() + queue_timeout_ms;
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
    if (!producer->rk) {
        if (producer->pending == 0 && producer->failed == 0)
            return CS_ERR_OK; /* nothing sent since the client was lost: nothing to wait for */
        snprintf(errstr, errstr_size, "no producer client");
        return cs_producer_recreate(producer, "no client") == CS_ERR_OK ? CS_ERR_UNAVAILABLE
                                                                        : CS_ERR_FATAL;
    }
    while (producer->pending > 0) {
        int64_t left = deadline - cs_mono_ms();
        if (left <= 0)
            break;
        /* rd_kafka_flush, not rd_kafka_poll: it also serves the reports, and it sends what
         * is queued now instead of after linger.ms (librdkafka >= 1.8), which every batch
         * would otherwise wait for on top of the broker's round trip. */
        rd_kafka_flush(producer->rk, (int)(left < 100 ? left : 100));
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
         * the repeat harmless (a transaction open on the old client is aborted). */
        if (cs_producer_recreate(producer, "fatal error") != CS_ERR_OK)
            return CS_ERR_FATAL;
        if (status == CS_ERR_OK) {
            status = CS_ERR_UNAVAILABLE;
            snprintf(errstr, errstr_size, "producer hit a fatal error; recreated");
        }
    }
    return status;
}

void cs_producer_poll(cs_producer_t *producer)
{
    if (producer->rk)
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

/* ---- transactions ------------------------------------------------------------------- */

bool cs_producer_transactional(const cs_producer_t *producer)
{
    return producer->transactional_id != NULL;
}

/* Reports a librdkafka transaction error into errstr; recreates the client when fatal. */
static void cs_producer_txn_error(cs_producer_t *producer, const char *op, rd_kafka_error_t *e,
                                  char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "%s: %s%s", op, rd_kafka_error_string(e),
             rd_kafka_error_is_fatal(e) ? " (fatal)" : "");
    cs_log(CS_LOG_WARN, "txn", "%s", errstr);
    if (rd_kafka_error_is_fatal(e))
        cs_producer_recreate(producer, errstr);
}

cs_err_t cs_producer_txn_begin(cs_producer_t *producer, int timeout_ms, char *errstr,
                               size_t errstr_size)
{
    if (!producer->transactional_id) {
        snprintf(errstr, errstr_size, "not a transactional producer");
        return CS_ERR_CONFIG;
    }
    if (producer->in_txn) /* a caller bug; never leave one open */
        cs_producer_txn_abort(producer, timeout_ms);
    if (!producer->rk && cs_producer_recreate(producer, "no client") != CS_ERR_OK) {
        snprintf(errstr, errstr_size, "cannot create the producer client");
        return CS_ERR_UNAVAILABLE;
    }
    rd_kafka_error_t *e;
    if (!producer->txn_ready) {
        e = rd_kafka_init_transactions(producer->rk, timeout_ms);
        if (e) {
            cs_producer_txn_error(producer, "init transactions", e, errstr, errstr_size);
            rd_kafka_error_destroy(e);
            return CS_ERR_UNAVAILABLE;
        }
        producer->txn_ready = true;
    }
    e = rd_kafka_begin_transaction(producer->rk);
    if (e) {
        cs_producer_txn_error(producer, "begin transaction", e, errstr, errstr_size);
        rd_kafka_error_destroy(e);
        return CS_ERR_UNAVAILABLE;
    }
    producer->in_txn = true;
    /* The transaction's delivery reports start a generation of their own. */
    producer->generation++;
    producer->pending = 0;
    producer->failed = 0;
    return CS_ERR_OK;
}

void cs_producer_txn_abort(cs_producer_t *producer, int timeout_ms)
{
    if (!producer->in_txn)
        return;
    int64_t deadline = cs_mono_ms() + timeout_ms;
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(producer->rk, timeout_ms);
        if (!e)
            break;
        bool again = rd_kafka_error_is_retriable(e) && cs_mono_ms() < deadline;
        char why[300];
        snprintf(why, sizeof(why), "abort transaction: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        if (again)
            continue;
        /* A new client with the same transactional id makes the coordinator abort it (and
         * counts it). */
        cs_producer_recreate(producer, why);
        return;
    }
    producer->in_txn = false;
    producer->generation++; /* reports of purged records are not this batch's business */
    producer->pending = 0;
    producer->failed = 0;
    cs_counter_inc(producer->txn_aborted);
}

cs_err_t cs_producer_txn_commit(cs_producer_t *producer, rd_kafka_t *consumer,
                                const rd_kafka_topic_partition_list_t *offsets, int timeout_ms,
                                char *errstr, size_t errstr_size)
{
    if (!producer->in_txn) {
        snprintf(errstr, errstr_size, "no open transaction");
        return CS_ERR_TRANSIENT;
    }
    int64_t t0 = cs_mono_us();
    int64_t deadline = cs_mono_ms() + timeout_ms;
    /* Every report first: a record the broker refused says which, which the commit would not. */
    cs_err_t rc = cs_producer_flush(producer, timeout_ms, errstr, errstr_size);
    if (rc != CS_ERR_OK) {
        cs_producer_txn_abort(producer, timeout_ms); /* no-op if flush recreated the client */
        return rc == CS_ERR_FATAL ? CS_ERR_UNAVAILABLE : rc;
    }
    int64_t t1 = cs_mono_us();
    cs_histogram_observe(producer->txn_phase_seconds[CS_TXN_PHASE_DELIVERIES],
                         (double)(t1 - t0) / 1e6);
    rd_kafka_error_t *e = NULL;
    if (offsets && offsets->cnt > 0) {
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(consumer);
        e = rd_kafka_send_offsets_to_transaction(producer->rk, offsets, cgmd, timeout_ms);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        if (e) {
            /* Typically a rebalance fenced this member's generation: the batch is redone by
             * whoever owns the partitions now. */
            cs_producer_txn_error(producer, "send offsets to transaction", e, errstr,
                                  errstr_size);
            rd_kafka_error_destroy(e);
            cs_producer_txn_abort(producer, timeout_ms);
            return CS_ERR_TRANSIENT;
        }
    }
    int64_t t2 = cs_mono_us();
    cs_histogram_observe(producer->txn_phase_seconds[CS_TXN_PHASE_OFFSETS],
                         (double)(t2 - t1) / 1e6);
    for (;;) {
        int64_t left = deadline - cs_mono_ms();
        e = rd_kafka_commit_transaction(producer->rk, (int)(left > 100 ? left : 100));
        if (!e)
            break;
        if (rd_kafka_error_is_retriable(e) && cs_mono_ms() < deadline) {
            rd_kafka_error_destroy(e); /* same commit again: librdkafka resumes it */
            continue;
        }
        bool abortable = rd_kafka_error_txn_requires_abort(e);
        cs_producer_txn_error(producer, "commit transaction", e, errstr, errstr_size);
        rd_kafka_error_destroy(e);
        if (abortable) {
            cs_producer_txn_abort(producer, timeout_ms);
        } else if (producer->in_txn) {
            /* Out of time, outcome unknown: a new client settles it either way. */
            cs_producer_recreate(producer, "commit outcome unknown");
        }
        return CS_ERR_UNAVAILABLE;
    }
    producer->in_txn = false;
    cs_counter_inc(producer->txn_committed);
    int64_t t3 = cs_mono_us();
    cs_histogram_observe(producer->txn_phase_seconds[CS_TXN_PHASE_END], (double)(t3 - t2) / 1e6);
    cs_histogram_observe(producer->txn_commit_seconds, (double)(t3 - t0) / 1e6);
    return CS_ERR_OK;
}
