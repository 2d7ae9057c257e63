/*
 * gw_ws — the WebSocket side of the protocol (schemas/protocol/PROTOCOL.md): auth, join
 * (with catch-up), leave, send → ack, pushes, limits, pings and closes. Runs on the
 * session's loop thread only.
 */
#include "gw_session.h"

#include "gw_frame.h"
#include "cs_log.h"
#include "cs_time.h"
#include "cs_utf8.h"
#include "cs_uuid.h"
#include "cs_ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- joins --------------------------------------------------------------------------- */

static gw_join_t *gw_join_find(gw_session_t *s, const char *room)
{
    for (int i = 0; i < s->njoins; i++)
        if (strcmp(s->joins[i].room->name, room) == 0)
            return &s->joins[i];
    return NULL;
}

/* The same by the loop's room itself: a pointer compare per join instead of a strcmp, on
 * the path that runs once per delivery (1.2 % of a busy gateway's samples were strcmp). */
static gw_join_t *gw_join_of_room(gw_session_t *s, const gw_room_t *r)
{
    for (int i = 0; i < s->njoins; i++)
        if (s->joins[i].room == r)
            return &s->joins[i];
    return NULL;
}

static void gw_join_drop(gw_session_t *s, int i)
{
    gw_join_t *j = &s->joins[i];
    gw_room_leave(s->loop, j->room, s);
    for (size_t k = 0; k < j->nheld; k++)
        gw_frame_unref(j->held[k]);
    free(j->held);
    free(j->caught);
    s->joins[i] = s->joins[--s->njoins];
}

/* ---- small frames -------------------------------------------------------------------- */

static void gw_send_text(gw_session_t *s, cs_buf_t *b)
{
    gw_frame_t *f = b->oom ? NULL : gw_frame_new(b->data, b->len, NULL);
    if (f) {
        gw_session_queue(s, f);
        gw_frame_unref(f);
    }
}

static void gw_send_room_frame(gw_session_t *s, const char *type, const char *room)
{
    cs_buf_t *b = &s->loop->scratch;
    cs_buf_reset(b);
    cs_buf_printf(b, "{\"type\":\"%s\",\"room\":", type);
    cs_buf_put_json_str(b, room, strlen(room));
    cs_buf_putc(b, '}');
    gw_send_text(s, b);
}

/* ---- flow control -------------------------------------------------------------------- */

static void gw_pause(gw_session_t *s, bool pause)
{
    if (s->paused == pause)
        return;
    s->paused = pause;
    lws_rx_flow_control(s->wsi, pause ? 0 : 1);
}

static void gw_arm_timer(gw_session_t *s)
{
    gw_session_timer(s, s->authed ? GW_TIMER_IDLE : GW_TIMER_AUTH);
}

/* ---- auth ---------------------------------------------------------------------------- */

static bool gw_authenticate(gw_session_t *s, const char *token, size_t token_len,
                            const char *dev_user)
{
    gw_t *gw = s->loop->gw;
    if (strcmp(gw->conf->auth_mode, "dev") == 0 && dev_user) {
        snprintf(s->user, sizeof(s->user), "%s", dev_user);
        s->exp_ms = 0;
    } else if (token) {
        cs_jwt_claims_t *c = malloc(sizeof(*c));
        char why[200];
        if (!c || cs_jwt_verify(&gw->verifier, token, token_len, cs_wall_ms() / 1000, c, why,
                                sizeof(why)) != CS_ERR_OK) {
            cs_counter_inc(gw->m.auth_failures);
            cs_log(CS_LOG_INFO, "auth", "refused a token from %s: %s", s->ip, c ? why : "oom");
            free(c);
            return false;
        }
        snprintf(s->user, sizeof(s->user), "%s", c->sub);
        s->exp_ms = c->exp * 1000;
        if (c->nrooms >= 0) {
            s->allowed = calloc((size_t)c->nrooms + 1, sizeof(char *));
            for (int i = 0; s->allowed && i < c->nrooms; i++)
                s->allowed[i] = strdup(c->rooms[i]);
            s->nallowed = c->nrooms;
        }
        free(c);
    } else {
        cs_counter_inc(gw->m.auth_failures);
        return false;
    }
    s->authed = true;
    s->join_tokens = (gw_tokens_t){.tokens = (double)gw->conf->max_rooms, .at_ms = cs_mono_ms()};
    cs_buf_t *b = &s->loop->scratch;
    cs_buf_reset(b);
    cs_buf_puts(b, "{\"type\":\"ready\",\"user\":");
    cs_buf_put_json_str(b, s->user, strlen(s->user));
    cs_buf_printf(b,
                  ",\"limits\":{\"max_frame\":%lld,\"max_text\":%lld,\"rate\":%g,\"burst\":%lld,"
                  "\"max_rooms\":%lld,\"joins_rate\":%g}}",
                  (long long)gw->conf->max_frame, (long long)gw->conf->max_text, gw->conf->rate,
                  (long long)gw->conf->burst, (long long)gw->conf->max_rooms,
                  gw->conf->joins_rate);
    gw_send_text(s, b);
    gw_arm_timer(s);
    return true;
}

