/*
 * chatstream-loadgen — simulated users on real WebSockets, speaking the client
 * protocol (schemas/protocol/PROTOCOL.md) to one or more gateways, and an
 * account of what happened to every message.
 *
 *   chatstream-loadgen -X scenario=school -X users=2000 -X duration=30 --json
 *   chatstream-loadgen -X scenario=bell -X users=5000 -X bell.seconds=10
 *   chatstream-loadgen -X scenario=idle -X users=10000 -X gateway.pgrep=chatstream-gateway
 *
 * One thread, one libwebsockets context, event-driven: a user is a struct and a
 * socket, never a thread. lws connects, polls, reads and writes raw bytes; the
 * WebSocket on top (upgrade, frames, pongs, close) is lg_ws's, because lws 4.1's
 * client parser costs a function call per received byte. Users are spread over the
 * gateways round-robin (so a room's members sit on different gateways and fan-out is
 * exercised across them) and, past what one source address can open, over the source
 * addresses 127.0.0.2 .. 127.0.0.(1+source.addrs).
 *
 * Phases: connect (paced at connect.rate, or all within bell.seconds), then run
 * (each user sends `rate` messages a second to its room, with jitter) for
 * `duration` seconds, then drain (no new sends; wait up to drain.seconds for
 * the last acks and deliveries), then the report: a human summary on stdout,
 * or one JSON line with --json. See lg_acct.h for what is counted and how.
 */
#include "cs_conf.h"
#include "cs_log.h"
#include "cs_lws_uv.h"
#include "cs_rand.h"
#include "cs_time.h"
#include "cs_ws.h"
#include "cs_jwt.h"
#include "lg_acct.h"
#include "lg_frame.h"
#include "lg_hist.h"
#include "lg_ws.h"

#include <uv.h> /* before libwebsockets.h: declares its libuv helpers */

#include <libwebsockets.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- configuration ----------------------------------------------------------------- */

typedef struct lg_conf {
    char *scenario;
    char *gateways;
    char *path;
    int64_t users;
    int64_t room_size;
    double rate;
    double jitter;
    int64_t size;
    double duration;
    double bell_seconds;
    double connect_rate;
    int64_t connect_inflight;
    double connect_timeout;
    double drain_seconds;
    char *auth_mode;
    int64_t jwt_ttl;
    int64_t source_addrs;
    char *gateway_pids;
    char *gateway_pgrep;
    double idle_settle;
    bool idle_join;
    char *run_id;
    int64_t max_attempts;
    bool json;
    bool check;
    bool progress;
    char *log_level;
    char *event_lib;
    int64_t batch_us;
} lg_conf_t;

static const cs_conf_def_t lg_conf_defs[] = {
    CS_CONF_ROW_STR(lg_conf_t, scenario, "scenario", "school", 16,
                    "school (users send to rooms), bell (everyone connects within bell.seconds, "
                    "then school) or idle (connections that only answer pings)."),
    CS_CONF_ROW_STR(lg_conf_t, gateways, "gateways", "127.0.0.1:8080", 4096,
                    "Gateways as host:port[,host:port...]; users are spread round-robin."),
    CS_CONF_ROW_STR(lg_conf_t, path, "path", "/v1/ws", 256, "WebSocket path."),
    CS_CONF_ROW_INT(lg_conf_t, users, "users", "1000", 1, 1000000, "Simulated users (N)."),
    CS_CONF_ROW_INT(lg_conf_t, room_size, "room.size", "30", 1, 1000,
                    "Users per room (K); user i is in room i/K."),
    CS_CONF_ROW_DOUBLE(lg_conf_t, rate, "rate", "1", 0, 1000,
                       "Messages per second per user (R)."),
    CS_CONF_ROW_DOUBLE(lg_conf_t, jitter, "jitter", "0.2", 0, 1,
                       "Each gap between sends is 1/R times a uniform factor in [1-j, 1+j]."),
    CS_CONF_ROW_INT(lg_conf_t, size, "size", "100", 48, 4000,
                    "Text bytes per message (S); the first ~30 carry send time, sender and seq."),
    CS_CONF_ROW_DOUBLE(lg_conf_t, duration, "duration", "20", 0, 86400,
                       "Seconds of sending (or of holding, for idle)."),
    CS_CONF_ROW_DOUBLE(lg_conf_t, bell_seconds, "bell.seconds", "10", 0.1, 3600,
                       "bell: every user connects and joins within this many seconds."),
    CS_CONF_ROW_DOUBLE(lg_conf_t, connect_rate, "connect.rate", "2000", 1, 1000000,
                       "school/idle: new connections per second."),
    CS_CONF_ROW_INT(lg_conf_t, connect_inflight, "connect.inflight", "2000", 1, 1000000,
                    "At most this many connections between connect and joined."),
    CS_CONF_ROW_DOUBLE(lg_conf_t, connect_timeout, "connect.timeout", "60", 1, 3600,
                       "Give up waiting for connects and joins after this many seconds."),
    CS_CONF_ROW_DOUBLE(lg_conf_t, drain_seconds, "drain.seconds", "10", 0, 600,
                       "After the run, wait this long at most for outstanding acks and deliveries."),
    CS_CONF_ROW_STR(lg_conf_t, auth_mode, "auth.mode", "jwt", 8,
                    "jwt (HS256 tokens signed with auth.secret) or dev (the gateway's dev mode)."),
    CS_CONF_ROW_INT(lg_conf_t, jwt_ttl, "jwt.ttl", "3600", 10, 86400 * 30, "Token lifetime in seconds."),
    CS_CONF_ROW_INT(lg_conf_t, source_addrs, "source.addrs", "-1", -1, 250,
                    "Bind to 127.0.0.2..127.0.0.(1+n), round-robin (0: let the kernel choose; "
                    "-1: one address per 20,000 users when users > 20,000)."),
    CS_CONF_ROW_STR(lg_conf_t, gateway_pids, "gateway.pids", "", 4096,
                    "idle: gateway pids (comma-separated) whose VmRSS is measured."),
    CS_CONF_ROW_STR(lg_conf_t, gateway_pgrep, "gateway.pgrep", "", 256,
                    "idle: or a pgrep -f pattern that finds them."),
    CS_CONF_ROW_DOUBLE(lg_conf_t, idle_settle, "idle.settle", "3", 0, 600,
                       "idle: seconds to wait after the last join before measuring memory."),
    CS_CONF_ROW_BOOL(lg_conf_t, idle_join, "idle.join", "true",
                     "idle: authenticate and join a room (false: authenticate only)."),
    CS_CONF_ROW_STR(lg_conf_t, run_id, "run.id", "", 24,
                    "Prefix of user and room ids (default: derived from time and pid), so runs "
                    "never share rooms and (user, cmid) stays unique."),
    CS_CONF_ROW_INT(lg_conf_t, max_attempts, "send.attempts", "5", 1, 100,
                    "Sends refused with rate_limited/unavailable are retried (same cmid) up to "
                    "this many attempts in all."),
    CS_CONF_ROW_BOOL(lg_conf_t, json, "json", "false",
                     "Print one JSON line instead of the human summary (also: --json)."),
    CS_CONF_ROW_BOOL(lg_conf_t, check, "check", "false",
                     "Exit 3 unless delivered = expected and nothing was lost, duplicated, out "
                     "of order, refused, or failed to connect (also: --check)."),
    CS_CONF_ROW_BOOL(lg_conf_t, progress, "progress", "false",
                     "A line per second on stderr (also: --progress)."),
    CS_CONF_ROW_STR(lg_conf_t, log_level, "log.level", "warn", 8, "error, warn, info or debug."),
    CS_CONF_ROW_STR(lg_conf_t, event_lib, "event.lib", "uv", 8,
                    "Event loop under libwebsockets: uv (libuv: epoll, cost independent of the "
                    "number of connections) or poll (lws's own poll(2) loop, which scans every "
                    "socket on every wake-up)."),
    CS_CONF_ROW_INT(lg_conf_t, batch_us, "batch.us", "1000", 0, 100000,
                    "uv: poll the sockets at most once per this many microseconds and serve "
                    "everything ready at once (0: wake up for every event). Batching is what "
                    "keeps the loadgen's CPU per delivery low; it adds at most this much to "
                    "each measured latency."),
};

