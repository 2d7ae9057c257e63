#include "cs_search.h"
#include "cs_envelope.h"
#include "cs_log.h"
#include "cs_pg.h"
#include "cs_time.h"
#include "cs_utf8.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CS_SEARCH_POOL_MAX 64

static const cs_conf_def_t cs_search_conf_defs[] = {
    CS_CONF_ROW_STR(cs_search_conf_t, mode, "search.mode", "auto", 16,
                    "auto (semantic, falling back to full-text), semantic (never fall back) or "
                    "fulltext (PostgreSQL only)."),
    CS_CONF_ROW_STR(cs_search_conf_t, pg_dsn, "search.pg.dsn",
                    "host=127.0.0.1 port=5432 dbname=chatstream user=chatstream", 4096,
                    "PostgreSQL for the full-text fallback (the database chatstream-persist "
                    "writes)."),
    CS_CONF_ROW_INT(cs_search_conf_t, pg_connect_timeout_s, "search.pg.connect.timeout.s", "3",
                    1, 300, "PostgreSQL connect timeout."),
    CS_CONF_ROW_INT(cs_search_conf_t, pg_statement_timeout_ms, "search.pg.statement.timeout.ms",
                    "3000", 100, 600000, "Longest full-text query."),
    CS_CONF_ROW_INT(cs_search_conf_t, pg_pool, "search.pg.pool", "4", 1, CS_SEARCH_POOL_MAX,
                    "PostgreSQL connections kept for full-text queries."),
    CS_CONF_ROW_INT(cs_search_conf_t, timeout_ms, "search.timeout.ms", "2000", 50, 60000,
                    "Budget of the semantic path (embedding the query + all shards); past it, "
                    "full-text answers."),
    CS_CONF_ROW_INT(cs_search_conf_t, limit_default, "search.limit.default", "10", 1, 1000,
                    "Hits when the request gives no limit."),
    CS_CONF_ROW_INT(cs_search_conf_t, limit_max, "search.limit.max", "100", 1, 1000,
                    "Largest limit a request may ask for."),
};

struct cs_search {
    const cs_search_conf_t *conf;
    cs_embedder_t *embedder;      /* NULL in fulltext mode */
    cs_qdrant_t *qdrant;
    bool semantic, fallback;
    pthread_mutex_t pool_lock;
    PGconn *pool[CS_SEARCH_POOL_MAX];
    size_t npool;
    atomic_bool semantic_ok;
    cs_metrics_t *metrics;
    cs_histogram_t *m_seconds_semantic;
    cs_histogram_t *m_seconds_fulltext;
};

/* Full-text over message_search (migration 0002), joined back to messages for the text. */
#define CS_SEARCH_SQL                                                                              \
    "SELECT m.id::text, m.room, m.user_id, m.body,"                                                \
    " (extract(epoch FROM m.sent_at) * 1000)::bigint, ts_rank_cd(s.tsv, q)"                        \
    " FROM message_search s JOIN messages m ON m.room = s.room AND m.id = s.id,"                  \
    "      plainto_tsquery('simple'::regconfig, $1) AS q"                                          \
    " WHERE s.tsv @@ q"                                                                            \
    "   AND ($2::text IS NULL OR s.room = $2)"                                                     \
    "   AND ($3::text[] IS NULL OR s.room = ANY($3::text[]))"                                      \
    " ORDER BY 6 DESC, m.sent_at DESC LIMIT $4"

void cs_search_add_conf(cs_conf_t *conf, cs_search_confs_t *out)
{
    out->search = cs_conf_add_owned_section(conf, "search", cs_search_conf_defs,
                                            sizeof(cs_search_conf_defs) /
                                                sizeof(cs_search_conf_defs[0]),
                                            sizeof(cs_search_conf_t));
    out->embed = cs_conf_add_owned_section(conf, "embeddings provider", cs_embed_conf_defs,
                                           cs_embed_conf_ndefs, sizeof(cs_embed_conf_t));
    out->qdrant = cs_conf_add_owned_section(conf, "Qdrant", cs_qdrant_conf_defs,
                                            cs_qdrant_conf_ndefs, sizeof(cs_qdrant_conf_t));
}

