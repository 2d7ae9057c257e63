/* cs_jwt: see cs_jwt.h. */
#include "cs_jwt.h"

#include "cs_conf.h"

#include <json-c/json.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const cs_conf_def_t cs_jwt_conf_defs[] = {
    CS_CONF_ROW_STR(cs_jwt_conf_t, secret, "auth.secret", NULL, CS_JWT_MAX_SECRET,
                    "HS256 secret, at least 16 bytes (prefer CHATSTREAM_AUTH_SECRET or "
                    "auth.secret.file: a command line is visible to every local user)."),
    CS_CONF_ROW_STR(cs_jwt_conf_t, secret_file, "auth.secret.file", NULL, 4096,
                    "File holding the HS256 secret (trailing newlines ignored)."),
    CS_CONF_ROW_STR(cs_jwt_conf_t, issuer, "auth.issuer", "", 256,
                    "Required `iss` claim (empty: not checked)."),
    CS_CONF_ROW_STR(cs_jwt_conf_t, audience, "auth.audience", "", 256,
                    "Required `aud` claim (empty: not checked)."),
    CS_CONF_ROW_INT(cs_jwt_conf_t, leeway_s, "auth.leeway.s", "30", 0, 600,
                    "Clock skew allowed on exp and nbf."),
};
const size_t cs_jwt_conf_ndefs = sizeof(cs_jwt_conf_defs) / sizeof(cs_jwt_conf_defs[0]);

bool cs_jwt_conf_has_secret(const cs_jwt_conf_t *c)
{
    return (c->secret && *c->secret) || (c->secret_file && *c->secret_file);
}

cs_err_t cs_jwt_verifier_load(const cs_jwt_conf_t *c, uint8_t key[CS_JWT_MAX_SECRET],
                              cs_jwt_verifier_t *v, char *errstr, size_t errstr_size)
{
    size_t len = 0;
    if (c->secret && *c->secret) {
        len = strlen(c->secret); /* the table caps it at CS_JWT_MAX_SECRET */
        memcpy(key, c->secret, len);
    } else if (c->secret_file && *c->secret_file) {
        FILE *fp = fopen(c->secret_file, "rb");
        if (!fp) {
            snprintf(errstr, errstr_size, "auth.secret.file %s: %s", c->secret_file,
                     strerror(errno));
            return CS_ERR_INVALID;
        }
        uint8_t extra;
        len = fread(key, 1, CS_JWT_MAX_SECRET, fp);
        bool longer = len == CS_JWT_MAX_SECRET && fread(&extra, 1, 1, fp) == 1;
        bool failed = ferror(fp) != 0;
        fclose(fp);
        if (failed) {
            snprintf(errstr, errstr_size, "auth.secret.file %s: read error", c->secret_file);
            return CS_ERR_INVALID;
        }
        while (len && (key[len - 1] == '\n' || key[len - 1] == '\r'))
            len--;
        if (longer) { /* cutting it would verify with another key than the issuer's */
            snprintf(errstr, errstr_size, "auth.secret.file %s: longer than %d bytes",
                     c->secret_file, CS_JWT_MAX_SECRET);
            return CS_ERR_INVALID;
        }
    }
    if (len < CS_JWT_MIN_SECRET) {
        snprintf(errstr, errstr_size,
                 "JWTs need an HS256 secret of at least %d bytes (CHATSTREAM_AUTH_SECRET, "
                 "auth.secret or auth.secret.file)", CS_JWT_MIN_SECRET);
        return CS_ERR_INVALID;
    }
    *v = (cs_jwt_verifier_t){key, len, c->issuer, c->audience, c->leeway_s};
    return CS_ERR_OK;
}

static bool cs_jwt_ident_ok(const char *s, size_t len)
{
    if (len == 0 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("_.:@|+-", c) != NULL;
        if (!ok || c == '\0')
            return false;
    }
    return true;
}

/* base64url without padding → bytes; -1 on a character outside the alphabet. */
static int cs_jwt_b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_size)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '-'             ? 62
                : c == '_'             ? 63
                                       : -1;
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == out_size)
                return -1;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return (int)n;
}

