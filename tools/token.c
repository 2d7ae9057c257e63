/*
 * chatstream-token — mints an HS256 token for the gateway (demos, tests, load).
 *
 *   CHATSTREAM_AUTH_SECRET=... chatstream-token -X sub=alice -X ttl=3600 -X rooms=math-101,art
 *
 * The secret and the iss/aud claims come from the gateway's own "JWT" options (auth.secret
 * or auth.secret.file, auth.issuer, auth.audience: cs_jwt_conf_defs), so the environment
 * or file that configures a gateway mints tokens it accepts.
 */
#include "cs_conf.h"
#include "cs_jwt.h"
#include "cs_log.h"
#include "cs_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cs_token_conf {
    char *sub;
    char *rooms;
    int64_t ttl;
} cs_token_conf_t;

static const cs_conf_def_t cs_token_defs[] = {
    CS_CONF_ROW_STR(cs_token_conf_t, sub, "sub", NULL, 128, "User id (the `sub` claim)."),
    CS_CONF_ROW_STR(cs_token_conf_t, rooms, "rooms", NULL, 8192,
                    "Comma-separated rooms the user may join (default: any)."),
    CS_CONF_ROW_INT(cs_token_conf_t, ttl, "ttl", "3600", -86400, 31536000,
                    "Seconds until `exp` (negative: an already expired token, for tests)."),
};

int main(int argc, char **argv)
{
    cs_token_conf_t tc;
    cs_jwt_conf_t jc;
    memset(&tc, 0, sizeof(tc));
    memset(&jc, 0, sizeof(jc));
    char errstr[512];
    cs_log_set_app("token");
    cs_conf_t *conf = cs_conf_new("chatstream-token", "Mints an HS256 token for the gateway.");
    cs_conf_add_section(conf, "Options", cs_token_defs,
                        sizeof(cs_token_defs) / sizeof(cs_token_defs[0]), &tc);
    cs_conf_add_section(conf, "JWT", cs_jwt_conf_defs, cs_jwt_conf_ndefs, &jc);
    int status = 2;
    switch (cs_conf_load(conf, argc, argv, errstr, sizeof(errstr))) {
    case CS_CONF_EXIT_OK:
        status = 0;
        goto done;
    case CS_CONF_ERROR:
        fprintf(stderr, "chatstream-token: %s\n", errstr);
        goto done;
    case CS_CONF_RUN:
        break;
    }
    if (!tc.sub || !*tc.sub) {
        fprintf(stderr, "chatstream-token: sub is required\n");
        goto done;
    }
    uint8_t key[CS_JWT_MAX_SECRET];
    cs_jwt_verifier_t jwt;
    if (cs_jwt_verifier_load(&jc, key, &jwt, errstr, sizeof(errstr)) != CS_ERR_OK) {
        fprintf(stderr, "chatstream-token: %s\n", errstr);
        goto done;
    }
    char *tok = cs_jwt_sign_hs256(jwt.key, jwt.key_len, tc.sub, cs_wall_ms() / 1000 + tc.ttl,
                                  tc.rooms, jwt.iss, jwt.aud, errstr, sizeof(errstr));
    if (!tok) {
        fprintf(stderr, "chatstream-token: %s\n", errstr);
        goto done;
    }
    printf("%s\n", tok);
    free(tok);
    status = 0;
done:
    cs_conf_destroy(conf);
    return status;
}