/* ---- state ------------------------------------------------------------------------- */

enum { LG_SCHOOL, LG_BELL, LG_IDLE };
enum { LG_PHASE_CONNECT, LG_PHASE_RUN, LG_PHASE_DRAIN, LG_PHASE_DONE };
enum {
    LG_U_IDLE,       /* not connected yet */
    LG_U_CONNECTING, /* TCP connect or HTTP upgrade under way */
    LG_U_OPEN,       /* WebSocket open, auth sent or to send */
    LG_U_READY,      /* authenticated, join sent or to send */
    LG_U_JOINED,     /* member of its room */
    LG_U_CLOSED,     /* closed after opening */
    LG_U_FAILED,     /* never opened */
};
enum { LG_WANT_AUTH = 1, LG_WANT_JOIN = 2, LG_WANT_UPGRADE = 4 };
#define LG_MAX_MESSAGE (1u << 20) /* a server message, at most */
#define LG_RETRY_RING 8

typedef struct lg_user {
    struct lws *wsi;
    uint32_t idx;             /* 0..users-1 */
    uint32_t room;            /* idx / room.size */
    uint8_t state;            /* LG_U_* */
    uint8_t want;             /* LG_WANT_* frames still to write */
    uint8_t gateway;          /* index into gateways */
    uint32_t due;             /* new sends due, not yet written */
    uint32_t retry[LG_RETRY_RING]; /* seqs to write again (a ring) */
    uint8_t retry_head, retry_len;
    uint32_t heap_pos;        /* position in the send heap, UINT32_MAX when not in it */
    int64_t next_due;         /* monotonic ns of the next send */
    int64_t connect_start;    /* monotonic ns */
    uint16_t close_code;      /* from the server's close frame */
    bool hs_counted;          /* a failed handshake's reason is counted already */
    char ws_key[LG_WS_KEY_LEN]; /* this connection's Sec-WebSocket-Key */
    lg_seen_t *seen;          /* one per member of the room, by idx - first of room */
    lg_room_pos_t pos;        /* place in the room's reference order */
    lg_msg_t *msgs;           /* by seq - 1 */
    uint64_t *sent_ns;        /* by seq - 1: when the first attempt was written */
    uint32_t nmsgs, cap;
    lg_ws_rx_t rx;            /* what the server sent, read so far */
} lg_user_t;

typedef struct lg_room {
    uint32_t first, count; /* its users */
    uint32_t joined;       /* members joined now */
    lg_room_log_t log;
} lg_room_t;

typedef struct lg_retry {
    int64_t due;
    uint32_t user, seq;
} lg_retry_t;

typedef struct lg_count {
    char name[40];
    uint64_t n;
} lg_count_t;
#define LG_MAX_COUNTS 16

typedef struct lg {
    lg_conf_t *conf;
    int scenario;
    struct lws_context *context;
    lws_sorted_usec_list_t tick;
    char run[32];
    char (*gw_host)[256];
    int *gw_port;
    unsigned ngw;
    char (*src)[20];
    unsigned nsrc;
    lg_user_t *users;
    uint32_t nusers;
    lg_room_t *rooms;
    uint32_t nrooms;
    uint32_t *heap; /* send schedule: user indexes by next_due */
    uint32_t heap_len;
    lg_retry_t *retries;
    size_t nretries, cap_retries;
    int phase;
    int64_t t_start, t_connect_done, t_run, t_run_end, t_drain_end, t_last_connect;
    uint32_t next_connect; /* next user to connect */
    uint32_t inflight;     /* connecting or authenticating */
    uint32_t open, joined, failed, closed;
    uint64_t acked_expected_live, delivered_live; /* for the drain's early exit */
    uint64_t acked_live, sent_live, pending_acks;
    lg_acct_totals_t totals;
    lg_hist_t ack, delivery, send_lag, join, interval;
    lg_count_t errors[LG_MAX_COUNTS];
    lg_count_t closes[LG_MAX_COUNTS];
    lg_count_t connect_errors[LG_MAX_COUNTS];
    uint64_t join_errors, frames_other, give_ups, pings;
    struct rusage ru_run;
    double cpu_run, cpu_total;
    long rss_gw_before_kb, rss_gw_after_kb, rss_self_before_kb, rss_self_after_kb;
    int ngw_pids;
    int gw_pids[64];
    uint64_t last_delivered, last_sent;
    int64_t last_progress;
    uv_loop_t *uv; /* our libuv loop, lws joins it; NULL with event.lib=poll */
    /* auth.mode=jwt: the gateways' secret and required claims, from the same "JWT" options
     * (auth.secret or auth.secret.file, auth.issuer, auth.audience) the gateway reads */
    uint8_t jwt_key[CS_JWT_MAX_SECRET];
    cs_jwt_verifier_t jwt;
} lg_t;

static volatile sig_atomic_t lg_stop;
static lg_t *lg_global; /* the one instance, for the lws callbacks */

static void lg_on_signal(int sig)
{
    (void)sig;
    lg_stop = 1;
}

static int64_t lg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void lg_count(lg_count_t *table, const char *name, size_t len)
{
    if (len >= sizeof(table[0].name))
        len = sizeof(table[0].name) - 1;
    for (int i = 0; i < LG_MAX_COUNTS; i++) {
        if (!table[i].name[0]) {
            memcpy(table[i].name, name, len);
            table[i].name[len] = '\0';
            table[i].n = 1;
            return;
        }
        if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0) {
            table[i].n++;
            return;
        }
    }
    table[LG_MAX_COUNTS - 1].n++; /* the last slot takes the overflow */
}

static uint64_t lg_count_total(const lg_count_t *table)
{
    uint64_t n = 0;
    for (int i = 0; i < LG_MAX_COUNTS; i++)
        n += table[i].n;
    return n;
}

/* ---- the send schedule: a binary min-heap of users by next_due ----------------------- */

static void lg_heap_swap(lg_t *lg, uint32_t a, uint32_t b)
{
    uint32_t ua = lg->heap[a], ub = lg->heap[b];
    lg->heap[a] = ub, lg->users[ub].heap_pos = a;
    lg->heap[b] = ua, lg->users[ua].heap_pos = b;
}

static void lg_heap_up(lg_t *lg, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (lg->users[lg->heap[p]].next_due <= lg->users[lg->heap[i]].next_due)
            break;
        lg_heap_swap(lg, i, p);
        i = p;
    }
}

static void lg_heap_down(lg_t *lg, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < lg->heap_len && lg->users[lg->heap[l]].next_due < lg->users[lg->heap[m]].next_due)
            m = l;
        if (r < lg->heap_len && lg->users[lg->heap[r]].next_due < lg->users[lg->heap[m]].next_due)
            m = r;
        if (m == i)
            return;
        lg_heap_swap(lg, i, m);
        i = m;
    }
}

static void lg_heap_push(lg_t *lg, lg_user_t *u)
{
    u->heap_pos = lg->heap_len;
    lg->heap[lg->heap_len++] = u->idx;
    lg_heap_up(lg, u->heap_pos);
}

static void lg_heap_remove(lg_t *lg, lg_user_t *u)
{
    uint32_t i = u->heap_pos;
    if (i == UINT32_MAX)
        return;
    u->heap_pos = UINT32_MAX;
    lg->heap_len--;
    if (i == lg->heap_len)
        return;
    lg->heap[i] = lg->heap[lg->heap_len];
    lg->users[lg->heap[i]].heap_pos = i;
    lg_heap_down(lg, i);
    lg_heap_up(lg, i);
}

/* The gap to a user's next send: 1/R with jitter, in ns. */
static int64_t lg_gap(const lg_t *lg)
{
    double j = lg->conf->jitter;
    double f = 1.0 - j + 2.0 * j * cs_rand_double();
    return (int64_t)(1e9 / lg->conf->rate * f);
}

/* ---- users ------------------------------------------------------------------------- */

