/* cs_jwt: good tokens pass; forged, expired, premature, alg=none, other algorithms, wrong
 * issuer/audience and ill-typed claims are refused with a reason. Forged tokens are built
 * by hand here (base64url of chosen header and payload) so the test does not depend on
 * what libjwt is willing to sign. The "JWT" config section: the secret from the option or
 * a file; short, over-long and unreadable ones refused. */
#include "cs_jwt.h"
#include "cs_test.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const uint8_t KEY[] = "test-secret-0123456789abcdef";
#define KEYLEN (sizeof(KEY) - 1)
#define NOW 1800000000LL

static cs_jwt_verifier_t verifier(void)
{
    return (cs_jwt_verifier_t){.key = KEY, .key_len = KEYLEN, .leeway_s = 0};
}

static void b64url(const uint8_t *in, size_t len, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = a[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = a[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

/* header.payload.signature with HMAC-SHA256 under `key` (sig "" when key is NULL) */
static char *forge(const char *header, const char *payload, const uint8_t *key, size_t keylen)
{
    char *t = malloc(4096);
    b64url((const uint8_t *)header, strlen(header), t);
    strcat(t, ".");
    b64url((const uint8_t *)payload, strlen(payload), t + strlen(t));
    if (key) {
        uint8_t mac[32];
        unsigned int n = 0;
        HMAC(EVP_sha256(), key, (int)keylen, (const uint8_t *)t, strlen(t), mac, &n);
        strcat(t, ".");
        b64url(mac, n, t + strlen(t));
    } else {
        strcat(t, ".");
    }
    return t;
}

static cs_err_t verify(const cs_jwt_verifier_t *v, const char *tok, cs_jwt_claims_t *c, char *why)
{
    return cs_jwt_verify(v, tok, strlen(tok), NOW, c, why, 200);
}

static void test_sign_then_verify(void)
{
    char why[200];
    cs_jwt_claims_t c;
    cs_jwt_verifier_t v = verifier();
    char *tok = cs_jwt_sign_hs256(KEY, KEYLEN, "alice", NOW + 60, NULL, NULL, NULL, why, 200);
    CHECK(tok != NULL);
    CHECK_INT(verify(&v, tok, &c, why), CS_ERR_OK);
    CHECK_STR(c.sub, "alice");
    CHECK_INT(c.exp, NOW + 60);
    CHECK_INT(c.nrooms, -1);
    CHECK(cs_jwt_room_allowed(&c, "anything"));
    free(tok);

    /* "" for iss/aud is no claim, as for the verifier: the very token NULL gives (HS256 over
     * the same claims is deterministic; with "iss":"" in it the two would differ) */
    tok = cs_jwt_sign_hs256(KEY, KEYLEN, "carol", NOW + 60, NULL, "", "", why, 200);
    char *none = cs_jwt_sign_hs256(KEY, KEYLEN, "carol", NOW + 60, NULL, NULL, NULL, why, 200);
    CHECK(tok != NULL && none != NULL);
    CHECK_STR(tok, none);
    free(none);
    free(tok);

    tok = cs_jwt_sign_hs256(KEY, KEYLEN, "bob", NOW + 60, "math-101,art", "school", "chat", why,
                            200);
    v.iss = "school";
    v.aud = "chat";
    CHECK_INT(verify(&v, tok, &c, why), CS_ERR_OK);
    CHECK_INT(c.nrooms, 2);
    CHECK(cs_jwt_room_allowed(&c, "art"));
    CHECK(!cs_jwt_room_allowed(&c, "music"));
    v.iss = "other";
    CHECK_INT(verify(&v, tok, &c, why), CS_ERR_INVALID);
    CHECK_CONTAINS(why, "issuer");
    v.iss = "school";
    v.aud = "elsewhere";
    CHECK_INT(verify(&v, tok, &c, why), CS_ERR_INVALID);
    CHECK_CONTAINS(why, "audience");
    free(tok);
}

static void test_refused(void)
{
    char why[200];
    cs_jwt_claims_t c;
    cs_jwt_verifier_t v = verifier();
    const char *hs = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *t;

    /* a well-formed control, built the same way as the forgeries */
    t = forge(hs, "{\"sub\":\"alice\",\"exp\":1800000060}", KEY, KEYLEN);
    CHECK_INT(verify(&v, t, &c, why), CS_ERR_OK);
    /* one flipped character in the signature */
    t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
    CHECK_INT(verify(&v, t, &c, why), CS_ERR_INVALID);
    CHECK_CONTAINS(why, "signature");
    free(t);
    /* signed with another key */
    t = forge(hs, "{\"sub\":\"alice\",\"exp\":1800000060}", (const uint8_t *)"other", 5);
    CHECK_INT(verify(&v, t, &c, why), CS_ERR_INVALID);
    free(t);
    /* payload changed after signing (privilege escalation attempt) */
    t = forge(hs, "{\"sub\":\"alice\",\"exp\":1800000060}", KEY, KEYLEN);
    char *good_sig = strrchr(t, '.');
    char *t2 = forge(hs, "{\"sub\":\"admin\",\"exp\":1800000060}", NULL, 0);
    t2[strlen(t2) - 1] = '\0';
    strcat(t2, good_sig);
    CHECK_INT(verify(&v, t2, &c, why), CS_ERR_INVALID);
    free(t);
    free(t2);
    /* alg none, unsigned */
    t = forge("{\"alg\":\"none\"}", "{\"sub\":\"alice\",\"exp\":1800000060}", NULL, 0);
    CHECK_INT(verify(&v, t, &c, why), CS_ERR_INVALID);
    free(t);
    /* alg HS512 and RS256 in the header (signed with HS256 bytes anyway) */
    t = forge("{\"alg\":\"HS512\"}", "{\"sub\":\"alice\",\"exp\":1800000060}", KEY, KEYLEN);
    CHECK_INT(verify(&v, t, &c, why), CS_ERR_INVALID);
    free(t);
    t = forge("{\"alg\":\"RS256\"}", "{\"sub\":\"alice\",\"exp\":1800000060}", KEY, KEYLEN);
    CHECK_INT(verify(&v, t, &c, why), CS_ERR_INVALID);
    free(t);
    /* expired, exactly at exp, and within leeway */
    t = forge(hs, "{\"sub\":\"alice\",\"exp\":1799999999}", KEY, KEYLEN);
    CHECK_INT(verify(&v, t, &c, why), CS_ERR_INVALID);
    CHECK_CONTAINS(why, "expired");
    v.leeway_s = 5;
    CHECK_INT(verify(&v, t, &c, why), CS_ERR_OK);
    v.leeway_s = 0;
    free(t);
    t = forge(hs, "{\"sub\":\"alice\",\"exp\":1800000000}", KEY, KEYLEN);
    CHECK_INT(verify(&v, t, &c, why), CS_ERR_INVALID);
    free(t);
    /* not before */
    t = forge(hs, "{\"sub\":\"alice\",\"exp\":1800000060,\"nbf\":1800000030}", KEY, KEYLEN);
    CHECK_INT(verify(&v, t, &c, why), CS_ERR_INVALID);
    CHECK_CONTAINS(why, "nbf");
    free(t);
    /* missing or ill-typed claims */
    const char *bad[] = {
        "{\"sub\":\"alice\"}",                                 /* no exp */
        "{\"sub\":\"alice\",\"exp\":\"1800000060\"}",          /* exp a string */
        "{\"exp\":1800000060}",                                /* no sub */
        "{\"sub\":\"al ice\",\"exp\":1800000060}",             /* sub outside the alphabet */
        "{\"sub\":42,\"exp\":1800000060}",                     /* sub a number */
        "{\"sub\":\"a\",\"exp\":1800000060,\"rooms\":\"r\"}",  /* rooms not an array */
        "{\"sub\":\"a\",\"exp\":1800000060,\"rooms\":[1]}",    /* rooms entry not a string */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = forge(hs, bad[i], KEY, KEYLEN);
        CHECK_INT(verify(&v, t, &c, why), CS_ERR_INVALID);
        free(t);
    }
    /* garbage */
    CHECK_INT(verify(&v, "not.a.token", &c, why), CS_ERR_INVALID);
    CHECK_INT(verify(&v, "", &c, why), CS_ERR_INVALID);
}

/* The "JWT" config section: where the secret comes from, and what is refused. */
static void test_verifier_load(void)
{
    uint8_t key[CS_JWT_MAX_SECRET];
    cs_jwt_verifier_t v;
    char why[300] = "";
    cs_jwt_conf_t c = {.secret = "0123456789abcdef", .issuer = "school", .audience = "",
                       .leeway_s = 7};
    CHECK(cs_jwt_conf_has_secret(&c));
    CHECK_INT(cs_jwt_verifier_load(&c, key, &v, why, sizeof(why)), CS_ERR_OK);
    CHECK_INT(v.key_len, 16);
    CHECK(v.key == key && memcmp(key, "0123456789abcdef", 16) == 0);
    CHECK_STR(v.iss, "school");
    CHECK_INT(v.leeway_s, 7);

    c.secret = "fifteen-bytes!!"; /* one short */
    CHECK_INT(cs_jwt_verifier_load(&c, key, &v, why, sizeof(why)), CS_ERR_INVALID);
    CHECK_CONTAINS(why, "at least 16 bytes");
    c.secret = NULL;
    CHECK(!cs_jwt_conf_has_secret(&c));
    CHECK_INT(cs_jwt_verifier_load(&c, key, &v, why, sizeof(why)), CS_ERR_INVALID);

    /* from a file: trailing newlines are not part of the secret */
    char path[] = "/tmp/cs-test-jwt-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *fp = fdopen(fd, "wb");
    fputs("a-secret-from-a-file\r\n\n", fp);
    fclose(fp);
    c.secret_file = path;
    CHECK(cs_jwt_conf_has_secret(&c));
    CHECK_INT(cs_jwt_verifier_load(&c, key, &v, why, sizeof(why)), CS_ERR_OK);
    CHECK_INT(v.key_len, strlen("a-secret-from-a-file"));
    CHECK(memcmp(key, "a-secret-from-a-file", v.key_len) == 0);
    c.secret = "0123456789abcdef-wins"; /* auth.secret before the file */
    CHECK_INT(cs_jwt_verifier_load(&c, key, &v, why, sizeof(why)), CS_ERR_OK);
    CHECK_INT(v.key_len, strlen("0123456789abcdef-wins"));
    c.secret = NULL;

    /* a file longer than any secret is refused, not cut (a cut key verifies nothing) */
    fp = fopen(path, "wb");
    for (int i = 0; i < CS_JWT_MAX_SECRET + 1; i++)
        fputc('k', fp);
    fclose(fp);
    CHECK_INT(cs_jwt_verifier_load(&c, key, &v, why, sizeof(why)), CS_ERR_INVALID);
    CHECK_CONTAINS(why, "longer than 1024 bytes");
    fp = fopen(path, "wb"); /* exactly the limit is fine */
    for (int i = 0; i < CS_JWT_MAX_SECRET; i++)
        fputc('k', fp);
    fclose(fp);
    CHECK_INT(cs_jwt_verifier_load(&c, key, &v, why, sizeof(why)), CS_ERR_OK);
    CHECK_INT(v.key_len, CS_JWT_MAX_SECRET);
    unlink(path);
    CHECK_INT(cs_jwt_verifier_load(&c, key, &v, why, sizeof(why)), CS_ERR_INVALID);
    CHECK_CONTAINS(why, path); /* the error names the file */
}

int main(void)
{
    RUN(test_sign_then_verify);
    RUN(test_refused);
    RUN(test_verifier_load);
    CS_TEST_DONE();
}
