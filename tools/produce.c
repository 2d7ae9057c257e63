/*
 * chatstream-produce — writes test chat messages straight to Kafka, so the
 * pipeline can be driven (and measured) without gateways or clients.
 *
 *   chatstream-produce -X count=100000 -X users=1000 -X rooms=100
 *   chatstream-produce -X value.file=bad.json -X count=1      # one raw record
 *
 * Messages are valid envelopes with fresh UUIDv7 ids and unique (user, cmid);
 * with dup.every=K every K-th message repeats the previous one's (user, cmid)
 * under a new id, as a client retrying a send whose ack it never saw. It
 * waits for every delivery report and exits non-zero unless all succeeded.
 * stdout gets one JSON line of results.
 *
 * For failover tests it can behave like a gateway under an outage instead:
 *
 *   chatstream-produce -X rate=2000 -X flush.every=100 -X on.error=continue \
 *                      -X acked.file=acked.txt -X kafka.message.timeout.ms=5000
 *
 * flush.every=N waits for the delivery reports after every N records; a batch whose
 * reports all succeeded is "acked" (its ids go to acked.file, as a gateway would ack
 * them to its clients), any other batch is "not acked" as a whole (some of it may still
 * be in Kafka, as for a client that got `unavailable`). on.error=continue carries on
 * after such a batch, prints each failure on stderr, counts the failures by reason, and
 * exits 3 if anything was not acked. max_ack_wait_seconds is the longest flush: how long
 * the unluckiest batch waited for its acks (a failover's pause, as a client sees it).
 */
#include "cs_conf.h"
#include "cs_envelope.h"
#include "cs_kafka.h"
#include "cs_log.h"
#include "cs_producer.h"
#include "cs_rand.h"
#include "cs_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct cs_produce_conf {
    char *brokers;
    char *topic;
    char *topic_prefix;
    char *value_file;
    char *key;
    char *run_id;
    int64_t count;
    int64_t users;
    int64_t rooms;
    int64_t text_bytes;
    int64_t rate;
    int64_t dup_every;
    int64_t first;
    int64_t flush_every;
    char *on_error;
    char *acked_file;
} cs_produce_conf_t;

static const cs_conf_def_t cs_produce_defs[] = {
    CS_CONF_ROW_STR(cs_produce_conf_t, brokers, "brokers", "127.0.0.1:9092", 4096,
                    "Kafka bootstrap servers."),
    CS_CONF_ROW_STR(cs_produce_conf_t, topic, "topic", "chat.messages", 200,
                    "Topic, without the prefix."),
    CS_CONF_ROW_STR(cs_produce_conf_t, topic_prefix, "topic.prefix", "", 64, "Topic prefix."),
    CS_CONF_ROW_STR(cs_produce_conf_t, value_file, "value.file", NULL, 4096,
                    "Produce this file's bytes as the value (raw mode; no validation)."),
    CS_CONF_ROW_STR(cs_produce_conf_t, key, "key", "raw", 256, "Record key in raw mode."),
    CS_CONF_ROW_STR(cs_produce_conf_t, run_id, "run.id", "", 32,
                    "Prefix for cmids, so several runs do not collide (default: the pid)."),
    CS_CONF_ROW_INT(cs_produce_conf_t, count, "count", "1000", 0, 1000000000,
                    "Number of records."),
    CS_CONF_ROW_INT(cs_produce_conf_t, users, "users", "1000", 1, 100000000,
                    "Distinct senders (u0..uN-1); the record key."),
    CS_CONF_ROW_INT(cs_produce_conf_t, rooms, "rooms", "100", 1, 100000000,
                    "Distinct rooms (r0..rN-1)."),
    CS_CONF_ROW_INT(cs_produce_conf_t, text_bytes, "text.bytes", "100", 1, 4096,
                    "Bytes of text per message."),
    CS_CONF_ROW_INT(cs_produce_conf_t, rate, "rate", "0", 0, 100000000,
                    "Messages per second (0: as fast as possible)."),
    CS_CONF_ROW_INT(cs_produce_conf_t, dup_every, "dup.every", "0", 0, 1000000000,
                    "Every N-th message is a client retry of the one before (0: never)."),
    CS_CONF_ROW_INT(cs_produce_conf_t, first, "first", "0", 0, 1000000000000,
                    "Number of the first message (cmid and text use it)."),
    CS_CONF_ROW_INT(cs_produce_conf_t, flush_every, "flush.every", "0", 0, 1000000,
                    "Wait for delivery reports after every N records (0: once, at the end)."),
    CS_CONF_ROW_STR(cs_produce_conf_t, on_error, "on.error", "exit", 16,
                    "exit: stop at the first failure; continue: count failed batches, go on."),
    CS_CONF_ROW_STR(cs_produce_conf_t, acked_file, "acked.file", NULL, 4096,
                    "Append the id of every acked record to this file, one per line."),
};

