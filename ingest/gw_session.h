/*
 * gw_session — what a loop knows about one connection (WebSocket or HTTP request) and
 * about the rooms its sessions have joined. Only the loop's own thread touches these.
 */
#ifndef CS_GW_SESSION_H
#define CS_GW_SESSION_H

#include "gw.h"
#include "gw_outq.h"
#include "gw_recent.h"
#include "gw_roomset.h"
#include "gw_timers.h"
#include "gw_window.h"

typedef struct gw_room {
    struct gw_room *hnext;
    char name[CS_IDENT_MAX + 1];
    struct gw_session **members;
    size_t nmembers, cap;
    gw_frame_t **recent; /* ring of the last recent_per_room pushes (join catch-up) */
    size_t recent_head, recent_n;
    int64_t idle_since_ms; /* monotonic ms the last member left; 0 while it has members */
    /* The room started with the gateway's recent records up to this number (gw_recent.h):
     * a push numbered at or below it is one of them, posted while the room was starting. */
    uint64_t seeded_seq;
} gw_room_t;

#define GW_ROOM_BUCKETS 4096

typedef struct gw_join {
    gw_room_t *room;
    bool pending;         /* history query in flight: live pushes are held in `held` */
    gw_frame_t **held;
    size_t nheld, capheld;
    /* After a catch-up, this gateway's own stream may still bring what the client has
     * seen (it lags the gateway the client came from, or PostgreSQL): pushes at or before
     * `floor` (the join's `since`) or among `caught` (sorted ids sent by the catch-up) are
     * dropped; `caught` is freed once a push newer than all of it arrives. */
    char floor[CS_UUID_STR_LEN + 1];
    char (*caught)[CS_UUID_STR_LEN + 1];
    size_t ncaught;
} gw_join_t;

typedef struct gw_session {
    struct gw_session *hnext; /* loop's id hash */
    struct lws *wsi;
    gw_loop_t *loop;
    uint64_t id;
    bool http;
    bool closing;
    char ip[64];
    int64_t opened_ms;
    int64_t last_rx_ms;
    gw_timer_t timer; /* on one of the loop's timer queues (gw_session_timer) */
    /* A connection is a WebSocket or an HTTP request, never both at once, and lws
     * allocates this struct for every connection: the two halves share their bytes
     * (768 → 496 bytes per connection). Only what `http` says is live may be touched; the
     * open and close paths in gw_loop.c set up and free the live half only. */
    union {
        struct { /* WebSocket (!http) */
            bool authed;
            bool rx_overflow;
            bool ping_sent;   /* since the client last spoke */
            bool ping_due;    /* to be written by the writeable callback */
            bool paused;
            bool ip_counted;
            bool flush_listed; /* on the loop's flush or deferred list (gw_loop_drain) */
            bool deferred;     /* ...the deferred one: waiting out ws.coalesce.ms */
            bool flush_now;    /* an answer is queued: not to be held (gw_session_flush_now) */
            char user[CS_IDENT_MAX + 1];
            char **allowed; /* rooms the token allows; NULL = any */
            int nallowed;
            int inflight;
            int njoins;
            gw_close_t close_why;
            int64_t exp_ms;
            cs_buf_t rx;    /* the message being assembled from fragments */
            gw_outq_t outq; /* frames to write, each holding a reference */
            size_t outq_bytes;
            int64_t last_write_ms; /* of frames, for ws.coalesce.ms */
            gw_tokens_t join_tokens; /* rooms.joins.per.sec, rooms.max of them at first */
            gw_join_t *joins;
            struct gw_session *flush_next;
        };
        struct { /* HTTP (http) */
            bool resp_ready;
            bool route_post;
            int status;
            cs_buf_t body;
            char *resp;
            size_t resp_len;
            const char *resp_type;
            int64_t retry_after_s;
            int64_t started_us;
            char route_room[CS_IDENT_MAX + 1];
            char route_user[CS_IDENT_MAX + 1];
        };
    };
} gw_session_t;

