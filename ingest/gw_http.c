/*
 * gw_http — HTTP on the gateway's port: POST a message, GET room history, /metrics,
 * /healthz, /readyz (the web client's files are served by an lws mount, not here).
 * Answers that wait for Kafka or PostgreSQL are written when the event comes back.
 */
#include "gw_session.h"

#include "cs_json.h"
#include "cs_log.h"
#include "cs_time.h"
#include "cs_utf8.h"
#include "cs_uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gw_http_answer(gw_session_t *s, int status, const char *type, const char *body, size_t len,
                    int64_t retry_after_s)
{
    free(s->resp);
    s->resp = malloc(len + 1);
    if (s->resp)
        memcpy(s->resp, body, len);
    s->resp_len = s->resp ? len : 0;
    s->status = s->resp ? status : 500;
    s->resp_type = type;
    s->retry_after_s = retry_after_s;
    s->resp_ready = true;
    lws_callback_on_writable(s->wsi);
}

void gw_http_error(gw_session_t *s, int status, gw_reject_t r, const char *msg,
                   int64_t retry_after_s)
{
    cs_counter_inc(s->loop->gw->m.rejected[r]);
    cs_buf_t b = CS_BUF_INIT;
    cs_buf_printf(&b, "{\"error\":{\"code\":\"%s\",\"message\":", gw_reject_code(r));
    cs_buf_put_json_str(&b, msg, strlen(msg));
    cs_buf_puts(&b, "}}");
    gw_http_answer(s, status, "application/json", b.data ? b.data : "", b.len, retry_after_s);
    cs_buf_free(&b);
}

/* Who is asking: "Authorization: Bearer <jwt>", or in dev mode "Authorization: Dev <user>". */
static bool gw_http_auth(gw_session_t *s, const char *room)
{
    gw_t *gw = s->loop->gw;
    char hdr[CS_JWT_MAX_TOKEN + 16];
    int n = lws_hdr_copy(s->wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 4 && strcmp(gw->conf->auth_mode, "dev") == 0 && strncmp(hdr, "Dev ", 4) == 0 &&
        cs_ident_valid(hdr + 4, strlen(hdr + 4), CS_IDENT_MAX)) {
        snprintf(s->route_user, sizeof(s->route_user), "%s", hdr + 4);
        return true;
    }
    if (n <= 7 || strncmp(hdr, "Bearer ", 7) != 0) {
        cs_counter_inc(gw->m.auth_failures);
        gw_http_error(s, 401, GW_REJ_BAD_REQUEST, "Authorization: Bearer <token> required", -1);
        return false;
    }
    cs_jwt_claims_t *c = malloc(sizeof(*c));
    char why[200] = "out of memory";
    if (!c || cs_jwt_verify(&gw->verifier, hdr + 7, strlen(hdr + 7), cs_wall_ms() / 1000, c, why,
                            sizeof(why)) != CS_ERR_OK) {
        cs_counter_inc(gw->m.auth_failures);
        gw_http_error(s, 401, GW_REJ_BAD_REQUEST, why, -1);
        free(c);
        return false;
    }
    bool allowed = cs_jwt_room_allowed(c, room);
    snprintf(s->route_user, sizeof(s->route_user), "%s", c->sub);
    free(c);
    if (!allowed) {
        gw_http_error(s, 403, GW_REJ_NOT_MEMBER, "your token does not allow this room", -1);
        return false;
    }
    return true;
}

/* GET|POST /v1/rooms/{room}/messages */
static bool gw_http_route_room(gw_session_t *s, const char *path)
{
    const char *prefix = "/v1/rooms/", *suffix = "/messages";
    size_t pl = strlen(prefix), sl = strlen(suffix), len = strlen(path);
    if (len <= pl + sl || strncmp(path, prefix, pl) != 0 || strcmp(path + len - sl, suffix) != 0)
        return false;
    size_t rl = len - pl - sl;
    if (!cs_ident_valid(path + pl, rl, CS_IDENT_MAX))
        return false;
    memcpy(s->route_room, path + pl, rl);
    s->route_room[rl] = '\0';
    return true;
}