cs_search_t *cs_search_new(const cs_search_confs_t *confs, cs_metrics_t *metrics, char *errstr,
                           size_t errstr_size)
{
    cs_search_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->conf = confs->search;
    s->metrics = metrics;
    pthread_mutex_init(&s->pool_lock, NULL);
    const char *mode = s->conf->mode;
    if (strcmp(mode, "auto") == 0)
        s->semantic = s->fallback = true;
    else if (strcmp(mode, "semantic") == 0)
        s->semantic = true;
    else if (strcmp(mode, "fulltext") == 0)
        s->fallback = true;
    else {
        snprintf(errstr, errstr_size, "search.mode: '%s' is not auto, semantic or fulltext", mode);
        goto fail;
    }
    if (s->conf->limit_default > s->conf->limit_max) {
        snprintf(errstr, errstr_size, "search.limit.default exceeds search.limit.max");
        goto fail;
    }
    if (s->semantic) {
        if (!(s->embedder = cs_embedder_new(confs->embed, metrics, "search", errstr,
                                            errstr_size)))
            goto fail;
        if (!(s->qdrant = cs_qdrant_new(confs->qdrant, metrics, "search", errstr, errstr_size)))
            goto fail;
    }
    atomic_store(&s->semantic_ok, s->semantic);
    s->m_seconds_semantic = cs_metrics_histogram(metrics, "chatstream_search_seconds",
                                                 "mode=\"semantic\"", "Time to answer a search.",
                                                 cs_metrics_latency_buckets,
                                                 cs_metrics_latency_nbuckets);
    s->m_seconds_fulltext = cs_metrics_histogram(metrics, "chatstream_search_seconds",
                                                 "mode=\"fulltext\"", "Time to answer a search.",
                                                 cs_metrics_latency_buckets,
                                                 cs_metrics_latency_nbuckets);
    return s;
fail:
    cs_search_destroy(s);
    return NULL;
}

void cs_search_destroy(cs_search_t *s)
{
    if (!s)
        return;
    cs_embedder_destroy(s->embedder);
    cs_qdrant_destroy(s->qdrant);
    for (size_t i = 0; i < s->npool; i++)
        PQfinish(s->pool[i]);
    pthread_mutex_destroy(&s->pool_lock);
    free(s);
}

bool cs_search_semantic_ok(cs_search_t *s)
{
    return atomic_load(&s->semantic_ok);
}

static void cs_search_count(cs_search_t *s, const char *name, const char *labels)
{
    cs_counter_inc(cs_metrics_counter(s->metrics, name, labels,
                                      strcmp(name, "chatstream_search_requests_total") == 0
                                          ? "Searches answered, by mode (or error)."
                                          : "Searches answered by full-text because the "
                                            "semantic path failed, by cause."));
}

/* ---- the semantic path -------------------------------------------------------------- */

typedef struct cs_query_vec {
    float *vec;
    uint32_t dim;
} cs_query_vec_t;

static void cs_search_sink(void *arg, size_t i, const float *vec, uint32_t dim)
{
    cs_query_vec_t *qv = arg;
    free(qv->vec);
    qv->vec = malloc(dim * sizeof(float));
    if (qv->vec) {
        memcpy(qv->vec, vec, dim * sizeof(float));
        qv->dim = dim;
    }
}

static void cs_hit_json(cs_buf_t *out, const char *id, const char *room, const char *user,
                        int64_t ts, const char *text, size_t text_len, double score)
{
    cs_buf_printf(out, "{\"id\":\"%s\",\"room\":", id);
    cs_buf_put_json_str(out, room, strlen(room));
    cs_buf_puts(out, ",\"user\":");
    cs_buf_put_json_str(out, user, strlen(user));
    cs_buf_printf(out, ",\"ts\":%lld,\"text\":", (long long)ts);
    cs_buf_put_json_str(out, text, text_len);
    cs_buf_printf(out, ",\"score\":%.6g}", score);
}

