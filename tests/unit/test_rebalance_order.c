/*
 * The consumer framework sets a newly assigned partition's pause state before it hands
 * the partition to librdkafka, never after. In librdkafka 2.0.2 a pause or resume served
 * after the assign's FETCH_START was issued, but taking a newer version than it, makes
 * librdkafka drop that FETCH_START as outdated: the partition would stay assigned and
 * never be fetched, with no error (what the one known CI flake, persist_migrate_race,
 * looks like, though the race was never caught in the act).
 *
 * The race itself cannot be forced from outside librdkafka, so this test checks the
 * order of the calls: the librdkafka entry points are wrapped at link time
 * (-Wl,--wrap, see CMakeLists.txt), every call is recorded, and a real processor run
 * against librdkafka's mock cluster must show each non-empty assign right after a resume
 * of the same partitions, and no pause or resume between an assign and the next revoke.
 * Run with the eager protocol (rd_kafka_assign) and the cooperative one
 * (rd_kafka_incremental_assign).
 */
#include "cs_processor.h"
#include "cs_test.h"
#include "cs_test_mock.h"

#include <pthread.h>
#include <stdlib.h>

#define N_RECORDS 200
#define N_PARTITIONS 4
#define MAX_CALLS 64

typedef enum { CALL_ASSIGN, CALL_INCREMENTAL_ASSIGN, CALL_PAUSE, CALL_RESUME } call_kind_t;

typedef struct {
    call_kind_t kind;
    int cnt; /* partitions in the list; -1 for a NULL list (unassign everything) */
    int first_partition;
} call_t;

static call_t calls[MAX_CALLS];
static int n_calls;
static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;

static void record(call_kind_t kind, const rd_kafka_topic_partition_list_t *parts)
{
    pthread_mutex_lock(&calls_lock);
    if (n_calls < MAX_CALLS)
        calls[n_calls++] = (call_t){kind, parts ? parts->cnt : -1,
                                    parts && parts->cnt ? parts->elems[0].partition : -1};
    pthread_mutex_unlock(&calls_lock);
}

/* The wrapped entry points: record, then call librdkafka's own. */
rd_kafka_resp_err_t __real_rd_kafka_assign(rd_kafka_t *, const rd_kafka_topic_partition_list_t *);
rd_kafka_error_t *__real_rd_kafka_incremental_assign(rd_kafka_t *,
                                                     const rd_kafka_topic_partition_list_t *);
rd_kafka_resp_err_t __real_rd_kafka_pause_partitions(rd_kafka_t *, rd_kafka_topic_partition_list_t *);
rd_kafka_resp_err_t __real_rd_kafka_resume_partitions(rd_kafka_t *,
                                                      rd_kafka_topic_partition_list_t *);
rd_kafka_resp_err_t __wrap_rd_kafka_assign(rd_kafka_t *, const rd_kafka_topic_partition_list_t *);
rd_kafka_error_t *__wrap_rd_kafka_incremental_assign(rd_kafka_t *,
                                                     const rd_kafka_topic_partition_list_t *);
rd_kafka_resp_err_t __wrap_rd_kafka_pause_partitions(rd_kafka_t *, rd_kafka_topic_partition_list_t *);
rd_kafka_resp_err_t __wrap_rd_kafka_resume_partitions(rd_kafka_t *,
                                                      rd_kafka_topic_partition_list_t *);

rd_kafka_resp_err_t __wrap_rd_kafka_assign(rd_kafka_t *rk,
                                           const rd_kafka_topic_partition_list_t *parts)
{
    record(CALL_ASSIGN, parts);
    return __real_rd_kafka_assign(rk, parts);
}

rd_kafka_error_t *__wrap_rd_kafka_incremental_assign(rd_kafka_t *rk,
                                                     const rd_kafka_topic_partition_list_t *parts)
{
    record(CALL_INCREMENTAL_ASSIGN, parts);
    return __real_rd_kafka_incremental_assign(rk, parts);
}

rd_kafka_resp_err_t __wrap_rd_kafka_pause_partitions(rd_kafka_t *rk,
                                                     rd_kafka_topic_partition_list_t *parts)
{
    record(CALL_PAUSE, parts);
    return __real_rd_kafka_pause_partitions(rk, parts);
}

rd_kafka_resp_err_t __wrap_rd_kafka_resume_partitions(rd_kafka_t *rk,
                                                      rd_kafka_topic_partition_list_t *parts)
{
    record(CALL_RESUME, parts);
    return __real_rd_kafka_resume_partitions(rk, parts);
}

