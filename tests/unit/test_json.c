/* The strict flat-object JSON reader: what it accepts, and every way it refuses. */
#include "cs_json.h"
#include "cs_test.h"

#include <stdlib.h>

static char arena[8192];
static char err[256];

static cs_err_t parse(const char *in, cs_json_obj_t *obj)
{
    return cs_json_parse_flat(in, strlen(in), obj, arena, sizeof(arena), err, sizeof(err));
}

static void test_accepts_flat_object(void)
{
    cs_json_obj_t obj;
    CHECK_INT(parse(" {\"a\":\"x\", \"n\": -42, \"d\": 1.5e3, \"t\": true, \"f\":false, "
                    "\"z\": null} \n",
                    &obj),
              CS_ERR_OK);
    CHECK_INT(obj.n, 6);
    CHECK_STR(cs_json_get(&obj, "a")->str, "x");
    CHECK_INT(cs_json_get(&obj, "n")->type, CS_JSON_INT);
    CHECK_INT(cs_json_get(&obj, "n")->i, -42);
    CHECK_INT(cs_json_get(&obj, "d")->type, CS_JSON_DOUBLE);
    CHECK(cs_json_get(&obj, "d")->d == 1500.0);
    CHECK(cs_json_get(&obj, "t")->b);
    CHECK(!cs_json_get(&obj, "f")->b);
    CHECK_INT(cs_json_get(&obj, "z")->type, CS_JSON_NULL);
    CHECK(cs_json_get(&obj, "missing") == NULL);
    CHECK_INT(parse("{}", &obj), CS_ERR_OK);
    CHECK_INT(obj.n, 0);
}

static void test_decodes_escapes(void)
{
    cs_json_obj_t obj;
    CHECK_INT(parse("{\"s\":\"q\\\"b\\\\s\\/n\\nt\\tu\\u00e9\\ud83d\\ude00\"}", &obj), CS_ERR_OK);
    const cs_json_field_t *f = cs_json_get(&obj, "s");
    CHECK_STR(f->str, "q\"b\\s/n\nt\tu\xc3\xa9\xf0\x9f\x98\x80");
    CHECK_INT(f->len, strlen("q\"b\\s/n\nt\tu\xc3\xa9\xf0\x9f\x98\x80"));
    /* \u0000 is legal JSON: the length, not strlen, tells the truth */
    CHECK_INT(parse("{\"s\":\"a\\u0000b\"}", &obj), CS_ERR_OK);
    CHECK_INT(cs_json_get(&obj, "s")->len, 3);
    /* escaped keys compare decoded */
    CHECK_INT(parse("{\"\\u0061\":1}", &obj), CS_ERR_OK);
    CHECK(cs_json_get(&obj, "a") != NULL);
}

static void test_refuses_malformed(void)
{
    static const char *const bad[] = {
        "",           "[]",           "{",           "{\"a\"}",        "{\"a\":}",
        "{\"a\":1,}", "{,}",          "{'a':1}",     "{\"a\":01}",     "{\"a\":1.}",
        "{\"a\":.5}", "{\"a\":1e}",   "{\"a\":+1}",  "{\"a\":tru}",    "{\"a\":\"x}",
        "{\"a\":1}x", "{\"a\":1}{}",  "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{a:1}",
        "{\"a\":NaN}", "{\"a\":-}",   "{\"a\" 1}",   "{\"a\":1 \"b\":2}",
    };
    cs_json_obj_t obj;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cs_err_t rc = parse(bad[i], &obj);
        if (rc != CS_ERR_BAD_JSON)
            fprintf(stderr, "  input %zu: %s -> %s\n", i, bad[i], cs_err_name(rc));
        CHECK_INT(rc, CS_ERR_BAD_JSON);
    }
}

static void test_refuses_what_json_c_lets_through(void)
{
    cs_json_obj_t obj;
    /* raw control character inside a string */
    CHECK_INT(parse("{\"a\":\"x\ny\"}", &obj), CS_ERR_BAD_JSON);
    /* duplicate keys: which one wins is ambiguous, so neither does */
    CHECK_INT(parse("{\"a\":1,\"a\":2}", &obj), CS_ERR_BAD_JSON);
    /* integers are never silently capped */
    CHECK_INT(parse("{\"a\":9223372036854775808}", &obj), CS_ERR_BAD_JSON);
    CHECK_INT(parse("{\"a\":9223372036854775807}", &obj), CS_ERR_OK);
    /* nested values are refused, not skipped */
    CHECK_INT(parse("{\"a\":{\"b\":1}}", &obj), CS_ERR_BAD_JSON);
    CHECK_INT(parse("{\"a\":[1]}", &obj), CS_ERR_BAD_JSON);
    CHECK_CONTAINS(err, "nested");
}

static void test_refuses_bad_utf8(void)
{
    static const char *const bad[] = {
        "{\"a\":\"\xff\"}",             /* invalid byte */
        "{\"a\":\"\xc0\xaf\"}",         /* overlong '/' */
        "{\"a\":\"\xe0\x80\xaf\"}",     /* overlong, 3 bytes */
        "{\"a\":\"\xed\xa0\x80\"}",     /* UTF-8 encoded surrogate */
        "{\"a\":\"\xf4\x90\x80\x80\"}", /* above U+10FFFF */
        "{\"a\":\"\xc3\"}",             /* truncated sequence */
        "{\"a\":\"\\ud800\"}",          /* lone high surrogate escape */
        "{\"a\":\"\\udc00\"}",          /* lone low surrogate escape */
        "{\"a\":\"\\ud800\\u0041\"}",   /* high surrogate + non-surrogate */
    };
    cs_json_obj_t obj;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_INT(parse(bad[i], &obj), CS_ERR_BAD_UTF8);
    CHECK_INT(parse("{\"a\":\"\xf0\x9f\x98\x80\xe2\x82\xac\"}", &obj), CS_ERR_OK);
}

static void test_limits(void)
{
    cs_json_obj_t obj;
    char in[4096] = "{";
    size_t n = 1;
    for (int i = 0; i < CS_JSON_MAX_FIELDS + 1; i++)
        n += (size_t)snprintf(in + n, sizeof(in) - n, "%s\"k%d\":1", i ? "," : "", i);
    snprintf(in + n, sizeof(in) - n, "}");
    CHECK_INT(parse(in, &obj), CS_ERR_TOO_LARGE);
    /* an arena smaller than the contract is refused up front, never overrun */
    char small[8];
    CHECK_INT(cs_json_parse_flat("{\"a\":\"bbbb\"}", 12, &obj, small, sizeof(small), err,
                                 sizeof(err)),
              CS_ERR_TOO_LARGE);
}

int main(void)
{
    RUN(test_accepts_flat_object);
    RUN(test_decodes_escapes);
    RUN(test_refuses_malformed);
    RUN(test_refuses_what_json_c_lets_through);
    RUN(test_refuses_bad_utf8);
    RUN(test_limits);
    CS_TEST_DONE();
}