static bool gw_origin_allowed(const gw_conf_t *c, const char *origin)
{
    if (!c->origins || !*c->origins)
        return true;
    size_t olen = strlen(origin), n;
    for (const char *cur = c->origins, *p; cs_conf_list_next(&cur, &p, &n);)
        if (n == olen && strncmp(p, origin, n) == 0)
            return true;
    return false;
}

static int gw_established(gw_session_t *s)
{
    gw_t *gw = s->loop->gw;
    cs_gauge_add(gw->m.connections, 1);
    cs_counter_inc(gw->m.connects);
    char buf[CS_JWT_MAX_TOKEN + 1];
    if (lws_hdr_copy(s->wsi, buf, sizeof(buf), WSI_TOKEN_GET_URI) < 0 || strcmp(buf, "/v1/ws") != 0) {
        cs_log(CS_LOG_INFO, "ws", "upgrade on %s refused (use /v1/ws)", buf);
        return -1;
    }
    int olen = lws_hdr_copy(s->wsi, buf, sizeof(buf), WSI_TOKEN_ORIGIN);
    if (!gw_origin_allowed(gw->conf, olen > 0 ? buf : "")) {
        cs_log(CS_LOG_INFO, "ws", "origin '%s' of %s not allowed", olen > 0 ? buf : "", s->ip);
        gw_session_close(s, GW_CLOSE_ORIGIN);
        return 0;
    }
    if (!gw_limits_conn_open(gw->limits, s->ip)) {
        gw_session_close(s, GW_CLOSE_PER_IP);
        return 0;
    }
    s->ip_counted = true;
    const char *tok = lws_get_urlarg_by_name(s->wsi, "token=", buf, sizeof(buf));
    if (tok) {
        if (!gw_authenticate(s, tok, strlen(tok), NULL))
            gw_session_close(s, GW_CLOSE_AUTH);
        return 0;
    }
    gw_arm_timer(s);
    return 0;
}

/* ---- client frames ------------------------------------------------------------------- */

