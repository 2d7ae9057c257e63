/*
 * gateway_double_fast — the protocol double of tests/doubles/gateway_double.py in C
 * (libwebsockets server, one thread), fast enough to measure chatstream-loadgen's own
 * CPU per delivery at tens of thousands of users without the real pipeline.
 *
 *   gateway_double_fast PORT
 *
 * auth (any token or dev user) -> ready; join -> joined; send -> ack to the sender and
 * msg to every member of the room, in one order. No Kafka, no limits, no checks: it is
 * a mirror for the loadgen, not a gateway.
 */
#include "lg_frame.h"

#include <libwebsockets.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct gd_frame {
    int refs;
    size_t len;
    unsigned char data[]; /* LWS_PRE + payload */
} gd_frame_t;

#define GD_QUEUE 256

typedef struct gd_sess {
    struct lws *wsi;
    char user[136];
    int room; /* -1: none */
    gd_frame_t *q[GD_QUEUE];
    unsigned head, len;
    struct gd_sess *next_in_room, *prev_in_room;
} gd_sess_t;

typedef struct gd_room {
    char name[136];
    gd_sess_t *members;
} gd_room_t;

static gd_room_t *gd_rooms;
static size_t gd_nrooms, gd_caprooms;
static unsigned long long gd_seq;
static volatile int gd_stop;

static int gd_room_find(const char *name, size_t len)
{
    for (size_t i = gd_nrooms; i-- > 0;) /* recent rooms first; fine for a test double */
        if (strlen(gd_rooms[i].name) == len && memcmp(gd_rooms[i].name, name, len) == 0)
            return (int)i;
    if (gd_nrooms == gd_caprooms) {
        gd_caprooms = gd_caprooms ? gd_caprooms * 2 : 1024;
        gd_rooms = realloc(gd_rooms, gd_caprooms * sizeof(*gd_rooms));
    }
    gd_room_t *r = &gd_rooms[gd_nrooms];
    snprintf(r->name, sizeof(r->name), "%.*s", (int)len, name);
    r->members = NULL;
    return (int)gd_nrooms++;
}

static gd_frame_t *gd_frame(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static gd_frame_t *gd_frame(const char *fmt, ...)
{
    char tmp[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return NULL;
    gd_frame_t *f = malloc(sizeof(*f) + LWS_PRE + (size_t)n);
    f->refs = 0;
    f->len = (size_t)n;
    memcpy(f->data + LWS_PRE, tmp, (size_t)n);
    return f;
}

static void gd_push(gd_sess_t *s, gd_frame_t *f)
{
    if (!f || s->len == GD_QUEUE)
        return; /* a slow reader loses frames: the loadgen will say so */
    f->refs++;
    s->q[(s->head + s->len++) % GD_QUEUE] = f;
    lws_callback_on_writable(s->wsi);
}

/* A frame for one session only (ready, joined, ack). */
static void gd_reply(gd_sess_t *s, gd_frame_t *f)
{
    gd_push(s, f);
    if (f && !f->refs)
        free(f);
}

static void gd_unref(gd_frame_t *f)
{
    if (f && --f->refs <= 0)
        free(f);
}

static int gd_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    gd_sess_t *s = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(s, 0, sizeof(*s));
        s->wsi = wsi;
        s->room = -1;
        break;
    case LWS_CALLBACK_RECEIVE: {
        const char *v;
        size_t vl;
        switch (lg_frame_type(in, len)) {
        case LG_FRAME_OTHER:
            if (!s->user[0] && lg_frame_str(in, len, "type", &v, &vl) && vl == 4 &&
                memcmp(v, "auth", 4) == 0) {
                if (lg_frame_str(in, len, "user", &v, &vl) && vl < 128)
                    snprintf(s->user, sizeof(s->user), "%.*s", (int)vl, v);
                else
                    snprintf(s->user, sizeof(s->user), "token-user-%p", (void *)s);
                gd_reply(s, gd_frame("{\"type\":\"ready\",\"user\":\"%s\"}", s->user));
                break;
            }
            if (lg_frame_str(in, len, "type", &v, &vl) && vl == 4 && memcmp(v, "join", 4) == 0 &&
                lg_frame_str(in, len, "room", &v, &vl) && vl < 128 && s->room < 0) {
                s->room = gd_room_find(v, vl);
                gd_room_t *r = &gd_rooms[s->room];
                s->next_in_room = r->members;
                if (r->members)
                    r->members->prev_in_room = s;
                r->members = s;
                gd_reply(s, gd_frame("{\"type\":\"joined\",\"room\":\"%s\"}", r->name));
                break;
            }
            if (lg_frame_str(in, len, "type", &v, &vl) && vl == 4 && memcmp(v, "send", 4) == 0 &&
                s->room >= 0) {
                const char *text, *cmid;
                size_t tl, cl;
                if (!lg_frame_str(in, len, "text", &text, &tl) ||
                    !lg_frame_str(in, len, "cmid", &cmid, &cl))
                    break;
                unsigned long long id = ++gd_seq;
                gd_reply(s, gd_frame("{\"type\":\"ack\",\"cmid\":\"%.*s\",\"id\":\"%llu\",\"ts\":1}",
                                     (int)cl, cmid, id));
                gd_frame_t *m = gd_frame("{\"type\":\"msg\",\"room\":\"%s\",\"id\":\"%llu\",\"user\":"
                                         "\"%s\",\"text\":\"%.*s\",\"ts\":1,\"cmid\":\"%.*s\"}",
                                         gd_rooms[s->room].name, id, s->user, (int)tl, text,
                                         (int)cl, cmid);
                if (!m)
                    break;
                m->refs = 1; /* held while pushing */
                for (gd_sess_t *o = gd_rooms[s->room].members; o; o = o->next_in_room)
                    gd_push(o, m);
                gd_unref(m);
            }
            break;
        default:
            break;
        }
        break;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (s->len) {
            gd_frame_t *f = s->q[s->head];
            s->head = (s->head + 1) % GD_QUEUE;
            s->len--;
            int flen = (int)f->len;
            int w = lws_write(wsi, f->data + LWS_PRE, f->len, LWS_WRITE_TEXT);
            gd_unref(f);
            if (w < flen)
                return -1;
            if (s->len)
                lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_CLOSED:
        if (s->room >= 0) {
            gd_room_t *r = &gd_rooms[s->room];
            if (s->prev_in_room)
                s->prev_in_room->next_in_room = s->next_in_room;
            else
                r->members = s->next_in_room;
            if (s->next_in_room)
                s->next_in_room->prev_in_room = s->prev_in_room;
        }
        while (s->len) {
            gd_unref(s->q[s->head]);
            s->head = (s->head + 1) % GD_QUEUE;
            s->len--;
        }
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols gd_protocols[] = {
    {"chatstream.v1", gd_cb, sizeof(gd_sess_t), 8192, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void gd_sig(int sig)
{
    (void)sig;
    gd_stop = 1;
}

int main(int argc, char **argv)
{
    struct rlimit rl = {1 << 20, 1 << 20};
    setrlimit(RLIMIT_NOFILE, &rl);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = argc > 1 ? atoi(argv[1]) : 18090;
    info.iface = "127.0.0.1";
    info.protocols = gd_protocols;
    info.gid = -1;
    info.uid = -1;
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx)
        return 1;
    signal(SIGINT, gd_sig);
    signal(SIGTERM, gd_sig);
    while (!gd_stop && lws_service(ctx, 0) >= 0)
        ;
    lws_context_destroy(ctx);
    return 0;
}