static void gw_http_get_history(gw_session_t *s)
{
    gw_t *gw = s->loop->gw;
    char arg[64], before[CS_UUID_STR_LEN + 1] = "";
    int limit = 50;
    const char *val;
    if ((val = lws_get_urlarg_by_name(s->wsi, "limit=", arg, sizeof(arg)))) {
        char *end;
        long v = strtol(val, &end, 10);
        if (end == val || *end || v < 1 || v > gw->conf->history_limit) {
            gw_http_error(s, 400, GW_REJ_BAD_REQUEST, "limit must be 1..history.limit", -1);
            return;
        }
        limit = (int)v;
    }
    if ((val = lws_get_urlarg_by_name(s->wsi, "before=", arg, sizeof(arg)))) {
        if (!cs_uuid_canonical_lower(val, strlen(val))) {
            gw_http_error(s, 400, GW_REJ_BAD_REQUEST, "before must be a message id", -1);
            return;
        }
        snprintf(before, sizeof(before), "%s", val);
    }
    gw_history_query(gw->history, s->loop->index, s->id, s->route_room, "", before, limit, true);
}

static void gw_http_post(gw_session_t *s)
{
    gw_t *gw = s->loop->gw;
    char why[200];
    if (s->body.len > (size_t)gw->conf->max_frame) {
        gw_http_error(s, 413, GW_REJ_TOO_LARGE, "body too large", -1);
        return;
    }
    if (!cs_utf8_valid(s->body.data ? s->body.data : "", s->body.len)) {
        gw_http_error(s, 400, GW_REJ_BAD_REQUEST, "body is not valid UTF-8", -1);
        return;
    }
    cs_json_obj_t *o = malloc(sizeof(*o));
    char *arena = malloc(cs_json_arena_size(s->body.len));
    if (!o || !arena) {
        gw_http_error(s, 500, GW_REJ_INTERNAL, "out of memory", -1);
        goto done;
    }
    if (cs_json_parse_flat(s->body.data ? s->body.data : "", s->body.len, o, arena,
                           cs_json_arena_size(s->body.len), why, sizeof(why)) != CS_ERR_OK) {
        gw_http_error(s, 400, GW_REJ_BAD_REQUEST, why, -1);
        goto done;
    }
    const cs_json_field_t *text = cs_json_get(o, "text"), *cmid = cs_json_get(o, "cmid");
    if (!text || text->type != CS_JSON_STRING || !cmid || cmid->type != CS_JSON_STRING ||
        !cs_ident_valid(cmid->str, cmid->len, CS_CMID_MAX) || o->n != 2) {
        gw_http_error(s, 400, GW_REJ_BAD_REQUEST, "body must be {\"text\":…,\"cmid\":…}", -1);
        goto done;
    }
    if (text->len > (size_t)gw->conf->max_text) {
        gw_http_error(s, 413, GW_REJ_TOO_LARGE, "text too long", -1);
        goto done;
    }
    if (!cs_text_valid(text->str, text->len, why, sizeof(why))) {
        gw_http_error(s, 400, GW_REJ_BAD_REQUEST, why, -1);
        goto done;
    }
    int64_t retry_ms;
    if (!gw_limits_take(gw->limits, s->route_user, cs_mono_ms(), &retry_ms)) {
        gw_http_error(s, 429, GW_REJ_RATE_LIMITED, "too many messages", (retry_ms + 999) / 1000);
        goto done;
    }
    if (gw_kafka_send(gw, s->loop->index, s->id, s->route_room, s->route_user, cmid->str,
                      cmid->len, text->str, text->len) != CS_ERR_OK) {
        cs_counter_inc(gw->m.unavailable);
        gw_http_error(s, 503, GW_REJ_UNAVAILABLE, "messages cannot be stored right now",
                      (gw->conf->retry_after_ms + 999) / 1000);
        goto done;
    }
    cs_counter_inc(gw->m.received);
done:
    free(arena);
    free(o);
}

