/*
 * Unit tests of chatstream-loadgen's pure parts: the log histogram against
 * exact sorted percentiles, the per-recipient duplicate window, the room
 * reference order, the end-of-run tally, and the frame scanner.
 */
#include "cs_test.h"
#include "lg_acct.h"
#include "lg_frame.h"
#include "lg_hist.h"

#include <stdlib.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_hist_buckets(void)
{
    /* every value falls in the bucket whose bounds hold it; buckets tile the line */
    uint64_t vals[] = {0, 1, 63, 64, 65, 127, 128, 1000, 999999, 1000000, 123456789, 1ull << 40};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        unsigned idx = lg_hist_index(vals[i]);
        CHECK(idx < LG_HIST_BUCKETS);
        CHECK(lg_hist_bucket_low(idx) <= vals[i]);
        CHECK(lg_hist_bucket_high(idx) >= vals[i]);
    }
    for (unsigned i = 0; i + 1 < LG_HIST_BUCKETS; i++)
        CHECK(lg_hist_bucket_high(i) + 1 == lg_hist_bucket_low(i + 1));
    /* relative width never above 1/64 */
    for (unsigned i = LG_HIST_SUB; i < LG_HIST_BUCKETS; i += 7) {
        double w = (double)(lg_hist_bucket_high(i) - lg_hist_bucket_low(i) + 1);
        CHECK(w / (double)lg_hist_bucket_low(i) <= 1.0 / 64 + 1e-12);
    }
    CHECK(lg_hist_index(UINT64_MAX) == LG_HIST_BUCKETS - 1);
}

static void test_hist_percentiles(void)
{
    enum { N = 200000 };
    static uint64_t v[N];
    static lg_hist_t h, h2, merged;
    lg_hist_init(&h);
    lg_hist_init(&h2);
    for (int i = 0; i < N; i++) {
        /* a long-tailed mix: most around 2 ms, some up to 2 s */
        uint64_t x = 1000000 + cs_test_rand() % 2000000;
        if (i % 100 == 0)
            x = cs_test_rand() % 2000000000ull;
        v[i] = x;
        lg_hist_record(i % 2 ? &h : &h2, x);
    }
    lg_hist_init(&merged);
    lg_hist_merge(&merged, &h);
    lg_hist_merge(&merged, &h2);
    qsort(v, N, sizeof(v[0]), cmp_u64);
    CHECK_INT(merged.count, N);
    CHECK(merged.min == v[0]);
    CHECK(merged.max == v[N - 1]);
    double ps[] = {1, 50, 90, 99, 99.9, 99.99, 100};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        size_t rank = (size_t)(ps[i] / 100.0 * N + 0.999999);
        if (rank < 1)
            rank = 1;
        uint64_t exact = v[rank - 1];
        uint64_t got = lg_hist_percentile(&merged, ps[i]);
        CHECK(got >= exact);                           /* rounds up, never down */
        CHECK((double)got <= (double)exact * (1 + 1.0 / 64) + 1); /* by one bucket at most */
    }
    lg_hist_t empty;
    lg_hist_init(&empty);
    CHECK_INT(lg_hist_percentile(&empty, 99), 0);
    lg_hist_t one;
    lg_hist_init(&one);
    lg_hist_record(&one, 12345);
    CHECK_INT(lg_hist_percentile(&one, 50), 12345);
    CHECK_INT(lg_hist_percentile(&one, 99.9), 12345);
}

static void test_seen_window(void)
{
    lg_seen_t s = {0, 0};
    CHECK(lg_seen_mark(&s, 1) == LG_SEEN_NEW);
    CHECK(lg_seen_mark(&s, 2) == LG_SEEN_NEW);
    CHECK(lg_seen_mark(&s, 2) == LG_SEEN_DUP);
    CHECK(lg_seen_mark(&s, 5) == LG_SEEN_NEW);
    CHECK(lg_seen_mark(&s, 4) == LG_SEEN_LATE);
    CHECK(lg_seen_mark(&s, 4) == LG_SEEN_DUP);
    CHECK(lg_seen_mark(&s, 1) == LG_SEEN_DUP);
    CHECK(lg_seen_mark(&s, 3) == LG_SEEN_LATE);
    CHECK(lg_seen_mark(&s, 200) == LG_SEEN_NEW);
    CHECK(lg_seen_mark(&s, 5) == LG_SEEN_TOO_OLD);
    CHECK(lg_seen_mark(&s, 137) == LG_SEEN_LATE); /* 63 below top: still in the window */
    CHECK(lg_seen_mark(&s, 136) == LG_SEEN_TOO_OLD);
}