/* A processor that takes every record and stops once it has seen them all. */
static int seen;

static void *counting_init(const cs_proc_ctx_t *ctx, void *conf, char *errstr, size_t errstr_size)
{
    return &seen;
}

static cs_err_t counting_process(void *state, cs_record_t *recs, size_t n, char *errstr,
                                 size_t errstr_size)
{
    int *count = state;
    *count += (int)n;
    if (*count >= N_RECORDS)
        cs_processor_stop();
    return CS_ERR_OK;
}

static void counting_destroy(void *state)
{
}

static const cs_processor_t counting_processor = {
    .name = "counting",
    .summary = "test",
    .input_topic = "in",
    .init = counting_init,
    .process = counting_process,
    .destroy = counting_destroy,
};

static int run(const char *bootstraps, const char *group, const char *strategy)
{
    char b[512], g[128], s[128];
    snprintf(b, sizeof(b), "brokers=%s", bootstraps);
    snprintf(g, sizeof(g), "group.id=%s", group);
    snprintf(s, sizeof(s), "kafka.consumer.partition.assignment.strategy=%s", strategy);
    char *argv[] = {"counting", "-X", b, "-X", g, "-X", s, "-X", "admin.port=0",
                    "-X", "batch.linger.ms=20", "-X", "log.level=warn",
                    /* the mock cluster does not act on LeaveGroup: keep the wait short */
                    "-X", "kafka.consumer.session.timeout.ms=6000", NULL};
    return cs_processor_main(&counting_processor, 15, argv);
}

static const char *kind_name(call_kind_t k)
{
    static const char *names[] = {"assign", "incremental_assign", "pause", "resume"};
    return names[k];
}

/* Checks the recorded calls of one run whose assigns use `assign_kind`. */
static void check_order(call_kind_t assign_kind)
{
    int assigns = 0;
    for (int i = 0; i < n_calls; i++)
        fprintf(stderr, "  call %d: %s of %d partition(s)\n", i, kind_name(calls[i].kind),
                calls[i].cnt);
    for (int i = 0; i < n_calls; i++) {
        if (calls[i].kind != assign_kind || calls[i].cnt <= 0)
            continue;
        assigns++;
        /* right before it: the resume of the same partitions (the sink is not failing) */
        CHECK(i > 0);
        if (i == 0)
            continue;
        CHECK_INT(calls[i - 1].kind, CALL_RESUME);
        CHECK_INT(calls[i - 1].cnt, calls[i].cnt);
        CHECK_INT(calls[i - 1].first_partition, calls[i].first_partition);
        /* after it, up to the next assign or unassign: no pause and no resume */
        for (int j = i + 1; j < n_calls && calls[j].kind != CALL_ASSIGN &&
                            calls[j].kind != CALL_INCREMENTAL_ASSIGN;
             j++) {
            CHECK(calls[j].kind != CALL_PAUSE && calls[j].kind != CALL_RESUME);
        }
    }
    CHECK(assigns >= 1);
}

static void test_pause_state_is_set_before_the_assign(void)
{
    rd_kafka_mock_cluster_t *mc;
    char bootstraps[256];
    rd_kafka_t *rk = cs_test_mock_cluster(&mc, bootstraps, sizeof(bootstraps));
    CHECK(rk != NULL);
    if (!rk)
        return;
    rd_kafka_mock_topic_create(mc, "in", N_PARTITIONS, 1);
    rd_kafka_mock_topic_create(mc, "chat.dlq", 1, 1);
    for (int i = 0; i < N_RECORDS; i++) {
        char v[32];
        snprintf(v, sizeof(v), "record-%d", i);
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_PARTITION(i % N_PARTITIONS),
                          RD_KAFKA_V_VALUE(v, strlen(v)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END);
    }
    CHECK_INT(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);

    struct {
        const char *strategy;
        const char *group;
        call_kind_t assign_kind;
    } runs[] = {
        {"range", "order-eager", CALL_ASSIGN},
        {"cooperative-sticky", "order-cooperative", CALL_INCREMENTAL_ASSIGN},
    };
    for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
        fprintf(stderr, "%s:\n", runs[r].strategy);
        n_calls = 0;
        seen = 0;
        CHECK_INT(run(bootstraps, runs[r].group, runs[r].strategy), 0);
        CHECK(seen >= N_RECORDS); /* every partition was fetched */
        check_order(runs[r].assign_kind);
    }
    rd_kafka_destroy(rk);
}

int main(void)
{
    RUN(test_pause_state_is_set_before_the_assign);
    CS_TEST_DONE();
}