static bool lg_user_grow(lg_user_t *u)
{
    uint32_t cap = u->cap ? u->cap * 2 : 32;
    lg_msg_t *m = realloc(u->msgs, cap * sizeof(*m));
    if (!m)
        return false;
    u->msgs = m;
    uint64_t *s = realloc(u->sent_ns, cap * sizeof(*s));
    if (!s)
        return false;
    u->sent_ns = s;
    memset(u->msgs + u->cap, 0, (cap - u->cap) * sizeof(*m));
    u->cap = cap;
    return true;
}

static void lg_user_closed(lg_t *lg, lg_user_t *u, bool opened)
{
    if (u->state == LG_U_JOINED) {
        lg->rooms[u->room].joined--;
        lg->joined--;
    }
    if (u->state == LG_U_CONNECTING || u->state == LG_U_OPEN || u->state == LG_U_READY)
        lg->inflight--;
    if (opened && u->state != LG_U_CONNECTING) {
        lg->open--;
        lg->closed++;
        char code[16];
        int n = snprintf(code, sizeof(code), "%u", u->close_code ? u->close_code : 1006);
        lg_count(lg->closes, code, (size_t)n);
        u->state = LG_U_CLOSED;
    } else {
        lg->failed++;
        u->state = LG_U_FAILED;
    }
    lg_heap_remove(lg, u);
    u->wsi = NULL;
    u->due = 0;
    u->retry_len = 0;
    lg_ws_rx_reset(&u->rx);
}

static bool lg_token(lg_t *lg, const lg_user_t *u, char *out, size_t out_size)
{
    char sub[64];
    snprintf(sub, sizeof(sub), "%su%u", lg->run, u->idx);
    int64_t now = cs_wall_ms() / 1000;
    char errstr[128];
    char *tok = cs_jwt_sign_hs256(lg->jwt.key, lg->jwt.key_len, sub, now + lg->conf->jwt_ttl,
                                  NULL, lg->jwt.iss, lg->jwt.aud, errstr, sizeof(errstr));
    if (!tok || strlen(tok) >= out_size) {
        free(tok);
        return false;
    }
    memcpy(out, tok, strlen(tok) + 1);
    free(tok);
    return true;
}

/* Sends payload[0..len) as one frame: a client masks with a fresh key (RFC 6455 §5.3).
 * The payload must have LWS_PRE + CS_WS_HEADER_MAX bytes of room in front of it. lws
 * keeps what the socket does not take and sends it first. */
static int lg_ws_send(struct lws *wsi, uint8_t fin_opcode, unsigned char *payload, size_t len)
{
    uint64_t r = cs_rand_u64();
    uint8_t mask[4], h[CS_WS_HEADER_MAX];
    memcpy(mask, &r, 4);
    size_t hl = cs_ws_header(h, fin_opcode, len, mask);
    cs_ws_mask(payload, len, mask, 0);
    memcpy(payload - hl, h, hl);
    int w = lws_write(wsi, payload - hl, hl + len, LWS_WRITE_RAW);
    return w < (int)(hl + len) ? -1 : 0;
}

/* Writes one request for `u`: the upgrade, or one frame (one per WRITEABLE callback). */
static int lg_user_write(lg_t *lg, lg_user_t *u)
{
    static unsigned char buf[LWS_PRE + CS_WS_HEADER_MAX + 8192];
    char *p = (char *)buf + LWS_PRE + CS_WS_HEADER_MAX;
    size_t cap = sizeof(buf) - LWS_PRE - CS_WS_HEADER_MAX;
    int n = 0;
    if (u->want & LG_WANT_UPGRADE) {
        u->want &= (uint8_t)~LG_WANT_UPGRADE;
        lg_ws_key(u->ws_key);
        size_t rl = lg_ws_request(p, cap, lg->gw_host[u->gateway], lg->gw_port[u->gateway],
                                  lg->conf->path, u->ws_key);
        if (!rl || lws_write(u->wsi, (unsigned char *)p, rl, LWS_WRITE_RAW) < (int)rl)
            return -1;
        /* lws's own client gave the server 20 s to answer the upgrade */
        lws_set_timeout(u->wsi, PENDING_TIMEOUT_AWAITING_SERVER_RESPONSE, 20);
        return 0;
    }
    if (u->want & LG_WANT_AUTH) {
        u->want &= (uint8_t)~LG_WANT_AUTH;
        if (strcmp(lg->conf->auth_mode, "dev") == 0) {
            n = snprintf(p, cap, "{\"type\":\"auth\",\"user\":\"%su%u\"}", lg->run, u->idx);
        } else {
            char token[2048];
            if (!lg_token(lg, u, token, sizeof(token))) {
                cs_log(CS_LOG_ERROR, "auth", "cannot sign a token");
                return -1;
            }
            n = snprintf(p, cap, "{\"type\":\"auth\",\"token\":\"%s\"}", token);
        }
    } else if (u->want & LG_WANT_JOIN) {
        u->want &= (uint8_t)~LG_WANT_JOIN;
        n = snprintf(p, cap, "{\"type\":\"join\",\"room\":\"%sr%u\"}", lg->run, u->room);
    } else if (u->retry_len > 0 || u->due > 0) {
        uint32_t seq;
        uint64_t t;
        if (u->retry_len > 0) {
            seq = u->retry[u->retry_head];
            u->retry_head = (uint8_t)((u->retry_head + 1) % LG_RETRY_RING);
            u->retry_len--;
            t = u->sent_ns[seq - 1];
        } else {
            u->due--;
            if (u->nmsgs == u->cap && !lg_user_grow(u))
                return -1;
            seq = ++u->nmsgs;
            t = (uint64_t)lg_now();
            u->sent_ns[seq - 1] = t;
            lg_msg_t *m = &u->msgs[seq - 1];
            m->state = LG_MSG_SENT;
            m->expected = (uint16_t)lg->rooms[u->room].joined;
            lg->totals.sends++;
            lg->pending_acks++;
        }
        char text[4096];
        size_t tl = lg_text_encode(text, sizeof(text), t, u->idx, seq, (size_t)lg->conf->size);
        n = snprintf(p, cap, "{\"type\":\"send\",\"room\":\"%sr%u\",\"cmid\":\"c%u\",\"text\":\"%.*s\"}",
                     lg->run, u->room, seq, (int)tl, text);
    } else {
        return 0;
    }
    if (n <= 0 || (size_t)n >= cap)
        return -1;
    if (lg_ws_send(u->wsi, CS_WS_FIN | CS_WS_TEXT, (unsigned char *)p, (size_t)n) < 0)
        return -1;
    if (u->want || u->retry_len || u->due)
        lws_callback_on_writable(u->wsi);
    return 0;
}

static void lg_schedule_retry(lg_t *lg, lg_user_t *u, uint32_t seq, int64_t after_ms)
{
    if (lg->nretries == lg->cap_retries) {
        size_t cap = lg->cap_retries ? lg->cap_retries * 2 : 256;
        lg_retry_t *r = realloc(lg->retries, cap * sizeof(*r));
        if (!r)
            return;
        lg->retries = r, lg->cap_retries = cap;
    }
    lg->retries[lg->nretries++] = (lg_retry_t){lg_now() + after_ms * 1000000, u->idx, seq};
}

