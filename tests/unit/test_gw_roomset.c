/*
 * The gateway's set of rooms its loops keep (ingest/gw_roomset.c), which decides whether a
 * fan-out record is decoded and which loops get it: a loop per bit, the room gone with the
 * last loop (and only then), keys compared by their bytes and length (a Kafka key is not
 * NUL-terminated), the count gauge following, and growth past the first buckets keeping
 * every room findable.
 */
#include "cs_test.h"
#include "gw_roomset.h"

#include <stdio.h>

static void test_loops(void)
{
    cs_metrics_t *m = cs_metrics_new();
    cs_gauge_t *g = cs_metrics_gauge(m, "rooms", NULL, "rooms");
    gw_roomset_t *set = gw_roomset_new(g);
    CHECK(set != NULL);
    CHECK_INT(gw_roomset_loops(set, "math", 4), 0);
    CHECK(gw_roomset_hold(set, "math", 0));
    CHECK(gw_roomset_hold(set, "math", 3));
    CHECK(gw_roomset_hold(set, "math", 3)); /* twice by one loop: still one bit */
    CHECK(gw_roomset_hold(set, "art", 1));
    CHECK_INT(gw_roomset_loops(set, "math", 4), 0x9);
    CHECK_INT(gw_roomset_loops(set, "art", 3), 0x2);
    CHECK_INT(gw_roomset_count(set), 2);
    CHECK_INT(cs_gauge_value(g), 2);
    gw_roomset_release(set, "math", 0);
    CHECK_INT(gw_roomset_loops(set, "math", 4), 0x8);
    CHECK_INT(gw_roomset_count(set), 2);
    gw_roomset_release(set, "math", 1); /* a loop that never held it: nothing changes */
    CHECK_INT(gw_roomset_loops(set, "math", 4), 0x8);
    gw_roomset_release(set, "math", 3);
    CHECK_INT(gw_roomset_loops(set, "math", 4), 0);
    CHECK_INT(gw_roomset_count(set), 1);
    CHECK_INT(cs_gauge_value(g), 1);
    gw_roomset_release(set, "nowhere", 0); /* unknown: nothing changes */
    CHECK_INT(gw_roomset_count(set), 1);
    CHECK(gw_roomset_hold(set, "math", 31)); /* the highest loop bit */
    CHECK_INT(gw_roomset_loops(set, "math", 4), 0x80000000u);
    gw_roomset_destroy(set);
    cs_metrics_destroy(m);
}

/* A key is `len` bytes: a prefix, a longer key, or one with a NUL inside is another room. */
static void test_keys_by_length(void)
{
    gw_roomset_t *set = gw_roomset_new(NULL);
    CHECK(gw_roomset_hold(set, "math", 0));
    const char key[] = "math-101";
    CHECK_INT(gw_roomset_loops(set, key, 4), 0x1);
    CHECK_INT(gw_roomset_loops(set, key, 3), 0);
    CHECK_INT(gw_roomset_loops(set, key, 8), 0);
    CHECK_INT(gw_roomset_loops(set, "math\0", 5), 0);
    CHECK_INT(gw_roomset_loops(set, "", 0), 0);
    CHECK_INT(gw_roomset_loops(set, "MATH", 4), 0);
    gw_roomset_destroy(set);
}

/* 20,000 rooms (past twice the 1,024 first buckets, so the table doubles several times):
 * each found with its loop, none found after its release. */
static void test_growth(void)
{
    gw_roomset_t *set = gw_roomset_new(NULL);
    char name[32];
    int held = 0, found = 0, gone = 0;
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof(name), "room-%d", i);
        held += gw_roomset_hold(set, name, i % 16);
    }
    CHECK_INT(held, 20000);
    CHECK_INT(gw_roomset_count(set), 20000);
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof(name), "room-%d", i);
        found += gw_roomset_loops(set, name, strlen(name)) == (1u << (i % 16));
    }
    CHECK_INT(found, 20000);
    for (int i = 0; i < 20000; i += 2) {
        snprintf(name, sizeof(name), "room-%d", i);
        gw_roomset_release(set, name, i % 16);
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof(name), "room-%d", i);
        gone += gw_roomset_loops(set, name, strlen(name)) == 0;
    }
    CHECK_INT(gone, 10000);
    CHECK_INT(gw_roomset_count(set), 10000);
    gw_roomset_destroy(set);
}

int main(void)
{
    RUN(test_loops);
    RUN(test_keys_by_length);
    RUN(test_growth);
    CS_TEST_DONE();
}