static void gw_on_join(gw_session_t *s, const gw_client_frame_t *f)
{
    gw_t *gw = s->loop->gw;
    char room[CS_IDENT_MAX + 1];
    memcpy(room, f->room, f->room_len + 1);
    if (gw_join_find(s, room)) {
        gw_send_room_frame(s, "joined", room);
        return;
    }
    if (s->allowed) {
        bool ok = false;
        for (int i = 0; i < s->nallowed && !ok; i++)
            ok = s->allowed[i] && strcmp(s->allowed[i], room) == 0;
        if (!ok) {
            gw_session_error(s, GW_REJ_NOT_MEMBER, "your token does not allow this room", NULL,
                             room, -1);
            return;
        }
    }
    if (s->njoins >= gw->conf->max_rooms) {
        gw_session_error(s, GW_REJ_TOO_MANY_ROOMS, "too many rooms on this connection", NULL,
                         room, -1);
        return;
    }
    int64_t retry_ms;
    if (!gw_tokens_take(&s->join_tokens, gw->conf->joins_rate, (double)gw->conf->max_rooms,
                        cs_mono_ms(), &retry_ms)) {
        gw_session_error(s, GW_REJ_RATE_LIMITED, "too many joins; slow down", NULL, room,
                         retry_ms);
        return;
    }
    gw_join_t *joins = realloc(s->joins, (size_t)(s->njoins + 1) * sizeof(*joins));
    if (joins)
        s->joins = joins;
    gw_room_t *r = joins ? gw_room_join(s->loop, room, s) : NULL;
    if (!r) {
        gw_session_error(s, GW_REJ_INTERNAL, "out of memory", NULL, room, -1);
        return;
    }
    s->joins[s->njoins++] = (gw_join_t){.room = r, .pending = f->since != NULL};
    gw_send_room_frame(s, "joined", room);
    if (f->since)
        gw_history_query(gw->history, s->loop->index, s->id, room, f->since, "",
                         (int)gw->conf->history_limit, false);
}

static void gw_on_leave(gw_session_t *s, const gw_client_frame_t *f)
{
    for (int i = 0; i < s->njoins; i++)
        if (strcmp(s->joins[i].room->name, f->room) == 0) {
            gw_join_drop(s, i);
            break;
        }
    gw_send_room_frame(s, "left", f->room);
}

static void gw_on_send(gw_session_t *s, const gw_client_frame_t *f)
{
    gw_t *gw = s->loop->gw;
    if (!gw_join_find(s, f->room)) {
        gw_session_error(s, GW_REJ_NOT_MEMBER, "join the room before sending to it", f->cmid,
                         f->room, -1);
        return;
    }
    int64_t retry_ms;
    if (!gw_limits_take(gw->limits, s->user, cs_mono_ms(), &retry_ms)) {
        gw_session_error(s, GW_REJ_RATE_LIMITED, "too many messages; slow down", f->cmid,
                         f->room, retry_ms);
        return;
    }
    if (gw_kafka_send(gw, s->loop->index, s->id, f->room, s->user, f->cmid, f->cmid_len,
                      f->text, f->text_len) != CS_ERR_OK) {
        cs_counter_inc(gw->m.unavailable);
        gw_session_error(s, GW_REJ_UNAVAILABLE, "messages cannot be stored right now", f->cmid,
                         f->room, gw->conf->retry_after_ms);
        /* and stop reading this client until then: no unbounded buffer anywhere */
        gw_pause(s, true);
        gw_session_timer(s, GW_TIMER_RETRY);
        return;
    }
    cs_counter_inc(gw->m.received);
    if (++s->inflight >= gw->conf->max_inflight)
        gw_pause(s, true);
}

static void gw_on_frame(gw_session_t *s, const char *data, size_t len)
{
    gw_t *gw = s->loop->gw;
    if (!cs_utf8_valid(data, len)) {
        gw_session_close(s, GW_CLOSE_BAD_UTF8);
        return;
    }
    gw_client_frame_t *f = malloc(sizeof(*f));
    char *arena = malloc(gw_frame_arena_size(len));
    char why[200];
    if (!f || !arena) {
        gw_session_error(s, GW_REJ_INTERNAL, "out of memory", NULL, NULL, -1);
        goto done;
    }
    gw_cf_status_t st = gw_frame_parse(data, len, (size_t)gw->conf->max_text, f, arena,
                                       gw_frame_arena_size(len), why, sizeof(why));
    if (!s->authed) {
        /* the first frame must authenticate; anything else ends the connection */
        if (st != GW_CF_OK || f->type != GW_CF_AUTH ||
            !gw_authenticate(s, f->token, f->token_len, f->user))
            gw_session_close(s, GW_CLOSE_AUTH);
        goto done;
    }
    if (st != GW_CF_OK) {
        gw_reject_t r = st == GW_CF_UNKNOWN_TYPE ? GW_REJ_UNKNOWN_TYPE
                        : st == GW_CF_TOO_LARGE  ? GW_REJ_TOO_LARGE
                                                 : GW_REJ_BAD_REQUEST;
        gw_session_error(s, r, why, f->cmid, f->room, -1);
        goto done;
    }
    switch (f->type) {
    case GW_CF_SEND:
        gw_on_send(s, f);
        break;
    case GW_CF_JOIN:
        gw_on_join(s, f);
        break;
    case GW_CF_LEAVE:
        gw_on_leave(s, f);
        break;
    case GW_CF_AUTH:
        gw_session_error(s, GW_REJ_BAD_REQUEST, "already authenticated", NULL, NULL, -1);
        break;
    }
done:
    free(arena);
    free(f);
}

