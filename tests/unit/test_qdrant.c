/*
 * The Qdrant client's pure parts: jump consistent hash (values agreed with the Python
 * implementation in tests/integration/semantic_check.py, the range, balance, and the
 * property that makes resharding cheap: growing n -> n+1 moves keys only into the new
 * shard), float formatting that round-trips, and the parsers of Qdrant's answers.
 */
#include "cs_embedder.h"
#include "cs_jsonc.h"
#include "cs_qdrant.h"
#include "cs_rand.h"
#include "cs_test.h"

#include <math.h>
#include <stdlib.h>

static void test_jump_values(void)
{
    static const struct { uint64_t key; int want[6]; } v[] = {
        /* buckets:                1  2  3  5  10  64   (semantic_check.py jump KEY N) */
        {0x0ULL,                  {0, 0, 0, 0, 0, 0}},
        {0x1ULL,                  {0, 0, 0, 0, 6, 55}},
        {0x2ULL,                  {0, 0, 0, 3, 6, 62}},
        {0xdeadbeefULL,           {0, 1, 2, 3, 5, 16}},
        {0xab54a98ceb1f0ad2ULL,   {0, 0, 0, 0, 8, 49}},
        {0x508b2abb65a03907ULL,   {0, 0, 0, 4, 4, 4}},  /* fnv1a64("alice") */
        {0x4d2f65193e88405aULL,   {0, 0, 0, 0, 0, 15}}, /* fnv1a64("u42") */
    };
    static const uint32_t n[6] = {1, 2, 3, 5, 10, 64};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        for (int j = 0; j < 6; j++)
            CHECK_INT(cs_jump_hash(v[i].key, n[j]), v[i].want[j]);
    CHECK(cs_fnv1a64("alice", 5) == 0x508b2abb65a03907ULL);
}

static void test_jump_properties(void)
{
    enum { KEYS = 20000 };
    int count[10] = {0};
    int moved_wrongly = 0, moved = 0;
    for (int i = 0; i < KEYS; i++) {
        char user[32];
        int len = snprintf(user, sizeof(user), "u%d", i);
        uint64_t k = cs_fnv1a64(user, (size_t)len);
        uint32_t b9 = cs_jump_hash(k, 9), b10 = cs_jump_hash(k, 10);
        CHECK(b9 < 9 && b10 < 10);
        count[b10]++;
        if (b9 != b10) {
            moved++;
            if (b10 != 9) /* a key may only move into the new bucket */
                moved_wrongly++;
        }
    }
    CHECK_INT(moved_wrongly, 0);
    /* about 1/10 of the keys move when going from 9 to 10 shards */
    CHECK(moved > KEYS / 10 * 8 / 10 && moved < KEYS / 10 * 12 / 10);
    for (int b = 0; b < 10; b++) /* balanced within 10 % */
        CHECK(count[b] > KEYS / 10 * 9 / 10 && count[b] < KEYS / 10 * 11 / 10);
}

static void test_float_json(void)
{
    for (int i = 0; i < 20000; i++) {
        uint32_t bits;
        float f;
        do {
            bits = (uint32_t)cs_rand_u64();
            memcpy(&f, &bits, 4);
        } while (!isfinite(f));
        cs_buf_t b = CS_BUF_INIT;
        cs_json_put_float(&b, f);
        float back = strtof(b.data, NULL);
        if (memcmp(&back, &f, 4) != 0 && !(f == 0 && back == 0)) {
            fprintf(stderr, "  %.9g printed as %s\n", (double)f, b.data);
            CHECK(0);
            cs_buf_free(&b);
            break;
        }
        CHECK(strspn(b.data, "0123456789.-+e") == b.len); /* a JSON number, nothing else */
        cs_buf_free(&b);
    }
}

