/*
 * gw_history — room history from PostgreSQL, off the service threads.
 *
 * A few worker threads (pg.connections), each with its own connection, take queries from
 * one queue: the catch-up of a join with `since` (messages after it, oldest first) and the
 * pages of GET /v1/rooms/{room}/messages (before an id, newest first). Answers go back to
 * the asking session's loop as GW_EV_HISTORY. PostgreSQL being down makes the answer an
 * error (the client is told), never a stall of the gateway.
 */
#include "gw_session.h"

#include "cs_log.h"
#include "cs_pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_HISTORY_MAX_WORKERS 8
#define GW_HISTORY_MAX_QUEUE 10000

typedef struct gw_query {
    struct gw_query *next;
    int loop;
    uint64_t session;
    char room[CS_IDENT_MAX + 1];
    char since[CS_UUID_STR_LEN + 1];
    char before[CS_UUID_STR_LEN + 1];
    int limit;
    bool http;
} gw_query_t;

struct gw_history {
    gw_t *gw;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    gw_query_t *head, *tail;
    size_t queued;
    bool stop;
    pthread_t threads[GW_HISTORY_MAX_WORKERS];
    int nthreads;
};

static const char *const gw_sql_after =
    "SELECT id::text, room, user_id, client_msg_id, body, "
    "(extract(epoch FROM sent_at) * 1000)::bigint FROM messages "
    "WHERE room = $1 AND id > $2::uuid ORDER BY id LIMIT $3";
static const char *const gw_sql_before =
    "SELECT id::text, room, user_id, client_msg_id, body, "
    "(extract(epoch FROM sent_at) * 1000)::bigint FROM messages "
    "WHERE room = $1 AND ($2 = '' OR id < $2::uuid) ORDER BY id DESC LIMIT $3";

static gw_frame_t *gw_row_frame(PGresult *res, int i)
{
    cs_envelope_t env;
    memset(&env, 0, sizeof(env));
    snprintf(env.id, sizeof(env.id), "%s", PQgetvalue(res, i, 0));
    env.room = PQgetvalue(res, i, 1), env.room_len = (size_t)PQgetlength(res, i, 1);
    env.user = PQgetvalue(res, i, 2), env.user_len = (size_t)PQgetlength(res, i, 2);
    if (!PQgetisnull(res, i, 3))
        env.cmid = PQgetvalue(res, i, 3), env.cmid_len = (size_t)PQgetlength(res, i, 3);
    env.text = PQgetvalue(res, i, 4), env.text_len = (size_t)PQgetlength(res, i, 4);
    env.ts = strtoll(PQgetvalue(res, i, 5), NULL, 10);
    return gw_frame_msg(&env);
}


static void gw_history_answer(struct gw_history *h, PGconn **conn, gw_query_t *q)
{
    gw_t *gw = h->gw;
    gw_event_t *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return;
    ev->kind = GW_EV_HISTORY;
    ev->session = q->session;
    snprintf(ev->room, sizeof(ev->room), "%s", q->room);
    snprintf(ev->id, sizeof(ev->id), "%s", q->since);
    char errstr[256] = "";
    if (!*conn) {
        *conn = cs_pg_connect(gw->conf->pg_dsn, 3, 5000, errstr, sizeof(errstr));
        /* the schema may not exist yet (persist creates it with its first batch): the
         * migrations are idempotent and serialised by an advisory lock, so apply them */
        int applied;
        if (*conn && cs_pg_migrate(*conn, &applied, errstr, sizeof(errstr)) != CS_ERR_OK) {
            PQfinish(*conn);
            *conn = NULL;
        }
    }
    PGresult *res = NULL;
    if (*conn) {
        char limit[16];
        snprintf(limit, sizeof(limit), "%d", q->limit);
        const char *params[3] = {q->room, q->http ? q->before : q->since, limit};
        res = PQexecParams(*conn, q->http ? gw_sql_before : gw_sql_after, 3, NULL, params, NULL,
                           NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            cs_pg_error(*conn, res, errstr, sizeof(errstr));
            if (PQstatus(*conn) != CONNECTION_OK) {
                PQfinish(*conn);
                *conn = NULL;
            }
            PQclear(res);
            res = NULL;
        }
    }
    if (!res) {
        cs_log(CS_LOG_WARN, "history", "room %s: %s", q->room, errstr);
        ev->err = CS_ERR_UNAVAILABLE;
    } else {
        int n = PQntuples(res);
        ev->rows = calloc((size_t)n + 1, sizeof(*ev->rows));
        for (int i = 0; ev->rows && i < n; i++)
            if ((ev->rows[ev->nrows] = gw_row_frame(res, i)))
                ev->nrows++;
        if (q->http) {
            cs_buf_t b = CS_BUF_INIT;
            cs_buf_puts(&b, "{\"messages\":[");
            for (size_t i = 0; i < ev->nrows; i++) {
                if (i)
                    cs_buf_putc(&b, ',');
                cs_buf_append(&b, ev->rows[i]->buf + LWS_PRE, ev->rows[i]->len);
            }
            if (n == q->limit && n > 0)
                cs_buf_printf(&b, "],\"next\":\"%s\"}", PQgetvalue(res, n - 1, 0));
            else
                cs_buf_puts(&b, "],\"next\":null}");
            ev->body = cs_buf_steal(&b, &ev->body_len);
            ev->err = ev->body ? CS_ERR_OK : CS_ERR_NOMEM;
        }
        PQclear(res);
    }
    gw_loop_post(gw->loops[q->loop], ev);
}