static void lg_on_frame(lg_t *lg, lg_user_t *u, const char *in, size_t len)
{
    int64_t now = lg_now();
    switch (lg_frame_type(in, len)) {
    case LG_FRAME_MSG: {
        const char *text;
        size_t tl;
        uint64_t sent;
        uint32_t sender, seq;
        if (!lg_frame_str(in, len, "text", &text, &tl) ||
            !lg_text_parse(text, tl, &sent, &sender, &seq) || sender >= lg->nusers ||
            lg->users[sender].room != u->room) {
            lg->totals.unknown++;
            return;
        }
        lg_user_t *s = &lg->users[sender];
        lg_room_t *room = &lg->rooms[u->room];
        lg_msg_t *m = seq >= 1 && seq <= s->nmsgs ? &s->msgs[seq - 1] : NULL;
        uint64_t before = lg->totals.delivered;
        lg_acct_deliver(&lg->totals, &u->seen[sender - room->first], &room->log, &u->pos, m,
                        sender, seq);
        if (lg->totals.delivered != before) {
            uint64_t lat = (uint64_t)(now - (int64_t)sent);
            lg_hist_record(&lg->delivery, lat);
            lg_hist_record(&lg->interval, lat);
            if (m && m->state == LG_MSG_ACKED)
                lg->delivered_live++;
        }
        return;
    }
    case LG_FRAME_ACK: {
        const char *c;
        size_t cl;
        if (!lg_frame_str(in, len, "cmid", &c, &cl) || cl < 2 || c[0] != 'c') {
            lg->frames_other++;
            return;
        }
        uint32_t seq = (uint32_t)strtoul(c + 1, NULL, 10);
        if (seq < 1 || seq > u->nmsgs || u->msgs[seq - 1].state == LG_MSG_ACKED) {
            lg->frames_other++;
            return;
        }
        lg_msg_t *m = &u->msgs[seq - 1];
        if (m->state == LG_MSG_SENT)
            lg->pending_acks--;
        m->state = LG_MSG_ACKED;
        lg->totals.acked++;
        lg->acked_expected_live += m->expected;
        /* deliveries that beat their ack to this process count now */
        lg->delivered_live += m->delivered < m->expected ? m->delivered : m->expected;
        lg_hist_record(&lg->ack, (uint64_t)(now - (int64_t)u->sent_ns[seq - 1]));
        return;
    }
    case LG_FRAME_READY:
        if (u->state == LG_U_OPEN) {
            u->state = LG_U_READY;
            if (lg->scenario == LG_IDLE && !lg->conf->idle_join) {
                u->state = LG_U_JOINED;
                lg->inflight--;
                lg->joined++;
                lg->rooms[u->room].joined++;
                lg_hist_record(&lg->join, (uint64_t)(now - u->connect_start));
            } else {
                u->want |= LG_WANT_JOIN;
                lws_callback_on_writable(u->wsi);
            }
        }
        return;
    case LG_FRAME_JOINED:
        if (u->state == LG_U_READY) {
            u->state = LG_U_JOINED;
            lg->inflight--;
            lg->joined++;
            lg->rooms[u->room].joined++;
            lg_hist_record(&lg->join, (uint64_t)(now - u->connect_start));
            if (lg->phase == LG_PHASE_RUN && lg->scenario != LG_IDLE) {
                u->next_due = now + (int64_t)(cs_rand_double() * 1e9 / lg->conf->rate);
                lg_heap_push(lg, u);
            }
        }
        return;
    case LG_FRAME_ERROR: {
        const char *code, *c;
        size_t codel, cl;
        if (!lg_frame_str(in, len, "code", &code, &codel))
            code = "(none)", codel = 6;
        lg_count(lg->errors, code, codel);
        if (lg_frame_str(in, len, "cmid", &c, &cl) && cl >= 2 && c[0] == 'c') {
            uint32_t seq = (uint32_t)strtoul(c + 1, NULL, 10);
            if (seq < 1 || seq > u->nmsgs || u->msgs[seq - 1].state != LG_MSG_SENT)
                return;
            lg_msg_t *m = &u->msgs[seq - 1];
            bool retriable = (codel == 12 && memcmp(code, "rate_limited", 12) == 0) ||
                             (codel == 11 && memcmp(code, "unavailable", 11) == 0);
            int64_t after = 100;
            lg_frame_int(in, len, "retry_after_ms", &after);
            m->attempts++;
            if (retriable && m->attempts < lg->conf->max_attempts) {
                lg_schedule_retry(lg, u, seq, after < 1 ? 1 : after);
            } else {
                m->state = LG_MSG_FAILED;
                lg->totals.failed++;
                lg->pending_acks--;
            }
        } else if (u->state == LG_U_READY) {
            lg->join_errors++;
        }
        return;
    }
    default:
        lg->frames_other++;
        return;
    }
}

/* One message or control frame from the server (lg_ws_rx_feed's callback). Nonzero:
 * close the connection. */
static int lg_on_ws(void *ctx, uint8_t opcode, const uint8_t *payload, size_t len)
{
    lg_user_t *u = ctx;
    lg_t *lg = lg_global;
    unsigned char buf[LWS_PRE + CS_WS_HEADER_MAX + CS_WS_CONTROL_MAX];
    unsigned char *p = buf + LWS_PRE + CS_WS_HEADER_MAX;
    switch (opcode) {
    case CS_WS_TEXT:
        lg_on_frame(lg, u, (const char *)payload, len);
        return 0;
    case CS_WS_PING: /* the pong carries the ping's payload back */
        lg->pings++;
        memcpy(p, payload, len);
        return lg_ws_send(u->wsi, CS_WS_FIN | CS_WS_PONG, p, len) < 0;
    case CS_WS_CLOSE: /* answer with the same code, then the socket closes */
        if (len >= 2)
            u->close_code = (uint16_t)(payload[0] << 8 | payload[1]);
        memcpy(p, payload, len >= 2 ? 2 : 0);
        lg_ws_send(u->wsi, CS_WS_FIN | CS_WS_CLOSE, p, len >= 2 ? 2 : 0);
        return 1;
    case CS_WS_PONG:
        return 0;
    default: /* binary: not in the protocol */
        lg->frames_other++;
        return 0;
    }
}

/* Bytes from the server: first the answer to the upgrade, then frames. */
static int lg_on_rx(lg_t *lg, lg_user_t *u, const uint8_t *in, size_t len)
{
    char why[128];
    if (u->state == LG_U_CONNECTING) {
        size_t used = 0;
        switch (lg_ws_rx_handshake(&u->rx, in, len, u->ws_key, &used, why, sizeof(why))) {
        case LG_WS_HS_MORE:
            return 0;
        case LG_WS_HS_BAD:
            lg_count(lg->connect_errors, why, strlen(why));
            u->hs_counted = true;
            return -1;
        case LG_WS_HS_OK:
            break;
        }
        lws_set_timeout(u->wsi, NO_PENDING_TIMEOUT, 0);
        u->state = LG_U_OPEN;
        lg->open++;
        u->want |= LG_WANT_AUTH;
        lws_callback_on_writable(u->wsi);
        in += used, len -= used;
    }
    int r = lg_ws_rx_feed(&u->rx, in, len, LG_MAX_MESSAGE, lg_on_ws, u, why, sizeof(why));
    if (r < 0) {
        lg->frames_other++;
        cs_log(CS_LOG_WARN, "ws", "user %u: %s; closing", u->idx, why);
    }
    return r ? -1 : 0;
}

static int lg_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    lg_t *lg = lg_global;
    lg_user_t *u = lws_get_opaque_user_data(wsi);
    if (u && (u->state == LG_U_CLOSED || u->state == LG_U_FAILED)) /* accounted for already */
        u = NULL;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (u) {
            const char *why = in ? (const char *)in : "unknown";
            lg_count(lg->connect_errors, why, strnlen(why, len ? len : 200));
            lg_user_closed(lg, u, false);
        }
        return 0;
    case LWS_CALLBACK_RAW_CONNECTED:
        if (u) {
            u->want |= LG_WANT_UPGRADE;
            lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE:
        if (u && lg_user_write(lg, u) < 0)
            return -1;
        return 0;
    case LWS_CALLBACK_RAW_RX:
        return u ? lg_on_rx(lg, u, in, len) : 0;
    case LWS_CALLBACK_RAW_CLOSE:
        if (u) {
            if (u->state == LG_U_CONNECTING && !u->hs_counted)
                lg_count(lg->connect_errors, "closed before the upgrade", 25);
            lg_user_closed(lg, u, true);
        }
        return 0;
    default:
        break;
    }
    (void)user;
    return 0;
}

