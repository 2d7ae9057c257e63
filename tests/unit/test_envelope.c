/*
 * The envelope codec against the shared vectors (tests/vectors/envelope.jsonl, also
 * checked against schemas/envelope.schema.json by check_schema.py), plus round trips.
 */
#include "cs_envelope.h"
#include "cs_test_vectors.h"

#include <json-c/json.h>
#include <stdlib.h>

static bool check_envelope_vector(const cs_test_vector_t *t, void *ctx)
{
    (void)ctx;
    size_t arena_size = cs_envelope_arena_size(t->input_len);
    char *arena = malloc(arena_size);
    char err[256] = "";
    cs_envelope_t env;
    cs_err_t rc = cs_envelope_decode(t->input, t->input_len, &env, arena, arena_size, err,
                                     sizeof(err));
    cs_test_vector_verdict(t, rc == CS_ERR_OK ? NULL : cs_err_name(rc), err);
    free(arena);
    return true;
}

static void test_vectors(void)
{
    CHECK(cs_test_each_vector("envelope.jsonl", check_envelope_vector, NULL) >= 50);
}

static void test_round_trip(void)
{
    cs_envelope_t env = {.room = "r1", .room_len = 2, .user = "u\"1", .user_len = 3,
                         .cmid = "c1", .cmid_len = 2, .text = "tab\there \"q\" \\ é",
                         .ts = 1763892000123};
    env.text_len = strlen(env.text);
    cs_uuid_t uuid;
    cs_uuid_v7(&uuid);
    cs_uuid_format(&uuid, env.id);
    char err[256];
    /* a quote is not in the identifier alphabet: validate refuses it, naming the field */
    CHECK_INT(cs_envelope_validate(&env, err, sizeof(err)), CS_ERR_BAD_FIELD);
    CHECK_CONTAINS(err, "user");
    env.user = "u1", env.user_len = 2;
    CHECK_INT(cs_envelope_validate(&env, err, sizeof(err)), CS_ERR_OK);

    cs_buf_t out = CS_BUF_INIT;
    cs_envelope_encode(&env, &out);
    char arena[1024];
    cs_envelope_t back;
    CHECK_INT(cs_envelope_decode(out.data, out.len, &back, arena, sizeof(arena), err, sizeof(err)),
              CS_ERR_OK);
    CHECK_STR(back.id, env.id);
    CHECK_STR(back.room, "r1");
    CHECK_STR(back.user, "u1");
    CHECK_STR(back.cmid, "c1");
    CHECK_STR(back.text, env.text);
    CHECK_INT(back.ts, env.ts);
    /* canonical: keys in schema order, no whitespace */
    CHECK(strncmp(out.data, "{\"v\":1,\"id\":\"", 13) == 0);
    cs_buf_free(&out);

    env.cmid = NULL;
    cs_envelope_encode(&env, &out);
    CHECK(strstr(out.data, "cmid") == NULL);
    CHECK_INT(cs_envelope_decode(out.data, out.len, &back, arena, sizeof(arena), err, sizeof(err)),
              CS_ERR_OK);
    CHECK(back.cmid == NULL);
    cs_buf_free(&out);
}

static void test_uuid(void)
{
    cs_uuid_t a, b;
    char sa[40], sb[40];
    cs_uuid_v7(&a);
    for (int i = 0; i < 10000; i++) {
        cs_uuid_v7(&b);
        cs_uuid_format(&a, sa);
        cs_uuid_format(&b, sb);
        if (strcmp(sa, sb) >= 0) { /* strictly increasing within a thread */
            CHECK(strcmp(sa, sb) < 0);
            break;
        }
        a = b;
    }
    CHECK_INT(sb[14], '7');                 /* version 7 */
    CHECK(strchr("89ab", sb[19]) != NULL);  /* RFC 4122 variant */
    cs_uuid_t parsed;
    CHECK(cs_uuid_parse(sb, strlen(sb), &parsed));
    CHECK(memcmp(&parsed, &b, sizeof(b)) == 0);
    CHECK(!cs_uuid_parse("019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8", 35, &parsed));
    CHECK(!cs_uuid_parse("019a7c3e-5f2b-7c1d-9a4e+3b2f1c0d9e8f", 36, &parsed));
    CHECK(!cs_uuid_parse("019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8g", 36, &parsed));
    int64_t ms = cs_uuid_v7_ms(&b);
    CHECK(ms > 1700000000000LL && ms < 4102444800000LL);
}

int main(void)
{
    RUN(test_vectors);
    RUN(test_round_trip);
    RUN(test_uuid);
    CS_TEST_DONE();
}
