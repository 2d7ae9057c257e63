/*
 * chatstream-admin — small Kafka chores for scripts and tests, without a JVM start
 * per call:
 *
 *   chatstream-admin [-b brokers] wait [seconds]              until a broker answers
 *   chatstream-admin [-b brokers] create-topic NAME PARTITIONS [REPLICAS] [key=value...]
 *                                          (an existing topic is fine if its count matches)
 *   chatstream-admin [-b brokers] end-offsets TOPIC          sum of high watermarks
 *   chatstream-admin [-b brokers] lag GROUP TOPIC            total committed lag of a group
 *
 * Exit status: 0 success, 1 failure (message on stderr), 2 usage, 3 the topic exists with
 * another partition count.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *cs_brokers = "127.0.0.1:9092";

static rd_kafka_t *cs_admin_client(rd_kafka_type_t type, const char *group)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", cs_brokers, NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    if (group)
        rd_kafka_conf_set(conf, "group.id", group, NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "chatstream-admin: %s\n", errstr);
        exit(1);
    }
    return rk;
}

static int cs_cmd_wait(int seconds)
{
    rd_kafka_t *rk = cs_admin_client(RD_KAFKA_PRODUCER, NULL);
    int rc = 1;
    for (int i = 0; i < seconds * 2; i++) {
        const struct rd_kafka_metadata *md;
        if (rd_kafka_metadata(rk, 0, NULL, &md, 500) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int brokers = md->broker_cnt;
            rd_kafka_metadata_destroy(md);
            if (brokers > 0) {
                rc = 0;
                break;
            }
        }
        usleep(500000);
    }
    if (rc)
        fprintf(stderr, "chatstream-admin: no broker answered at %s within %d s\n", cs_brokers,
                seconds);
    rd_kafka_destroy(rk);
    return rc;
}

/* Partition count of a topic, or -1. */
static int cs_partitions(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    int n = -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

static int cs_cmd_create_topic(const char *name, int partitions, int replicas, int nconf,
                               char **confs)
{
    char errstr[512];
    rd_kafka_t *rk = cs_admin_client(RD_KAFKA_PRODUCER, NULL);
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(name, partitions, replicas, errstr, sizeof(errstr));
    if (!nt) {
        fprintf(stderr, "chatstream-admin: %s\n", errstr);
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int i = 0; i < nconf; i++) {
        char *eq = strchr(confs[i], '=');
        if (!eq) {
            fprintf(stderr, "chatstream-admin: topic config '%s' is not key=value\n", confs[i]);
            return 2;
        }
        *eq = '\0';
        rd_kafka_NewTopic_set_config(nt, confs[i], eq + 1);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, NULL, 0);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    int rc = 1;
    if (!ev) {
        fprintf(stderr, "chatstream-admin: create %s: timed out\n", name);
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "chatstream-admin: create %s: %s\n", name, rd_kafka_event_error_string(ev));
    } else {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t err = n ? rd_kafka_topic_result_error(res[0]) : 0;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = 0;
        } else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            /* An existing topic is kept, but not silently with another partition count: a
             * benchmark asking for 4 would measure 12. */
            int have = cs_partitions(rk, name);
            if (have == partitions) {
                rc = 0;
            } else if (have < 0) {
                fprintf(stderr, "chatstream-admin: %s exists, and its partition count could "
                        "not be read\n", name);
            } else {
                fprintf(stderr, "chatstream-admin: %s exists with %d partitions, not %d "
                        "(kept: delete the topic, or ask for %d)\n", name, have, partitions, have);
                rc = 3;
            }
        } else {
            fprintf(stderr, "chatstream-admin: create %s: %s\n", name,
                    rd_kafka_topic_result_error_string(res[0]));
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

static int cs_cmd_offsets(const char *group, const char *topic)
{
    rd_kafka_t *rk = cs_admin_client(group ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, group);
    int parts = cs_partitions(rk, topic);
    if (parts < 0) {
        fprintf(stderr, "chatstream-admin: topic %s not found\n", topic);
        rd_kafka_destroy(rk);
        return 1;
    }
    long long total_end = 0, total_lag = 0;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(list, topic, p);
    if (group && rd_kafka_committed(rk, list, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "chatstream-admin: cannot read committed offsets of %s\n", group);
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int p = 0; p < parts; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (err) {
            fprintf(stderr, "chatstream-admin: %s [%d]: %s\n", topic, p, rd_kafka_err2str(err));
            rd_kafka_destroy(rk);
            return 1;
        }
        total_end += hi;
        if (group) {
            int64_t committed = list->elems[p].offset;
            total_lag += committed >= 0 ? hi - committed : hi - lo;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    printf("%lld\n", group ? total_lag : total_end);
    rd_kafka_destroy(rk);
    return 0;
}

static int cs_usage(void)
{
    fprintf(stderr, "usage: chatstream-admin [-b brokers] wait [seconds]\n"
                    "       chatstream-admin [-b brokers] create-topic NAME PARTITIONS [REPLICAS] "
                    "[key=value...]\n"
                    "       chatstream-admin [-b brokers] end-offsets TOPIC\n"
                    "       chatstream-admin [-b brokers] lag GROUP TOPIC\n");
    return 2;
}

int main(int argc, char **argv)
{
    int i = 1;
    if (getenv("CHATSTREAM_BROKERS"))
        cs_brokers = getenv("CHATSTREAM_BROKERS");
    if (i + 1 < argc && strcmp(argv[i], "-b") == 0) {
        cs_brokers = argv[i + 1];
        i += 2;
    }
    if (i >= argc)
        return cs_usage();
    const char *cmd = argv[i++];
    int left = argc - i;
    if (strcmp(cmd, "wait") == 0)
        return cs_cmd_wait(left >= 1 ? atoi(argv[i]) : 30);
    if (strcmp(cmd, "create-topic") == 0 && left >= 2)
        return cs_cmd_create_topic(argv[i], atoi(argv[i + 1]), left >= 3 ? atoi(argv[i + 2]) : 1,
                                   left > 3 ? left - 3 : 0, argv + i + 3);
    if (strcmp(cmd, "end-offsets") == 0 && left == 1)
        return cs_cmd_offsets(NULL, argv[i]);
    if (strcmp(cmd, "lag") == 0 && left == 2)
        return cs_cmd_offsets(argv[i], argv[i + 1]);
    return cs_usage();
}