static const struct lws_protocols lg_protocols[] = {
    {"chatstream-loadgen", lg_callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void lg_connect(lg_t *lg, lg_user_t *u)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = lg->context;
    ci.address = lg->gw_host[u->gateway];
    ci.port = lg->gw_port[u->gateway];
    ci.path = lg->conf->path;
    ci.host = ci.address;
    ci.origin = ci.address;
    ci.local_protocol_name = lg_protocols[0].name;
    ci.method = "RAW"; /* lws connects; the WebSocket is ours (lg_ws) */
    ci.opaque_user_data = u;
    ci.pwsi = &u->wsi;
    if (lg->nsrc)
        ci.iface = lg->src[u->idx % lg->nsrc];
    u->state = LG_U_CONNECTING;
    u->hs_counted = false;
    u->connect_start = lg_now();
    lg->inflight++;
    if (!lws_client_connect_via_info(&ci) && u->state == LG_U_CONNECTING) {
        lg_count(lg->connect_errors, "connect_via_info failed", 23);
        lg_user_closed(lg, u, false);
    }
}

/* ---- memory of other processes --------------------------------------------------------- */

static long lg_rss_kb(int pid)
{
    char path[64], line[256];
    if (pid > 0)
        snprintf(path, sizeof(path), "/proc/%d/status", pid);
    else
        snprintf(path, sizeof(path), "/proc/self/status");
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof(line), fp))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(fp);
    return kb;
}

static long lg_gateways_rss_kb(const lg_t *lg)
{
    long sum = 0;
    for (int i = 0; i < lg->ngw_pids; i++) {
        long kb = lg_rss_kb(lg->gw_pids[i]);
        if (kb > 0)
            sum += kb;
    }
    return sum;
}

static void lg_find_gateway_pids(lg_t *lg)
{
    const char *list = lg->conf->gateway_pids;
    for (const char *p = list; p && *p && lg->ngw_pids < 64;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 0)
            lg->gw_pids[lg->ngw_pids++] = (int)pid;
        p = *end == ',' ? end + 1 : end;
    }
    if (lg->ngw_pids == 0 && *lg->conf->gateway_pgrep) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "pgrep -f -- '%s'", lg->conf->gateway_pgrep);
        FILE *fp = popen(cmd, "r");
        if (fp) {
            int pid;
            while (lg->ngw_pids < 64 && fscanf(fp, "%d", &pid) == 1)
                if (pid != (int)getpid())
                    lg->gw_pids[lg->ngw_pids++] = pid;
            pclose(fp);
        }
    }
}

static double lg_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- the clock: connects, sends, retries, phases ---------------------------------------- */

static void lg_enter_run(lg_t *lg, int64_t now)
{
    lg->phase = LG_PHASE_RUN;
    lg->t_connect_done = now;
    lg->t_run = now;
    lg->t_run_end = now + (int64_t)(lg->conf->duration * 1e9);
    lg->cpu_run = lg_cpu_seconds();
    if (lg->scenario == LG_IDLE)
        return; /* memory was measured at the end of the connect phase */
    if (lg->conf->rate <= 0)
        return;
    for (uint32_t i = 0; i < lg->nusers; i++) {
        lg_user_t *u = &lg->users[i];
        if (u->state != LG_U_JOINED)
            continue;
        u->next_due = now + (int64_t)(cs_rand_double() * 1e9 / lg->conf->rate);
        lg_heap_push(lg, u);
    }
}

static void lg_progress(lg_t *lg, int64_t now)
{
    if (!lg->conf->progress || now - lg->last_progress < 1000000000)
        return;
    double dt = (double)(now - lg->last_progress) / 1e9;
    fprintf(stderr,
            "[loadgen] t=%5.1fs phase=%s open=%u joined=%u failed=%u closed=%u sends/s=%.0f "
            "deliveries/s=%.0f p50=%.1fms p99=%.1fms pending_acks=%llu\n",
            (double)(now - lg->t_start) / 1e9,
            lg->phase == LG_PHASE_CONNECT ? "connect" : lg->phase == LG_PHASE_RUN ? "run" : "drain",
            lg->open, lg->joined, lg->failed, lg->closed,
            (double)(lg->totals.sends - lg->last_sent) / dt,
            (double)(lg->totals.delivered - lg->last_delivered) / dt,
            (double)lg_hist_percentile(&lg->interval, 50) / 1e6,
            (double)lg_hist_percentile(&lg->interval, 99) / 1e6,
            (unsigned long long)lg->pending_acks);
    lg->last_progress = now;
    lg->last_sent = lg->totals.sends;
    lg->last_delivered = lg->totals.delivered;
    lg_hist_init(&lg->interval);
}

static void lg_tick(lws_sorted_usec_list_t *sul)
{
    lg_t *lg = lg_global;
    int64_t now = lg_now();
    (void)sul;
    if (lg_stop && lg->phase < LG_PHASE_DRAIN) {
        lg->phase = LG_PHASE_DRAIN;
        if (!lg->t_run)
            lg->t_run = now, lg->cpu_run = lg_cpu_seconds();
        lg->t_run_end = now;
        lg->t_drain_end = now + (int64_t)(lg->conf->drain_seconds * 1e9);
    }
    lg_progress(lg, now);
    switch (lg->phase) {
    case LG_PHASE_CONNECT: {
        double rate = lg->scenario == LG_BELL ? (double)lg->nusers / lg->conf->bell_seconds
                                              : lg->conf->connect_rate;
        uint64_t allowed = (uint64_t)((double)(now - lg->t_start) / 1e9 * rate) + 1;
        uint32_t budget = 2000; /* per tick, so one tick never stalls the loop */
        while (lg->next_connect < lg->nusers && lg->next_connect < allowed && budget-- &&
               (lg->scenario == LG_BELL || lg->inflight < (uint64_t)lg->conf->connect_inflight))
            lg_connect(lg, &lg->users[lg->next_connect++]);
        bool all_tried = lg->next_connect == lg->nusers;
        bool settled = all_tried && lg->inflight == 0;
        if (all_tried && !lg->t_last_connect)
            lg->t_last_connect = now;
        if (settled || now - lg->t_start > (int64_t)(lg->conf->connect_timeout * 1e9)) {
            if (lg->scenario == LG_IDLE) {
                /* let the gateways finish whatever the joins started, then measure */
                static int64_t settle_until;
                if (!settle_until)
                    settle_until = now + (int64_t)(lg->conf->idle_settle * 1e9);
                if (now < settle_until)
                    break;
                lg->rss_gw_after_kb = lg_gateways_rss_kb(lg);
                lg->rss_self_after_kb = lg_rss_kb(0);
            }
            lg_enter_run(lg, now);
        }
        break;
    }
    case LG_PHASE_RUN:
        if (lg->joined == 0 && lg->scenario != LG_IDLE)
            lg->t_run_end = now; /* nobody to send: do not wait out the duration */
        while (lg->heap_len > 0) {
            lg_user_t *u = &lg->users[lg->heap[0]];
            if (u->next_due > now)
                break;
            if (u->due == 0 && u->retry_len == 0 && u->wsi)
                lws_callback_on_writable(u->wsi);
            u->due++;
            lg_hist_record(&lg->send_lag, (uint64_t)(now - u->next_due));
            u->next_due += lg_gap(lg);
            lg_heap_down(lg, 0);
        }
        if (now >= lg->t_run_end) {
            lg->phase = LG_PHASE_DRAIN;
            lg->t_drain_end = now + (int64_t)(lg->conf->drain_seconds * 1e9);
            if (lg->scenario == LG_IDLE)
                lg->t_drain_end = now;
        }
        break;
    case LG_PHASE_DRAIN: {
        bool idle = lg->pending_acks == 0 && lg->nretries == 0 &&
                    lg->delivered_live >= lg->acked_expected_live;
        bool unwritten = false;
        for (uint32_t i = 0; i < lg->heap_len && !unwritten; i++)
            unwritten = lg->users[lg->heap[i]].due > 0;
        if ((idle && !unwritten) || now >= lg->t_drain_end || lg_stop > 1) {
            lg->phase = LG_PHASE_DONE;
            lg->t_drain_end = now;
            lg->cpu_run = lg_cpu_seconds() - lg->cpu_run;
            if (lg->uv) /* main's uv_run returns */
                uv_stop(lg->uv);
            return; /* no more ticks: main sees DONE */
        }
        break;
    }
    default:
        return;
    }
    /* retries whose delay has passed */
    for (size_t i = 0; i < lg->nretries;) {
        lg_retry_t *r = &lg->retries[i];
        if (r->due > now) {
            i++;
            continue;
        }
        lg_user_t *u = &lg->users[r->user];
        if (u->wsi && u->state == LG_U_JOINED && u->retry_len < LG_RETRY_RING) {
            u->retry[(u->retry_head + u->retry_len) % LG_RETRY_RING] = r->seq;
            u->retry_len++;
            lws_callback_on_writable(u->wsi);
        } else if (u->msgs[r->seq - 1].state == LG_MSG_SENT) {
            u->msgs[r->seq - 1].state = LG_MSG_FAILED;
            lg->totals.failed++;
            lg->pending_acks--;
        }
        *r = lg->retries[--lg->nretries];
    }
    lws_sul_schedule(lg->context, 0, &lg->tick, lg_tick, 1000);
}