/* Our own check of the HS256 signature, in constant time over the MAC. */
static bool cs_jwt_hs256_ok(const cs_jwt_verifier_t *v, const char *token, size_t len)
{
    const char *dot = memrchr(token, '.', len);
    if (!dot)
        return false;
    uint8_t sig[64];
    int sig_len = cs_jwt_b64url_decode(dot + 1, len - (size_t)(dot + 1 - token), sig, sizeof(sig));
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), v->key, (int)v->key_len, (const unsigned char *)token,
              (size_t)(dot - token), mac, &mac_len))
        return false;
    return sig_len == (int)mac_len && CRYPTO_memcmp(sig, mac, mac_len) == 0;
}

static bool cs_jwt_int_claim(json_object *claims, const char *name, bool required, int64_t *out,
                             char *errstr, size_t errstr_size)
{
    json_object *o;
    if (!json_object_object_get_ex(claims, name, &o)) {
        if (required)
            snprintf(errstr, errstr_size, "token has no '%s' claim", name);
        *out = INT64_MIN;
        return !required;
    }
    if (!json_object_is_type(o, json_type_int)) {
        snprintf(errstr, errstr_size, "token claim '%s' is not an integer", name);
        return false;
    }
    *out = json_object_get_int64(o);
    return true;
}

static bool cs_jwt_aud_ok(json_object *claims, const char *aud)
{
    json_object *o;
    if (!json_object_object_get_ex(claims, "aud", &o))
        return false;
    if (json_object_is_type(o, json_type_string))
        return strcmp(json_object_get_string(o), aud) == 0;
    if (!json_object_is_type(o, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(o); i++) {
        json_object *e = json_object_array_get_idx(o, i);
        if (json_object_is_type(e, json_type_string) && strcmp(json_object_get_string(e), aud) == 0)
            return true;
    }
    return false;
}

cs_err_t cs_jwt_verify(const cs_jwt_verifier_t *v, const char *token, size_t token_len,
                       int64_t now_s, cs_jwt_claims_t *claims, char *errstr, size_t errstr_size)
{
    cs_err_t status = CS_ERR_INVALID;
    jwt_t *jwt = NULL;
    char *grants = NULL;
    json_object *root = NULL;
    char buf[CS_JWT_MAX_TOKEN + 1];
    memset(claims, 0, sizeof(*claims));
    if (token_len == 0 || token_len > CS_JWT_MAX_TOKEN || memchr(token, '\0', token_len)) {
        snprintf(errstr, errstr_size, "token is empty or longer than %d bytes", CS_JWT_MAX_TOKEN);
        goto done;
    }
    memcpy(buf, token, token_len);
    buf[token_len] = '\0';
    /* Refuse anything but HS256 before any key is used: decode unverified first. */
    if (jwt_decode(&jwt, buf, NULL, 0) != 0 || !jwt) {
        snprintf(errstr, errstr_size, "token is malformed");
        goto done;
    }
    /* The header's own word: jwt_get_alg() says "none" for a token decoded without a key. */
    const char *alg = jwt_get_header(jwt, "alg");
    if (!alg || strcmp(alg, "HS256") != 0) {
        snprintf(errstr, errstr_size, "token algorithm %.16s refused (only HS256)",
                 alg ? alg : "(missing)");
        goto done;
    }
    jwt_free(jwt);
    jwt = NULL;
    if (!cs_jwt_hs256_ok(v, buf, token_len) ||
        jwt_decode(&jwt, buf, v->key, (int)v->key_len) != 0 || !jwt ||
        jwt_get_alg(jwt) != JWT_ALG_HS256) {
        snprintf(errstr, errstr_size, "token signature is invalid");
        goto done;
    }
    grants = jwt_get_grants_json(jwt, NULL);
    root = grants ? json_tokener_parse(grants) : NULL;
    if (!root || !json_object_is_type(root, json_type_object)) {
        snprintf(errstr, errstr_size, "token claims are not an object");
        goto done;
    }
    json_object *o;
    if (!json_object_object_get_ex(root, "sub", &o) || !json_object_is_type(o, json_type_string) ||
        !cs_jwt_ident_ok(json_object_get_string(o), (size_t)json_object_get_string_len(o))) {
        snprintf(errstr, errstr_size, "token 'sub' is missing or not a valid user id");
        goto done;
    }
    snprintf(claims->sub, sizeof(claims->sub), "%s", json_object_get_string(o));
    int64_t exp, nbf;
    if (!cs_jwt_int_claim(root, "exp", true, &exp, errstr, errstr_size) ||
        !cs_jwt_int_claim(root, "nbf", false, &nbf, errstr, errstr_size))
        goto done;
    if (now_s >= exp + v->leeway_s) {
        snprintf(errstr, errstr_size, "token expired");
        goto done;
    }
    if (nbf != INT64_MIN && now_s + v->leeway_s < nbf) {
        snprintf(errstr, errstr_size, "token not valid yet (nbf)");
        goto done;
    }
    if (v->iss && *v->iss &&
        (!json_object_object_get_ex(root, "iss", &o) || !json_object_is_type(o, json_type_string) ||
         strcmp(json_object_get_string(o), v->iss) != 0)) {
        snprintf(errstr, errstr_size, "token issuer is not %s", v->iss);
        goto done;
    }
    if (v->aud && *v->aud && !cs_jwt_aud_ok(root, v->aud)) {
        snprintf(errstr, errstr_size, "token audience does not include %s", v->aud);
        goto done;
    }
    claims->exp = exp;
    claims->nrooms = -1;
    if (json_object_object_get_ex(root, "rooms", &o)) {
        size_t n = json_object_is_type(o, json_type_array) ? json_object_array_length(o) : 0;
        if (!json_object_is_type(o, json_type_array) || n > CS_JWT_MAX_ROOMS) {
            snprintf(errstr, errstr_size, "token 'rooms' is not an array of at most %d room ids",
                     CS_JWT_MAX_ROOMS);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(o, i);
            if (!json_object_is_type(e, json_type_string) ||
                !cs_jwt_ident_ok(json_object_get_string(e), (size_t)json_object_get_string_len(e))) {
                snprintf(errstr, errstr_size, "token 'rooms'[%zu] is not a room id", i);
                goto done;
            }
            snprintf(claims->rooms[i], sizeof(claims->rooms[i]), "%s", json_object_get_string(e));
        }
        claims->nrooms = (int)n;
    }
    status = CS_ERR_OK;
done:
    json_object_put(root);
    free(grants);
    jwt_free(jwt);
    return status;
}

bool cs_jwt_room_allowed(const cs_jwt_claims_t *claims, const char *room)
{
    if (claims->nrooms < 0)
        return true;
    for (int i = 0; i < claims->nrooms; i++)
        if (strcmp(claims->rooms[i], room) == 0)
            return true;
    return false;
}

char *cs_jwt_sign_hs256(const uint8_t *key, size_t key_len, const char *sub, int64_t exp_s,
                        const char *rooms_csv, const char *iss, const char *aud, char *errstr,
                        size_t errstr_size)
{
    char *out = NULL;
    jwt_t *jwt = NULL;
    json_object *rooms = NULL;
    if (jwt_new(&jwt) != 0 || jwt_set_alg(jwt, JWT_ALG_HS256, key, (int)key_len) != 0 ||
        jwt_add_grant(jwt, "sub", sub) != 0 || jwt_add_grant_int(jwt, "exp", (long)exp_s) != 0 ||
        (iss && *iss && jwt_add_grant(jwt, "iss", iss) != 0) ||
        (aud && *aud && jwt_add_grant(jwt, "aud", aud) != 0)) {
        snprintf(errstr, errstr_size, "cannot build the token (empty key or sub?)");
        goto done;
    }
    if (rooms_csv) {
        rooms = json_object_new_object();
        json_object *arr = json_object_new_array();
        json_object_object_add(rooms, "rooms", arr);
        size_t n;
        for (const char *cur = rooms_csv, *p; cs_conf_list_next(&cur, &p, &n);)
            if (n > 0)
                json_object_array_add(arr, json_object_new_string_len(p, (int)n));
        if (jwt_add_grants_json(jwt, json_object_to_json_string(rooms)) != 0) {
            snprintf(errstr, errstr_size, "cannot add the rooms claim");
            goto done;
        }
    }
    out = jwt_encode_str(jwt);
    if (!out)
        snprintf(errstr, errstr_size, "cannot encode the token");
done:
    json_object_put(rooms);
    jwt_free(jwt);
    return out;
}
