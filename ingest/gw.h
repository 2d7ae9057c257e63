/*
 * chatstream-gateway — internal interfaces.
 *
 * Threads (libwebsockets 4.1.6 in Debian runs one service thread per context):
 *   - the acceptor: owns the listening socket and hands each new connection to the loops
 *     in turn (lws_adopt_socket_vhost on the loop's thread). Debian's lws 4.1.6 does not
 *     set SO_REUSEPORT for LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE (checked with strace: the
 *     second context's bind fails), and one acceptor balances evenly anyway.
 *   - N loops (gw_loop_t): one lws context each, without a listener of its own. A session
 *     lives and dies on its loop's thread; nothing else touches it.
 *   - the Kafka thread: serves the producer (delivery reports → acks) and consumes
 *     chat.fanout (→ pushes). It never touches a session: it posts events to a loop's
 *     inbox and wakes it with lws_cancel_service().
 *   - the history worker: PostgreSQL queries for join-with-since and GET history; its
 *     answers go back through the same inboxes.
 * An event names its session by (loop, 64-bit id), never by pointer, so an answer for a
 * session that closed meanwhile is simply dropped.
 */
#ifndef CS_GW_H
#define CS_GW_H

#include "cs_buf.h"
#include "cs_conf.h"
#include "cs_envelope.h"
#include "cs_jwt.h"
#include "cs_kafka.h"
#include "cs_metrics.h"

#include <uv.h> /* before libwebsockets.h: it declares its libuv helpers then */
#include <libwebsockets.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define GW_MAX_LOOPS 16

/* ---- configuration (gw_conf.c) -------------------------------------------------------- */
typedef struct gw_conf {
    char *host;
    int64_t port;
    int64_t threads;
    char *brokers;
    char *topic_prefix;
    char *auth_mode;         /* "jwt" or "dev" */
    cs_jwt_conf_t jwt;       /* the "JWT" section (cs_jwt_conf_defs): secret, issuer, ... */
    char *origins;           /* comma-separated allowlist; "" = any */
    int64_t max_frame;       /* bytes of one client frame */
    int64_t max_text;        /* bytes of a message text */
    double rate;             /* messages per second per user */
    int64_t burst;
    int64_t max_rooms;
    double joins_rate;       /* joins per second per connection, after rooms.max at once */
    int64_t max_conns_per_ip;
    int64_t max_inflight;    /* unacked sends per connection before reads pause */
    int64_t idle_timeout_ms;
    int64_t outq_max_bytes;
    int64_t sndbuf;          /* SO_SNDBUF of client sockets; 0 = the kernel's */
    int64_t coalesce_ms;     /* a socket written this recently waits; 0 = write at once */
    int64_t coalesce_lag_us; /* ...only as the thread's event-loop delay nears this; 0: always */
    int64_t auth_timeout_ms;
    int64_t produce_timeout_ms;
    int64_t retry_after_ms;
    int64_t history_limit;
    int64_t recent_per_room;
    int64_t rooms_linger_ms; /* an empty room is freed this long after its last member left */
    int64_t recent_ms;       /* fan-out records kept this long to start rooms with */
    int64_t recent_bytes;    /* ...this many bytes of them at most */
    char *fanout_remote;     /* comma-separated mirrored fan-out topics of other regions */
    int64_t dedupe_ids;      /* message ids remembered to drop repeats; 0 = off */
    int64_t shutdown_grace_ms;
    char *pg_dsn;
    int64_t pg_connections;
    char *web_root;
    char *event_lib;
    char *log_level;
} gw_conf_t;

extern const cs_conf_def_t gw_conf_defs[];
extern const size_t gw_conf_ndefs;

/* ---- frames shared between sessions (refcounted, immutable once built) -------------- */
typedef struct gw_frame {
    atomic_int refs;
    size_t len;
    char id[CS_UUID_STR_LEN + 1]; /* the message id, for "msg" frames; "" otherwise */
    unsigned char buf[];          /* LWS_PRE bytes, then len bytes of JSON text */
} gw_frame_t;