/* ---- set-up ---------------------------------------------------------------------------- */

static bool lg_parse_gateways(lg_t *lg, char *errstr, size_t errstr_size)
{
    const char *s = lg->conf->gateways;
    unsigned n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    lg->gw_host = calloc(n, sizeof(*lg->gw_host));
    lg->gw_port = calloc(n, sizeof(*lg->gw_port));
    if (!lg->gw_host || !lg->gw_port)
        return false;
    size_t len;
    for (const char *cur = s, *p; cs_conf_list_next(&cur, &p, &len);) {
        const char *colon = memrchr(p, ':', len);
        if (!colon || colon == p || (size_t)(colon - p) >= sizeof(lg->gw_host[0])) {
            snprintf(errstr, errstr_size, "gateways: '%.*s' is not host:port", (int)len, p);
            return false;
        }
        memcpy(lg->gw_host[lg->ngw], p, (size_t)(colon - p));
        lg->gw_port[lg->ngw] = atoi(colon + 1);
        if (lg->gw_port[lg->ngw] <= 0 || lg->gw_port[lg->ngw] > 65535) {
            snprintf(errstr, errstr_size, "gateways: bad port in '%.*s'", (int)len, p);
            return false;
        }
        lg->ngw++;
    }
    if (lg->ngw == 0) {
        snprintf(errstr, errstr_size, "gateways: none given");
        return false;
    }
    return true;
}

/* Raises RLIMIT_NOFILE to what `need` descriptors take (the hard limit too, when
 * privileged), and says what it got. */
static rlim_t lg_raise_nofile(rlim_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur >= need)
        return rl.rlim_cur;
    if (rl.rlim_max < need) {
        struct rlimit want = {need, need};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            return need;
        FILE *fp = fopen("/proc/sys/fs/nr_open", "r");
        long nr_open = 0;
        if (fp) {
            if (fscanf(fp, "%ld", &nr_open) != 1)
                nr_open = 0;
            fclose(fp);
        }
        (void)nr_open;
    }
    rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

static void lg_lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    cs_log(level & LLL_ERR ? CS_LOG_ERROR : CS_LOG_WARN, "lws", "%.*s", (int)n, line);
}

/* ---- the report ------------------------------------------------------------------------- */

static void lg_json_hist(FILE *out, const char *name, const lg_hist_t *h)
{
    fprintf(out,
            "\"%s\":{\"count\":%llu,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
            "\"p999\":%.3f,\"max\":%.3f}",
            name, (unsigned long long)h->count, lg_hist_mean(h) / 1e6,
            (double)lg_hist_percentile(h, 50) / 1e6, (double)lg_hist_percentile(h, 90) / 1e6,
            (double)lg_hist_percentile(h, 99) / 1e6, (double)lg_hist_percentile(h, 99.9) / 1e6,
            (double)h->max / 1e6);
}

static void lg_json_counts(FILE *out, const char *name, const lg_count_t *t)
{
    fprintf(out, "\"%s\":{", name);
    for (int i = 0, first = 1; i < LG_MAX_COUNTS; i++) {
        if (!t[i].name[0])
            continue;
        fputs(first ? "" : ",", out);
        first = 0;
        fputc('"', out);
        for (const char *c = t[i].name; *c; c++)
            if (*c == '"' || *c == '\\')
                fprintf(out, "\\%c", *c);
            else if ((unsigned char)*c < 0x20)
                fputc(' ', out);
            else
                fputc(*c, out);
        fprintf(out, "\":%llu", (unsigned long long)t[i].n);
    }
    fputc('}', out);
}

static void lg_human_counts(const char *name, const lg_count_t *t)
{
    if (!t[0].name[0])
        return;
    printf("  %-22s", name);
    for (int i = 0; i < LG_MAX_COUNTS; i++)
        if (t[i].name[0])
            printf(" %s=%llu", t[i].name, (unsigned long long)t[i].n);
    printf("\n");
}

static bool lg_accounting_ok(const lg_t *lg)
{
    const lg_acct_totals_t *t = &lg->totals;
    if (lg->scenario == LG_IDLE)
        return lg->failed == 0 && lg->joined == lg->nusers && lg->closed == 0 &&
               lg_count_total(lg->errors) == 0;
    return lg->failed == 0 && lg->joined == lg->nusers && t->lost == 0 && t->duplicates == 0 &&
           t->out_of_order == 0 && t->sender_order == 0 && t->unknown == 0 && t->unchecked == 0 &&
           t->failed == 0 && t->delivered_of_acked == t->expected && t->acked == t->sends &&
           lg->closed == 0 && lg_count_total(lg->errors) == 0 && t->expected > 0;
}