/* ---- events -------------------------------------------------------------------------- */

static int gw_cmp_frame_id(const void *a, const void *b)
{
    return strcmp((*(gw_frame_t *const *)a)->id, (*(gw_frame_t *const *)b)->id);
}

/* The catch-up of a join with `since`: what PostgreSQL had, what this loop pushed to the
 * room recently (newer than PostgreSQL may be), then what arrived live meanwhile — each
 * id once, nothing at or before `since`. */
static void gw_catch_up(gw_session_t *s, gw_event_t *ev)
{
    gw_join_t *j = gw_join_find(s, ev->room);
    if (!j || !j->pending)
        return;
    j->pending = false;
    gw_room_t *r = j->room;
    const char *since = ev->id;
    size_t cap = ev->nrows + r->recent_n + j->nheld, n = 0;
    gw_frame_t **sent = malloc((cap ? cap : 1) * sizeof(*sent));
    if (!sent)
        goto out;
    if (ev->err != CS_ERR_OK)
        gw_session_error(s, GW_REJ_UNAVAILABLE, "history is unavailable; showing what this "
                                                "gateway has", NULL, ev->room, -1);
    for (size_t i = 0; i < ev->nrows; i++) {
        gw_session_queue(s, ev->rows[i]);
        sent[n++] = ev->rows[i];
    }
    qsort(sent, n, sizeof(*sent), gw_cmp_frame_id);
    size_t sorted = n;
    size_t rcap = (size_t)s->loop->gw->conf->recent_per_room;
    for (size_t pass = 0; pass < 2; pass++) {
        size_t count = pass == 0 ? r->recent_n : j->nheld;
        for (size_t i = 0; i < count; i++) {
            gw_frame_t *f = pass == 0 ? r->recent[(r->recent_head + i) % rcap] : j->held[i];
            if (strcmp(f->id, since) <= 0 ||
                bsearch(&f, sent, sorted, sizeof(*sent), gw_cmp_frame_id))
                continue;
            bool dup = false;
            for (size_t k = sorted; k < n && !dup; k++)
                dup = strcmp(sent[k]->id, f->id) == 0;
            if (dup)
                continue;
            gw_session_queue(s, f);
            sent[n++] = f;
        }
    }
    snprintf(j->floor, sizeof(j->floor), "%s", since);
    qsort(sent, n, sizeof(*sent), gw_cmp_frame_id);
    free(j->caught);
    j->ncaught = 0;
    if (n > 0 && (j->caught = malloc(n * sizeof(*j->caught)))) {
        for (size_t k = 0; k < n; k++)
            memcpy(j->caught[k], sent[k]->id, sizeof(j->caught[k]));
        j->ncaught = n;
    }
out:
    free(sent);
    for (size_t k = 0; k < j->nheld; k++)
        gw_frame_unref(j->held[k]);
    free(j->held);
    j->held = NULL;
    j->nheld = j->capheld = 0;
}

