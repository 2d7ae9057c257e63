/*
 * The gateway's recent fan-out records (ingest/gw_recent.c), which a service thread reads
 * when it starts a room so a catch-up covers what PostgreSQL does not have yet: a key's
 * records come back oldest first and only the key's (by bytes and length), each with the
 * number it was given; records older than max_ms and the oldest past max_bytes go; the
 * number returned covers every record added so far; chunk boundaries, records larger than
 * a chunk, and "off" keep all of that true.
 */
#include "cs_test.h"
#include "gw_recent.h"

#include <stdio.h>

typedef struct seen {
    int n;
    uint64_t seq[4096];
    char value[4096][32];
} seen_t;

static void collect(void *arg, uint64_t seq, const void *value, size_t len)
{
    seen_t *s = arg;
    if (s->n < 4096) {
        s->seq[s->n] = seq;
        snprintf(s->value[s->n], sizeof(s->value[0]), "%.*s", (int)len, (const char *)value);
    }
    s->n++;
}

static seen_t *each_max(gw_recent_t *r, const char *key, size_t len, size_t max, int64_t now,
                        uint64_t *last)
{
    static seen_t s;
    memset(&s, 0, sizeof(s));
    uint64_t l = gw_recent_each(r, key, len, max, now, collect, &s);
    if (last)
        *last = l;
    return &s;
}

static seen_t *each(gw_recent_t *r, const char *key, size_t len, int64_t now, uint64_t *last)
{
    return each_max(r, key, len, 100000, now, last);
}

static void test_keys(void)
{
    gw_recent_t *r = gw_recent_new(10000, 1 << 20);
    CHECK(r != NULL);
    uint64_t last = 99;
    CHECK_INT(each(r, "math", 4, 0, &last)->n, 0);
    CHECK_INT(last, 0);
    CHECK_INT(gw_recent_add(r, "math", 4, "m1", 2, 100), 1);
    CHECK_INT(gw_recent_add(r, "art", 3, "a1", 2, 101), 2);
    CHECK_INT(gw_recent_add(r, "mat", 3, "x1", 2, 102), 3);   /* a prefix */
    CHECK_INT(gw_recent_add(r, "maths", 5, "x2", 2, 103), 4); /* a longer key */
    CHECK_INT(gw_recent_add(r, "m\0th", 4, "x3", 2, 104), 5); /* a NUL inside */
    CHECK_INT(gw_recent_add(r, "math", 4, "m2", 2, 105), 6);
    CHECK_INT(gw_recent_add(r, "math", 4, "", 0, 106), 7);    /* an empty value */
    seen_t *s = each(r, "math", 4, 200, &last);
    CHECK_INT(last, 7);
    CHECK_INT(s->n, 3);
    CHECK_INT(s->seq[0], 1);
    CHECK_STR(s->value[0], "m1");
    CHECK_INT(s->seq[1], 6);
    CHECK_STR(s->value[1], "m2");
    CHECK_INT(s->seq[2], 7);
    CHECK_STR(s->value[2], "");
    s = each(r, "art", 3, 200, NULL);
    CHECK_INT(s->n, 1);
    CHECK_STR(s->value[0], "a1");
    CHECK_INT(each(r, "Math", 4, 200, NULL)->n, 0);
    CHECK_INT(each(r, "m\0th", 4, 200, NULL)->n, 1);
    gw_recent_stats_t st;
    gw_recent_stats(r, 200, &st);
    CHECK_INT(st.records, 7);
    CHECK_INT(st.span_ms, 100);
    CHECK(st.bytes >= 7 * 32);
    CHECK_INT(st.evicted_full, 0);
    CHECK_INT(st.rooms, 5);
    /* the newest 2 of math's 3, oldest first; none at all for max 0 */
    s = each_max(r, "math", 4, 2, 200, &last);
    CHECK_INT(s->n, 2);
    CHECK_INT(s->seq[0], 6);
    CHECK_INT(s->seq[1], 7);
    CHECK_INT(last, 7);
    CHECK_INT(each_max(r, "math", 4, 0, 200, &last)->n, 0);
    CHECK_INT(last, 7);
    gw_recent_destroy(r);
}

/* Rooms come and go with their records: 5,000 rooms over several doublings of the table,
 * each found with its own two, and none left once they aged out. */
