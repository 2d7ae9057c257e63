/*
 * txn-produce BROKERS TOPIC TRANSACTIONAL_ID — a test helper: one Kafka transaction kept
 * open as long as its input is. Reads "key<TAB>value" lines from stdin; each is produced
 * and flushed at once, so it is in the log (past the last stable offset) while the
 * transaction is still open, and "written N" goes to stdout. At the end of the input the
 * transaction commits ("committed N"). kcat reads its input ahead and sends a
 * transaction's records only at the end, so it cannot hold one open with records in it.
 * Exit 1 with the error on any failure, 2 on usage.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TXN_TIMEOUT_MS 30000

static int fail(const char *what, rd_kafka_error_t *e)
{
    fprintf(stderr, "txn-produce: %s: %s\n", what, e ? rd_kafka_error_string(e) : "failed");
    if (e)
        rd_kafka_error_destroy(e);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: txn-produce BROKERS TOPIC TRANSACTIONAL_ID\n");
        return 2;
    }
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "transactional.id", argv[3], errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "linger.ms", "0", errstr, sizeof(errstr))) {
        fprintf(stderr, "txn-produce: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "txn-produce: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    int rc = 0;
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, TXN_TIMEOUT_MS);
    if (e || (e = rd_kafka_begin_transaction(rk))) {
        rc = fail("start the transaction", e);
        goto out;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long n = 0;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab) {
            fprintf(stderr, "txn-produce: line %ld: expected key<TAB>value\n", n + 1);
            rc = 2;
            break;
        }
        size_t key_len = (size_t)(tab - line);
        char *value = tab + 1;
        rd_kafka_resp_err_t err =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_KEY(line, key_len),
                              RD_KAFKA_V_VALUE(value, strlen(value)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err || rd_kafka_flush(rk, TXN_TIMEOUT_MS)) {
            fprintf(stderr, "txn-produce: line %ld: %s\n", n + 1,
                    rd_kafka_err2str(err ? err : RD_KAFKA_RESP_ERR__TIMED_OUT));
            rc = 1;
            break;
        }
        printf("written %ld\n", ++n);
        fflush(stdout);
    }
    free(line);
    if (rc == 0) {
        if ((e = rd_kafka_commit_transaction(rk, TXN_TIMEOUT_MS)))
            rc = fail("commit", e);
        else
            printf("committed %ld\n", n);
    } else if ((e = rd_kafka_abort_transaction(rk, TXN_TIMEOUT_MS))) {
        fail("abort", e);
    }
out:
    rd_kafka_destroy(rk);
    return rc;
}
