/* The gateway's client-frame parser: each frame type, each refusal and its class, and the
 * client vectors of tests/vectors/protocol.jsonl, which check_schema.py also judges by
 * schemas/protocol/client-frames.schema.json: parser and schema cannot drift apart. */
#include "cs_test_vectors.h"
#include "gw_frame.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static gw_cf_status_t parse(const char *s, gw_client_frame_t *f, char *why)
{
    static char arena[65536];
    return gw_frame_parse(s, strlen(s), 4096, f, arena, sizeof(arena), why, 200);
}

static void test_valid(void)
{
    gw_client_frame_t f;
    char why[200];
    CHECK_INT(parse("{\"type\":\"auth\",\"user\":\"alice\"}", &f, why), GW_CF_OK);
    CHECK_INT(f.type, GW_CF_AUTH);
    CHECK_STR(f.user, "alice");
    CHECK_INT(parse("{\"type\":\"join\",\"room\":\"math-101\","
                    "\"since\":\"019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f\"}", &f, why), GW_CF_OK);
    CHECK_INT(f.type, GW_CF_JOIN);
    CHECK_STR(f.room, "math-101");
    CHECK_STR(f.since, "019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f");
    CHECK_INT(parse(" {\"cmid\":\"c-1\",\"text\":\"caf\\u00e9\",\"room\":\"r\",\"type\":\"send\"} ",
                    &f, why), GW_CF_OK);
    CHECK_INT(f.type, GW_CF_SEND);
    CHECK_INT((int)f.text_len, 5); /* é is two bytes */
    CHECK_STR(f.cmid, "c-1");
    cs_buf_t out = CS_BUF_INIT;
    gw_frame_render(&f, &out);
    CHECK_STR(out.data, "{\"type\":\"send\",\"room\":\"r\",\"text\":\"caf\xc3\xa9\",\"cmid\":\"c-1\"}");
    cs_buf_free(&out);
}

static void test_refused(void)
{
    gw_client_frame_t f;
    char why[200];
    struct {
        const char *frame;
        gw_cf_status_t want;
    } cases[] = {
        {"{\"type\":\"join\",", GW_CF_BAD_REQUEST},
        {"{\"type\":\"join\",\"room\":\"a\"} x", GW_CF_BAD_REQUEST},
        {"{\"type\":\"join\",\"room\":\"a\",\"room\":\"b\"}", GW_CF_BAD_REQUEST},
        {"[1]", GW_CF_BAD_REQUEST},
        {"{\"room\":\"a\"}", GW_CF_BAD_REQUEST},
        {"{\"type\":7}", GW_CF_BAD_REQUEST},
        {"{\"type\":\"shout\"}", GW_CF_UNKNOWN_TYPE},
        {"{\"type\":\"join\",\"room\":\"bad room\"}", GW_CF_BAD_REQUEST},
        {"{\"type\":\"join\",\"room\":\"r\",\"since\":\"019A7C3E-5F2B-7C1D-9A4E-3B2F1C0D9E8F\"}",
         GW_CF_BAD_REQUEST},
        {"{\"type\":\"join\",\"room\":\"r\",\"extra\":1}", GW_CF_BAD_REQUEST},
        {"{\"type\":\"leave\",\"room\":\"r\",\"since\":\"x\"}", GW_CF_BAD_REQUEST},
        {"{\"type\":\"send\",\"room\":\"r\",\"text\":\"t\"}", GW_CF_BAD_REQUEST},
        {"{\"type\":\"send\",\"room\":\"r\",\"text\":\"\",\"cmid\":\"c\"}", GW_CF_BAD_REQUEST},
        {"{\"type\":\"send\",\"room\":\"r\",\"text\":\"a\\u0001\",\"cmid\":\"c\"}",
         GW_CF_BAD_REQUEST},
        {"{\"type\":\"send\",\"room\":\"r\",\"text\":\"t\",\"cmid\":\"\"}", GW_CF_BAD_REQUEST},
        {"{\"type\":\"auth\"}", GW_CF_BAD_REQUEST},
        {"{\"type\":\"auth\",\"user\":\"a\",\"token\":\"t\"}", GW_CF_BAD_REQUEST},
        {"{\"type\":\"auth\",\"user\":\"a b\"}", GW_CF_BAD_REQUEST},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gw_cf_status_t got = parse(cases[i].frame, &f, why);
        if (got != cases[i].want)
            fprintf(stderr, "case %zu: %s\n", i, cases[i].frame);
        CHECK_INT(got, cases[i].want);
    }
    /* too long a text, and the valid fields are kept for the error frame */
    char big[5200];
    int n = snprintf(big, sizeof(big), "{\"type\":\"send\",\"room\":\"r\",\"cmid\":\"c9\",\"text\":\"");
    memset(big + n, 'x', 4097);
    strcpy(big + n + 4097, "\"}");
    CHECK_INT(parse(big, &f, why), GW_CF_TOO_LARGE);
    CHECK_STR(f.cmid, "c9");
    CHECK_STR(f.room, "r");
    CHECK_CONTAINS(why, "4097");
}

/* The error code the gateway answers for each parse status (PROTOCOL.md). */
static const char *code_of(gw_cf_status_t st)
{
    switch (st) {
    case GW_CF_OK: return NULL;
    case GW_CF_BAD_REQUEST: return "bad_request";
    case GW_CF_UNKNOWN_TYPE: return "unknown_type";
    case GW_CF_TOO_LARGE: return "too_large";
    }
    return "?";
}

static bool check_client_vector(const cs_test_vector_t *t, void *ctx)
{
    (void)ctx;
    const char *schema = cs_test_vector_str(t->json, "schema");
    if (!schema || strcmp(schema, "client") != 0)
        return false; /* server frames: checked against the schema only */
    size_t arena_size = gw_frame_arena_size(t->input_len);
    char *arena = malloc(arena_size);
    char why[256] = "";
    gw_client_frame_t f;
    gw_cf_status_t st = gw_frame_parse(t->input, t->input_len, 4096, &f, arena, arena_size, why,
                                       sizeof(why));
    cs_test_vector_verdict(t, code_of(st), why);
    free(arena);
    return true;
}

static void test_shared_vectors(void)
{
    CHECK(cs_test_each_vector("protocol.jsonl", check_client_vector, NULL) >= 40);
}

int main(void)
{
    RUN(test_valid);
    RUN(test_refused);
    RUN(test_shared_vectors);
    CS_TEST_DONE();
}
