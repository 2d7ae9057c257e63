/*
 * gw_loop — one libwebsockets context and its service thread; sessions, the inbox that
 * other threads post to, and the frames queued to clients.
 */
#include "gw_session.h"

#include "cs_log.h"
#include "cs_lws_uv.h"
#include "cs_time.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- frames -------------------------------------------------------------------------- */

gw_frame_t *gw_frame_new(const char *data, size_t len, const char *id)
{
    gw_frame_t *f = malloc(sizeof(*f) + LWS_PRE + len);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    f->len = len;
    snprintf(f->id, sizeof(f->id), "%s", id ? id : "");
    memcpy(f->buf + LWS_PRE, data, len);
    return f;
}

gw_frame_t *gw_frame_ref(gw_frame_t *f)
{
    atomic_fetch_add(&f->refs, 1);
    return f;
}

void gw_frame_unref(gw_frame_t *f)
{
    if (f && atomic_fetch_sub(&f->refs, 1) == 1)
        free(f);
}

gw_frame_t *gw_frame_msg(const cs_envelope_t *env)
{
    cs_buf_t b = CS_BUF_INIT;
    cs_buf_puts(&b, "{\"type\":\"msg\",\"room\":");
    cs_buf_put_json_str(&b, env->room, env->room_len);
    cs_buf_printf(&b, ",\"id\":\"%s\",\"user\":", env->id);
    cs_buf_put_json_str(&b, env->user, env->user_len);
    cs_buf_puts(&b, ",\"text\":");
    cs_buf_put_json_str(&b, env->text, env->text_len);
    cs_buf_printf(&b, ",\"ts\":%lld", (long long)env->ts);
    if (env->cmid) {
        cs_buf_puts(&b, ",\"cmid\":");
        cs_buf_put_json_str(&b, env->cmid, env->cmid_len);
    }
    cs_buf_putc(&b, '}');
    gw_frame_t *f = b.oom ? NULL : gw_frame_new(b.data, b.len, env->id);
    cs_buf_free(&b);
    return f;
}

/* ---- codes --------------------------------------------------------------------------- */

const char *gw_reject_code(gw_reject_t r)
{
    static const char *const names[GW_REJ__COUNT] = {
        "bad_request", "unknown_type", "too_large", "rate_limited",
        "not_member",  "too_many_rooms", "unavailable", "internal",
    };
    return r < GW_REJ__COUNT ? names[r] : "internal";
}

int gw_close_code(gw_close_t c)
{
    static const int codes[GW_CLOSE__COUNT] = {1007, 1009, 4401, 4403, 4408, 4429, 4508, 1001};
    return c < GW_CLOSE__COUNT ? codes[c] : 1011;
}

const char *gw_close_name(gw_close_t c)
{
    static const char *const names[GW_CLOSE__COUNT] = {
        "bad_utf8", "too_big", "auth", "origin", "idle", "per_ip", "slow_reader", "shutdown",
    };
    return c < GW_CLOSE__COUNT ? names[c] : "other";
}

/* ---- events -------------------------------------------------------------------------- */

void gw_event_free(gw_event_t *ev)
{
    if (!ev)
        return;
    gw_frame_unref(ev->frame);
    for (size_t i = 0; i < ev->nrows; i++)
        gw_frame_unref(ev->rows[i]);
    free(ev->rows);
    free(ev->body);
    free(ev);
}

/* Any thread: appends to the loop's inbox and wakes its service thread — only for the
 * first event of an empty inbox: a wake-up is a pipe write, and the drain it causes takes
 * everything queued until then (one per ack and per fan-out batch was ~2,400 writes a
 * second per gateway at 1,000 users). */
void gw_loop_post(gw_loop_t *loop, gw_event_t *ev)
{
    ev->next = NULL;
    pthread_mutex_lock(&loop->lock);
    bool wake = !loop->inbox;
    if (wake)
        loop->inbox_since_us = cs_mono_us();
    if (loop->inbox_tail)
        loop->inbox_tail->next = ev;
    else
        loop->inbox = ev;
    loop->inbox_tail = ev;
    pthread_mutex_unlock(&loop->lock);
    if (wake)
        lws_cancel_service(loop->ctx);
}