static void test_parse_hits(void)
{
    const char *query = "{\"result\":{\"points\":["
                        "{\"id\":\"019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f\",\"version\":3,\"score\":0.87,"
                        "\"payload\":{\"room\":\"math\",\"user\":\"bob\",\"ts\":1763892000123,"
                        "\"text\":\"Is the homework due Friday?\"}}]},\"status\":\"ok\",\"time\":0.002}";
    cs_qdrant_hits_t hits = {0};
    char err[200];
    CHECK_INT(cs_qdrant_parse_hits(query, strlen(query), true, 1, &hits, err, sizeof(err)),
              CS_ERR_OK);
    CHECK_INT(hits.n, 1);
    if (hits.n == 1) {
        CHECK_STR(hits.hits[0].id, "019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f");
        CHECK_STR(hits.hits[0].room, "math");
        CHECK_STR(hits.hits[0].text, "Is the homework due Friday?");
        CHECK_INT(hits.hits[0].ts, 1763892000123LL);
        CHECK_INT(hits.hits[0].shard, 1);
        CHECK(fabs(hits.hits[0].score - 0.87) < 1e-9);
    }
    /* the same answer shaped as /points/search */
    const char *search = "{\"result\":[{\"id\":\"019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f\",\"version\":3,"
                         "\"score\":1,\"payload\":{\"room\":\"r\",\"user\":\"u\",\"ts\":1,"
                         "\"text\":\"t\"}}],\"status\":\"ok\",\"time\":0.1}";
    CHECK_INT(cs_qdrant_parse_hits(search, strlen(search), false, 0, &hits, err, sizeof(err)),
              CS_ERR_OK);
    CHECK_INT(hits.n, 2); /* appended */
    /* and the wrong shape for the API */
    CHECK(cs_qdrant_parse_hits(search, strlen(search), true, 0, &hits, err, sizeof(err)) != CS_ERR_OK);
    CHECK(cs_qdrant_parse_hits(query, strlen(query), false, 0, &hits, err, sizeof(err)) != CS_ERR_OK);
    CHECK_INT(hits.n, 2);
    cs_qdrant_hits_free(&hits);
    CHECK(hits.hits == NULL && hits.n == 0);

    static const char *const bad[] = {
        /* integer id, missing text, text too long is checked below, room with a space, NaN-ish */
        "{\"result\":[{\"id\":7,\"score\":1,\"payload\":{\"room\":\"r\",\"user\":\"u\",\"ts\":1,\"text\":\"t\"}}],\"status\":\"ok\"}",
        "{\"result\":[{\"id\":\"019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f\",\"score\":1,\"payload\":{\"room\":\"r\",\"user\":\"u\",\"ts\":1}}],\"status\":\"ok\"}",
        "{\"result\":[{\"id\":\"019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f\",\"score\":1,\"payload\":{\"room\":\"a b\",\"user\":\"u\",\"ts\":1,\"text\":\"t\"}}],\"status\":\"ok\"}",
        "{\"result\":[{\"id\":\"019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f\",\"score\":\"1\",\"payload\":{\"room\":\"r\",\"user\":\"u\",\"ts\":1,\"text\":\"t\"}}],\"status\":\"ok\"}",
        "{\"result\":[{\"id\":\"019A7C3E-5F2B-7C1D-9A4E-3B2F1C0D9E8F\",\"score\":1,\"payload\":{\"room\":\"r\",\"user\":\"u\",\"ts\":1,\"text\":\"t\"}}],\"status\":\"ok\"}",
        "{\"result\":[{\"id\":\"019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f\",\"score\":1,\"payload\":{\"room\":\"r\",\"user\":\"u\",\"ts\":1,\"text\":\"t\\u0000x\"}}],\"status\":\"ok\"}",
        "{\"result\":[],\"status\":{\"error\":\"boom\"}}",
        "{\"result\":[]} {}",
        "{\"result\":[],\"status\":\"ok\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cs_err_t rc = cs_qdrant_parse_hits(bad[i], strlen(bad[i]), false, 0, &hits, err, sizeof(err));
        if (rc == CS_ERR_OK)
            fprintf(stderr, "  accepted bad answer %zu\n", i);
        CHECK(rc != CS_ERR_OK);
        CHECK_INT(hits.n, 0); /* nothing half-parsed is kept... */
        cs_qdrant_hits_free(&hits);
    }
}

