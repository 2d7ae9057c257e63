/*
 * chatstream-token — mints an HS256 token for the gateway (demos, tests, load).
 *
 *   CHATSTREAM_AUTH_SECRET=... chatstream-token -X sub=alice -X ttl=3600 -X rooms=math-101,art
 */
#include "cs_conf.h"
#include "cs_jwt.h"
#include "cs_log.h"
#include "cs_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cs_token_conf {
    char *secret;
    char *sub;
    char *rooms;
    char *iss;
    char *aud;
    int64_t ttl;
} cs_token_conf_t;

static const cs_conf_def_t cs_token_defs[] = {
    CS_CONF_ROW_STR(cs_token_conf_t, secret, "auth.secret", NULL, 1024,
                    "HS256 secret (prefer the environment: CHATSTREAM_AUTH_SECRET)."),
    CS_CONF_ROW_STR(cs_token_conf_t, sub, "sub", NULL, 128, "User id (the `sub` claim)."),
    CS_CONF_ROW_STR(cs_token_conf_t, rooms, "rooms", NULL, 8192,
                    "Comma-separated rooms the user may join (default: any)."),
    CS_CONF_ROW_STR(cs_token_conf_t, iss, "iss", NULL, 256, "Issuer claim."),
    CS_CONF_ROW_STR(cs_token_conf_t, aud, "aud", NULL, 256, "Audience claim."),
    CS_CONF_ROW_INT(cs_token_conf_t, ttl, "ttl", "3600", -86400, 31536000,
                    "Seconds until `exp` (negative: an already expired token, for tests)."),
};

int main(int argc, char **argv)
{
    cs_token_conf_t tc;
    memset(&tc, 0, sizeof(tc));
    char errstr[512];
    cs_log_set_app("token");
    cs_conf_t *conf = cs_conf_new("chatstream-token", "Mints an HS256 token for the gateway.");
    cs_conf_add_section(conf, "Options", cs_token_defs,
                        sizeof(cs_token_defs) / sizeof(cs_token_defs[0]), &tc);
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
    if (!tc.secret || !*tc.secret || !tc.sub || !*tc.sub) {
        fprintf(stderr, "chatstream-token: auth.secret and sub are required\n");
        goto done;
    }
    char *tok = cs_jwt_sign_hs256((const uint8_t *)tc.secret, strlen(tc.secret), tc.sub,
                                  cs_wall_ms() / 1000 + tc.ttl, tc.rooms, tc.iss, tc.aud, errstr,
                                  sizeof(errstr));
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