static void test_room_order(void)
{
    lg_room_log_t log;
    CHECK(lg_room_log_init(&log, 4));
    lg_room_pos_t a = {0, 0}, b = {0, 0}, c = {0, 0};
    /* a defines the order 1,2,3,4; b follows it; c sees 2 before 1 */
    for (uint64_t k = 1; k <= 4; k++)
        CHECK(lg_room_log_observe(&log, &a, k) == LG_ORDER_OK);
    for (uint64_t k = 1; k <= 4; k++)
        CHECK(lg_room_log_observe(&log, &b, k) == LG_ORDER_OK);
    CHECK(lg_room_log_observe(&log, &c, 2) == LG_ORDER_OK); /* a jump: 1 skipped so far */
    CHECK(lg_room_log_observe(&log, &c, 1) == LG_ORDER_LATE);
    CHECK(lg_room_log_observe(&log, &c, 3) == LG_ORDER_OK);
    CHECK(lg_room_log_observe(&log, &c, 4) == LG_ORDER_OK);
    /* a and b disagree on 5 and 6: the first arrivals (a: 6, then b: 5) make the
     * reference 6,5, so a agrees and b's 6 is late: one fault, counted once */
    CHECK(lg_room_log_observe(&log, &a, 6) == LG_ORDER_OK);
    CHECK(lg_room_log_observe(&log, &b, 5) == LG_ORDER_OK);
    CHECK(lg_room_log_observe(&log, &a, 5) == LG_ORDER_OK);
    CHECK(lg_room_log_observe(&log, &b, 6) == LG_ORDER_LATE);
    /* a message lost to one recipient is not an order fault */
    CHECK(lg_room_log_observe(&log, &a, 7) == LG_ORDER_OK);
    CHECK(lg_room_log_observe(&log, &a, 8) == LG_ORDER_OK);
    CHECK(lg_room_log_observe(&log, &c, 5) == LG_ORDER_OK); /* jumps over 6 */
    CHECK(lg_room_log_observe(&log, &c, 6) == LG_ORDER_LATE);
    CHECK(lg_room_log_observe(&log, &c, 8) == LG_ORDER_OK); /* 7 never comes: lost, not late */
    /* a recipient more than a ring behind cannot be checked */
    lg_room_pos_t slow = {0, 0};
    for (uint64_t k = 100; k < 140; k++)
        lg_room_log_observe(&log, &a, k);
    CHECK(lg_room_log_observe(&log, &slow, 1) == LG_ORDER_UNCHECKED);
    lg_room_log_free(&log);
}

/* Why room order is not judged when messages were lost: B never gets M1 and is
 * first to get M2, so the reference says M2 before M1; A then sees M1, M2 (the
 * right order) and is flagged. lg_acct_finish moves such counts to unverified. */
static void test_room_order_with_loss(void)
{
    lg_room_log_t log;
    CHECK(lg_room_log_init(&log, 4));
    lg_room_pos_t a = {0, 0}, b = {0, 0};
    CHECK(lg_room_log_observe(&log, &b, 2) == LG_ORDER_OK); /* M1 lost to b */
    CHECK(lg_room_log_observe(&log, &a, 1) == LG_ORDER_OK);
    CHECK(lg_room_log_observe(&log, &a, 2) == LG_ORDER_LATE); /* the false alarm */
    lg_acct_totals_t t = {0};
    t.out_of_order = 1;
    t.lost = 1;
    lg_acct_finish(&t);
    CHECK_INT(t.out_of_order, 0);
    CHECK_INT(t.order_unverified, 1);
    lg_acct_totals_t clean = {0};
    clean.out_of_order = 2;
    lg_acct_finish(&clean);
    CHECK_INT(clean.out_of_order, 2); /* without losses it stands */
    lg_room_log_free(&log);
}