/* ---- coalescing (ws.coalesce.ms) ---------------------------------------------------- */

/*
 * Nearly all of a gateway's CPU is the kernel's: one loopback or NIC send per client per
 * flush (perf at 3,000 users: 87 % of the gateway threads' samples). A school client gets
 * ~30 frames a second, one or two per drain, so batching within a drain saves little. With
 * ws.coalesce.ms = W, a socket written less than W ago is not written again until W after
 * that write; what arrives meanwhile goes out in the same send. A client that has been
 * quiet for W gets its frame at once, so the window costs latency only to busy clients,
 * and at most W.
 */
static void gw_coalesce_fire(lws_sorted_usec_list_t *sul);

static void gw_coalesce_arm(gw_loop_t *loop, int64_t wait_ms)
{
    loop->coalesce_armed = true;
    lws_sul_schedule(loop->ctx, 0, &loop->coalesce_sul, gw_coalesce_fire,
                     (wait_ms > 0 ? wait_ms : 0) * LWS_US_PER_MS);
}

/* True when s's flush now waits on the deferred list. */
static bool gw_coalesce_defer(gw_loop_t *loop, gw_session_t *s, int64_t now)
{
    int64_t due = s->last_write_ms + loop->window.ms;
    if (due <= now || s->closing)
        return false;
    if (loop->ndeferred == loop->capdeferred) {
        size_t cap = loop->capdeferred ? loop->capdeferred * 2 : 256;
        uint64_t *d = realloc(loop->deferred, cap * sizeof(*d));
        if (!d)
            return false; /* written now instead */
        loop->deferred = d;
        loop->capdeferred = cap;
    }
    loop->deferred[loop->ndeferred++] = s->id;
    s->deferred = true;
    cs_counter_inc(loop->gw->m.coalesced);
    if (!loop->coalesce_armed)
        gw_coalesce_arm(loop, due - now);
    return true;
}

/* Writes the deferred sessions that are due, or nearly (within a quarter window: fewer
 * wake-ups for a few ms of earliness), and sleeps until the earliest of the rest. */
static void gw_coalesce_fire(lws_sorted_usec_list_t *sul)
{
    gw_loop_t *loop = lws_container_of(sul, gw_loop_t, coalesce_sul);
    loop->coalesce_armed = false;
    int64_t w = loop->window.ms, now = cs_mono_ms(), next = INT64_MAX;
    size_t keep = 0, n = loop->ndeferred;
    for (size_t i = 0; i < n; i++) {
        gw_session_t *s = gw_session_find(loop, loop->deferred[i]);
        if (!s || s->http || !s->deferred)
            continue; /* closed meanwhile, or written by a drain since (gw_session_flush_now) */
        int64_t due = s->last_write_ms + w;
        if (due > now + w / 4 && s->outq.len && !s->closing) {
            loop->deferred[keep++] = s->id;
            next = due < next ? due : next;
            continue;
        }
        s->flush_listed = s->deferred = false;
        gw_ws_flush(s);
    }
    loop->ndeferred = keep;
    if (keep)
        gw_coalesce_arm(loop, next - now);
}

/*
 * Runs the events posted to this thread: deliveries, acks, history answers, new sockets.
 * The frames they queue are written at the end, straight to each socket (one write per
 * client for the whole drain, up to 64 KB each), not from lws's writeable callback: asking lws for that
 * callback and getting it turns POLLOUT on and off again, and lws on libuv does each turn
 * with uv_poll_start, i.e. an epoll_ctl DEL and an ADD — four syscalls per write, 37 % of a
 * gateway's CPU at 1,000 users (perf). The callback is still used when a socket is full.
 */