gw_frame_t *gw_frame_new(const char *data, size_t len, const char *id);
gw_frame_t *gw_frame_ref(gw_frame_t *f);
void gw_frame_unref(gw_frame_t *f);
/* The "msg" push of an envelope. */
gw_frame_t *gw_frame_msg(const cs_envelope_t *env);

/* ---- events into a loop -------------------------------------------------------------- */
typedef enum {
    GW_EV_ACK,      /* a send is durable (or failed) */
    GW_EV_MSG,      /* a message from chat.fanout */
    GW_EV_HISTORY,  /* rows for a join-with-since or a GET history */
    GW_EV_ADOPT,    /* a connection accepted by the acceptor thread */
    GW_EV_SHUTDOWN, /* SIGTERM: close every WebSocket with 1001 once its queue is sent */
} gw_ev_kind_t;

typedef struct gw_event {
    struct gw_event *next;
    gw_ev_kind_t kind;
    uint64_t session;            /* ACK, HISTORY */
    cs_err_t err;                /* ACK, HISTORY */
    char cmid[CS_CMID_MAX + 1];  /* ACK */
    char id[CS_UUID_STR_LEN + 1];/* ACK */
    int64_t ts;                  /* ACK */
    char room[CS_IDENT_MAX + 1]; /* MSG, HISTORY */
    gw_frame_t *frame;           /* MSG */
    uint64_t seq;                /* MSG: the record's number in the gateway's recent store */
    gw_frame_t **rows;           /* HISTORY: msg frames, oldest first */
    size_t nrows;
    char *body;                  /* HISTORY for HTTP: the whole JSON answer */
    size_t body_len;
    int fd;                      /* ADOPT */
} gw_event_t;

typedef struct gw gw_t;
typedef struct gw_loop gw_loop_t;

void gw_loop_post(gw_loop_t *loop, gw_event_t *ev);
void gw_event_free(gw_event_t *ev);

/* ---- the process ----------------------------------------------------------------------- */
typedef struct gw_metrics {
    cs_gauge_t *connections;
    cs_counter_t *connects;
    cs_counter_t *received;        /* frames */
    cs_counter_t *sent_ok;         /* acked sends */
    cs_counter_t *delivered;       /* msg frames queued to sessions */
    cs_counter_t *writes;          /* socket writes of queued frames */
    cs_counter_t *frames_written;  /* frames in those */
    cs_counter_t *coalesced;       /* flushes held back by ws.coalesce.ms */
    cs_counter_t *unavailable;
    cs_counter_t *slow_readers;
    cs_counter_t *auth_failures;
    cs_counter_t *fanout_local;    /* records read from this region's chat.fanout */
    cs_counter_t *fanout_remote;   /* records read from other regions' mirrored topics */
    cs_counter_t *fanout_repeats;  /* records dropped: their id was delivered already */
    cs_counter_t *fanout_skipped;  /* records of rooms no loop holds, not decoded */
    cs_counter_t *fanout_backfilled; /* read at start from before it: for the store only */
    cs_gauge_t *rooms;             /* distinct rooms held by the loops */
    cs_gauge_t *recent_bytes;      /* the recent fan-out records rooms are started with */
    cs_gauge_t *recent_window_s;   /* ...how far back they reach */
    cs_counter_t *recent_seeded;   /* records a new room started with */
    cs_counter_t *recent_cut;      /* records dropped before fanout.recent.ms: bytes full */
    cs_gauge_t *dedupe_window_s;   /* how far back, by message time, ids are remembered */
    cs_histogram_t *ack_seconds;
    cs_histogram_t *loop_lag_seconds; /* post to an idle inbox → its drain starts */
    cs_gauge_t *coalesce_window_s[GW_MAX_LOOPS]; /* per service thread */
    cs_counter_t *rejected[16];    /* by gw_reject_t */
    cs_counter_t *closed[16];      /* by gw_close_t */
} gw_metrics_t;

