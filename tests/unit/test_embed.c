/*
 * The embeddings providers' pure parts: the lexical hash embedder (deterministic, L2 norm
 * 1, the same vectors as the Python double that stands in for an OpenAI-compatible server),
 * FNV-1a 64, and the parser of OpenAI embeddings responses against well-formed and hostile
 * bodies.
 */
#include "cs_embedder.h"
#include "cs_test.h"

#include <math.h>
#include <stdlib.h>

static double dot(const float *a, const float *b, uint32_t n)
{
    double s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static void test_fnv(void)
{
    /* the reference values of FNV-1a 64 */
    CHECK(cs_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
    CHECK(cs_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
    CHECK(cs_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);
}

static void test_hash_embedder(void)
{
    enum { D = 1024 };
    float a[D], b[D], c[D], d[D];
    cs_embed_hash("Is the homework due Friday?", 27, D, a);
    CHECK(fabs(dot(a, a, D) - 1.0) < 1e-5); /* unit length */
    cs_embed_hash("Is the homework due Friday?", 27, D, b);
    CHECK(memcmp(a, b, sizeof(a)) == 0); /* deterministic */
    cs_embed_hash("friday DUE homework the is", 26, D, b);
    CHECK(fabs(dot(a, b, D) - 1.0) < 1e-5); /* lexical: case and word order do not matter */
    cs_embed_hash("homework", 8, D, c);
    cs_embed_hash("calculator left at my lab", 25, D, d);
    CHECK(dot(a, c, D) > 0.3);                /* shares a word */
    CHECK(fabs(dot(c, d, D)) < 0.2);          /* shares none */
    CHECK(dot(a, c, D) > dot(a, d, D) + 0.2); /* ranks the one sharing words first */

    /* the Python double computes the same buckets (tests/doubles/embeddings_double.py) */
    cs_embed_hash("HOMEWORK, homework!", 19, D, c);
    for (int i = 0; i < D; i++) {
        if (i == 787 || i == 918)
            CHECK(fabs(c[i] - 0.707107f) < 1e-5);
        else
            CHECK(c[i] == 0.0f);
    }
    static const float want16[16] = {0.408248f, 0, -0.408248f, 0.408248f, 0, -0.408248f, 0, 0,
                                     0,         0, 0,          0.408248f, 0.408248f, 0, 0, 0};
    float v16[16];
    cs_embed_hash("Is the homework due Friday?", 27, 16, v16);
    for (int i = 0; i < 16; i++)
        CHECK(fabs(v16[i] - want16[i]) < 1e-5);

    /* no words at all: still a unit vector, never all zero */
    cs_embed_hash("?!...", 5, D, d);
    CHECK(fabs(dot(d, d, D) - 1.0) < 1e-5);
    /* multibyte text is hashed as words too */
    cs_embed_hash("\xc3\xa9t\xc3\xa9 d\xc3\xa9j\xc3\xa0", 12, D, a);
    cs_embed_hash("d\xc3\xa9j\xc3\xa0", 6, D, b);
    CHECK(dot(a, b, D) > 0.5);
}

static cs_err_t parse(const char *body, size_t n, uint32_t expect, uint32_t *dim, float **v,
                      char *err)
{
    return cs_embed_parse_response(body, strlen(body), n, expect, v, dim, err, 200);
}

static void test_parse_response(void)
{
    float *v;
    uint32_t dim;
    char err[200];
    /* out of order indexes are put back in input order; ints are numbers too */
    const char *ok = "{\"object\":\"list\",\"data\":["
                     "{\"object\":\"embedding\",\"index\":1,\"embedding\":[0.5,-1,2e-3]},"
                     "{\"object\":\"embedding\",\"index\":0,\"embedding\":[1,0,0]}],"
                     "\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}";
    CHECK_INT(parse(ok, 2, 0, &dim, &v, err), CS_ERR_OK);
    CHECK_INT(dim, 3);
    if (v) {
        CHECK(v[0] == 1.0f && v[3] == 0.5f && v[4] == -1.0f && v[5] == 2e-3f);
        free(v);
    }
    CHECK_INT(parse(ok, 2, 3, &dim, &v, err), CS_ERR_OK);
    free(v);
    CHECK_INT(parse(ok, 2, 4, &dim, &v, err), CS_ERR_BAD_JSON); /* not the expected size */
    CHECK_CONTAINS(err, "expected 4");
    CHECK(v == NULL);
    CHECK_INT(parse(ok, 3, 0, &dim, &v, err), CS_ERR_BAD_JSON); /* count mismatch */
    CHECK_CONTAINS(err, "2 embeddings for 3 inputs");

    static const struct { const char *body, *why; } bad[] = {
        {"{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":0,\"embedding\":[1,2]}]}", "repeated"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":2,\"embedding\":[1,2]}]}", "out of range"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":1,\"embedding\":[1]}]}", "dimensions"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1,\"2\"]},{\"index\":1,\"embedding\":[1,2]}]}", "finite float"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1,1e300]},{\"index\":1,\"embedding\":[1,2]}]}", "finite float"},
        {"{\"data\":[{\"index\":0,\"embedding\":[0,0]},{\"index\":1,\"embedding\":[1,2]}]}", "all-zero"},
        {"{\"data\":[{\"index\":\"0\",\"embedding\":[1,2]},{\"index\":1,\"embedding\":[1,2]}]}", "integer 'index'"},
        {"{\"data\":[{\"index\":0,\"embedding\":\"AACAPw==\"},{\"index\":1,\"embedding\":[1,2]}]}", "array 'embedding'"},
        {"{\"data\":{}}", "no 'data' array"},
        {"[]", "no 'data' array"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":1,\"embedding\":[1,2]}]}x", ""},
        {"{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":1,\"embedding\":[1,2", "truncated"},
        {"{\"data\":[{\"index\":0,\"embedding\":[NaN,2]},{\"index\":1,\"embedding\":[1,2]}]}", ""},
        {"{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":1,\"embedding\":[1,2]}],\"model\":\"\xff\"}", ""},
        {"", "empty"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cs_err_t rc = parse(bad[i].body, 2, 0, &dim, &v, err);
        if (rc == CS_ERR_OK)
            fprintf(stderr, "  accepted bad body %zu\n", i);
        CHECK(rc != CS_ERR_OK);
        CHECK(v == NULL);
        if (*bad[i].why)
            CHECK_CONTAINS(err, bad[i].why);
    }
}

static void test_parse_error(void)
{
    char msg[64];
    const char *openai = "{\"error\":{\"message\":\"Rate limit reached\\nfor requests\","
                         "\"type\":\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}";
    CHECK(cs_embed_parse_error(openai, strlen(openai), msg, sizeof(msg)));
    CHECK_STR(msg, "Rate limit reached for requests"); /* control characters flattened */
    const char *tei = "{\"error\":\"Input validation error\",\"error_type\":\"Validation\"}";
    CHECK(cs_embed_parse_error(tei, strlen(tei), msg, sizeof(msg)));
    CHECK_STR(msg, "Input validation error");
    CHECK(!cs_embed_parse_error("<html>502</html>", 16, msg, sizeof(msg)));
    CHECK_STR(msg, "");
    char longer[300];
    snprintf(longer, sizeof(longer), "{\"error\":{\"message\":\"%0200d\"}}", 0);
    CHECK(cs_embed_parse_error(longer, strlen(longer), msg, sizeof(msg)));
    CHECK_INT(strlen(msg), sizeof(msg) - 1); /* bounded */
}

static void test_config_errors(void)
{
    cs_embed_conf_t c = {.provider = "openai", .model = "m", .url = "", .api_key_env = "",
                         .api_key_file = "", .breaker_failures = 5, .breaker_open_ms = 100,
                         .breaker_open_max_ms = 1000, .retry_backoff_ms = 10,
                         .retry_backoff_max_ms = 100};
    cs_metrics_t *m = cs_metrics_new();
    char err[256];
    CHECK(cs_embedder_new(&c, m, "t", err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "embed.url is required");
    c.url = "ftp://x";
    CHECK(cs_embedder_new(&c, m, "t", err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "http://");
    c.url = "http://127.0.0.1:1/v1";
    c.model = "has space";
    CHECK(cs_embedder_new(&c, m, "t", err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "embed.model");
    c.model = "m";
    c.api_key_file = "/nonexistent/key";
    CHECK(cs_embedder_new(&c, m, "t", err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "/nonexistent/key");
    c.provider = "magic";
    CHECK(cs_embedder_new(&c, m, "t", err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "not hash or openai");
    c.provider = "hash";
    cs_embedder_t *e = cs_embedder_new(&c, m, "t", err, sizeof(err));
    CHECK(e != NULL);
    if (e) {
        CHECK_STR(cs_embedder_model(e), CS_HASH_MODEL);
        cs_embedder_destroy(e);
    }
    cs_metrics_destroy(m);
}

int main(void)
{
    RUN(test_fnv);
    RUN(test_hash_embedder);
    RUN(test_parse_response);
    RUN(test_parse_error);
    RUN(test_config_errors);
    CS_TEST_DONE();
}