/* OK and hits JSON appended to `hits`, or an error + why. */
static cs_err_t cs_search_semantic(cs_search_t *s, const cs_qdrant_filter_t *filter,
                                   const char *q, size_t limit, cs_buf_t *hits, char *why,
                                   size_t why_size, const char **cause)
{
    int64_t deadline = cs_mono_ms() + s->conf->timeout_ms;
    cs_embed_item_t item = {.text = q, .len = strlen(q)};
    cs_query_vec_t qv = {0};
    char err[256] = "";
    cs_err_t rc = cs_embedder_embed(s->embedder, &item, 1, deadline, cs_search_sink, &qv, err,
                                    sizeof(err));
    if (rc == CS_ERR_OK && item.status != CS_ERR_OK) {
        rc = item.status;
        snprintf(err, sizeof(err), "%s", item.reason);
    }
    if (rc == CS_ERR_OK && !qv.vec) {
        rc = CS_ERR_NOMEM;
        snprintf(err, sizeof(err), "out of memory");
    }
    if (rc != CS_ERR_OK) {
        *cause = "embed";
        snprintf(why, why_size, "embeddings provider: %s", err[0] ? err : cs_err_str(rc));
        free(qv.vec);
        return rc;
    }
    cs_qdrant_hits_t found;
    rc = cs_qdrant_search(s->qdrant, qv.vec, qv.dim, filter, limit, deadline, &found, err,
                          sizeof(err));
    free(qv.vec);
    if (rc != CS_ERR_OK) {
        *cause = "qdrant";
        snprintf(why, why_size, "qdrant: %s", err);
        return rc;
    }
    for (size_t i = 0; i < found.n; i++) {
        const cs_qdrant_hit_t *h = &found.hits[i];
        if (i)
            cs_buf_putc(hits, ',');
        cs_hit_json(hits, h->id, h->room, h->user, h->ts, h->text, strlen(h->text), h->score);
    }
    cs_qdrant_hits_free(&found);
    return CS_ERR_OK;
}

/* ---- the full-text path ------------------------------------------------------------- */

static PGconn *cs_search_pg_get(cs_search_t *s, char *errstr, size_t errstr_size)
{
    PGconn *c = NULL;
    pthread_mutex_lock(&s->pool_lock);
    if (s->npool > 0)
        c = s->pool[--s->npool];
    pthread_mutex_unlock(&s->pool_lock);
    if (c && PQstatus(c) == CONNECTION_OK)
        return c;
    if (c)
        PQfinish(c);
    return cs_pg_connect(s->conf->pg_dsn, (int)s->conf->pg_connect_timeout_s,
                         (int)s->conf->pg_statement_timeout_ms, errstr, errstr_size);
}

static void cs_search_pg_put(cs_search_t *s, PGconn *c)
{
    if (c && PQstatus(c) == CONNECTION_OK) {
        pthread_mutex_lock(&s->pool_lock);
        if (s->npool < (size_t)s->conf->pg_pool) {
            s->pool[s->npool++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&s->pool_lock);
    }
    if (c)
        PQfinish(c);
}

/* A PostgreSQL array literal of identifiers ({"a","b"}); ids are [A-Za-z0-9_.:@|+-]. */
static void cs_pg_text_array(cs_buf_t *out, const char *const *v, size_t n)
{
    cs_buf_putc(out, '{');
    for (size_t i = 0; i < n; i++)
        cs_buf_printf(out, "%s\"%s\"", i ? "," : "", v[i]);
    cs_buf_putc(out, '}');
}

static cs_err_t cs_search_fulltext(cs_search_t *s, const cs_qdrant_filter_t *filter,
                                   const char *q, size_t limit, cs_buf_t *hits, char *why,
                                   size_t why_size)
{
    PGconn *c = cs_search_pg_get(s, why, why_size);
    if (!c)
        return CS_ERR_UNAVAILABLE;
    cs_buf_t rooms = CS_BUF_INIT;
    if (filter->rooms)
        cs_pg_text_array(&rooms, filter->rooms, filter->nrooms);
    char lim[24];
    snprintf(lim, sizeof(lim), "%zu", limit);
    const char *params[4] = {q, filter->room, filter->rooms ? rooms.data : NULL, lim};
    PGresult *res = PQexecParams(c, CS_SEARCH_SQL, 4, NULL, params, NULL, NULL, 0);
    cs_buf_free(&rooms);
    cs_err_t rc = CS_ERR_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = cs_pg_error(c, res, why, why_size);
    } else {
        for (int i = 0; i < PQntuples(res); i++) {
            if (i)
                cs_buf_putc(hits, ',');
            cs_hit_json(hits, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                        strtoll(PQgetvalue(res, i, 4), NULL, 10), PQgetvalue(res, i, 3),
                        (size_t)PQgetlength(res, i, 3), strtod(PQgetvalue(res, i, 5), NULL));
        }
    }
    PQclear(res);
    cs_search_pg_put(s, c);
    return rc;
}

