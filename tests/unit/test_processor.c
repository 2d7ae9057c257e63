/*
 * The consumer framework against librdkafka's built-in mock cluster: batching by
 * count, rejected records dead-lettered with their reason, a retriable failure
 * paused and retried until it passes (nothing lost), a permanent failure split
 * down to the one record at fault, and a clean stop with offsets committed.
 */
#include "cs_processor.h"
#include "cs_test.h"
#include "cs_test_mock.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>

#define N_RECORDS 1000

typedef struct {
    int seen[N_RECORDS];        /* times each good record was made durable */
    int done;                   /* distinct good records durable */
    int calls;
    int fail_first;             /* fail this many calls with a retriable error */
    int max_batch;
    int splits_seen;            /* calls with a batch of exactly one record */
} fake_t;

static fake_t fake;

static void *fake_init(const cs_proc_ctx_t *ctx, void *conf, char *errstr, size_t errstr_size)
{
    return &fake;
}

/* Payloads: "good-<n>", "bad-<n>" (reject in process), "poison-<n>" (the sink refuses the
 * whole batch it is in, permanently, without saying which record). */
static cs_err_t fake_process(void *state, cs_record_t *recs, size_t n, char *errstr,
                             size_t errstr_size)
{
    fake_t *f = state;
    f->calls++;
    if ((int)n > f->max_batch)
        f->max_batch = (int)n;
    if (f->fail_first > 0) {
        f->fail_first--;
        snprintf(errstr, errstr_size, "sink down (simulated)");
        return CS_ERR_UNAVAILABLE;
    }
    for (size_t i = 0; i < n; i++) {
        if (recs[i].msg->len >= 6 && memcmp(recs[i].msg->payload, "poison", 6) == 0) {
            if (n == 1)
                f->splits_seen++;
            snprintf(errstr, errstr_size, "sink refused the batch");
            return CS_ERR_REJECTED;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *p = recs[i].msg->payload;
        if (recs[i].msg->len >= 3 && memcmp(p, "bad", 3) == 0) {
            cs_record_reject(&recs[i], CS_ERR_BAD_FIELD, "bad on purpose");
            continue;
        }
        int k = atoi(p + 5);
        if (k >= 0 && k < N_RECORDS && f->seen[k]++ == 0)
            f->done++;
    }
    if (f->done == N_RECORDS)
        cs_processor_stop();
    return CS_ERR_OK;
}

static void fake_destroy(void *state)
{
}

static const cs_processor_t fake_processor = {
    .name = "fake",
    .summary = "test",
    .input_topic = "in",
    .init = fake_init,
    .process = fake_process,
    .destroy = fake_destroy,
};

static rd_kafka_t *mock_producer(char *bootstraps, size_t size)
{
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_t *rk = cs_test_mock_cluster(&mc, bootstraps, size);
    rd_kafka_mock_topic_create(mc, "in", 4, 1);
    rd_kafka_mock_topic_create(mc, "chat.dlq", 1, 1);
    return rk;
}

static void produce(rd_kafka_t *rk, const char *payload, int key)
{
    char k[16];
    snprintf(k, sizeof(k), "k%d", key);
    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_KEY(k, strlen(k)),
                      RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
}

/* Reads the DLQ: counts records and checks each carries the error and reason headers. */
static int dlq_count(const char *bootstraps, int *with_headers, char *first_error, size_t size)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "dlq-reader", err, sizeof(err));
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "chat.dlq", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int n = 0, idle = 0;
    *with_headers = 0;
    while (idle < 20) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        if (!m->err) {
            n++;
            rd_kafka_headers_t *h = NULL;
            const void *v;
            size_t vs;
            if (rd_kafka_message_headers(m, &h) == 0 &&
                rd_kafka_header_get_last(h, "chatstream.dlq.reason", &v, &vs) == 0 &&
                rd_kafka_header_get_last(h, "chatstream.dlq.error", &v, &vs) == 0) {
                (*with_headers)++;
                if (n == 1)
                    snprintf(first_error, size, "%.*s", (int)vs, (const char *)v);
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static int run(const char *bootstraps, const char *batch)
{
    char b[512], bm[64];
    snprintf(b, sizeof(b), "brokers=%s", bootstraps);
    snprintf(bm, sizeof(bm), "batch.max.records=%s", batch);
    char *argv[] = {"fake", "-X", b, "-X", "admin.port=0", "-X", bm, "-X", "batch.linger.ms=20",
                    "-X", "retry.backoff.ms=10", "-X", "retry.backoff.max.ms=50",
                    "-X", "log.level=warn", "-X", "record.max.bytes=64",
                    /* the mock cluster does not act on LeaveGroup: keep the wait short */
                    "-X", "kafka.consumer.session.timeout.ms=6000", NULL};
    return cs_processor_main(&fake_processor, 19, argv);
}

static void test_batches_rejects_retries_and_splits(void)
{
    char bootstraps[256];
    rd_kafka_t *rk = mock_producer(bootstraps, sizeof(bootstraps));
    char payload[128];
    for (int i = 0; i < N_RECORDS; i++) {
        snprintf(payload, sizeof(payload), "good-%d", i);
        produce(rk, payload, i);
        if (i % 100 == 50) { /* 10 bad, 10 poison, 10 oversized: 30 dead letters */
            snprintf(payload, sizeof(payload), "bad-%d", i);
            produce(rk, payload, i);
            snprintf(payload, sizeof(payload), "poison-%d", i);
            produce(rk, payload, i);
            char big[100];
            memset(big, 'x', sizeof(big) - 1);
            big[sizeof(big) - 1] = '\0';
            produce(rk, big, i);
        }
    }
    CHECK_INT(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);

    memset(&fake, 0, sizeof(fake));
    fake.fail_first = 3; /* the sink is down for the first three attempts */
    CHECK_INT(run(bootstraps, "64"), 0);
    CHECK_INT(fake.done, N_RECORDS);
    int twice = 0;
    for (int i = 0; i < N_RECORDS; i++)
        twice += fake.seen[i] > 1;
    /* Only a split repeats work: halves around a poison record that were already good
     * are re-processed when their half is retried; the sink's idempotence covers it.
     * Without a split (no poison) nothing would repeat. */
    CHECK(fake.max_batch <= 64);
    CHECK(fake.splits_seen >= 10); /* every poison record ended alone in its batch */
    int with_headers = 0;
    char first_error[64] = "";
    int dead = dlq_count(bootstraps, &with_headers, first_error, sizeof(first_error));
    CHECK_INT(dead, 30);
    CHECK_INT(with_headers, 30);
    CHECK(strcmp(first_error, "BAD_FIELD") == 0 || strcmp(first_error, "REJECTED") == 0 ||
          strcmp(first_error, "TOO_LARGE") == 0);
    (void)twice;

    /* A restart of the same group after the clean stop finds nothing left to do:
     * the offsets were committed on shutdown. */
    int before = fake.calls;
    memset(fake.seen, 0, sizeof(fake.seen));
    fake.done = 0;
    produce(rk, "good-0", 0); /* one new record, so the run can end */
    rd_kafka_flush(rk, 10000);
    fake.done = N_RECORDS - 1;
    CHECK_INT(run(bootstraps, "64"), 0);
    CHECK_INT(fake.seen[0], 1);
    int others = 0;
    for (int i = 1; i < N_RECORDS; i++)
        others += fake.seen[i];
    CHECK_INT(others, 0); /* nothing of the first run was consumed again */
    CHECK(fake.calls > before);
    rd_kafka_destroy(rk);
}

int main(void)
{
    RUN(test_batches_rejects_retries_and_splits);
    CS_TEST_DONE();
}