static void test_deliver_and_tally(void)
{
    /* a room of 3 (users 0,1,2); user 0 sends seq 1..4; seq 3 is never acked */
    lg_room_log_t log;
    CHECK(lg_room_log_init(&log, 8));
    lg_msg_t msgs[4] = {{0, 3, LG_MSG_ACKED, 0}, {0, 3, LG_MSG_ACKED, 0},
                        {0, 3, LG_MSG_SENT, 0}, {0, 3, LG_MSG_ACKED, 0}};
    lg_seen_t seen[3] = {{0, 0}, {0, 0}, {0, 0}}; /* each recipient's window for user 0 */
    lg_room_pos_t pos[3] = {{0, 0}, {0, 0}, {0, 0}};
    lg_acct_totals_t t = {0};
    for (uint32_t r = 0; r < 3; r++)
        for (uint32_t seq = 1; seq <= 4; seq++) {
            if (r == 2 && seq == 2)
                continue; /* lost to recipient 2 */
            lg_acct_deliver(&t, &seen[r], &log, &pos[r], &msgs[seq - 1], 0, seq);
        }
    lg_acct_deliver(&t, &seen[1], &log, &pos[1], &msgs[0], 0, 1); /* a duplicate */
    lg_acct_deliver(&t, &seen[1], &log, &pos[1], NULL, 0, 9);     /* never sent */
    CHECK_INT(t.delivered, 11);
    CHECK_INT(t.duplicates, 1);
    CHECK_INT(t.unknown, 1);
    CHECK_INT(t.out_of_order, 0);
    lg_acct_tally(msgs, 4, &t);
    CHECK_INT(t.expected, 9);           /* 3 acked x 3 members */
    CHECK_INT(t.delivered_of_acked, 8); /* recipient 2 missed seq 2 */
    CHECK_INT(t.lost, 1);
    CHECK_INT(t.unacked_delivered, 3);  /* seq 3 arrived everywhere but was never acked */
    CHECK_INT(t.extra, 0);
    lg_room_log_free(&log);
}

static void test_frames(void)
{
    const char *msg = "{\"type\":\"msg\",\"room\":\"r1\",\"id\":\"019a\",\"user\":\"u\\\"x\","
                      "\"text\":\"123 4 5 abc\",\"ts\":1763892000123,\"cmid\":\"c5\"}";
    size_t len = strlen(msg);
    CHECK(lg_frame_type(msg, len) == LG_FRAME_MSG);
    const char *v;
    size_t vl;
    CHECK(lg_frame_str(msg, len, "text", &v, &vl));
    CHECK(vl == 11 && memcmp(v, "123 4 5 abc", 11) == 0);
    CHECK(!lg_frame_str(msg, len, "user", &v, &vl)); /* escaped: refused, not guessed */
    int64_t ts;
    CHECK(lg_frame_int(msg, len, "ts", &ts));
    CHECK(ts == 1763892000123ll);
    CHECK(!lg_frame_int(msg, len, "room", &ts));
    /* a key inside a string value is not a key */
    const char *tricky = "{\"message\":\"\\\"type\\\":\\\"msg\\\"\",\"type\" : \"error\",\"code\":\"rate_limited\",\"retry_after_ms\": 250}";
    CHECK(lg_frame_type(tricky, strlen(tricky)) == LG_FRAME_ERROR);
    CHECK(lg_frame_int(tricky, strlen(tricky), "retry_after_ms", &ts) && ts == 250);
    CHECK(lg_frame_type("{\"type\":\"ack\",\"cmid\":\"c1\"}", 26) == LG_FRAME_ACK);
    CHECK(lg_frame_type("{\"type\":\"joined\",\"room\":\"r\"}", 28) == LG_FRAME_JOINED);
    CHECK(lg_frame_type("{\"type\":\"ready\"}", 16) == LG_FRAME_READY);
    CHECK(lg_frame_type("{\"type\":\"weird\"}", 16) == LG_FRAME_OTHER);
    CHECK(lg_frame_type("{\"type\":\"ms", 11) == LG_FRAME_OTHER);
    CHECK(lg_frame_type("", 0) == LG_FRAME_OTHER);

    char text[256];
    size_t n = lg_text_encode(text, sizeof(text), 1234567890123ull, 42, 7, 100);
    CHECK_INT(n, 100);
    CHECK_INT(strlen(text), 100);
    uint64_t ns;
    uint32_t sender, seq;
    CHECK(lg_text_parse(text, n, &ns, &sender, &seq));
    CHECK(ns == 1234567890123ull && sender == 42 && seq == 7);
    n = lg_text_encode(text, sizeof(text), 1, 2, 3, 0); /* size below the header: header only */
    CHECK_STR(text, "1 2 3 ");
    CHECK(!lg_text_parse("12 x 3 ", 7, &ns, &sender, &seq));
    CHECK(!lg_text_parse("12 3", 4, &ns, &sender, &seq));
    CHECK(!lg_text_parse("1 99999999999 3 ", 16, &ns, &sender, &seq));
    CHECK_INT(lg_text_encode(text, 32, 1, 2, 3, 10), 0); /* too small a buffer */
}

int main(void)
{
    RUN(test_hist_buckets);
    RUN(test_hist_percentiles);
    RUN(test_seen_window);
    RUN(test_room_order);
    RUN(test_room_order_with_loss);
    RUN(test_deliver_and_tally);
    RUN(test_frames);
    CS_TEST_DONE();
}
