/*
 * chatstream-fanout against librdkafka's mock cluster (logic, not the proof that the
 * pipeline works: tests/integration/fanout_*.sh do that against a real broker).
 *
 *   1. messages with client retries and bad records: every good message once in chat.fanout,
 *      keyed by its room, each room in one partition; retries dropped; bad records in
 *      chat.dlq with their reason; everything done in transactions.
 *   2. the broker refuses a transaction's offset commit mid-stream: the transaction is
 *      aborted, the batch retried, its partitions' retry windows rebuilt from the input
 *      (the retried batch holds retries of messages from earlier batches), and what is
 *      committed is exact. With dedupe.rebuild=false the same run lets retries through,
 *      so the test can tell.
 *
 * The mock cluster (librdkafka 2.0.2) keeps no transactional offset commits and does not
 * hide aborted records, so restarts and read_committed visibility are proven against the
 * real broker (tests/integration/fanout_*.sh), not here.
 */
#include "cs_envelope.h"
#include "cs_processor.h"
#include "cs_test.h"
#include "cs_test_mock.h"
#include "cs_time.h"
#include "cs_uuid.h"

#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

extern const cs_processor_t cs_fanout_processor;

#define PARTS 4

static char bootstraps[256];
static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mc;

/* ---- helpers ---------------------------------------------------------------------------- */

static void produce(const char *key, const char *value)
{
    rd_kafka_producev(mock_rk, RD_KAFKA_V_TOPIC("chat.messages"),
                      RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                      RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
}

/* A valid envelope from user u<u> to room r<room> with cmid c<cmid> (a fresh id each time). */
static void produce_msg(int u, int room, int cmid)
{
    char user[16], r[16], c[16], text[64];
    snprintf(user, sizeof(user), "u%d", u);
    snprintf(r, sizeof(r), "r%d", room);
    snprintf(c, sizeof(c), "c%d", cmid);
    snprintf(text, sizeof(text), "message %d", cmid);
    cs_envelope_t env;
    memset(&env, 0, sizeof(env));
    cs_uuid_t id;
    cs_uuid_v7(&id);
    cs_uuid_format(&id, env.id);
    env.room = r, env.room_len = strlen(r);
    env.user = user, env.user_len = strlen(user);
    env.cmid = c, env.cmid_len = strlen(c);
    env.text = text, env.text_len = strlen(text);
    env.ts = cs_wall_ms();
    cs_buf_t buf = CS_BUF_INIT;
    cs_envelope_encode(&env, &buf);
    cs_buf_append(&buf, "", 1);
    produce(user, buf.data);
    cs_buf_free(&buf);
}

typedef struct {
    int count;
    int distinct;
    int bad_keys;       /* key is not the envelope's room */
    int split_rooms;    /* a room seen in two partitions */
} out_t;

/* Reads a whole topic from the beginning. For chat.fanout, checks keys. */
static int read_topic(const char *topic, int parts, out_t *o, char reasons[][200], int max)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "test-reader", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    static char ids[20000][CS_UUID_STR_LEN + 1];
    static char room_part[1000];
    memset(room_part, -1, sizeof(room_part));
    int n = 0, eofs = 0, nids = 0;
    memset(o, 0, sizeof(*o));
    int64_t deadline = cs_mono_ms() + 20000;
    while (eofs < parts && cs_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (!m->err) {
            n++;
            rd_kafka_headers_t *h = NULL;
            const void *v;
            size_t vs;
            if (reasons && n <= max && rd_kafka_message_headers(m, &h) == 0 &&
                rd_kafka_header_get_last(h, "chatstream.dlq.reason", &v, &vs) == 0)
                snprintf(reasons[n - 1], 200, "%.*s", (int)vs, (const char *)v);
            cs_envelope_t env;
            static char arena[1 << 16];
            char why[200];
            if (!reasons &&
                cs_envelope_decode(m->payload, m->len, &env, arena, sizeof(arena), why,
                                   sizeof(why)) == CS_ERR_OK) {
                if (m->key_len != env.room_len || memcmp(m->key, env.room, env.room_len) != 0)
                    o->bad_keys++;
                int room = atoi(env.room + 1);
                if (room_part[room] < 0)
                    room_part[room] = (char)m->partition;
                else if (room_part[room] != m->partition)
                    o->split_rooms++;
                bool dup = false;
                for (int i = 0; i < nids && !dup; i++)
                    dup = strcmp(ids[i], env.id) == 0;
                if (!dup && nids < 20000)
                    snprintf(ids[nids++], sizeof(ids[0]), "%s", env.id);
            }
        }
        rd_kafka_message_destroy(m);
    }
    o->count = n;
    o->distinct = nids;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

/* GET /metrics from the processor's admin port; sums the samples of one metric name. */
static long long metric(int port, const char *name)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    const char *req = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
    if (write(fd, req, strlen(req)) < 0) {
        close(fd);
        return -1;
    }
    static char buf[1 << 20];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof(buf) - 1 && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    long long sum = 0;
    size_t nl = strlen(name);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, nl) == 0 && (line[nl] == ' ' || line[nl] == '{'))
            sum += atoll(strchr(line, ' ') + 1);
    }
    return sum;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