static int gw_cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* True when a push was already sent to this joiner by its catch-up (see gw_join_t). */
static bool gw_join_seen(gw_join_t *j, const char *id)
{
    if (strcmp(id, j->floor) <= 0)
        return true;
    if (j->ncaught == 0)
        return false;
    if (bsearch(id, j->caught, j->ncaught, sizeof(*j->caught), gw_cmp_id))
        return true;
    if (strcmp(id, j->caught[j->ncaught - 1]) > 0) {
        free(j->caught);
        j->caught = NULL;
        j->ncaught = 0;
    }
    return false;
}

static void gw_on_push(gw_loop_t *loop, gw_event_t *ev)
{
    gw_room_t *r = gw_room_find(loop, ev->room);
    if (!r)
        return; /* nobody here is in the room */
    if (ev->seq <= r->seeded_seq)
        return; /* read before the room started, which it started with (not live to these) */
    gw_room_remember(loop, r, ev->frame);
    size_t n = 0;
    for (size_t i = 0; i < r->nmembers; i++) {
        gw_session_t *s = r->members[i];
        gw_join_t *j = gw_join_of_room(s, r);
        if (j && j->pending) {
            if (j->nheld == j->capheld) {
                size_t cap = j->capheld ? j->capheld * 2 : 16;
                gw_frame_t **h = realloc(j->held, cap * sizeof(*h));
                if (!h)
                    continue;
                j->held = h;
                j->capheld = cap;
            }
            j->held[j->nheld++] = gw_frame_ref(ev->frame);
            continue;
        }
        if (j && j->floor[0] && gw_join_seen(j, ev->frame->id))
            continue;
        gw_session_queue(s, ev->frame);
        n++;
    }
    cs_counter_add(loop->gw->m.delivered, n);
}

/* SIGTERM: every WebSocket is told 1001 (going away: reconnect elsewhere) after what is
 * queued to it, the acks of its last sends included, has been written. */
static void gw_on_shutdown(gw_loop_t *loop)
{
    size_t n = 0;
    for (size_t b = 0; b < sizeof(loop->sessions) / sizeof(loop->sessions[0]); b++)
        for (gw_session_t *s = loop->sessions[b]; s; s = s->hnext)
            if (!s->http && !s->closing) {
                gw_session_close(s, GW_CLOSE_SHUTDOWN);
                n++;
            }
    if (n)
        cs_log(CS_LOG_INFO, "shutdown", "loop %d: closing %zu connection(s) with 1001",
               loop->index, n);
}

void gw_ws_on_event(gw_loop_t *loop, gw_event_t *ev)
{
    if (ev->kind == GW_EV_MSG) {
        gw_on_push(loop, ev);
        return;
    }
    if (ev->kind == GW_EV_SHUTDOWN) {
        gw_on_shutdown(loop);
        return;
    }
    gw_session_t *s = gw_session_find(loop, ev->session);
    if (!s || s->closing)
        return;
    gw_t *gw = loop->gw;
    gw_session_flush_now(s); /* an ack, an error or history: the client waits for it */
    if (ev->kind == GW_EV_HISTORY) {
        gw_catch_up(s, ev);
        return;
    }
    /* GW_EV_ACK */
    s->inflight--;
    if (s->paused && s->inflight <= gw->conf->max_inflight / 2)
        gw_pause(s, false);
    if (ev->err != CS_ERR_OK) {
        cs_counter_inc(gw->m.unavailable);
        gw_session_error(s, GW_REJ_UNAVAILABLE, "the message could not be stored; retry it",
                         ev->cmid, NULL, gw->conf->retry_after_ms);
        return;
    }
    cs_counter_inc(gw->m.sent_ok);
    cs_histogram_observe(gw->m.ack_seconds, (double)(cs_wall_ms() - ev->ts) / 1000.0);
    cs_buf_t *b = &loop->scratch;
    cs_buf_reset(b);
    cs_buf_puts(b, "{\"type\":\"ack\",\"cmid\":");
    cs_buf_put_json_str(b, ev->cmid, strlen(ev->cmid));
    cs_buf_printf(b, ",\"id\":\"%s\",\"ts\":%lld}", ev->id, (long long)ev->ts);
    gw_send_text(s, b);
}