/* Failures by reason, for the result line (a handful of distinct reasons at most). */
typedef struct cs_produce_fail {
    char reason[96];
    int64_t records;
} cs_produce_fail_t;

#define CS_PRODUCE_REASONS 8
#define CS_PRODUCE_ID_LEN (CS_UUID_STR_LEN + 1) /* an envelope id with its NUL */

/*
 * Counts `records` not acked because of `rc`/`errstr`, under the Kafka reason (the text
 * after the last ": " of a delivery error, e.g. "Not enough in-sync replicas").
 */
static void cs_produce_fail_count(cs_produce_fail_t *fails, cs_err_t rc, const char *errstr,
                                  int64_t records)
{
    const char *reason = strrchr(errstr, ':');
    char buf[96];
    if (rc == CS_ERR_TIMEOUT && strstr(errstr, "still missing"))
        snprintf(buf, sizeof(buf), "delivery reports missing at flush timeout");
    else
        snprintf(buf, sizeof(buf), "%s", reason ? reason + 2 : cs_err_str(rc));
    for (int i = 0; i < CS_PRODUCE_REASONS; i++) {
        if (!fails[i].reason[0])
            snprintf(fails[i].reason, sizeof(fails[i].reason), "%s", buf);
        if (!strcmp(fails[i].reason, buf) || i == CS_PRODUCE_REASONS - 1) {
            fails[i].records += records;
            return;
        }
    }
}

static char *cs_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    cs_buf_t buf = CS_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        cs_buf_append(&buf, chunk, n);
    fclose(fp);
    if (buf.oom) {
        cs_buf_free(&buf);
        return NULL;
    }
    if (!buf.data)
        cs_buf_reserve(&buf, 1);
    return cs_buf_steal(&buf, len);
}