/* Stops the processor once `name` reaches `target` (or after 60 s), keeping the last
 * values of a few metrics for the checks. */
typedef struct {
    int port;
    const char *name;
    long long target;
    long long inject_at;        /* > 0: refuse one TxnOffsetCommit once `name` reaches it */
    void (*then)(void);         /* ...and then call this */
    long long in, out, dropped, rebuilds, committed, aborted;
} watch_t;

static void *watcher(void *arg)
{
    watch_t *w = arg;
    int64_t deadline = cs_mono_ms() + 60000;
    while (cs_mono_ms() < deadline) {
        usleep(100000);
        long long v = metric(w->port, w->name);
        if (w->inject_at > 0 && v >= w->inject_at) {
            rd_kafka_mock_push_request_errors(mc, 28 /* TxnOffsetCommit */, 1,
                                              RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION);
            w->inject_at = 0;
            if (w->then)
                w->then();
        }
        if (v >= w->target)
            break;
    }
    usleep(300000); /* anything extra would show up now */
    w->in = metric(w->port, "chatstream_fanout_records_in_total");
    w->out = metric(w->port, "chatstream_fanout_records_out_total");
    w->dropped = metric(w->port, "chatstream_fanout_retries_dropped_total");
    w->rebuilds = metric(w->port, "chatstream_fanout_window_rebuilds_total");
    w->committed = metric(w->port, "chatstream_kafka_transactions_total{component=\"fanout\",result=\"committed\"}");
    w->aborted = metric(w->port, "chatstream_kafka_transactions_total{component=\"fanout\",result=\"aborted\"}");
    cs_processor_stop();
    return NULL;
}

/* Runs chatstream-fanout until `name` reaches `target`; returns its exit status. */
static int run(watch_t *w, const char *extra)
{
    char b[300], port[64];
    snprintf(b, sizeof(b), "brokers=%s", bootstraps);
    w->port = free_port();
    snprintf(port, sizeof(port), "admin.port=%d", w->port);
    char *argv[] = {"fanout", "-X", b, "-X", port, "-X", "batch.max.records=100",
                    "-X", "batch.linger.ms=20", "-X", "log.level=warn", "-X", "group.id=g",
                    "-X", "retry.backoff.ms=10", "-X", "retry.backoff.max.ms=100",
                    "-X", "kafka.consumer.session.timeout.ms=6000", "-X", (char *)extra, NULL};
    int argc = 0;
    while (argv[argc])
        argc++;
    if (!extra)
        argc--; /* the last "-X" has nothing to go with */
    pthread_t t;
    pthread_create(&t, NULL, watcher, w);
    int rc = cs_processor_main(&cs_fanout_processor, argc, argv);
    pthread_join(t, NULL);
    return rc;
}

/* ---- the tests -------------------------------------------------------------------------- */

static void mock_up(int parts)
{
    mock_rk = cs_test_mock_cluster(&mc, bootstraps, sizeof(bootstraps));
    rd_kafka_mock_topic_create(mc, "chat.messages", parts, 1);
    rd_kafka_mock_topic_create(mc, "chat.fanout", PARTS, 1);
    rd_kafka_mock_topic_create(mc, "chat.dlq", 1, 1);
}