/* Why a request was refused (error frames and HTTP errors), for metrics and clients. */
typedef enum {
    GW_REJ_BAD_REQUEST,
    GW_REJ_UNKNOWN_TYPE,
    GW_REJ_TOO_LARGE,
    GW_REJ_RATE_LIMITED,
    GW_REJ_NOT_MEMBER,
    GW_REJ_TOO_MANY_ROOMS,
    GW_REJ_UNAVAILABLE,
    GW_REJ_INTERNAL,
    GW_REJ__COUNT
} gw_reject_t;
const char *gw_reject_code(gw_reject_t r);

/* Why the server closed a connection. */
typedef enum {
    GW_CLOSE_BAD_UTF8,      /* 1007 */
    GW_CLOSE_TOO_BIG,       /* 1009 */
    GW_CLOSE_AUTH,          /* 4401 */
    GW_CLOSE_ORIGIN,        /* 4403 */
    GW_CLOSE_IDLE,          /* 4408 */
    GW_CLOSE_PER_IP,        /* 4429 */
    GW_CLOSE_SLOW_READER,   /* 4508 */
    GW_CLOSE_SHUTDOWN,      /* 1001 */
    GW_CLOSE__COUNT
} gw_close_t;
int gw_close_code(gw_close_t c);
const char *gw_close_name(gw_close_t c);

struct gw {
    gw_conf_t *conf;
    cs_conf_t *cs_conf;
    cs_metrics_t *metrics;
    gw_metrics_t m;
    uint8_t secret[CS_JWT_MAX_SECRET]; /* the verifier's key */
    cs_jwt_verifier_t verifier;
    char topic_messages[256];
    char topic_fanout[256];
    /* Kafka (gw_kafka.c) */
    rd_kafka_t *producer;
    rd_kafka_topic_t *producer_topic;
    cs_kafka_ctx_t producer_kctx;
    rd_kafka_t *consumer;
    cs_kafka_ctx_t consumer_kctx;
    atomic_bool fanout_assigned;
    pthread_t kafka_thread;
    struct cs_dedupe *fanout_seen; /* ids already pushed (Kafka thread only); NULL = off */
    int64_t dedupe_checked_ms, dedupe_warned_ms; /* gw_dedupe_check's clock (Kafka thread) */
    int64_t fanout_seq;
    /* history (gw_history.c) */
    struct gw_history *history;
    /* the rooms the loops hold, for the Kafka thread's skip (gw_roomset.c) */
    struct gw_roomset *rooms;
    /* the fan-out records of the last fanout.recent.ms, a new room's start (gw_recent.c) */
    struct gw_recent *recent;
    int64_t recent_checked_ms, recent_warned_ms; /* gw_recent_check's clock (Kafka thread) */
    uint64_t recent_evicted_full;
    /* partitions being read from fanout.recent.ms back into the store (gw_kafka.c) */
    struct gw_backfill *backfill;
    int nbackfill;
    int64_t backfill_checked_ms;
    atomic_int_fast64_t backfill_until_ms; /* not ready before this while backfilling; 0: done */
    /* where the fan-out partitions stood when a rebalance took them, and when: given back
     * soon after, they go on from there; where the last assignment started them (gw_kafka.c;
     * the Kafka thread's callbacks only) */
    rd_kafka_topic_partition_list_t *fanout_stopped, *fanout_started;
    int64_t fanout_stopped_ms;
    /* limits shared by all loops (gw_limits.c) */
    struct gw_limits *limits;
    /* loops */
    gw_loop_t *loops[GW_MAX_LOOPS];
    int nloops;
    atomic_bool stop;
    atomic_bool draining; /* SIGTERM: no new connections or sends, closing the rest */
    atomic_uint_fast64_t next_session;
    /* the acceptor (gw_loop.c) */
    int listen_fd;
    pthread_t acceptor;
    bool acceptor_started;
};

