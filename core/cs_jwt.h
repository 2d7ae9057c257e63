/*
 * cs_jwt — HS256 JSON Web Tokens: verify (gateway) and sign (tools, loadgen, tests).
 *
 * Parsing is libjwt's (Debian's libjwt 1.10); on top of it we refuse every algorithm but
 * HS256 before trusting anything, check the signature a second time ourselves with
 * OpenSSL's constant-time compare (libjwt 1.10 compares signatures with strcmp), and read
 * the claims strictly with types checked: `sub` (a chatstream identifier), `exp` (required,
 * integer), `nbf` (integer, when present), `iss`/`aud` (when configured), `rooms` (optional
 * array of room ids the holder may join).
 */
#ifndef CS_JWT_H
#define CS_JWT_H

#include "cs_conf.h"
#include "cs_err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_JWT_MAX_TOKEN 8192 /* bytes; longer tokens are refused unread */
#define CS_JWT_MAX_ROOMS 64   /* entries of the `rooms` claim */
#define CS_JWT_MAX_SECRET 1024 /* bytes of an HS256 secret */
#define CS_JWT_MIN_SECRET 16

typedef struct cs_jwt_verifier {
    const uint8_t *key; /* the HS256 secret (not copied; must outlive the verifier) */
    size_t key_len;
    const char *iss;    /* required issuer, or NULL/"" for any */
    const char *aud;    /* required audience, or NULL/"" for any */
    int64_t leeway_s;   /* clock skew allowed on exp and nbf */
} cs_jwt_verifier_t;

/*
 * The verifier's options: one config section ("JWT", cs_jwt_conf_defs) that every binary
 * checking tokens (the gateway, the search API) adds to its own, so the names, defaults
 * and limits cannot drift apart. auth.mode stays each binary's (their dev modes differ).
 */
typedef struct cs_jwt_conf {
    char *secret;
    char *secret_file;
    char *issuer;
    char *audience;
    int64_t leeway_s;
} cs_jwt_conf_t;

extern const cs_conf_def_t cs_jwt_conf_defs[];
extern const size_t cs_jwt_conf_ndefs;

/* True when auth.secret or auth.secret.file is set. */
bool cs_jwt_conf_has_secret(const cs_jwt_conf_t *c);

/*
 * Fills *v from the options: the secret from auth.secret, else from auth.secret.file
 * (trailing newlines dropped), copied into key[CS_JWT_MAX_SECRET] (which must outlive *v).
 * CS_ERR_INVALID with errstr when there is none, it is shorter than CS_JWT_MIN_SECRET or
 * longer than CS_JWT_MAX_SECRET bytes, or the file cannot be read.
 */
cs_err_t cs_jwt_verifier_load(const cs_jwt_conf_t *c, uint8_t key[CS_JWT_MAX_SECRET],
                              cs_jwt_verifier_t *v, char *errstr, size_t errstr_size);

typedef struct cs_jwt_claims {
    char sub[129];      /* user id */
    int64_t exp;        /* Unix seconds */
    int nrooms;         /* -1: no `rooms` claim (any room); else the count */
    char rooms[CS_JWT_MAX_ROOMS][129];
} cs_jwt_claims_t;

/*
 * Verifies `token` at time now_s (Unix seconds). CS_ERR_OK and *claims filled, or
 * CS_ERR_INVALID with errstr saying why (bad signature, alg, expired, not yet valid,
 * wrong issuer or audience, missing or ill-typed claim, too long).
 */
cs_err_t cs_jwt_verify(const cs_jwt_verifier_t *v, const char *token, size_t token_len,
                       int64_t now_s, cs_jwt_claims_t *claims, char *errstr, size_t errstr_size);

/* True when the claims allow joining `room` (no `rooms` claim: any room). */
bool cs_jwt_room_allowed(const cs_jwt_claims_t *claims, const char *room);

/*
 * Signs an HS256 token for `sub` expiring at exp_s; `rooms_csv` ("a,b,c") adds a `rooms`
 * claim, `iss`/`aud` theirs when non-NULL and non-empty (NULL and "" both mean none, as for
 * the verifier, so a cs_jwt_conf_t's values pass straight through). Returns a malloc'd
 * string (caller frees) or NULL with errstr.
 */
char *cs_jwt_sign_hs256(const uint8_t *key, size_t key_len, const char *sub, int64_t exp_s,
                        const char *rooms_csv, const char *iss, const char *aud, char *errstr,
                        size_t errstr_size);

#endif