int main(int argc, char **argv)
{
    cs_produce_conf_t pc;
    memset(&pc, 0, sizeof(pc));
    char errstr[512];
    cs_log_set_app("produce");
    cs_log_threshold = CS_LOG_WARN;
    cs_conf_t *conf = cs_conf_new("chatstream-produce",
                                  "Produces test chat messages (or one raw record) to Kafka.");
    cs_conf_add_section(conf, "Options", cs_produce_defs,
                        sizeof(cs_produce_defs) / sizeof(cs_produce_defs[0]), &pc);
    switch (cs_conf_load(conf, argc, argv, errstr, sizeof(errstr))) {
    case CS_CONF_EXIT_OK:
        cs_conf_destroy(conf);
        return 0;
    case CS_CONF_ERROR:
        fprintf(stderr, "chatstream-produce: %s\n", errstr);
        cs_conf_destroy(conf);
        return 2;
    case CS_CONF_RUN:
        break;
    }
    int status = 1;
    char topic[256];
    cs_kafka_topic_name(pc.topic_prefix, pc.topic, topic, sizeof(topic));
    cs_metrics_t *metrics = cs_metrics_new();
    cs_producer_t *producer = cs_producer_new(pc.brokers, "chatstream-produce", conf, metrics,
                                              "produce", errstr, sizeof(errstr));
    char *raw = NULL;
    size_t raw_len = 0;
    FILE *acked_fp = NULL;
    char *batch_ids = NULL;
    if (!producer) {
        fprintf(stderr, "chatstream-produce: %s\n", errstr);
        goto done;
    }
    if (pc.value_file && !(raw = cs_read_file(pc.value_file, &raw_len))) {
        fprintf(stderr, "chatstream-produce: %s: %s\n", pc.value_file, strerror(errno));
        goto done;
    }
    char run[40];
    snprintf(run, sizeof(run), "%s", *pc.run_id ? pc.run_id : "");
    if (!*run)
        snprintf(run, sizeof(run), "p%d", (int)getpid());

    char text[CS_TEXT_MAX + 1];
    cs_buf_t value = CS_BUF_INIT;
    char user[32], room[32], cmid[64], prev_user[32] = "", prev_cmid[64] = "";
    bool keep_going = !strcmp(pc.on_error, "continue");
    if (!keep_going && strcmp(pc.on_error, "exit")) {
        fprintf(stderr, "chatstream-produce: on.error must be exit or continue\n");
        goto done;
    }
    if (pc.acked_file && !(acked_fp = fopen(pc.acked_file, "a"))) {
        fprintf(stderr, "chatstream-produce: %s: %s\n", pc.acked_file, strerror(errno));
        goto done;
    }
    cs_produce_fail_t fails[CS_PRODUCE_REASONS];
    memset(fails, 0, sizeof(fails));
    int64_t batch_cap = pc.flush_every > 0 ? pc.flush_every : 1;
    batch_ids = calloc((size_t)batch_cap, CS_PRODUCE_ID_LEN);
    if (!batch_ids)
        goto done;
    int64_t in_batch = 0, acked = 0, not_acked = 0, max_flush_us = 0;
    int64_t t0 = cs_mono_us();
    int64_t retries = 0;
    for (int64_t i = 0; i < pc.count; i++) {
        if (pc.rate > 0) {
            int64_t due = t0 + i * 1000000 / pc.rate;
            int64_t now = cs_mono_us();
            if (due > now)
                usleep((useconds_t)(due - now));
        }
        cs_err_t rc;
        if (raw) {
            rc = cs_producer_send(producer, topic, RD_KAFKA_PARTITION_UA, pc.key, strlen(pc.key),
                                  raw, raw_len, NULL, 30000);
        } else {
            int64_t n = pc.first + i;
            cs_envelope_t env;
            memset(&env, 0, sizeof(env));
            cs_uuid_t uuid;
            cs_uuid_v7(&uuid);
            cs_uuid_format(&uuid, env.id);
            bool retry = pc.dup_every > 0 && i > 0 && i % pc.dup_every == 0;
            if (retry) {
                snprintf(user, sizeof(user), "%s", prev_user);
                snprintf(cmid, sizeof(cmid), "%s", prev_cmid);
                retries++;
            } else {
                snprintf(user, sizeof(user), "u%lld", (long long)(n % pc.users));
                snprintf(cmid, sizeof(cmid), "%s-%lld", run, (long long)n);
            }
            snprintf(room, sizeof(room), "r%lld", (long long)(cs_rand_below((uint64_t)pc.rooms)));
            int tl = snprintf(text, sizeof(text), "message %lld from %s ", (long long)n, user);
            if (tl > pc.text_bytes)
                tl = (int)pc.text_bytes; /* a short text.bytes truncates the label */
            for (; tl < pc.text_bytes; tl++)
                text[tl] = (char)('a' + (tl % 26));
            env.room = room, env.room_len = strlen(room);
            env.user = user, env.user_len = strlen(user);
            env.cmid = cmid, env.cmid_len = strlen(cmid);
            env.text = text, env.text_len = (size_t)pc.text_bytes;
            env.ts = cs_wall_ms();
            cs_buf_reset(&value);
            cs_envelope_encode(&env, &value);
            if (pc.flush_every > 0)
                memcpy(batch_ids + in_batch * CS_PRODUCE_ID_LEN, env.id, CS_PRODUCE_ID_LEN);
            rc = cs_producer_send(producer, topic, RD_KAFKA_PARTITION_UA, user, strlen(user),
                                  value.data, value.len, NULL, 30000);
            snprintf(prev_user, sizeof(prev_user), "%s", user);
            snprintf(prev_cmid, sizeof(prev_cmid), "%s", cmid);
        }
        if (rc != CS_ERR_OK) {
            fprintf(stderr, "chatstream-produce: record %lld: %s\n", (long long)i, cs_err_str(rc));
            if (!keep_going) {
                cs_buf_free(&value);
                goto done;
            }
            not_acked++;
            cs_produce_fail_count(fails, rc, cs_err_str(rc), 1);
        } else {
            in_batch++;
        }
        if ((i & 1023) == 0)
            cs_producer_poll(producer);
        if (pc.flush_every > 0 && in_batch > 0 &&
            (in_batch == pc.flush_every || i + 1 == pc.count)) {
            int64_t f0 = cs_mono_us();
            rc = cs_producer_flush(producer, 120000, errstr, sizeof(errstr));
            if (cs_mono_us() - f0 > max_flush_us)
                max_flush_us = cs_mono_us() - f0;
            if (rc != CS_ERR_OK) {
                fprintf(stderr, "chatstream-produce: %lld records not acked: %s\n",
                        (long long)in_batch, errstr);
                if (!keep_going) {
                    cs_buf_free(&value);
                    goto done;
                }
                not_acked += in_batch;
                cs_produce_fail_count(fails, rc, errstr, in_batch);
            } else {
                acked += in_batch;
                for (int64_t k = 0; acked_fp && !raw && k < in_batch; k++)
                    fprintf(acked_fp, "%s\n", batch_ids + k * CS_PRODUCE_ID_LEN);
            }
            in_batch = 0;
        }
    }
    cs_buf_free(&value);
    cs_err_t rc = cs_producer_flush(producer, 120000, errstr, sizeof(errstr));
    double secs = (double)(cs_mono_us() - t0) / 1e6;
    if (rc != CS_ERR_OK) {
        fprintf(stderr, "chatstream-produce: %s\n", errstr);
        goto done;
    }
    if (pc.flush_every == 0)
        acked = pc.count - not_acked;
    printf("{\"topic\":\"%s\",\"records\":%lld,\"client_retries\":%lld,\"seconds\":%.3f,"
           "\"records_per_second\":%.0f,\"acked\":%lld,\"not_acked\":%lld,"
           "\"max_ack_wait_seconds\":%.3f,\"failures\":{",
           topic, (long long)pc.count, (long long)retries, secs,
           secs > 0 ? (double)pc.count / secs : 0.0, (long long)acked, (long long)not_acked,
           (double)max_flush_us / 1e6);
    for (int k = 0; k < CS_PRODUCE_REASONS && fails[k].reason[0]; k++)
        printf("%s\"%s\":%lld", k ? "," : "", fails[k].reason, (long long)fails[k].records);
    printf("}}\n");
    status = not_acked > 0 ? 3 : 0;
done:
    if (acked_fp && fclose(acked_fp) != 0 && status == 0) {
        fprintf(stderr, "chatstream-produce: %s: %s\n", pc.acked_file, strerror(errno));
        status = 1;
    }
    free(batch_ids);
    free(raw);
    cs_producer_destroy(producer);
    cs_metrics_destroy(metrics);
    cs_conf_destroy(conf);
    return status;
}