static void gw_loop_drain(gw_loop_t *loop)
{
    pthread_mutex_lock(&loop->lock);
    gw_event_t *ev = loop->inbox;
    int64_t since_us = loop->inbox_since_us;
    loop->inbox = loop->inbox_tail = NULL;
    pthread_mutex_unlock(&loop->lock);
    if (ev) {
        int64_t now_us = cs_mono_us(), lag_us = now_us - since_us;
        cs_histogram_observe(loop->gw->m.loop_lag_seconds, (double)lag_us / 1e6);
        if (loop->gw->conf->coalesce_ms && gw_window_observe(&loop->window, lag_us, now_us / 1000))
            cs_gauge_set(loop->gw->m.coalesce_window_s[loop->index], (double)loop->window.ms / 1e3);
    }
    loop->draining = true;
    while (ev) {
        gw_event_t *next = ev->next;
        if (ev->kind == GW_EV_ADOPT) {
            if (!lws_adopt_socket_vhost(loop->vhost, ev->fd))
                cs_log(CS_LOG_WARN, "accept", "could not adopt a connection (out of memory?)");
            free(ev);
            ev = next;
            continue;
        }
        gw_session_t *s = ev->kind == GW_EV_MSG ? NULL : gw_session_find(loop, ev->session);
        if (s && s->http)
            gw_http_on_event(loop, ev);
        else
            gw_ws_on_event(loop, ev);
        gw_event_free(ev);
        ev = next;
    }
    loop->draining = false;
    /* no lws service between the queueing and here, so no listed session has closed */
    int64_t now = loop->window.ms ? cs_mono_ms() : 0;
    gw_session_t *s;
    while ((s = loop->flush)) {
        loop->flush = s->flush_next;
        if (now && !s->flush_now && gw_coalesce_defer(loop, s, now))
            continue; /* stays flush_listed: what it is sent meanwhile joins the wait */
        s->flush_listed = s->flush_now = false;
        gw_ws_flush(s);
    }
}

/* ---- sessions ------------------------------------------------------------------------ */

gw_session_t *gw_session_find(gw_loop_t *loop, uint64_t id)
{
    for (gw_session_t *s = loop->sessions[id % 4096]; s; s = s->hnext)
        if (s->id == id)
            return s;
    return NULL;
}

/* ---- timers -------------------------------------------------------------------------- */

static void gw_timers_fire(lws_sorted_usec_list_t *sul);

/* Wakes the loop at due_ms rounded up to the slack: thousands of sessions have thousands of
 * distinct due times, and waking for each (~1,000 wake-ups a second per thread at 14,000
 * idle sessions) cost more than the timers' work; a few dozen ms late is nothing to a
 * 5-second housekeeping tick. */
static int64_t gw_timers_round(const gw_loop_t *loop, int64_t due_ms)
{
    int64_t q = loop->timers_slack_ms;
    return (due_ms + q - 1) / q * q;
}

static void gw_timers_schedule(gw_loop_t *loop, int64_t due_ms, int64_t now_ms)
{
    due_ms = gw_timers_round(loop, due_ms);
    loop->timers_at_ms = due_ms;
    int64_t wait_ms = due_ms > now_ms ? due_ms - now_ms : 0;
    lws_sul_schedule(loop->ctx, 0, &loop->timers_sul, gw_timers_fire, wait_ms * 1000);
}

/* The one lws timer of the loop: runs every session timer that is due, then sleeps until
 * the earliest of the rest (each gw_ws_on_timer usually re-arms its session). */
static void gw_timers_fire(lws_sorted_usec_list_t *sul)
{
    gw_loop_t *loop = lws_container_of(sul, gw_loop_t, timers_sul);
    loop->timers_at_ms = 0;
    int64_t now = cs_mono_ms();
    gw_timer_t *tm;
    while ((tm = gw_timers_pop_due(&loop->timers, now)))
        gw_ws_on_timer(lws_container_of(tm, gw_session_t, timer));
    int64_t next = gw_timers_next(&loop->timers);
    if (next >= 0 && (!loop->timers_at_ms || gw_timers_round(loop, next) < loop->timers_at_ms))
        gw_timers_schedule(loop, next, cs_mono_ms());
}

void gw_session_timer(gw_session_t *s, gw_timer_queue_t q)
{
    gw_loop_t *loop = s->loop;
    int64_t now = cs_mono_ms();
    int64_t due = gw_timer_arm(&loop->timers, &s->timer, q, now);
    if (!loop->timers_at_ms || gw_timers_round(loop, due) < loop->timers_at_ms)
        gw_timers_schedule(loop, due, now);
}