struct gw_loop {
    gw_t *gw;
    int index;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    gw_event_t *inbox, *inbox_tail;
    int64_t inbox_since_us; /* when the first event went into the empty inbox */
    gw_session_t *sessions[4096];
    gw_room_t *rooms[GW_ROOM_BUCKETS];
    lws_sorted_usec_list_t rooms_sul; /* frees rooms empty for rooms.linger.ms (gw_rooms.c) */
    bool rooms_sweep_armed;
    cs_buf_t scratch;
    cs_buf_t batch; /* several queued frames framed into one write (gw_write_batch) */
    bool draining;        /* in gw_loop_drain: queued frames wait for its flush */
    gw_session_t *flush;  /* sessions with frames queued during this drain */
    /* ws.coalesce.ms: ids of sessions whose flush waits (ids, not pointers: a session may
     * close meanwhile, and gw_session_find then no longer finds it) */
    uint64_t *deferred;
    size_t ndeferred, capdeferred;
    lws_sorted_usec_list_t coalesce_sul;
    bool coalesce_armed;
    gw_window_t window; /* the window now, from this thread's event-loop delay */
    struct lws_http_mount *mounts; /* must outlive the context */
    gw_timers_t timers;            /* the sessions' timers; one lws timer wakes them */
    lws_sorted_usec_list_t timers_sul;
    int64_t timers_at_ms;          /* when timers_sul fires; 0: not scheduled */
    int64_t timers_slack_ms;       /* wake-ups rounded up to multiples of this */
    uv_loop_t uv;                  /* event.lib=uv: the thread's loop, which lws joins */
    bool uv_used;
};

gw_session_t *gw_session_find(gw_loop_t *loop, uint64_t id);
/* Forgets a session (its answers will be dropped); for an HTTP request once answered. */
void gw_session_remove(gw_loop_t *loop, gw_session_t *s);
void gw_session_queue(gw_session_t *s, gw_frame_t *f); /* takes a reference */
void gw_session_close(gw_session_t *s, gw_close_t why);
/* In a drain: what is queued to s goes out at the drain's end even inside ws.coalesce.ms
 * (acks, errors and history answer the client, who waits for them). */
void gw_session_flush_now(gw_session_t *s);
/* (Re)arms the session's one timer on queue q; gw_ws_on_timer runs when it is due. */
void gw_session_timer(gw_session_t *s, gw_timer_queue_t q);
void gw_session_error(gw_session_t *s, gw_reject_t r, const char *msg, const char *cmid,
                      const char *room, int64_t retry_after_ms);

/* gw_rooms.c */
gw_room_t *gw_room_find(gw_loop_t *loop, const char *name);
/* Adds s to the room (made on first use); NULL when out of memory (s is not in it). */
gw_room_t *gw_room_join(gw_loop_t *loop, const char *name, gw_session_t *s);
/* Takes s out of the room (NULL: nobody); an empty room is freed rooms.linger.ms later
 * unless someone joins it meanwhile, or at once (r is gone) if nothing was pushed to it. */
void gw_room_leave(gw_loop_t *loop, gw_room_t *r, gw_session_t *s);
/* Keeps f among the room's last recent.per.room pushes. */
void gw_room_remember(gw_loop_t *loop, gw_room_t *r, gw_frame_t *f);
/* At the loop's end. */
void gw_rooms_free_all(gw_loop_t *loop);

/* gw_ws.c */
int gw_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len);
void gw_ws_on_event(gw_loop_t *loop, gw_event_t *ev);
void gw_ws_on_timer(gw_session_t *s);
void gw_ws_closed(gw_session_t *s);
/* Writes what is queued to the client now, outside lws's writeable callback; what the
 * socket cannot take waits for that callback. */
void gw_ws_flush(gw_session_t *s);

/* gw_http.c */
int gw_http_callback(struct lws *wsi, enum lws_callback_reasons reason, gw_session_t *s,
                     void *in, size_t len);
void gw_http_on_event(gw_loop_t *loop, gw_event_t *ev);
void gw_http_answer(gw_session_t *s, int status, const char *type, const char *body, size_t len,
                    int64_t retry_after_s);
void gw_http_error(gw_session_t *s, int status, gw_reject_t r, const char *msg,
                   int64_t retry_after_s);

#endif