/* ---- housekeeping -------------------------------------------------------------------- */

void gw_ws_on_timer(gw_session_t *s)
{
    const gw_conf_t *c = s->loop->gw->conf;
    int64_t now = cs_mono_ms();
    if (s->closing)
        return;
    if (!s->authed) {
        if (now - s->opened_ms >= c->auth_timeout_ms) {
            gw_session_close(s, GW_CLOSE_AUTH);
            return;
        }
    } else {
        if (s->exp_ms && cs_wall_ms() >= s->exp_ms) {
            gw_session_close(s, GW_CLOSE_AUTH);
            return;
        }
        if (now - s->last_rx_ms >= c->idle_timeout_ms) {
            gw_session_close(s, GW_CLOSE_IDLE);
            return;
        }
        if (now - s->last_rx_ms >= c->idle_timeout_ms / 2 && !s->ping_sent) {
            s->ping_sent = true;
            s->ping_due = true;
            lws_callback_on_writable(s->wsi);
        }
    }
    /* a pause for `unavailable` ends here; a pause for in-flight sends ends with acks */
    if (s->paused && s->inflight < c->max_inflight)
        gw_pause(s, false);
    gw_arm_timer(s);
}

void gw_ws_closed(gw_session_t *s)
{
    gw_t *gw = s->loop->gw;
    cs_gauge_add(gw->m.connections, -1);
    while (s->njoins > 0)
        gw_join_drop(s, s->njoins - 1);
    free(s->joins);
    s->joins = NULL;
    if (s->ip_counted)
        gw_limits_conn_close(gw->limits, s->ip);
    for (int i = 0; s->allowed && i < s->nallowed; i++)
        free(s->allowed[i]);
    free(s->allowed);
    s->allowed = NULL;
}

/* ---- the callback -------------------------------------------------------------------- */

#define GW_BATCH_BYTES 65536

/* Frames the queued text frames ourselves (server frames are not
 * masked: 0x81, then the length in 1, 3 or 9 bytes) into one buffer, at most
 * GW_BATCH_BYTES, and hands lws that as raw bytes — one send() for the lot instead of one
 * per message: a room's burst costs each member one syscall. lws keeps what the socket did
 * not take and sends it before anything else (a ping, a pong) on the connection.
 * Returns -1 when the connection failed, else 0; frames past GW_BATCH_BYTES stay queued. */
static int gw_write_batch(gw_session_t *s)
{
    cs_buf_t *b = &s->loop->batch;
    cs_buf_reset(b);
    unsigned char pre[LWS_PRE] = {0};
    cs_buf_append(b, pre, sizeof(pre));
    int frames = 0;
    gw_frame_t *f;
    while ((f = gw_outq_peek(&s->outq)) &&
           (frames == 0 || b->len + f->len + 10 <= LWS_PRE + GW_BATCH_BYTES)) {
        uint8_t h[CS_WS_HEADER_MAX];
        cs_buf_append(b, h, cs_ws_header(h, CS_WS_FIN | CS_WS_TEXT, f->len, NULL));
        cs_buf_append(b, f->buf + LWS_PRE, f->len);
        if (b->oom)
            return -1;
        gw_outq_pop(&s->outq);
        s->outq_bytes -= f->len;
        gw_frame_unref(f);
        frames++;
    }
    if (!frames)
        return 0;
    if (s->loop->gw->conf->coalesce_ms)
        s->last_write_ms = cs_mono_ms();
    cs_counter_add(s->loop->gw->m.writes, 1);
    cs_counter_add(s->loop->gw->m.frames_written, (uint64_t)frames);
    return lws_write(s->wsi, (unsigned char *)b->data + LWS_PRE, b->len - LWS_PRE,
                     LWS_WRITE_RAW) < 0 ? -1 : 0;
}