static void test_parse_update_collection(void)
{
    char err[200];
    const char *done = "{\"result\":{\"operation_id\":5,\"status\":\"completed\"},\"status\":\"ok\",\"time\":0.01}";
    const char *ack = "{\"result\":{\"operation_id\":5,\"status\":\"acknowledged\"},\"status\":\"ok\",\"time\":0.01}";
    const char *fail = "{\"status\":{\"error\":\"Wrong input: Vector dimension error: expected dim: 4, got 3\"},\"time\":0.0}";
    CHECK_INT(cs_qdrant_parse_update(done, strlen(done), err, sizeof(err)), CS_ERR_OK);
    CHECK(cs_qdrant_parse_update(ack, strlen(ack), err, sizeof(err)) != CS_ERR_OK);
    CHECK_CONTAINS(err, "acknowledged");
    CHECK(cs_qdrant_parse_update(fail, strlen(fail), err, sizeof(err)) != CS_ERR_OK);
    char msg[200];
    CHECK(cs_qdrant_parse_error(fail, strlen(fail), msg, sizeof(msg)));
    CHECK_STR(msg, "Wrong input: Vector dimension error: expected dim: 4, got 3");
    CHECK(!cs_qdrant_parse_error(done, strlen(done), msg, sizeof(msg)));

    const char *info = "{\"result\":{\"status\":\"green\",\"points_count\":3,\"config\":{\"params\":"
                       "{\"vectors\":{\"size\":1024,\"distance\":\"Cosine\"}}},\"payload_schema\":"
                       "{\"room\":{\"data_type\":\"keyword\",\"points\":3},\"ts\":{\"data_type\":\"integer\"}}},"
                       "\"status\":\"ok\",\"time\":0.0}";
    uint32_t dim;
    int idx;
    CHECK_INT(cs_qdrant_parse_collection(info, strlen(info), &dim, &idx, err, sizeof(err)), CS_ERR_OK);
    CHECK_INT(dim, 1024);
    CHECK_INT(idx, 1 | 4); /* room and ts, not user */
    const char *named = "{\"result\":{\"config\":{\"params\":{\"vectors\":{\"text\":{\"size\":4,"
                        "\"distance\":\"Cosine\"}}}}},\"status\":\"ok\"}";
    CHECK(cs_qdrant_parse_collection(named, strlen(named), &dim, &idx, err, sizeof(err)) != CS_ERR_OK);
    CHECK_CONTAINS(err, "unnamed");
}

static void test_jsonc(void)
{
    char err[128];
    struct json_object *o = cs_jsonc_parse("{\"a\":1}  \n", 10, 8, err, sizeof(err));
    CHECK(o != NULL);
    CHECK(cs_jsonc_get(o, "a", json_type_int) != NULL);
    CHECK(cs_jsonc_get(o, "a", json_type_string) == NULL); /* no coercion */
    json_object_put(o);
    CHECK(cs_jsonc_parse("{\"a\":1} {\"b\":2}", 15, 8, err, sizeof(err)) == NULL);
    CHECK(cs_jsonc_parse("{\"a\":\"\xc3\x28\"}", 10, 8, err, sizeof(err)) == NULL); /* bad UTF-8 */
    CHECK(cs_jsonc_parse("{'a':1}", 7, 8, err, sizeof(err)) == NULL);             /* strict */
    CHECK(cs_jsonc_parse("[[[[[[[[[[1]]]]]]]]]]", 21, 8, err, sizeof(err)) == NULL); /* depth */
}

static void test_config(void)
{
    cs_qdrant_conf_t c = {.urls = "http://a:1, http://b:2/ ,https://c:3", .collection = "chat_messages",
                          .api_key_env = "", .api_key_file = "", .connect_timeout_ms = 100,
                          .timeout_ms = 100, .response_max_bytes = 1024, .upsert_points = 10,
                          .inflight = 2, .create = true, .search_api = "query"};
    cs_metrics_t *m = cs_metrics_new();
    char err[256];
    cs_qdrant_t *q = cs_qdrant_new(&c, m, "t", err, sizeof(err));
    CHECK(q != NULL);
    if (q) {
        CHECK_INT(cs_qdrant_nshards(q), 3);
        CHECK_STR(cs_qdrant_shard_url(q, 1), "http://b:2");
        CHECK_INT(cs_qdrant_shard_of(q, "alice", 5), cs_jump_hash(0x508b2abb65a03907ULL, 3));
        cs_qdrant_destroy(q);
    }
    c.urls = "http://a:1,,http://b:2";
    CHECK(cs_qdrant_new(&c, m, "t", err, sizeof(err)) == NULL);
    c.urls = "a:1";
    CHECK(cs_qdrant_new(&c, m, "t", err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "http://");
    c.urls = "http://a:1";
    c.collection = "bad/name";
    CHECK(cs_qdrant_new(&c, m, "t", err, sizeof(err)) == NULL);
    c.collection = "ok";
    c.search_api = "scroll";
    CHECK(cs_qdrant_new(&c, m, "t", err, sizeof(err)) == NULL);
    cs_metrics_destroy(m);
}

int main(void)
{
    RUN(test_jump_values);
    RUN(test_jump_properties);
    RUN(test_float_json);
    RUN(test_parse_hits);
    RUN(test_parse_update_collection);
    RUN(test_jsonc);
    RUN(test_config);
    CS_TEST_DONE();
}