static void test_rekey_dedupe_and_dead_letters(void)
{
    mock_up(PARTS);
    /* 2,000 sends by 50 users to 20 rooms; every 10th is a retry of the one before. */
    int n = 0, retries = 0;
    for (int i = 0; i < 2000; i++) {
        if (i % 10 == 9) {
            produce_msg((i - 1) % 50, (i - 1) % 20, i - 1);
            retries++;
        } else {
            produce_msg(i % 50, i % 20, i);
        }
        n++;
        if (i == 500) { /* three bad records in the middle */
            produce("u1", "{\"v\":1,\"id\":");
            produce("u2", "{\"v\":1,\"id\":\"019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f\",\"room\":\"r1\","
                          "\"user\":\"someone-else\",\"ts\":1,\"text\":\"hi\"}");
            produce("u3", "{\"v\":1,\"id\":\"019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f\",\"room\":\"r 1\","
                          "\"user\":\"u3\",\"ts\":1,\"text\":\"hi\"}");
        }
    }
    CHECK_INT(rd_kafka_flush(mock_rk, 10000), 0);
    watch_t w = {.name = "chatstream_fanout_records_in_total", .target = n + 3};
    CHECK_INT(run(&w, NULL), 0);
    CHECK_INT(w.in, n + 3);
    CHECK_INT(w.out, n - retries);
    CHECK_INT(w.dropped, retries);
    CHECK(w.committed >= 20); /* batches of at most 100 */
    CHECK_INT(w.aborted, 0);
    out_t o;
    read_topic("chat.fanout", PARTS, &o, NULL, 0);
    CHECK_INT(o.count, n - retries);
    CHECK_INT(o.distinct, n - retries);
    CHECK_INT(o.bad_keys, 0);
    CHECK_INT(o.split_rooms, 0);
    char reasons[8][200];
    memset(reasons, 0, sizeof(reasons));
    CHECK_INT(read_topic("chat.dlq", 1, &o, reasons, 8), 3);
    int keyed = 0, room = 0, json = 0;
    for (int i = 0; i < 3; i++) {
        keyed += strstr(reasons[i], "must be keyed by user") != NULL;
        room += strstr(reasons[i], "room:") != NULL;
        json += strstr(reasons[i], "expected a value") != NULL;
    }
    CHECK_INT(keyed, 1);
    CHECK_INT(room, 1);
    CHECK_INT(json, 1);
    rd_kafka_destroy(mock_rk);
}

/* 600 sends by 30 users to one room, in one input partition: 300 originals; once they are
 * committed the broker is told to refuse the next transaction's offsets, and 300 more are
 * sent, every third a retry of a message from the first 300. The aborted transaction holds
 * retries whose originals were committed before it: only a rebuilt window knows them. */
static void second_half(void)
{
    for (int i = 300; i < 600; i++) {
        if (i % 3 == 2)
            produce_msg((i - 300) % 30, 1, i - 300);
        else
            produce_msg(i % 30, 1, i);
    }
    rd_kafka_flush(mock_rk, 10000);
}

static void abort_mid_stream(const char *extra, watch_t *w)
{
    mock_up(1);
    for (int i = 0; i < 300; i++)
        produce_msg(i % 30, 1, i);
    CHECK_INT(rd_kafka_flush(mock_rk, 10000), 0);
    *w = (watch_t){.name = "chatstream_fanout_records_in_total",
                   .target = 600,
                   .inject_at = 300,
                   .then = second_half};
    CHECK_INT(run(w, extra), 0);
    rd_kafka_destroy(mock_rk);
}

static void test_abort_retry_rebuilds_windows(void)
{
    watch_t w;
    abort_mid_stream(NULL, &w);
    CHECK_INT(w.in, 600);
    CHECK_INT(w.dropped, 100);
    CHECK_INT(w.out, 500);
    CHECK(w.aborted >= 1);
    CHECK(w.rebuilds >= 1);
    fprintf(stderr, "  %lld committed, %lld aborted, %lld window rebuilds\n", w.committed,
            w.aborted, w.rebuilds);

    /* Without rebuilding, the retried batch starts with empty windows: retries whose
     * originals were committed in earlier batches get through. */
    watch_t w2;
    abort_mid_stream("dedupe.rebuild=false", &w2);
    CHECK_INT(w2.in, 600);
    CHECK(w2.aborted >= 1);
    fprintf(stderr, "  without rebuild: %lld dropped, %lld aborted, %lld rebuilds\n", w2.dropped, w2.aborted, w2.rebuilds);
    CHECK(w2.dropped < 100);
    CHECK_INT(w2.out + w2.dropped, 600);
}

int main(void)
{
    RUN(test_rekey_dedupe_and_dead_letters);
    RUN(test_abort_retry_rebuilds_windows);
    CS_TEST_DONE();
}
