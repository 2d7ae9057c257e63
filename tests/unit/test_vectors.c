/*
 * The chat.vectors codec against the shared vectors (tests/vectors/vectors.jsonl, also
 * checked against schemas/vectors.schema.json by check_schema.py), base64 edge cases,
 * and encode/decode round trips of random vectors (bit-exact floats).
 */
#include "cs_base64.h"
#include "cs_rand.h"
#include "cs_test_vectors.h"
#include "cs_vectors.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>

static bool check_vrec_vector(const cs_test_vector_t *t, void *ctx)
{
    (void)ctx;
    size_t arena_size = cs_vrec_arena_size(t->input_len);
    char *arena = malloc(arena_size);
    char err[256] = "";
    cs_vrec_t rec;
    cs_err_t rc = cs_vrec_decode(t->input, t->input_len, &rec, arena, arena_size, err,
                                 sizeof(err));
    cs_test_vector_verdict(t, rc == CS_ERR_OK ? NULL : cs_err_name(rc), err);
    if (rc == CS_ERR_OK && strcmp(t->note, "dim 4") == 0) {
        CHECK_INT(rec.dim, 4);
        CHECK(rec.vec[0] == 1.0f && rec.vec[1] == 0.0f && rec.vec[2] == -0.5f);
        CHECK_STR(rec.model, "lexical-hash-v1");
        CHECK_STR(rec.user, "alice");
    }
    free(arena);
    return true;
}

static void test_shared_vectors(void)
{
    CHECK(cs_test_each_vector("vectors.jsonl", check_vrec_vector, NULL) >= 40);
}

static void test_base64(void)
{
    static const struct { const char *raw, *enc; } cases[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}, /* RFC 4648 section 10 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cs_buf_t b = CS_BUF_INIT;
        cs_base64_encode(cases[i].raw, strlen(cases[i].raw), &b);
        CHECK_STR(b.len ? b.data : "", cases[i].enc);
        char out[16];
        size_t n;
        CHECK(cs_base64_decode(cases[i].enc, strlen(cases[i].enc), out, &n));
        CHECK_INT(n, strlen(cases[i].raw));
        CHECK(memcmp(out, cases[i].raw, n) == 0);
        cs_buf_free(&b);
    }
    char out[16];
    size_t n;
    CHECK(!cs_base64_decode("Zg=", 3, out, &n));      /* not a multiple of 4 */
    CHECK(!cs_base64_decode("Zh==", 4, out, &n));     /* non-zero bits under the padding */
    CHECK(!cs_base64_decode("Zm9=", 4, out, &n));     /* likewise, one pad */
    CHECK(!cs_base64_decode("Zg==Zg==", 8, out, &n)); /* padding only at the very end */
    CHECK(!cs_base64_decode("Zm 9", 4, out, &n));
    CHECK(!cs_base64_decode("Zm-_", 4, out, &n));     /* URL alphabet is not ours */
    CHECK(!cs_base64_decode("Z===", 4, out, &n));
}

static void test_round_trip(void)
{
    for (int round = 0; round < 200; round++) {
        uint32_t dim = 1 + (uint32_t)cs_rand_below(round < 100 ? 8 : CS_VREC_DIM_MAX);
        float *vec = malloc(dim * sizeof(float));
        for (uint32_t i = 0; i < dim; i++) {
            uint32_t bits;
            do { /* any finite bit pattern, subnormals and -0 included */
                bits = (uint32_t)cs_rand_u64();
                memcpy(&vec[i], &bits, 4);
            } while (!isfinite(vec[i]));
        }
        vec[0] = 1.0f; /* never all zero */
        cs_vrec_t rec = {.room = "r1", .room_len = 2, .user = "alice", .user_len = 5,
                         .ts = 1763892000123, .text = "héllo \"w\"\n", .model = "m/x:1",
                         .model_len = 5, .dim = dim, .vec = vec};
        rec.text_len = strlen(rec.text);
        snprintf(rec.id, sizeof(rec.id), "019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f");
        char err[256];
        CHECK_INT(cs_vrec_validate(&rec, err, sizeof(err)), CS_ERR_OK);
        cs_buf_t out = CS_BUF_INIT;
        cs_vrec_encode(&rec, &out);
        size_t asz = cs_vrec_arena_size(out.len);
        /* an odd arena address, so the decoder's alignment is exercised */
        char *arena = malloc(asz + 1);
        cs_vrec_t back;
        cs_err_t rc = cs_vrec_decode(out.data, out.len, &back, arena + 1, asz, err, sizeof(err));
        CHECK_INT(rc, CS_ERR_OK);
        if (rc == CS_ERR_OK) {
            CHECK_INT(back.dim, dim);
            CHECK(memcmp(back.vec, vec, dim * sizeof(float)) == 0);
            CHECK_STR(back.text, rec.text);
            CHECK_STR(back.model, "m/x:1");
            CHECK_STR(back.id, rec.id);
            CHECK_INT(back.ts, rec.ts);
        }
        CHECK(out.len <= CS_VREC_MAX_BYTES);
        free(arena);
        cs_buf_free(&out);
        free(vec);
    }
}

static void test_refusals(void)
{
    float zero[3] = {0, 0, 0}, nan3[3] = {1, NAN, 0};
    cs_vrec_t rec = {.id = "019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f", .room = "r", .room_len = 1,
                     .user = "u", .user_len = 1, .ts = 1, .text = "t", .text_len = 1,
                     .model = "m", .model_len = 1, .dim = 3, .vec = zero};
    char err[256];
    CHECK_INT(cs_vrec_validate(&rec, err, sizeof(err)), CS_ERR_BAD_FIELD);
    CHECK_CONTAINS(err, "zero");
    rec.vec = nan3;
    CHECK_INT(cs_vrec_validate(&rec, err, sizeof(err)), CS_ERR_BAD_FIELD);
    CHECK_CONTAINS(err, "finite");
    /* too large a record is refused before parsing */
    size_t big = CS_VREC_MAX_BYTES + 1;
    char *in = calloc(1, big), *arena = malloc(cs_vrec_arena_size(big));
    cs_vrec_t back;
    CHECK_INT(cs_vrec_decode(in, big, &back, arena, cs_vrec_arena_size(big), err, sizeof(err)),
              CS_ERR_TOO_LARGE);
    free(in);
    free(arena);
}

int main(void)
{
    RUN(test_shared_vectors);
    RUN(test_base64);
    RUN(test_round_trip);
    RUN(test_refusals);
    CS_TEST_DONE();
}
