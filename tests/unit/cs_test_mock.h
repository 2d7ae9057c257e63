/*
 * cs_test_mock — librdkafka's built-in mock cluster for a unit test: one broker, quiet logs.
 * The producer returned owns the cluster (destroying it stops the cluster) and can write the
 * test's input; the test creates its topics on *mc.
 */
#ifndef CS_TEST_MOCK_H
#define CS_TEST_MOCK_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>

static inline rd_kafka_t *cs_test_mock_cluster(rd_kafka_mock_cluster_t **mc, char *bootstraps,
                                               size_t size)
{
    char err[256];
    *mc = NULL;
    bootstraps[0] = '\0';
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "mock cluster: %s\n", err);
        return NULL;
    }
    *mc = rd_kafka_handle_mock_cluster(rk);
    snprintf(bootstraps, size, "%s", rd_kafka_mock_cluster_bootstraps(*mc));
    return rk;
}

#endif