void gw_ws_flush(gw_session_t *s)
{
    /* a close, a ping or bytes lws still holds: the writeable callback's turn */
    while (s->outq.len && !s->closing && !lws_partial_buffered(s->wsi)) {
        if (gw_write_batch(s) < 0) {
            /* not from inside a callback: lws closes it from its loop */
            lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
            return;
        }
    }
    if (s->outq.len || s->ping_due || s->closing)
        lws_callback_on_writable(s->wsi);
}

/*
 * The close frame with our code and reason, framed here (server frames are not masked) and
 * written raw; returning -1 then closes the socket. Not lws_close_reason(): lws 4.1.6 on
 * libuv closed the socket without ever sending that frame (clients saw 1006, not 4401 or
 * 1001); on poll(2) it sends the same bytes as this.
 */
static void gw_write_close(gw_session_t *s)
{
    const char *why = gw_close_name(s->close_why);
    size_t wlen = strlen(why);
    if (wlen > 123) /* a control frame's payload is at most 125 bytes */
        wlen = 123;
    unsigned char f[LWS_PRE + CS_WS_HEADER_MAX + 2 + 123];
    unsigned char *p = f + LWS_PRE;
    size_t hn = cs_ws_header(p, CS_WS_FIN | CS_WS_CLOSE, 2 + wlen, NULL); /* code + reason */
    int code = gw_close_code(s->close_why);
    p[hn] = (unsigned char)(code >> 8);
    p[hn + 1] = (unsigned char)code;
    memcpy(p + hn + 2, why, wlen);
    lws_write(s->wsi, p, hn + 2 + wlen, LWS_WRITE_RAW);
}

static int gw_writeable(gw_session_t *s)
{
    if (s->closing && !(s->close_why == GW_CLOSE_SHUTDOWN && s->outq.len)) {
        gw_write_close(s);
        return -1;
    }
    /* several frames per callback while the socket takes them (lws buffers a partial
     * send itself and then reports the pipe choked) */
    for (int n = 0; n < 64 && (s->outq.len || s->ping_due) &&
                    !(n > 0 && lws_send_pipe_choked(s->wsi));
         n++) {
        if (s->outq.len) {
            if (gw_write_batch(s) < 0)
                return -1;
            continue;
        }
        s->ping_due = false;
        /* with a payload: lws 4.1.6 drops an empty PONG without calling us back, so a
         * client answering an empty ping would still be closed as idle */
        unsigned char buf[LWS_PRE + 4] = {0};
        memcpy(buf + LWS_PRE, "ping", 4);
        if (lws_write(s->wsi, buf + LWS_PRE, 4, LWS_WRITE_PING) < 0)
            return -1;
    }
    if (s->outq.len || s->ping_due || s->closing)
        lws_callback_on_writable(s->wsi);
    return 0;
}

int gw_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    gw_session_t *s = user;
    (void)wsi;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        return gw_established(s);
    case LWS_CALLBACK_RECEIVE: {
        gw_t *gw = s->loop->gw;
        s->last_rx_ms = cs_mono_ms();
        s->ping_sent = false;
        if (s->closing)
            return 0;
        if (lws_frame_is_binary(wsi)) {
            gw_session_error(s, GW_REJ_BAD_REQUEST, "frames are JSON text", NULL, NULL, -1);
            return 0;
        }
        /* never hold more than the limit: a frame past it closes the connection */
        if (s->rx.len + len > (size_t)gw->conf->max_frame) {
            cs_buf_reset(&s->rx);
            gw_session_close(s, GW_CLOSE_TOO_BIG);
            return 0;
        }
        if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi)) {
            gw_on_frame(s, in, len);
            return 0;
        }
        cs_buf_append(&s->rx, in, len);
        if (lws_is_final_fragment(wsi)) {
            gw_on_frame(s, s->rx.data, s->rx.len);
            cs_buf_reset(&s->rx);
        }
        return 0;
    }
    case LWS_CALLBACK_RECEIVE_PONG:
        s->last_rx_ms = cs_mono_ms();
        s->ping_sent = false;
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return gw_writeable(s);
    default:
        return 0;
    }
}
