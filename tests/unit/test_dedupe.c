/*
 * The client-retry window (core/cs_dedupe.c): SipHash against the
 * reference vectors, the rule's edges (count, time, chains, other users), memory bounds,
 * agreement with a brute-force model over a long random stream (exercises the hash table's
 * deletions and growth), and the property fan-out's crash recovery rests on: a window
 * rebuilt from only the last max_records records decides exactly like one that saw
 * everything.
 */
#include "cs_dedupe.h"
#include "cs_test.h"

#include <stdint.h>
#include <stdlib.h>

static const uint8_t key_ref[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t key_any[16] = {42, 7, 1, 99, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 1, 2};

static void test_siphash_vectors(void)
{
    uint8_t msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    /* From the SipHash paper's reference implementation (key 00..0f, message 00..n-1). */
    CHECK(cs_siphash64(key_ref, msg, 0) == 0x726fdb47dd0e0e31ULL);
    CHECK(cs_siphash64(key_ref, msg, 1) == 0x74f839c593dc67fdULL);
    CHECK(cs_siphash64(key_ref, msg, 15) == 0xa129ca6149be45e5ULL); /* the paper's example */
    uint64_t h[2];
    cs_siphash128(key_ref, msg, 0, h);
    /* bytes a3 81 7f 04 ba 25 a8 e6 | 6d f6 72 14 c7 55 02 93, little-endian words */
    CHECK(h[0] == 0xe6a825ba047f81a3ULL);
    CHECK(h[1] == 0x930255c71472f66dULL);
}

static bool obs(cs_dedupe_t *d, const char *user, const char *cmid, int64_t ts, int64_t off)
{
    return cs_dedupe_observe(d, user, strlen(user), cmid, strlen(cmid), ts, off);
}

static void test_rule_edges(void)
{
    cs_dedupe_t *d = cs_dedupe_new(100, 60000, key_any);
    CHECK(!obs(d, "alice", "c1", 1000, 0));
    CHECK(obs(d, "alice", "c1", 2000, 1));        /* a retry */
    CHECK(!obs(d, "bob", "c1", 2000, 2));         /* same cmid, other user */
    CHECK(!obs(d, "alice", "c2", 2000, 3));       /* same user, other cmid */
    CHECK(!obs(d, "ali", "cec1", 2000, 4));       /* same concatenation, other split */
    /* count: the previous sighting must be at most 100 offsets back */
    CHECK(!obs(d, "carol", "x", 3000, 10));
    CHECK(obs(d, "carol", "x", 3001, 110));       /* exactly 100 back: retry */
    CHECK(!obs(d, "dave", "y", 3000, 200));
    CHECK(!obs(d, "dave", "y", 3001, 301));       /* 101 back: a new message */
    /* time: at most 60 s older */
    CHECK(!obs(d, "erin", "z", 100000, 302));
    CHECK(obs(d, "erin", "z", 160000, 303));      /* exactly 60 s: retry (refreshes) */
    CHECK(obs(d, "erin", "z", 220000, 304));      /* 60 s after the retry: still */
    CHECK(!obs(d, "erin", "z", 280001, 305));     /* 60.001 s after the last sighting */
    /* an offset going back (a replay) starts over */
    CHECK(!obs(d, "alice", "c2", 2000, 3));
    CHECK_INT(cs_dedupe_entries(d), 1);
    cs_dedupe_clear(d);
    CHECK_INT(cs_dedupe_entries(d), 0);
    CHECK(!obs(d, "erin", "z", 280001, 400));
    cs_dedupe_destroy(d);
}

static void test_memory_bounds(void)
{
    const int64_t k = 100000;
    cs_dedupe_t *d = cs_dedupe_new(k, 3600000, key_any);
    CHECK_INT(cs_dedupe_span_ms(d), 0);
    size_t small = cs_dedupe_bytes(d);
    CHECK(small < 64 * 1024); /* starts small, grows on demand */
    char user[32], cmid[32];
    for (int64_t i = 0; i < 3 * k; i++) {
        snprintf(user, sizeof(user), "u%lld", (long long)(i % 977));
        snprintf(cmid, sizeof(cmid), "m%lld", (long long)i);
        obs(d, user, cmid, 1000 + i, i);
    }
    CHECK(cs_dedupe_entries(d) <= (size_t)k + 1);
    CHECK(cs_dedupe_entries(d) >= (size_t)k);
    /* ts rose by 1 ms a record: the window reaches back over its k (or k + 1) entries */
    CHECK(cs_dedupe_span_ms(d) >= k - 1 && cs_dedupe_span_ms(d) <= k);
    /* 40 bytes per slot of the next power of two above k (131072): 5.25 MB. */
    CHECK(cs_dedupe_bytes(d) <= 131072 * 40 + 1024);
    fprintf(stderr, "  window of %lld records: %zu entries, %zu bytes (%.1f bytes/entry)\n",
            (long long)k, cs_dedupe_entries(d), cs_dedupe_bytes(d),
            (double)cs_dedupe_bytes(d) / (double)cs_dedupe_entries(d));
    /* age: one record far newer evicts everything older than window + skew */
    obs(d, "late", "m", 1000 + 3 * k + 3600000 + CS_DEDUPE_SKEW_MS + 1000, 3 * k);
    CHECK_INT(cs_dedupe_entries(d), 1);
    CHECK_INT(cs_dedupe_span_ms(d), 0);
    cs_dedupe_destroy(d);
}

/* A random stream with retries at random distances, some inside and some outside the
 * window, timestamps rising with jitter well under the skew allowance. */
typedef struct {
    int user, cmid;
    int64_t ts;
} rec_t;

static rec_t *stream(size_t n, unsigned seed)
{
    rec_t *r = malloc(n * sizeof(*r));
    srand(seed);
    int64_t ts = 1000000;
    for (size_t i = 0; i < n; i++) {
        ts += rand() % 40;
        r[i].ts = ts + rand() % 2000 - 1000; /* gateways' clocks a second apart */
        if (i > 0 && rand() % 4 == 0) {      /* a retry of something recent-ish */
            size_t back = 1 + (size_t)(rand() % 1500);
            size_t j = back > i ? 0 : i - back;
            r[i].user = r[j].user;
            r[i].cmid = r[j].cmid;
        } else {
            r[i].user = rand() % 300;
            r[i].cmid = (int)i;
        }
    }
    return r;
}

static bool observe_rec(cs_dedupe_t *d, const rec_t *r, int64_t off)
{
    char user[16], cmid[16];
    snprintf(user, sizeof(user), "u%d", r->user);
    snprintf(cmid, sizeof(cmid), "c%d", r->cmid);
    return obs(d, user, cmid, r->ts, off);
}

static void test_matches_brute_force_model(void)
{
    const size_t n = 60000;
    const int64_t k = 1000, w = 20000;
    rec_t *r = stream(n, 7);
    cs_dedupe_t *d = cs_dedupe_new(k, w, key_any);
    size_t mismatches = 0, retries = 0;
    for (size_t i = 0; i < n; i++) {
        bool want = false;
        for (size_t j = i; j-- > 0 && (int64_t)(i - j) <= k;) {
            if (r[j].user == r[i].user && r[j].cmid == r[i].cmid) {
                want = r[i].ts - r[j].ts <= w; /* the most recent earlier sighting decides */
                break;
            }
        }
        bool got = observe_rec(d, &r[i], (int64_t)i);
        mismatches += got != want;
        retries += got;
    }
    CHECK_INT(mismatches, 0);
    CHECK(retries > n / 10); /* the stream did exercise the rule */
    CHECK(retries < n / 3);
    cs_dedupe_destroy(d);
    free(r);
}

static void test_rebuild_from_last_k_decides_the_same(void)
{
    const size_t n = 40000;
    const int64_t k = 2000, w = 30000;
    rec_t *r = stream(n, 11);
    cs_dedupe_t *whole = cs_dedupe_new(k, w, key_any);
    bool *want = malloc(n * sizeof(*want));
    for (size_t i = 0; i < n; i++)
        want[i] = observe_rec(whole, &r[i], (int64_t)i);
    size_t cuts[] = {1, 1999, 2000, 2001, 12345, 30000};
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        size_t x = cuts[c];
        /* A new owner: replays [x - k, x) without deciding, then carries on from x. */
        cs_dedupe_t *d = cs_dedupe_new(k, w, key_any);
        for (size_t i = x > (size_t)k ? x - (size_t)k : 0; i < x; i++)
            observe_rec(d, &r[i], (int64_t)i);
        size_t diff = 0;
        for (size_t i = x; i < n; i++)
            diff += observe_rec(d, &r[i], (int64_t)i) != want[i];
        CHECK_INT(diff, 0);
        cs_dedupe_destroy(d);
    }
    /* And a rebuild from fewer records than that does differ: the test can tell. */
    cs_dedupe_t *short_window = cs_dedupe_new(k, w, key_any);
    size_t x = 12345, diff = 0;
    for (size_t i = x - 200; i < x; i++)
        observe_rec(short_window, &r[i], (int64_t)i);
    for (size_t i = x; i < n; i++)
        diff += observe_rec(short_window, &r[i], (int64_t)i) != want[i];
    CHECK(diff > 0);
    cs_dedupe_destroy(short_window);
    cs_dedupe_destroy(whole);
    free(want);
    free(r);
}

int main(void)
{
    RUN(test_siphash_vectors);
    RUN(test_rule_edges);
    RUN(test_memory_bounds);
    RUN(test_matches_brute_force_model);
    RUN(test_rebuild_from_last_k_decides_the_same);
    CS_TEST_DONE();
}
