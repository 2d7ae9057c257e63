/* cs_kafka_stats_apply: librdkafka statistics documents (laid out as in its STATISTICS.md)
 * into the lag gauges, the broker-up flag, and the watch on assigned partitions that are
 * not being fetched. */
#include "cs_kafka.h"
#include "cs_test.h"

#define S 1000000LL /* µs per second */

/* The value of one series on the rendered page, or -1 when it is not there. */
static double series(cs_metrics_t *m, const char *name, int partition)
{
    cs_buf_t out = CS_BUF_INIT;
    cs_metrics_render(m, &out);
    cs_buf_putc(&out, '\0');
    char needle[256];
    snprintf(needle, sizeof(needle), "%s{group=\"g\",topic=\"t\",partition=\"%d\"} ", name,
             partition);
    const char *hit = strstr(out.data, needle);
    double v = hit ? strtod(hit + strlen(needle), NULL) : -1;
    cs_buf_free(&out);
    return v;
}

/* The rebalance callback's calls, with a one-partition list of topic t. */
static void assign(cs_kafka_ctx_t *ctx, int partition, int64_t now_us)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "t", partition);
    cs_kafka_partitions_assigned(ctx, l, now_us);
    rd_kafka_topic_partition_list_destroy(l);
}

static void revoke(cs_kafka_ctx_t *ctx, int partition)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "t", partition);
    cs_kafka_partitions_revoked(ctx, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static double idle_s(cs_metrics_t *m, int partition)
{
    return series(m, "chatstream_consumer_not_fetching_seconds", partition);
}

static double lag(cs_metrics_t *m, int partition)
{
    return series(m, "chatstream_consumer_lag", partition);
}

/* A consumer's statistics: broker state, then topic t's partitions 0 and 6 as given, and
 * librdkafka's internal partition -1 (always "none"). */
static void apply(cs_kafka_ctx_t *ctx, const char *broker, const char *p0, const char *p6,
                  int64_t now_us)
{
    char doc[2048];
    int n = snprintf(
        doc, sizeof(doc),
        "{\"name\":\"persist#consumer-1\",\"type\":\"consumer\",\"ts\":1,"
        "\"brokers\":{\"127.0.0.1:19092/1\":{\"name\":\"127.0.0.1:19092/1\",\"nodeid\":1,"
        "\"state\":\"%s\"}},"
        "\"topics\":{\"t\":{\"topic\":\"t\",\"age\":5000,\"partitions\":{"
        "\"0\":{\"partition\":0,\"broker\":1,\"leader\":1,\"desired\":true,%s},"
        "\"6\":{\"partition\":6,\"broker\":1,\"leader\":1,\"desired\":true,%s},"
        "\"-1\":{\"partition\":-1,\"fetch_state\":\"none\",\"consumer_lag\":-1}}}},"
        "\"cgrp\":{\"state\":\"up\",\"join_state\":\"steady\",\"assignment_size\":2}}",
        broker, p0, p6);
    cs_kafka_stats_apply(ctx, doc, (size_t)n, now_us);
}

#define ACTIVE(lagv) "\"fetch_state\":\"active\",\"consumer_lag\":" #lagv ",\"consumer_lag_stored\":" #lagv
#define NOT_STARTED "\"fetch_state\":\"none\",\"consumer_lag\":-1,\"consumer_lag_stored\":-1"
#define QUERYING "\"fetch_state\":\"offset-query\",\"consumer_lag\":-1,\"consumer_lag_stored\":-1"

static void test_assigned_partition_never_fetched(void)
{
    cs_metrics_t *m = cs_metrics_new();
    cs_kafka_ctx_t ctx = {.metrics = m, .group = "g"};
    int64_t t0 = 1000 * S;
    assign(&ctx, 0, t0);
    assign(&ctx, 6, t0);
    CHECK(idle_s(m, 0) == 0 && idle_s(m, 6) == 0);
    CHECK(lag(m, 0) == -1); /* no lag gauge before the statistics report one */

    /* Partition 0 fetches; partition 6 was assigned but its fetch never started. */
    apply(&ctx, "UP", ACTIVE(12), NOT_STARTED, t0 + 5 * S);
    CHECK(idle_s(m, 0) == 0);
    CHECK(idle_s(m, 6) == 5);
    CHECK(lag(m, 0) == 12);
    CHECK(lag(m, 6) == -1); /* nothing to alert on from the lag: the reason for the watch */
    CHECK(atomic_load(&ctx.broker_up));

    apply(&ctx, "UP", ACTIVE(0), QUERYING, t0 + 65 * S);
    CHECK(idle_s(m, 6) == 65);
    CHECK(lag(m, 0) == 0);

    /* It starts: 0 again. Then it stops (e.g. an offset reset with no policy): counted
     * from the last statistics that saw it fetching. */
    apply(&ctx, "UP", ACTIVE(0), ACTIVE(3), t0 + 70 * S);
    CHECK(idle_s(m, 6) == 0);
    CHECK(lag(m, 6) == 3);
    apply(&ctx, "UP", ACTIVE(0), "\"fetch_state\":\"stopped\"", t0 + 75 * S);
    apply(&ctx, "UP", ACTIVE(0), "\"fetch_state\":\"stopped\"", t0 + 80 * S);
    CHECK(idle_s(m, 6) == 10);
    CHECK(lag(m, 6) == 3); /* a stopped partition reports no lag: the last one stays */

    /* A partition missing from the statistics altogether is not being fetched either. */
    const char *no_topics = "{\"name\":\"c\",\"type\":\"consumer\",\"brokers\":{},\"topics\":{}}";
    cs_kafka_stats_apply(&ctx, no_topics, strlen(no_topics), t0 + 85 * S);
    CHECK(idle_s(m, 0) == 5); /* last seen fetching at +80 */
    CHECK(!atomic_load(&ctx.broker_up)); /* no broker UP */

    cs_kafka_ctx_clear(&ctx);
    CHECK(idle_s(m, 0) == -1 && idle_s(m, 6) == -1 && lag(m, 0) == -1);
    cs_metrics_destroy(m);
}

static void test_revoked_and_unassigned_partitions(void)
{
    cs_metrics_t *m = cs_metrics_new();
    cs_kafka_ctx_t ctx = {.metrics = m, .group = "g"};
    assign(&ctx, 6, 0);
    apply(&ctx, "UP", ACTIVE(4), NOT_STARTED, 30 * S);
    /* Partition 0 was never assigned through the callback: its lag is reported (the
     * gateway-style consumer), but it is not watched. */
    CHECK(lag(m, 0) == 4);
    CHECK(idle_s(m, 0) == -1);
    CHECK(idle_s(m, 6) == 30);

    revoke(&ctx, 6);
    CHECK(idle_s(m, 6) == -1);
    apply(&ctx, "UP", ACTIVE(4), NOT_STARTED, 60 * S);
    CHECK(idle_s(m, 6) == -1); /* revoked: not watched any more, no gauge comes back */

    /* Assigned again: counted from the new assignment, not the old one. */
    assign(&ctx, 6, 100 * S);
    apply(&ctx, "UP", ACTIVE(4), QUERYING, 102 * S);
    CHECK(idle_s(m, 6) == 2);
    cs_kafka_ctx_clear(&ctx);
    cs_metrics_destroy(m);
}

static void test_not_statistics_changes_nothing(void)
{
    cs_metrics_t *m = cs_metrics_new();
    cs_kafka_ctx_t ctx = {.metrics = m, .group = "g"};
    atomic_store(&ctx.broker_up, true);
    assign(&ctx, 0, 0);
    apply(&ctx, "UP", ACTIVE(7), ACTIVE(1), 5 * S);
    const char *bad[] = {
        "",
        "not json",
        "[1,2,3]",
        "{\"topics\":",
        "{\"brokers\":[],\"topics\":[]}",
        "{\"topics\":{\"t\":{\"partitions\":{\"0\":\"active\"}}}}",
        "{\"topics\":{\"t\":{\"partitions\":{\"x\":{\"fetch_state\":\"active\",\"consumer_lag\":1}}}}}",
        "{\"topics\":{\"t\":{\"partitions\":{\"99999999999\":{\"fetch_state\":\"active\",\"consumer_lag\":1}}}}}",
        "{\"topics\":{\"t\":{\"partitions\":{\"0\":{\"fetch_state\":7,\"consumer_lag\":\"9\"}}}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cs_kafka_stats_apply(&ctx, bad[i], strlen(bad[i]), 6 * S);
    CHECK(lag(m, 0) == 7);
    CHECK(atomic_load(&ctx.broker_up));
    /* The first four are not statistics at all: the watch is untouched (0). The others
     * are documents without partition 0 fetching, which the watch does count: 1 s. */
    CHECK(idle_s(m, 0) == 1);
    cs_buf_t out = CS_BUF_INIT;
    cs_metrics_render(m, &out);
    cs_buf_putc(&out, '\0');
    CHECK(strstr(out.data, "partition=\"99999999999\"") == NULL);
    CHECK(strstr(out.data, "partition=\"x\"") == NULL);
    cs_buf_free(&out);

    /* Without metrics (a producer's context) nothing is kept. */
    cs_kafka_ctx_t bare = {0};
    assign(&bare, 0, 0);
    apply(&bare, "UP", ACTIVE(1), ACTIVE(1), S);
    CHECK(bare.parts == NULL);
    cs_kafka_ctx_clear(&ctx);
    cs_metrics_destroy(m);
}

int main(void)
{
    RUN(test_assigned_partition_never_fetched);
    RUN(test_revoked_and_unassigned_partitions);
    RUN(test_not_statistics_changes_nothing);
    CS_TEST_DONE();
}