static void *gw_history_main(void *arg)
{
    struct gw_history *h = arg;
    PGconn *conn = NULL;
    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (!h->stop && !h->head)
            pthread_cond_wait(&h->cond, &h->lock);
        if (h->stop)
            break;
        gw_query_t *q = h->head;
        h->head = q->next;
        if (!h->head)
            h->tail = NULL;
        h->queued--;
        pthread_mutex_unlock(&h->lock);
        gw_history_answer(h, &conn, q);
        free(q);
        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    PQfinish(conn);
    return NULL;
}

struct gw_history *gw_history_new(gw_t *gw, char *errstr, size_t errstr_size)
{
    struct gw_history *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    h->gw = gw;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
    int n = (int)gw->conf->pg_connections;
    for (int i = 0; i < n && i < GW_HISTORY_MAX_WORKERS; i++)
        if (pthread_create(&h->threads[h->nthreads], NULL, gw_history_main, h) == 0)
            h->nthreads++;
    if (h->nthreads == 0) {
        snprintf(errstr, errstr_size, "cannot start the history workers");
        gw_history_destroy(h);
        return NULL;
    }
    return h;
}

void gw_history_destroy(struct gw_history *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stop = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < h->nthreads; i++)
        pthread_join(h->threads[i], NULL);
    while (h->head) {
        gw_query_t *q = h->head;
        h->head = q->next;
        free(q);
    }
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void gw_history_query(struct gw_history *h, int loop, uint64_t session, const char *room,
                      const char *since, const char *before, int limit, bool http)
{
    gw_query_t *q = calloc(1, sizeof(*q));
    bool full;
    pthread_mutex_lock(&h->lock);
    full = h->queued >= GW_HISTORY_MAX_QUEUE;
    pthread_mutex_unlock(&h->lock);
    if (!q || full) {
        /* answer "unavailable" at once rather than queue without bound */
        free(q);
        gw_event_t *ev = calloc(1, sizeof(*ev));
        if (!ev)
            return;
        ev->kind = GW_EV_HISTORY;
        ev->session = session;
        ev->err = CS_ERR_UNAVAILABLE;
        snprintf(ev->room, sizeof(ev->room), "%s", room);
        snprintf(ev->id, sizeof(ev->id), "%s", since ? since : "");
        gw_loop_post(h->gw->loops[loop], ev);
        return;
    }
    q->loop = loop;
    q->session = session;
    q->limit = limit;
    q->http = http;
    snprintf(q->room, sizeof(q->room), "%s", room);
    snprintf(q->since, sizeof(q->since), "%s", since ? since : "");
    snprintf(q->before, sizeof(q->before), "%s", before ? before : "");
    pthread_mutex_lock(&h->lock);
    if (h->tail)
        h->tail->next = q;
    else
        h->head = q;
    h->tail = q;
    h->queued++;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
}