/* ---- sessions ------------------------------------------------------------------------ */

static void gw_session_add(gw_loop_t *loop, gw_session_t *s)
{
    s->hnext = loop->sessions[s->id % 4096];
    loop->sessions[s->id % 4096] = s;
}

void gw_session_remove(gw_loop_t *loop, gw_session_t *s)
{
    gw_session_t **pp = &loop->sessions[s->id % 4096];
    while (*pp && *pp != s)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = s->hnext;
}

/* Queues a frame to a WebSocket client; past outq.max.bytes the client is a slow reader
 * and is cut off, so one client's backlog never grows without bound. */
void gw_session_queue(gw_session_t *s, gw_frame_t *f)
{
    if (s->closing)
        return;
    gw_t *gw = s->loop->gw;
    if (s->outq_bytes + f->len > (size_t)gw->conf->outq_max_bytes) {
        cs_counter_inc(gw->m.slow_readers);
        cs_log(CS_LOG_INFO, "ws", "slow reader %s (%s): %zu bytes queued, disconnecting",
               s->user, s->ip, s->outq_bytes);
        gw_session_close(s, GW_CLOSE_SLOW_READER);
        return;
    }
    if (!gw_outq_push(&s->outq, f)) {
        cs_log(CS_LOG_WARN, "ws", "out of memory queueing a frame for %s: disconnecting", s->user);
        gw_session_close(s, GW_CLOSE_SLOW_READER);
        return;
    }
    gw_frame_ref(f);
    s->outq_bytes += f->len;
    if (!s->loop->draining) {
        lws_callback_on_writable(s->wsi);
    } else if (!s->flush_listed) {
        s->flush_listed = true;
        s->flush_next = s->loop->flush;
        s->loop->flush = s;
    }
}

void gw_session_flush_now(gw_session_t *s)
{
    if (s->http || s->closing || !s->loop->draining)
        return; /* outside a drain gw_session_queue has asked for the writeable callback */
    s->flush_now = true;
    if (s->deferred) { /* from the deferred list back onto this drain's flush list */
        s->deferred = false;
        s->flush_next = s->loop->flush;
        s->loop->flush = s;
    }
}

/* Closes with a code: the close frame is sent from the writeable callback; a client that
 * never lets us write (a slow reader) is dropped by the timeout. */
void gw_session_close(gw_session_t *s, gw_close_t why)
{
    if (s->closing)
        return;
    s->closing = true;
    s->close_why = why;
    cs_counter_inc(s->loop->gw->m.closed[why]);
    lws_callback_on_writable(s->wsi);
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, 2);
}

void gw_session_error(gw_session_t *s, gw_reject_t r, const char *msg, const char *cmid,
                      const char *room, int64_t retry_after_ms)
{
    gw_t *gw = s->loop->gw;
    cs_counter_inc(gw->m.rejected[r]);
    cs_buf_t *b = &s->loop->scratch;
    cs_buf_reset(b);
    cs_buf_printf(b, "{\"type\":\"error\",\"code\":\"%s\",\"message\":", gw_reject_code(r));
    cs_buf_put_json_str(b, msg, strlen(msg));
    if (cmid) {
        cs_buf_puts(b, ",\"cmid\":");
        cs_buf_put_json_str(b, cmid, strlen(cmid));
    }
    if (room) {
        cs_buf_puts(b, ",\"room\":");
        cs_buf_put_json_str(b, room, strlen(room));
    }
    if (retry_after_ms >= 0)
        cs_buf_printf(b, ",\"retry_after_ms\":%lld", (long long)retry_after_ms);
    cs_buf_putc(b, '}');
    gw_frame_t *f = b->oom ? NULL : gw_frame_new(b->data, b->len, NULL);
    if (f) {
        gw_session_queue(s, f);
        gw_frame_unref(f);
    }
}

/* ---- the lws callback ---------------------------------------------------------------- */