static void lg_report(lg_t *lg)
{
    const lg_conf_t *c = lg->conf;
    lg_acct_totals_t *t = &lg->totals;
    for (uint32_t i = 0; i < lg->nusers; i++)
        lg_acct_tally(lg->users[i].msgs, lg->users[i].nmsgs, t);
    lg_acct_finish(t);
    double run_s = (double)(lg->t_run_end - lg->t_run) / 1e9;
    double all_s = (double)(lg->t_drain_end - lg->t_run) / 1e9;
    double connect_s = (double)((lg->t_connect_done ? lg->t_connect_done : lg->t_drain_end) -
                                lg->t_start) / 1e9;
    double cpu_per_delivery = t->delivered ? lg->cpu_run / (double)t->delivered * 1e6 : 0;
    long rss_self = lg_rss_kb(0);
    bool ok = lg_accounting_ok(lg);
    long gw_delta = lg->rss_gw_after_kb - lg->rss_gw_before_kb;
    double gw_per_conn = lg->joined && lg->ngw_pids ? (double)gw_delta * 1024.0 / lg->joined : 0;
    double self_per_conn = lg->joined ? (double)(lg->rss_self_after_kb - lg->rss_self_before_kb) *
                                            1024.0 / lg->joined
                                      : 0;
    if (c->json) {
        FILE *o = stdout;
        fprintf(o,
                "{\"scenario\":\"%s\",\"run\":\"%s\",\"users\":%u,\"room_size\":%lld,\"rooms\":%u,"
                "\"rate\":%g,\"size\":%lld,\"gateways\":%u,\"source_addrs\":%u,"
                "\"duration_s\":%.3f,\"drain_s\":%.3f,\"connect_s\":%.3f,",
                c->scenario, lg->run, lg->nusers, (long long)c->room_size, lg->nrooms, c->rate,
                (long long)c->size, lg->ngw, lg->nsrc, run_s, all_s - run_s, connect_s);
        fprintf(o,
                "\"connected\":%u,\"joined\":%u,\"connect_failed\":%u,\"closed\":%u,"
                "\"join_errors\":%llu,",
                lg->open, lg->joined, lg->failed, lg->closed, (unsigned long long)lg->join_errors);
        fprintf(o,
                "\"sends\":%llu,\"acked\":%llu,\"failed\":%llu,\"expected\":%llu,"
                "\"delivered\":%llu,\"delivered_of_acked\":%llu,\"lost\":%llu,\"duplicates\":%llu,"
                "\"out_of_order\":%llu,\"sender_order\":%llu,\"unchecked\":%llu,\"unknown\":%llu,"
                "\"extra\":%llu,\"unacked_delivered\":%llu,\"other_frames\":%llu,"
                "\"order_unverified\":%llu,\"pings\":%llu,",
                (unsigned long long)t->sends, (unsigned long long)t->acked,
                (unsigned long long)t->failed, (unsigned long long)t->expected,
                (unsigned long long)t->delivered, (unsigned long long)t->delivered_of_acked,
                (unsigned long long)t->lost, (unsigned long long)t->duplicates,
                (unsigned long long)t->out_of_order, (unsigned long long)t->sender_order,
                (unsigned long long)t->unchecked, (unsigned long long)t->unknown,
                (unsigned long long)t->extra, (unsigned long long)t->unacked_delivered,
                (unsigned long long)lg->frames_other, (unsigned long long)t->order_unverified,
                (unsigned long long)lg->pings);
        fprintf(o, "\"sends_per_s\":%.1f,\"deliveries_per_s\":%.1f,",
                run_s > 0 ? (double)t->sends / run_s : 0, all_s > 0 ? (double)t->delivered / all_s : 0);
        lg_json_hist(o, "ack_ms", &lg->ack);
        fputc(',', o);
        lg_json_hist(o, "delivery_ms", &lg->delivery);
        fputc(',', o);
        lg_json_hist(o, "send_lag_ms", &lg->send_lag);
        fputc(',', o);
        lg_json_hist(o, "join_ms", &lg->join);
        fputc(',', o);
        lg_json_counts(o, "errors", lg->errors);
        fputc(',', o);
        lg_json_counts(o, "closes", lg->closes);
        fputc(',', o);
        lg_json_counts(o, "connect_errors", lg->connect_errors);
        fprintf(o,
                ",\"loadgen_cpu_s\":%.3f,\"loadgen_cpu_us_per_delivery\":%.3f,"
                "\"loadgen_rss_kb\":%ld,\"loadgen_rss_per_conn_bytes\":%.0f,"
                "\"gateway_pids\":%d,\"gateway_rss_before_kb\":%ld,\"gateway_rss_after_kb\":%ld,"
                "\"gateway_rss_per_conn_bytes\":%.0f,\"mono_start_ns\":%lld,\"mono_run_ns\":%lld,"
                "\"mono_run_end_ns\":%lld,\"mono_end_ns\":%lld,\"ok\":%s}\n",
                lg->cpu_run, cpu_per_delivery, rss_self, self_per_conn, lg->ngw_pids,
                lg->rss_gw_before_kb, lg->rss_gw_after_kb, gw_per_conn, (long long)lg->t_start,
                (long long)lg->t_run, (long long)lg->t_run_end, (long long)lg->t_drain_end,
                ok ? "true" : "false");
        fflush(o);
        return;
    }
    printf("chatstream-loadgen: %s, %u users in %u rooms of %lld, %g msg/s each, %lld-byte texts, "
           "%u gateway(s)\n",
           c->scenario, lg->nusers, lg->nrooms, (long long)c->room_size, c->rate,
           (long long)c->size, lg->ngw);
    printf("  connections            %u joined, %u failed to connect, %u closed by the server "
           "(connect phase %.1f s; join p50 %.1f ms, p99 %.1f ms)\n",
           lg->joined, lg->failed, lg->closed, connect_s,
           (double)lg_hist_percentile(&lg->join, 50) / 1e6,
           (double)lg_hist_percentile(&lg->join, 99) / 1e6);
    if (lg->scenario == LG_IDLE) {
        if (lg->ngw_pids)
            printf("  gateway memory         %ld -> %ld KiB over %u connections: %.0f bytes each\n",
                   lg->rss_gw_before_kb, lg->rss_gw_after_kb, lg->joined, gw_per_conn);
        else
            printf("  gateway memory         not measured (give gateway.pids or gateway.pgrep)\n");
        printf("  loadgen memory         %.0f bytes per connection\n", self_per_conn);
    } else {
        printf("  sends                  %llu in %.1f s (%.0f/s): %llu acked, %llu refused\n",
               (unsigned long long)t->sends, run_s, run_s > 0 ? (double)t->sends / run_s : 0,
               (unsigned long long)t->acked, (unsigned long long)t->failed);
        printf("  deliveries             %llu of %llu expected (%.0f/s); lost %llu, duplicates %llu, "
               "out of order %llu (room) / %llu (sender)\n",
               (unsigned long long)t->delivered_of_acked, (unsigned long long)t->expected,
               all_s > 0 ? (double)t->delivered / all_s : 0, (unsigned long long)t->lost,
               (unsigned long long)t->duplicates, (unsigned long long)t->out_of_order,
               (unsigned long long)t->sender_order);
        if (t->unknown || t->unchecked || t->extra || t->unacked_delivered || t->order_unverified)
            printf("  oddities               unknown %llu, unchecked %llu, extra %llu, "
                   "delivered but never acked %llu, room order unverifiable (losses) %llu\n",
                   (unsigned long long)t->unknown, (unsigned long long)t->unchecked,
                   (unsigned long long)t->extra, (unsigned long long)t->unacked_delivered,
                   (unsigned long long)t->order_unverified);
        printf("  ack latency      ms    p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
               (double)lg_hist_percentile(&lg->ack, 50) / 1e6,
               (double)lg_hist_percentile(&lg->ack, 90) / 1e6,
               (double)lg_hist_percentile(&lg->ack, 99) / 1e6,
               (double)lg_hist_percentile(&lg->ack, 99.9) / 1e6, (double)lg->ack.max / 1e6);
        printf("  delivery latency ms    p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
               (double)lg_hist_percentile(&lg->delivery, 50) / 1e6,
               (double)lg_hist_percentile(&lg->delivery, 90) / 1e6,
               (double)lg_hist_percentile(&lg->delivery, 99) / 1e6,
               (double)lg_hist_percentile(&lg->delivery, 99.9) / 1e6,
               (double)lg->delivery.max / 1e6);
        printf("  send lag (loadgen) ms  p99 %.1f  max %.1f\n",
               (double)lg_hist_percentile(&lg->send_lag, 99) / 1e6, (double)lg->send_lag.max / 1e6);
        printf("  loadgen CPU            %.2f s, %.2f us per delivery\n", lg->cpu_run,
               cpu_per_delivery);
    }
    lg_human_counts("errors", lg->errors);
    lg_human_counts("close codes", lg->closes);
    lg_human_counts("connect errors", lg->connect_errors);
    if (lg->scenario == LG_IDLE)
        printf("  accounting             %s\n", ok ? "OK: every connection joined and stayed open"
                                                  : "NOT CLEAN (see above)");
    else
        printf("  accounting             %s\n", ok ? "OK: everything acked arrived once, in order"
                                                  : "NOT CLEAN (see above)");
}