static int gw_http_request(gw_session_t *s, const char *uri)
{
    gw_t *gw = s->loop->gw;
    char path[512];
    lws_hdr_copy(s->wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
    s->route_post = lws_hdr_total_length(s->wsi, WSI_TOKEN_POST_URI) > 0;
    if (s->route_post)
        lws_hdr_copy(s->wsi, path, sizeof(path), WSI_TOKEN_POST_URI);
    (void)uri;
    if (!s->route_post && strcmp(path, "/metrics") == 0) {
        cs_buf_t b = CS_BUF_INIT;
        cs_metrics_render(gw->metrics, &b);
        gw_http_answer(s, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len, -1);
        cs_buf_free(&b);
    } else if (!s->route_post && strcmp(path, "/healthz") == 0) {
        gw_http_answer(s, 200, "text/plain", "ok\n", 3, -1);
    } else if (!s->route_post && strcmp(path, "/readyz") == 0) {
        char reason[200];
        if (gw_ready(gw, reason, sizeof(reason)))
            gw_http_answer(s, 200, "text/plain", "ready\n", 6, -1);
        else
            gw_http_answer(s, 503, "text/plain", reason, strlen(reason), -1);
    } else if (gw_http_route_room(s, path)) {
        if (!gw_http_auth(s, s->route_room))
            return 0;
        if (!s->route_post)
            gw_http_get_history(s);
        /* POST: the body arrives in HTTP_BODY callbacks */
    } else {
        gw_http_error(s, 404, GW_REJ_BAD_REQUEST, "no such endpoint", -1);
    }
    return 0;
}

void gw_http_on_event(gw_loop_t *loop, gw_event_t *ev)
{
    gw_session_t *s = gw_session_find(loop, ev->session);
    if (!s)
        return;
    if (ev->kind == GW_EV_HISTORY) {
        if (ev->err != CS_ERR_OK)
            gw_http_error(s, 503, GW_REJ_UNAVAILABLE, "history is unavailable", 1);
        else
            gw_http_answer(s, 200, "application/json", ev->body, ev->body_len, -1);
    } else if (ev->kind == GW_EV_ACK) {
        if (ev->err != CS_ERR_OK) {
            cs_counter_inc(loop->gw->m.unavailable);
            gw_http_error(s, 503, GW_REJ_UNAVAILABLE, "the message could not be stored", 1);
            return;
        }
        cs_counter_inc(loop->gw->m.sent_ok);
        char body[128];
        int n = snprintf(body, sizeof(body), "{\"id\":\"%s\",\"ts\":%lld}", ev->id,
                         (long long)ev->ts);
        gw_http_answer(s, 200, "application/json", body, (size_t)n, -1);
    }
}

static int gw_http_write(gw_session_t *s)
{
    if (!s->resp_ready)
        return 0;
    unsigned char hbuf[LWS_PRE + 1024];
    unsigned char *start = hbuf + LWS_PRE, *p = start, *end = hbuf + sizeof(hbuf);
    if (lws_add_http_common_headers(s->wsi, (unsigned int)s->status, s->resp_type,
                                    (lws_filepos_t)s->resp_len, &p, end))
        return -1;
    if (s->retry_after_s >= 0) {
        char ra[24];
        int n = snprintf(ra, sizeof(ra), "%lld", (long long)s->retry_after_s);
        if (lws_add_http_header_by_name(s->wsi, (const unsigned char *)"retry-after:",
                                        (const unsigned char *)ra, n, &p, end))
            return -1;
    }
    if (lws_finalize_write_http_header(s->wsi, start, &p, end))
        return -1;
    unsigned char *body = malloc(LWS_PRE + s->resp_len + 1);
    if (!body)
        return -1;
    memcpy(body + LWS_PRE, s->resp, s->resp_len);
    int rc = lws_write(s->wsi, body + LWS_PRE, s->resp_len, LWS_WRITE_HTTP_FINAL);
    free(body);
    /* lws may recycle or free the session memory once the transaction completes */
    free(s->resp);
    s->resp = NULL;
    cs_buf_free(&s->body);
    s->resp_ready = false;
    gw_session_remove(s->loop, s);
    s->loop = NULL; /* nothing left to free at close, nothing to find by id */
    if (rc < 0 || lws_http_transaction_completed(s->wsi))
        return -1;
    return 0;
}

int gw_http_callback(struct lws *wsi, enum lws_callback_reasons reason, gw_session_t *s,
                     void *in, size_t len)
{
    (void)wsi;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return gw_http_request(s, in);
    case LWS_CALLBACK_HTTP_BODY:
        if (s->body.len + len > (size_t)s->loop->gw->conf->max_frame + 1)
            return 0; /* keep at most the limit + 1: enough to say 413 */
        cs_buf_append(&s->body, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!s->resp_ready && s->route_post && s->route_room[0])
            gw_http_post(s);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return gw_http_write(s);
    default:
        return 0;
    }
}