/* Frees what the live half of the session's union holds (gw_session.h). */
static void gw_session_free_half(gw_session_t *s)
{
    if (s->http) {
        cs_buf_free(&s->body);
        free(s->resp);
        s->resp = NULL;
        return;
    }
    for (gw_frame_t *f; (f = gw_outq_pop(&s->outq));)
        gw_frame_unref(f);
    gw_outq_free(&s->outq);
    cs_buf_free(&s->rx);
}

static int gw_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    gw_loop_t *loop = lws_context_user(lws_get_context(wsi));
    gw_session_t *s = user;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        gw_loop_drain(loop);
        if (loop->uv_used && atomic_load(&loop->gw->stop))
            uv_stop(&loop->uv); /* gw_loop_stop's wake-up: gw_loop_main's uv_run returns */
        return 0;
    case LWS_CALLBACK_HTTP:
    case LWS_CALLBACK_ESTABLISHED:
        if (!s)
            return -1;
        if (s->loop) { /* the next request on a kept-alive HTTP connection */
            gw_session_remove(loop, s);
            gw_session_free_half(s);
        }
        memset(s, 0, sizeof(*s));
        s->wsi = wsi;
        s->loop = loop;
        s->id = atomic_fetch_add(&loop->gw->next_session, 1) + 1;
        s->http = reason == LWS_CALLBACK_HTTP;
        s->opened_ms = s->last_rx_ms = cs_mono_ms();
        if (s->http)
            cs_buf_init(&s->body);
        else
            cs_buf_init(&s->rx);
        lws_get_peer_simple(wsi, s->ip, sizeof(s->ip));
        gw_session_add(loop, s);
        return s->http ? gw_http_callback(wsi, reason, s, in, len)
                       : gw_ws_callback(wsi, reason, s, in, len);
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (!s || !s->loop)
            return 0;
        if (!s->http)
            gw_ws_closed(s);
        gw_timer_disarm(&loop->timers, &s->timer);
        gw_session_remove(loop, s);
        gw_session_free_half(s);
        s->loop = NULL;
        return 0;
    case LWS_CALLBACK_HTTP_BODY:
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return s && s->loop ? gw_http_callback(wsi, reason, s, in, len) : -1;
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_RECEIVE_PONG:
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return s && s->loop ? gw_ws_callback(wsi, reason, s, in, len) : -1;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- the context --------------------------------------------------------------------- */

/* lws mallocs rx_buffer_size (+ LWS_PRE) for every WebSocket when it opens and keeps it
 * until it closes: with 4096 that buffer was 60 % of an idle connection's 6.6 KB. A chat
 * frame is a few hundred bytes; a bigger one (up to ws.max.frame.bytes) arrives in
 * pieces, which gw_ws_callback assembles anyway. tx_packet_size keeps what rx_buffer_size
 * also limited on the sending side (0 there means "the same as rx") where it was. */
#define GW_RX_BUFFER_BYTES 1024
#define GW_TX_PACKET_BYTES 4096