/* ---- the query ---------------------------------------------------------------------- */

static int cs_search_error(cs_buf_t *out, int status, const char *code, const char *message)
{
    cs_buf_printf(out, "{\"error\":\"%s\",\"message\":", code);
    cs_buf_put_json_str(out, message, strlen(message));
    cs_buf_putc(out, '}');
    return status;
}

static bool cs_query_text_valid(const char *q, size_t len)
{
    if (len == 0 || len > CS_SEARCH_QUERY_MAX || !cs_utf8_valid(q, len))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)q[i] < 0x20 || q[i] == 0x7f)
            return false;
    return true;
}

int cs_search_query(cs_search_t *s, const char *user, const char *const *allowed_rooms,
                    size_t nallowed, const char *q, const char *room, int limit,
                    cs_buf_t *json_out)
{
    int64_t t0 = cs_mono_us();
    if (!user || !cs_ident_valid(user, strlen(user), CS_IDENT_MAX))
        return cs_search_error(json_out, 400, "bad_request", "missing or invalid user");
    if (!q || !cs_query_text_valid(q, strlen(q)))
        return cs_search_error(json_out, 400, "bad_request",
                               "q: 1-512 bytes of UTF-8 text without control characters");
    if (room && !cs_ident_valid(room, strlen(room), CS_IDENT_MAX))
        return cs_search_error(json_out, 400, "bad_request", "room: not a valid room id");
    if (limit < 0 || limit > s->conf->limit_max) {
        char m[80];
        snprintf(m, sizeof(m), "limit: 1-%lld", (long long)s->conf->limit_max);
        return cs_search_error(json_out, 400, "bad_request", m);
    }
    size_t lim = limit ? (size_t)limit : (size_t)s->conf->limit_default;
    if (allowed_rooms) {
        for (size_t i = 0; i < nallowed; i++)
            if (!allowed_rooms[i] || !cs_ident_valid(allowed_rooms[i], strlen(allowed_rooms[i]),
                                                     CS_IDENT_MAX))
                return cs_search_error(json_out, 400, "bad_request", "invalid allowed room");
        bool ok = !room;
        for (size_t i = 0; room && i < nallowed && !ok; i++)
            ok = strcmp(allowed_rooms[i], room) == 0;
        if (!ok) {
            cs_search_count(s, "chatstream_search_requests_total", "mode=\"forbidden\"");
            return cs_search_error(json_out, 403, "forbidden", "not a member of that room");
        }
    }
    cs_qdrant_filter_t filter = {.room = room,
                                 /* a specific allowed room needs no list */
                                 .rooms = room ? NULL : allowed_rooms,
                                 .nrooms = room ? 0 : nallowed};
    cs_buf_t hits = CS_BUF_INIT;
    char why[300] = "";
    const char *mode = NULL;
    const char *cause = NULL;
    if (allowed_rooms && nallowed == 0) {
        mode = s->semantic ? "semantic" : "fulltext"; /* nothing readable: nothing to find */
    } else {
        if (s->semantic) {
            if (cs_search_semantic(s, &filter, q, lim, &hits, why, sizeof(why), &cause) ==
                CS_ERR_OK) {
                mode = "semantic";
                atomic_store(&s->semantic_ok, true);
            } else {
                atomic_store(&s->semantic_ok, false);
                cs_buf_reset(&hits);
                char l[64];
                snprintf(l, sizeof(l), "cause=\"%s\"", cause);
                cs_search_count(s, "chatstream_search_fallbacks_total", l);
                cs_log(CS_LOG_WARN, "search", "semantic search failed (%s)%s", why,
                       s->fallback ? "; answering with full-text" : "");
            }
        }
        if (!mode && s->fallback) {
            char ftwhy[256];
            if (cs_search_fulltext(s, &filter, q, lim, &hits, ftwhy, sizeof(ftwhy)) ==
                CS_ERR_OK) {
                mode = "fulltext";
            } else {
                cs_log(CS_LOG_WARN, "search", "full-text search failed: %s", ftwhy);
                size_t wl = strlen(why);
                snprintf(why + wl, sizeof(why) - wl, "%sfull-text: %s", wl ? "; " : "", ftwhy);
            }
        }
    }
    if (!mode) {
        cs_buf_free(&hits);
        cs_search_count(s, "chatstream_search_requests_total", "mode=\"error\"");
        return cs_search_error(json_out, 503, "unavailable", why);
    }
    double took = (double)(cs_mono_us() - t0) / 1e6;
    cs_histogram_observe(strcmp(mode, "semantic") == 0 ? s->m_seconds_semantic
                                                        : s->m_seconds_fulltext,
                         took);
    char l[40];
    snprintf(l, sizeof(l), "mode=\"%s\"", mode);
    cs_search_count(s, "chatstream_search_requests_total", l);
    cs_buf_printf(json_out, "{\"mode\":\"%s\",\"query\":", mode);
    cs_buf_put_json_str(json_out, q, strlen(q));
    cs_buf_puts(json_out, ",\"room\":");
    if (room)
        cs_buf_put_json_str(json_out, room, strlen(room));
    else
        cs_buf_puts(json_out, "null");
    if (why[0] && strcmp(mode, "fulltext") == 0 && s->semantic) {
        cs_buf_puts(json_out, ",\"fallback_reason\":");
        cs_buf_put_json_str(json_out, why, strlen(why));
    }
    cs_buf_printf(json_out, ",\"took_ms\":%.1f,\"hits\":[", took * 1000);
    if (hits.len)
        cs_buf_append(json_out, hits.data, hits.len);
    cs_buf_puts(json_out, "]}");
    bool oom = hits.oom;
    cs_buf_free(&hits);
    if (oom || json_out->oom)
        return 503;
    return 200;
}