/* ---- main -------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    lg_conf_t conf;
    memset(&conf, 0, sizeof(conf));
    cs_log_set_app("loadgen");
    char errstr[512];
    /* --json, --check, --progress without a value */
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    int nargs = 0;
    bool flag_json = false, flag_check = false, flag_progress = false;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--json") == 0)
            flag_json = true;
        else if (i > 0 && strcmp(argv[i], "--check") == 0)
            flag_check = true;
        else if (i > 0 && strcmp(argv[i], "--progress") == 0)
            flag_progress = true;
        else
            args[nargs++] = argv[i];
    }
    cs_conf_t *cf = cs_conf_new("chatstream-loadgen",
                                "Simulated chat users on WebSockets, and an account of every message.");
    cs_conf_add_section(cf, "Options", lg_conf_defs, sizeof(lg_conf_defs) / sizeof(lg_conf_defs[0]),
                        &conf);
    static cs_jwt_conf_t jwt_conf;
    cs_conf_add_section(cf, "JWT", cs_jwt_conf_defs, cs_jwt_conf_ndefs, &jwt_conf);
    switch (cs_conf_load(cf, nargs, args, errstr, sizeof(errstr))) {
    case CS_CONF_EXIT_OK:
        cs_conf_destroy(cf);
        free(args);
        return 0;
    case CS_CONF_ERROR:
        fprintf(stderr, "chatstream-loadgen: %s\n", errstr);
        cs_conf_destroy(cf);
        free(args);
        return 2;
    case CS_CONF_RUN:
        break;
    }
    free(args);
    conf.json |= flag_json;
    conf.check |= flag_check;
    conf.progress |= flag_progress;
    cs_log_level_t level;
    if (cs_log_level_parse(conf.log_level, &level))
        cs_log_threshold = level;

    static lg_t lgs;
    lg_t *lg = &lgs;
    lg_global = lg;
    lg->conf = &conf;
    int status = 2;
    if (strcmp(conf.scenario, "school") == 0)
        lg->scenario = LG_SCHOOL;
    else if (strcmp(conf.scenario, "bell") == 0)
        lg->scenario = LG_BELL;
    else if (strcmp(conf.scenario, "idle") == 0)
        lg->scenario = LG_IDLE;
    else {
        fprintf(stderr, "chatstream-loadgen: unknown scenario '%s'\n", conf.scenario);
        goto done;
    }
    if (strcmp(conf.auth_mode, "dev") != 0 &&
        cs_jwt_verifier_load(&jwt_conf, lg->jwt_key, &lg->jwt, errstr, sizeof(errstr)) != CS_ERR_OK) {
        fprintf(stderr, "chatstream-loadgen: auth.mode=jwt: %s\n", errstr);
        goto done;
    }
    if (!lg_parse_gateways(lg, errstr, sizeof(errstr))) {
        fprintf(stderr, "chatstream-loadgen: %s\n", errstr);
        goto done;
    }
    if (*conf.run_id)
        snprintf(lg->run, sizeof(lg->run), "%s", conf.run_id);
    else
        snprintf(lg->run, sizeof(lg->run), "lg%llx%x.",
                 (unsigned long long)(cs_wall_ms() / 1000) & 0xffffff, (unsigned)getpid() & 0xfff);
    lg->nusers = (uint32_t)conf.users;
    int64_t nsrc = conf.source_addrs;
    if (nsrc < 0)
        nsrc = lg->nusers > 20000 ? (lg->nusers + 19999) / 20000 : 0;
    lg->nsrc = (unsigned)nsrc;
    if (lg->nsrc) {
        lg->src = calloc(lg->nsrc, sizeof(*lg->src));
        for (unsigned i = 0; i < lg->nsrc; i++)
            snprintf(lg->src[i], sizeof(lg->src[i]), "127.0.0.%u", i + 2);
    }
    rlim_t need = (rlim_t)lg->nusers + 256;
    rlim_t got = lg_raise_nofile(need);
    if (got < need) {
        /* one socket per user: past the limit, connects would fail by the thousand */
        fprintf(stderr,
                "chatstream-loadgen: %u users need %llu file descriptors, the limit is %llu and "
                "cannot be raised (hard limit; raising it needs CAP_SYS_RESOURCE): run several "
                "loadgen processes with fewer users each\n",
                lg->nusers, (unsigned long long)need, (unsigned long long)got);
        goto done;
    }

    lg->nrooms = (uint32_t)((lg->nusers + conf.room_size - 1) / conf.room_size);
    lg->users = calloc(lg->nusers, sizeof(*lg->users));
    lg->rooms = calloc(lg->nrooms, sizeof(*lg->rooms));
    lg->heap = calloc(lg->nusers, sizeof(*lg->heap));
    if (!lg->users || !lg->rooms || !lg->heap)
        goto oom;
    for (uint32_t r = 0; r < lg->nrooms; r++) {
        lg_room_t *room = &lg->rooms[r];
        room->first = r * (uint32_t)conf.room_size;
        room->count = (uint32_t)conf.room_size;
        if (room->first + room->count > lg->nusers)
            room->count = lg->nusers - room->first;
        if (lg->scenario != LG_IDLE && !lg_room_log_init(&room->log, 12))
            goto oom;
    }
    for (uint32_t i = 0; i < lg->nusers; i++) {
        lg_user_t *u = &lg->users[i];
        u->idx = i;
        u->room = i / (uint32_t)conf.room_size;
        u->gateway = (uint8_t)(i % lg->ngw);
        u->heap_pos = UINT32_MAX;
        if (lg->scenario != LG_IDLE &&
            !(u->seen = calloc(lg->rooms[u->room].count, sizeof(*u->seen))))
            goto oom;
    }
    lg_hist_init(&lg->ack);
    lg_hist_init(&lg->delivery);
    lg_hist_init(&lg->send_lag);
    lg_hist_init(&lg->join);
    lg_hist_init(&lg->interval);

    lws_set_log_level(LLL_ERR, lg_lws_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = lg_protocols;
    info.gid = -1;
    info.uid = -1;
    info.timeout_secs = (unsigned)(conf.connect_timeout < 20 ? conf.connect_timeout : 20);
    static uv_loop_t uv_loop;
    void *foreign_loops[1];
    if (strcmp(conf.event_lib, "uv") == 0) {
        /* our own loop, which lws joins: we run it and stop it when the run is over */
        uv_loop_init(&uv_loop);
        lg->uv = &uv_loop;
        foreign_loops[0] = &uv_loop;
        info.foreign_loops = foreign_loops;
        info.options |= LWS_SERVER_OPTION_LIBUV;
    }
    else if (strcmp(conf.event_lib, "poll") != 0) {
        fprintf(stderr, "chatstream-loadgen: event.lib must be uv or poll\n");
        goto done;
    }
    lg->context = lws_create_context(&info);
    if (!lg->context) {
        fprintf(stderr, "chatstream-loadgen: lws_create_context failed\n");
        goto done;
    }
    signal(SIGINT, lg_on_signal);
    signal(SIGTERM, lg_on_signal);
    signal(SIGPIPE, SIG_IGN);

    if (lg->scenario == LG_IDLE) {
        lg_find_gateway_pids(lg);
        lg->rss_gw_before_kb = lg_gateways_rss_kb(lg);
        lg->rss_self_before_kb = lg_rss_kb(0);
    }
    lg->t_start = lg_now();
    lg->last_progress = lg->t_start;
    double cpu0 = lg_cpu_seconds();
    lws_sul_schedule(lg->context, 0, &lg->tick, lg_tick, 1000);
    while (lg->uv && lg->phase != LG_PHASE_DONE) {
        if (conf.batch_us <= 0) {
            uv_run(lg->uv, UV_RUN_DEFAULT); /* until lg_tick stops it */
            continue;
        }
        /* one non-blocking pass over whatever is ready, then sleep out the period: every
         * wake-up serves a batch of sockets instead of one */
        int64_t t0 = lg_now();
        uv_run(lg->uv, UV_RUN_NOWAIT);
        int64_t left = conf.batch_us * 1000 - (lg_now() - t0);
        if (left > 0) {
            struct timespec ts = {0, (long)left};
            nanosleep(&ts, NULL);
        }
    }
    while (!lg->uv && lg->phase != LG_PHASE_DONE) {
        if (lws_service(lg->context, 0) < 0)
            break;
        if (lg_stop == 1 && lg->phase == LG_PHASE_DRAIN && !lg->heap_len && lg->t_drain_end &&
            lg_now() > lg->t_drain_end)
            break;
    }
    lg->cpu_total = lg_cpu_seconds() - cpu0;
    lg_report(lg);
    status = 0;
    if (conf.check && !lg_accounting_ok(lg))
        status = 3;
    goto done;
oom:
    fprintf(stderr, "chatstream-loadgen: out of memory\n");
    status = 1;
done:
    if (lg->uv)
        cs_lws_uv_destroy(lg->context, lg->uv);
    else if (lg->context)
        lws_context_destroy(lg->context);
    if (lg->users) {
        for (uint32_t i = 0; i < lg->nusers; i++) {
            free(lg->users[i].seen);
            free(lg->users[i].msgs);
            free(lg->users[i].sent_ns);
            lg_ws_rx_reset(&lg->users[i].rx);
        }
    }
    if (lg->rooms)
        for (uint32_t r = 0; r < lg->nrooms; r++)
            lg_room_log_free(&lg->rooms[r].log);
    free(lg->users);
    free(lg->rooms);
    free(lg->heap);
    free(lg->retries);
    free(lg->gw_host);
    free(lg->gw_port);
    free(lg->src);
    cs_conf_destroy(cf);
    return status;
}