static void test_rooms(void)
{
    gw_recent_t *r = gw_recent_new(1000, (size_t)64 << 20);
    char key[32], v[32];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 5000; i++) {
            int k = snprintf(key, sizeof(key), "room-%d", i);
            int n = snprintf(v, sizeof(v), "%d/%d", i, round);
            gw_recent_add(r, key, (size_t)k, v, (size_t)n, 100 + round);
        }
    gw_recent_stats_t st;
    gw_recent_stats(r, 101, &st);
    CHECK_INT(st.rooms, 5000);
    CHECK_INT(st.records, 10000);
    bool all = true;
    for (int i = 0; i < 5000; i++) {
        int k = snprintf(key, sizeof(key), "room-%d", i);
        seen_t *s = each(r, key, (size_t)k, 101, NULL);
        char want0[32], want1[32];
        snprintf(want0, sizeof(want0), "%d/0", i);
        snprintf(want1, sizeof(want1), "%d/1", i);
        all = all && s->n == 2 && strcmp(s->value[0], want0) == 0 &&
              strcmp(s->value[1], want1) == 0 && s->seq[0] == (uint64_t)i + 1 &&
              s->seq[1] == (uint64_t)i + 5001;
    }
    CHECK(all);
    /* round 0 ages out: every room keeps its round-1 record, and only that */
    gw_recent_expire(r, 1100 + 1);
    gw_recent_stats(r, 1101, &st);
    CHECK_INT(st.rooms, 5000);
    CHECK_INT(st.records, 5000);
    seen_t *s = each(r, "room-42", 7, 1101, NULL);
    CHECK_INT(s->n, 1);
    CHECK_STR(s->value[0], "42/1");
    gw_recent_expire(r, 1102);
    gw_recent_stats(r, 1102, &st);
    CHECK_INT(st.rooms, 0);
    CHECK_INT(st.records, 0);
    CHECK_INT(each(r, "room-42", 7, 1102, NULL)->n, 0);
    gw_recent_destroy(r);
}

static void test_age(void)
{
    gw_recent_t *r = gw_recent_new(1000, 1 << 20);
    for (int i = 0; i < 10; i++)
        gw_recent_add(r, "math", 4, "m", 1, 1000 + i * 200); /* 1000 .. 2800 */
    /* at 3000, what is older than 2000 is gone: 2000, 2200, ... 2800 stay */
    seen_t *s = each(r, "math", 4, 3000, NULL);
    CHECK_INT(s->n, 5);
    CHECK_INT(s->seq[0], 6);
    gw_recent_stats_t st;
    gw_recent_stats(r, 3000, &st);
    CHECK_INT(st.records, 5);
    CHECK_INT(st.span_ms, 1000);
    CHECK_INT(st.evicted_full, 0);
    gw_recent_expire(r, 10000); /* no record came: the Kafka thread's tick */
    gw_recent_stats(r, 10000, &st);
    CHECK_INT(st.records, 0);
    CHECK_INT(st.bytes, 0);
    CHECK_INT(st.span_ms, 0);
    uint64_t last;
    CHECK_INT(each(r, "math", 4, 10000, &last)->n, 0);
    CHECK_INT(last, 10); /* the numbers go on */
    CHECK_INT(gw_recent_add(r, "math", 4, "again", 5, 10001), 11);
    s = each(r, "math", 4, 10002, NULL);
    CHECK_INT(s->n, 1);
    CHECK_STR(s->value[0], "again");
    gw_recent_destroy(r);
}

/* Records read at start come partition batch by partition batch, so an older record can be
 * added after a younger one; it must not outlive max_ms for standing behind it. */
static void test_age_out_of_order(void)
{
    gw_recent_t *r = gw_recent_new(1000, 1 << 20);
    gw_recent_add(r, "art", 3, "a-young", 7, 5000);  /* partition 1's batch first */
    gw_recent_add(r, "math", 4, "m-old", 5, 4200);   /* then partition 0's, older */
    gw_recent_add(r, "math", 4, "m-young", 7, 4900);
    /* at 5100 the cutoff is 4100: all three are young enough */
    CHECK_INT(each(r, "math", 4, 5100, NULL)->n, 2);
    /* at 5500 the cutoff is 4500: "m-old" is too old though the head ("a-young") is not */
    seen_t *s = each(r, "math", 4, 5500, NULL);
    CHECK_INT(s->n, 1);
    CHECK_STR(s->value[0], "m-young");
    CHECK_INT(s->seq[0], 3);
    /* and `max` counts only the records handed out */
    s = each_max(r, "math", 4, 1, 5500, NULL);
    CHECK_INT(s->n, 1);
    CHECK_STR(s->value[0], "m-young");
    CHECK_INT(each(r, "art", 3, 5500, NULL)->n, 1);
    CHECK_INT(each(r, "math", 4, 6000, NULL)->n, 0);
    gw_recent_destroy(r);
}