/* ---- URL query strings -------------------------------------------------------------- */

static int cs_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool cs_url_decode(const char *in, size_t len, char *out, size_t out_size, size_t *out_len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (n + 1 >= out_size)
            return false;
        char c = in[i];
        if (c == '+') {
            out[n++] = ' ';
        } else if (c == '%') {
            if (i + 2 >= len)
                return false;
            int hi = cs_hexval(in[i + 1]), lo = cs_hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = c;
        }
    }
    out[n] = '\0';
    *out_len = n;
    return true;
}

int cs_search_http(cs_search_t *s, const char *user, const char *const *allowed_rooms,
                   size_t nallowed, const char *query_string, cs_buf_t *json_out)
{
    char q[CS_SEARCH_QUERY_MAX + 1] = "", room[CS_IDENT_MAX + 1] = "", limit[16] = "";
    bool have_q = false, have_room = false;
    const char *p = query_string ? query_string : "";
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t kl = eq ? (size_t)(eq - p) : n;
        const char *v = eq ? eq + 1 : p + n;
        size_t vl = eq ? n - kl - 1 : 0;
        size_t dl;
        bool ok = true;
        if (kl == 1 && p[0] == 'q') {
            ok = !have_q && cs_url_decode(v, vl, q, sizeof(q), &dl) && strlen(q) == dl;
            have_q = true;
        } else if (kl == 4 && memcmp(p, "room", 4) == 0) {
            ok = !have_room && cs_url_decode(v, vl, room, sizeof(room), &dl) &&
                 strlen(room) == dl;
            have_room = true;
        } else if (kl == 5 && memcmp(p, "limit", 5) == 0) {
            ok = cs_url_decode(v, vl, limit, sizeof(limit), &dl);
        } /* other parameters are ignored, as HTTP APIs do */
        if (!ok)
            return cs_search_error(json_out, 400, "bad_request",
                                   "q (at most 512 bytes), room and limit: once each, "
                                   "correctly %-encoded, no NUL");
        p += n;
        if (*p == '&')
            p++;
    }
    if (!have_q)
        return cs_search_error(json_out, 400, "bad_request", "q is required");
    int lim = 0;
    if (limit[0]) {
        char *end;
        long v = strtol(limit, &end, 10);
        if (*end || v < 1 || v > 100000)
            return cs_search_error(json_out, 400, "bad_request", "limit: a positive integer");
        lim = (int)v;
    }
    return cs_search_query(s, user, allowed_rooms, nallowed, q,
                           have_room && room[0] ? room : NULL, lim, json_out);
}
