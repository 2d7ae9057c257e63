/*
 * The search library's request handling, without services: query-string decoding, every
 * parameter validated before anything is contacted (400), access control (403 for a room
 * outside the caller's rooms; nothing to find for a caller with no rooms), and a clear
 * 503 when no backend can answer.
 */
#include "cs_search.h"
#include "cs_test.h"

static void test_url_decode(void)
{
    char out[32];
    size_t n;
    CHECK(cs_url_decode("home%20work+due%2C", 18, out, sizeof(out), &n));
    CHECK_STR(out, "home work due,");
    CHECK_INT(n, 14);
    CHECK(cs_url_decode("%C3%A9", 6, out, sizeof(out), &n) && n == 2);
    CHECK(!cs_url_decode("%2", 2, out, sizeof(out), &n));
    CHECK(!cs_url_decode("%zz", 3, out, sizeof(out), &n));
    CHECK(!cs_url_decode("abc%", 4, out, sizeof(out), &n));
    CHECK(!cs_url_decode("0123456789012345678901234567890123456789", 40, out, sizeof(out), &n));
    CHECK(cs_url_decode("a%00b", 5, out, sizeof(out), &n) && n == 3); /* decoded; callers refuse NUL */
}

static int ask(cs_search_t *s, const char *user, const char *const *rooms, size_t n,
               const char *qs, cs_buf_t *out)
{
    cs_buf_reset(out);
    return cs_search_http(s, user, rooms, n, qs, out);
}

static void test_validation(void)
{
    cs_conf_t *conf = cs_conf_new("t", "t");
    cs_search_confs_t confs;
    cs_search_add_conf(conf, &confs);
    char err[256];
    const char *argv[] = {"t", "-X", "search.mode=fulltext", "-X",
                          "search.pg.dsn=host=127.0.0.1 port=1 dbname=x user=x", "-X",
                          "search.pg.connect.timeout.s=1"};
    CHECK_INT(cs_conf_load(conf, 7, (char **)argv, err, sizeof(err)), CS_CONF_RUN);
    cs_metrics_t *m = cs_metrics_new();
    cs_search_t *s = cs_search_new(&confs, m, err, sizeof(err));
    CHECK(s != NULL);
    if (!s)
        return;
    cs_buf_t out = CS_BUF_INIT;
    const char *rooms[] = {"math", "r0"};
    CHECK_INT(ask(s, "alice", rooms, 2, "room=math", &out), 400);
    CHECK_CONTAINS(out.data, "q is required");
    CHECK_INT(ask(s, "alice", rooms, 2, "q=", &out), 400);
    CHECK_INT(ask(s, "alice", rooms, 2, "q=a%00b", &out), 400);
    CHECK_INT(ask(s, "alice", rooms, 2, "q=a%01b", &out), 400);  /* control character */
    CHECK_INT(ask(s, "alice", rooms, 2, "q=%ff", &out), 400);    /* not UTF-8 */
    CHECK_INT(ask(s, "alice", rooms, 2, "q=x&q=y", &out), 400);  /* twice */
    CHECK_INT(ask(s, "alice", rooms, 2, "q=x&limit=0", &out), 400);
    CHECK_INT(ask(s, "alice", rooms, 2, "q=x&limit=101", &out), 400);
    CHECK_INT(ask(s, "alice", rooms, 2, "q=x&limit=5x", &out), 400);
    CHECK_INT(ask(s, "alice", rooms, 2, "q=x&room=a%20b", &out), 400);
    CHECK_INT(ask(s, "al ice", rooms, 2, "q=x", &out), 400);
    char longq[700] = "q=";
    memset(longq + 2, 'a', 513);
    CHECK_INT(ask(s, "alice", rooms, 2, longq, &out), 400);
    /* a room outside the claim: 403, before any backend is asked */
    CHECK_INT(ask(s, "alice", rooms, 2, "q=x&room=art", &out), 403);
    CHECK_CONTAINS(out.data, "\"error\":\"forbidden\"");
    /* no readable room: nothing to find */
    CHECK_INT(ask(s, "alice", rooms, 0, "q=x", &out), 200);
    CHECK_CONTAINS(out.data, "\"hits\":[]");
    /* valid, but PostgreSQL is not there: 503 that says so */
    CHECK_INT(ask(s, "alice", rooms, 2, "q=homework&room=math&limit=3&other=ignored", &out), 503);
    CHECK_CONTAINS(out.data, "\"error\":\"unavailable\"");
    CHECK_CONTAINS(out.data, "full-text");
    cs_buf_free(&out);
    cs_search_destroy(s);
    cs_metrics_destroy(m);
    cs_conf_destroy(conf);
}

int main(void)
{
    RUN(test_url_decode);
    RUN(test_validation);
    CS_TEST_DONE();
}