static void test_bytes(void)
{
    /* room for ~10 records of ~100 bytes: the oldest go first, counted */
    gw_recent_t *r = gw_recent_new(60000, 1000);
    char v[64];
    memset(v, 'v', sizeof(v));
    for (int i = 0; i < 50; i++)
        gw_recent_add(r, i % 2 ? "art" : "math", i % 2 ? 3 : 4, v, sizeof(v), 1000);
    gw_recent_stats_t st;
    gw_recent_stats(r, 1000, &st);
    CHECK(st.bytes <= 1000 && st.bytes + 128 > 1000); /* full: one more would not fit */
    CHECK(st.records >= 7);
    CHECK_INT(st.evicted_full, 50 - (long long)st.records);
    uint64_t last;
    seen_t *m = each(r, "math", 4, 1000, &last);
    CHECK_INT(last, 50);
    CHECK(m->n >= 4);
    CHECK_INT(m->seq[m->n - 1], 49); /* the newest math record (numbers 1, 3, ... 49) */
    for (int i = 1; i < m->n; i++)
        CHECK_INT(m->seq[i] - m->seq[i - 1], 2);
    /* a record larger than max_bytes is not kept, yet numbered */
    char big[2000];
    memset(big, 'b', sizeof(big));
    CHECK_INT(gw_recent_add(r, "math", 4, big, sizeof(big), 1001), 51);
    CHECK_INT(each(r, "math", 4, 1001, NULL)->seq[m->n - 1], 49);
    gw_recent_destroy(r);
}

/* Many records over many chunks, with records larger than a chunk among them. */
static void test_chunks(void)
{
    enum { N = 20000 };
    gw_recent_t *r = gw_recent_new(1000000, (size_t)64 << 20);
    static char v[300 * 1024];
    memset(v, 'x', sizeof(v));
    int math = 0;
    for (int i = 0; i < N; i++) {
        char key[16];
        int k = snprintf(key, sizeof(key), "room-%d", i % 7);
        size_t len = i == 5000 || i == 12345 ? sizeof(v) : (size_t)(40 + i % 400);
        if (i % 7 == 3) {
            char head[16];
            int h = snprintf(head, sizeof(head), "%08d", i);
            memcpy(v, head, (size_t)h);
            math++;
        }
        CHECK_INT(gw_recent_add(r, key, (size_t)k, v, len, 5), (uint64_t)i + 1);
    }
    seen_t *s = each(r, "room-3", 6, 5, NULL);
    CHECK_INT(s->n, math);
    bool ordered = true, values = true;
    for (int i = 0; i < s->n && i < 4096; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%08d", (int)s->seq[i] - 1);
        values = values && memcmp(s->value[i], want, 8) == 0;
        ordered = ordered && (i == 0 || s->seq[i] > s->seq[i - 1]);
    }
    CHECK(ordered);
    CHECK(values);
    gw_recent_stats_t st;
    gw_recent_stats(r, 5, &st);
    CHECK_INT(st.records, N);
    CHECK_INT(st.evicted_full, 0);
    /* all of it ages out at once, then the store is used again */
    gw_recent_expire(r, 2000000);
    gw_recent_stats(r, 2000000, &st);
    CHECK_INT(st.records, 0);
    CHECK_INT(st.bytes, 0);
    CHECK_INT(gw_recent_add(r, "room-3", 6, v, sizeof(v), 2000000), N + 1);
    CHECK_INT(gw_recent_add(r, "room-3", 6, "tail", 4, 2000000), N + 2);
    s = each(r, "room-3", 6, 2000000, NULL);
    CHECK_INT(s->n, 2);
    CHECK_STR(s->value[1], "tail");
    gw_recent_destroy(r);
}

static void test_off(void)
{
    gw_recent_t *r = gw_recent_new(0, 1 << 20);
    CHECK_INT(gw_recent_add(r, "math", 4, "m1", 2, 100), 1);
    CHECK_INT(gw_recent_add(r, "math", 4, "m2", 2, 100), 2);
    uint64_t last;
    CHECK_INT(each(r, "math", 4, 100, &last)->n, 0);
    CHECK_INT(last, 2);
    gw_recent_stats_t st;
    gw_recent_stats(r, 100, &st);
    CHECK_INT(st.records, 0);
    gw_recent_destroy(r);
    gw_recent_destroy(NULL);
}

int main(void)
{
    RUN(test_keys);
    RUN(test_rooms);
    RUN(test_age);
    RUN(test_age_out_of_order);
    RUN(test_bytes);
    RUN(test_chunks);
    RUN(test_off);
    CS_TEST_DONE();
}