bool gw_acceptor_start(gw_t *gw, char *errstr, size_t errstr_size);
void gw_acceptor_stop(gw_t *gw);

bool gw_ready(gw_t *gw, char *reason, size_t reason_size);

/* ---- Kafka (gw_kafka.c) ---------------------------------------------------------------- */
bool gw_kafka_start(gw_t *gw, char *errstr, size_t errstr_size);
void gw_kafka_stop(gw_t *gw);
/* Waits (at most timeout_ms) until every produced message has its delivery report. */
void gw_kafka_drain(gw_t *gw, int64_t timeout_ms);
/* Makes the envelope of a client's message (a fresh UUIDv7 id, the server's time) and
 * produces it for the session; the ack comes back as GW_EV_ACK on `loop`.
 * CS_ERR_UNAVAILABLE when the queue is full or no broker is up (nothing was queued). */
cs_err_t gw_kafka_send(gw_t *gw, int loop, uint64_t session, const char *room,
                       const char *user, const char *cmid, size_t cmid_len, const char *text,
                       size_t text_len);

/* Scratch bytes gw_fanout_decode needs. */
#define GW_FANOUT_ARENA (CS_ENVELOPE_MAX_BYTES * 2 + 256)
/* Decodes a chat.fanout record, whose key is its room, into *env (strings in `arena`,
 * GW_FANOUT_ARENA bytes). NULL when it is good; else why not (too large, not an envelope,
 * its key is not its room: the skip by key trusts the key). */
const char *gw_fanout_decode(const void *key, size_t key_len, const void *value, size_t len,
                             cs_envelope_t *env, char *arena, char *why, size_t why_size);

/* ---- limits (gw_limits.c) -------------------------------------------------------------- */
/* A token bucket: refilled at `rate` a second up to `burst`; start it full. */
typedef struct gw_tokens {
    double tokens;
    int64_t at_ms;
} gw_tokens_t;
void gw_tokens_refill(gw_tokens_t *t, double rate, double burst, int64_t now_ms);
/* Takes one token; false and *retry_ms (when one will be there) when there is none. */
bool gw_tokens_take(gw_tokens_t *t, double rate, double burst, int64_t now_ms,
                    int64_t *retry_ms);
struct gw_limits *gw_limits_new(const gw_conf_t *conf);
void gw_limits_destroy(struct gw_limits *l);
/* Takes one token of `user`'s bucket; false and *retry_ms when empty. */
bool gw_limits_take(struct gw_limits *l, const char *user, int64_t now_ms, int64_t *retry_ms);
/* Counts a connection of `ip`; false when over the limit (nothing counted). */
bool gw_limits_conn_open(struct gw_limits *l, const char *ip);
void gw_limits_conn_close(struct gw_limits *l, const char *ip);

/* ---- history (gw_history.c) ------------------------------------------------------------ */
struct gw_history *gw_history_new(gw_t *gw, char *errstr, size_t errstr_size);
void gw_history_destroy(struct gw_history *h);
/* Queues a query of `room` after message `since` (join) or before `before` ("" = newest,
 * HTTP page); the answer comes back to (loop, session) as GW_EV_HISTORY. */
void gw_history_query(struct gw_history *h, int loop, uint64_t session, const char *room,
                      const char *since, const char *before, int limit, bool http);

/* ---- loops (gw_loop.c, gw_ws.c, gw_http.c) ------------------------------------------- */
gw_loop_t *gw_loop_new(gw_t *gw, int index, char *errstr, size_t errstr_size);
bool gw_loop_start(gw_loop_t *loop);
void gw_loop_stop(gw_loop_t *loop);
void gw_loop_destroy(gw_loop_t *loop);

#endif