static const struct lws_protocols gw_protocols[] = {
    /* protocols[0] is also what a client that names no subprotocol gets */
    {"chatstream.v1", gw_callback, sizeof(gw_session_t), GW_RX_BUFFER_BYTES, 0, NULL,
     GW_TX_PACKET_BYTES},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static struct lws_http_mount gw_mount_dynamic(const char *path, const struct lws_http_mount *next)
{
    struct lws_http_mount m;
    memset(&m, 0, sizeof(m));
    m.mount_next = next;
    m.mountpoint = path;
    m.mountpoint_len = (unsigned char)strlen(path);
    m.origin = "chatstream.v1";
    m.origin_protocol = LWSMPRO_CALLBACK;
    return m;
}

#define GW_HOUSEKEEPING_MS 5000 /* at most this long between a session's timer checks */

static int64_t gw_clamp_ms(int64_t ms)
{
    return ms > GW_HOUSEKEEPING_MS ? GW_HOUSEKEEPING_MS : ms < 50 ? 50 : ms;
}

gw_loop_t *gw_loop_new(gw_t *gw, int index, char *errstr, size_t errstr_size)
{
    gw_loop_t *loop = calloc(1, sizeof(*loop));
    struct lws_http_mount *mounts = calloc(5, sizeof(*mounts));
    if (!loop || !mounts) {
        free(loop);
        free(mounts);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    loop->gw = gw;
    loop->index = index;
    gw_window_init(&loop->window, gw->conf->coalesce_ms, gw->conf->coalesce_lag_us, cs_mono_ms());
    cs_gauge_set(gw->m.coalesce_window_s[index], (double)loop->window.ms / 1e3);
    /* housekeeping at a quarter of the idle timeout: the ping goes out between 1/2 and 3/4
     * of it, leaving the pong at least a quarter to come back (ticking at 1/2 raced the ping
     * threshold: a tick 1 ms early skipped the ping and the next one closed a live client);
     * at most GW_HOUSEKEEPING_MS apart (token expiry), at least 50 ms */
    const gw_conf_t *c = gw->conf;
    int64_t periods[GW_TIMER_QUEUES] = {
        [GW_TIMER_AUTH] = gw_clamp_ms(c->auth_timeout_ms),
        [GW_TIMER_IDLE] = gw_clamp_ms(c->idle_timeout_ms / 4),
        [GW_TIMER_RETRY] = c->retry_after_ms,
    };
    gw_timers_init(&loop->timers, periods);
    int64_t shortest = periods[0];
    for (int i = 1; i < GW_TIMER_QUEUES; i++)
        shortest = periods[i] < shortest ? periods[i] : shortest;
    loop->timers_slack_ms = shortest / 4 > 100 ? 100 : shortest / 4 < 1 ? 1 : shortest / 4;
    pthread_mutex_init(&loop->lock, NULL);
    cs_buf_init(&loop->scratch);
    cs_buf_init(&loop->batch);
    /* "/" serves the web client's files; the API paths go to our callback. */
    mounts[4] = (struct lws_http_mount){0};
    mounts[4].mountpoint = "/";
    mounts[4].mountpoint_len = 1;
    mounts[4].origin = gw->conf->web_root;
    mounts[4].def = "index.html";
    mounts[4].origin_protocol = LWSMPRO_FILE;
    mounts[3] = gw_mount_dynamic("/readyz", &mounts[4]);
    mounts[2] = gw_mount_dynamic("/healthz", &mounts[3]);
    mounts[1] = gw_mount_dynamic("/metrics", &mounts[2]);
    mounts[0] = gw_mount_dynamic("/v1", &mounts[1]);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* the acceptor hands us connections */
    info.protocols = gw_protocols;
    info.mounts = mounts;
    info.user = loop;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    info.timeout_secs = 10;
    info.max_http_header_pool = 64;
    info.pt_serv_buf_size = 16384;
    info.fd_limit_per_thread = 0;
    /* No lws validity timer: the gateway pings and times out idle clients itself
     * (gw_ws_on_timer). lws's default policy (ping at 300 s, hang up at 310 s) re-inserts a
     * per-connection timer into one sorted list on every frame received — O(connections)
     * each: 69 % of an idle gateway's CPU at 14,000 connections, and a walk per message
     * under load. A zero hang-up time turns it off. */
    static const lws_retry_bo_t gw_no_validity = {.secs_since_valid_ping = 0,
                                                  .secs_since_valid_hangup = 0};
    info.retry_and_idle_policy = &gw_no_validity;
    /* poll(2) walks every connection of the thread at every wake-up: at 14,000 mostly idle
     * connections per gateway that walk was ~80 % of its CPU. libuv waits with epoll. */
    void *foreign_loops[1];
    if (strcmp(gw->conf->event_lib, "uv") == 0) {
        uv_loop_init(&loop->uv);
        loop->uv_used = true;
        foreign_loops[0] = &loop->uv;
        info.foreign_loops = foreign_loops;
        info.options |= LWS_SERVER_OPTION_LIBUV;
    }
    loop->ctx = lws_create_context(&info);
    if (!loop->ctx) {
        snprintf(errstr, errstr_size, "cannot create libwebsockets context %d", index);
        if (loop->uv_used)
            uv_loop_close(&loop->uv);
        pthread_mutex_destroy(&loop->lock);
        free(mounts);
        free(loop);
        return NULL;
    }
    loop->mounts = mounts; /* lws keeps pointers into the mount list */
    loop->vhost = lws_get_vhost_by_name(loop->ctx, "default");
    return loop;
}

static void *gw_loop_main(void *arg)
{
    gw_loop_t *loop = arg;
    while (!atomic_load(&loop->gw->stop)) {
        if (loop->uv_used)
            uv_run(&loop->uv, UV_RUN_DEFAULT); /* until the stop's wake-up calls uv_stop */
        else if (lws_service(loop->ctx, 0) < 0)
            break;
    }
    return NULL;
}

bool gw_loop_start(gw_loop_t *loop)
{
    loop->started = pthread_create(&loop->thread, NULL, gw_loop_main, loop) == 0;
    return loop->started;
}

void gw_loop_stop(gw_loop_t *loop)
{
    if (!loop || !loop->started)
        return;
    lws_cancel_service(loop->ctx);
    pthread_join(loop->thread, NULL);
    loop->started = false;
}

void gw_loop_destroy(gw_loop_t *loop)
{
    if (!loop)
        return;
    gw_loop_stop(loop);
    if (loop->uv_used)
        cs_lws_uv_destroy(loop->ctx, &loop->uv);
    else
        lws_context_destroy(loop->ctx);
    gw_event_t *ev = loop->inbox;
    while (ev) {
        gw_event_t *n = ev->next;
        gw_event_free(ev);
        ev = n;
    }
    gw_rooms_free_all(loop);
    cs_buf_free(&loop->scratch);
    cs_buf_free(&loop->batch);
    free(loop->deferred);
    pthread_mutex_destroy(&loop->lock);
    free(loop->mounts);
    free(loop);
}

/* ---- the acceptor -------------------------------------------------------------------- */

static void *gw_acceptor_main(void *arg)
{
    gw_t *gw = arg;
    unsigned next = 0;
    while (!atomic_load(&gw->stop) && !atomic_load(&gw->draining)) {
        struct pollfd pfd = {.fd = gw->listen_fd, .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        int fd = accept4(gw->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                cs_log(CS_LOG_WARN, "accept", "out of file descriptors: %s", strerror(errno));
                usleep(100 * 1000); /* rather than spin on a full table */
            }
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (gw->conf->sndbuf > 0) {
            int sb = (int)gw->conf->sndbuf;
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
        }
        gw_event_t *ev = calloc(1, sizeof(*ev));
        if (!ev) {
            close(fd);
            continue;
        }
        ev->kind = GW_EV_ADOPT;
        ev->fd = fd;
        gw_loop_post(gw->loops[next++ % (unsigned)gw->nloops], ev);
    }
    return NULL;
}

bool gw_acceptor_start(gw_t *gw, char *errstr, size_t errstr_size)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gw->conf->port)};
    if (inet_pton(AF_INET, gw->conf->host, &sa.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "listen.host %s is not an IPv4 address", gw->conf->host);
        return false;
    }
    int one = 1;
    gw->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (gw->listen_fd < 0 ||
        setsockopt(gw->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(gw->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(gw->listen_fd, 4096) != 0) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%lld: %s", gw->conf->host,
                 (long long)gw->conf->port, strerror(errno));
        if (gw->listen_fd >= 0)
            close(gw->listen_fd);
        gw->listen_fd = -1;
        return false;
    }
    gw->acceptor_started = pthread_create(&gw->acceptor, NULL, gw_acceptor_main, gw) == 0;
    if (!gw->acceptor_started)
        snprintf(errstr, errstr_size, "cannot start the acceptor thread");
    return gw->acceptor_started;
}

void gw_acceptor_stop(gw_t *gw)
{
    if (gw->acceptor_started)
        pthread_join(gw->acceptor, NULL);
    gw->acceptor_started = false;
    if (gw->listen_fd >= 0)
        close(gw->listen_fd);
    gw->listen_fd = -1;
}
