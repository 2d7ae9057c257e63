/*
 * The "postgres-search" sink: fills message_search (migration 0002), the full-text
 * index of the search fallback, from chat.messages. Run it as a second persist group:
 *
 *   chatstream-persist -X sink=postgres-search -X group.id=chatstream-persist-search
 *
 * so that GIN maintenance (about half of the COPY path's rate when it sat on
 * messages itself) never slows the group that stores messages. Each batch is one
 * transaction: COPY into an unindexed temp stage, then
 *   INSERT INTO message_search SELECT room, id, to_tsvector('simple', body) ...
 *   ON CONFLICT DO NOTHING
 * (always the conflict-tolerant form: the GIN update dominates the cost anyway).
 * Same error discipline as the postgres sink (cs_pg_error's SQLSTATE classes).
 */
#include "cs_buf.h"
#include "cs_log.h"
#include "cs_pg.h"
#include "cs_sink.h"
#include "cs_time.h"

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cs_pgs_conf {
    char *dsn;
    int64_t connect_timeout_s;
    int64_t statement_timeout_ms;
    bool migrate;
} cs_pgs_conf_t;

static const cs_conf_def_t cs_pgs_defs[] = {
    CS_CONF_ROW_STR(cs_pgs_conf_t, dsn, "pgsearch.dsn",
                    "host=127.0.0.1 port=5432 dbname=chatstream user=chatstream", 4096,
                    "postgres-search sink: libpq connection string (the messages database)."),
    CS_CONF_ROW_INT(cs_pgs_conf_t, connect_timeout_s, "pgsearch.connect.timeout.s", "5", 1, 300,
                    "postgres-search sink: connection timeout."),
    CS_CONF_ROW_INT(cs_pgs_conf_t, statement_timeout_ms, "pgsearch.statement.timeout.ms",
                    "60000", 100, 3600000, "postgres-search sink: timeout of each statement."),
    CS_CONF_ROW_BOOL(cs_pgs_conf_t, migrate, "pgsearch.migrate", "true",
                     "postgres-search sink: apply the schema migrations at start-up."),
};

typedef struct cs_pgs {
    const cs_pgs_conf_t *conf;
    PGconn *conn;
    bool migrated;
    cs_buf_t copy;
    cs_sink_meter_t meter;
} cs_pgs_t;

static void *cs_pgs_open(const void *vconf, cs_metrics_t *metrics, char *errstr,
                         size_t errstr_size)
{
    cs_pgs_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->conf = vconf;
    cs_sink_meter_init(&s->meter, metrics, "postgres-search");
    return s;
}

static void cs_pgs_drop(cs_pgs_t *s)
{
    if (s->conn) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
}

static cs_err_t cs_pgs_connect(cs_pgs_t *s, char *errstr, size_t errstr_size)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return CS_ERR_OK;
    cs_pgs_drop(s);
    s->conn = cs_pg_connect(s->conf->dsn, (int)s->conf->connect_timeout_s,
                            (int)s->conf->statement_timeout_ms, errstr, errstr_size);
    if (!s->conn)
        return CS_ERR_UNAVAILABLE;
    cs_err_t rc = CS_ERR_OK;
    if (s->conf->migrate && !s->migrated) {
        int applied;
        if ((rc = cs_pg_migrate(s->conn, &applied, errstr, errstr_size)) == CS_ERR_OK)
            s->migrated = true;
    }
    if (rc == CS_ERR_OK)
        rc = cs_pg_exec(s->conn,
                        "CREATE TEMP TABLE IF NOT EXISTS search_stage (id uuid, room text,"
                        " body text) ON COMMIT DELETE ROWS",
                        errstr, errstr_size);
    if (rc != CS_ERR_OK) {
        cs_pgs_drop(s);
        return CS_ERR_UNAVAILABLE; /* a deployment problem, never the input's */
    }
    return CS_ERR_OK;
}

static cs_err_t cs_pgs_txn(cs_pgs_t *s, size_t *inserted, char *errstr, size_t errstr_size)
{
    cs_err_t rc;
    if ((rc = cs_pg_exec(s->conn, "BEGIN", errstr, errstr_size)) != CS_ERR_OK)
        return rc;
    if ((rc = cs_pg_copy_in(s->conn, "COPY search_stage FROM STDIN", &s->copy, errstr,
                            errstr_size)) != CS_ERR_OK)
        return rc;
    PGresult *res = PQexec(s->conn,
                           "INSERT INTO message_search (room, id, tsv)"
                           " SELECT room, id, to_tsvector('simple'::regconfig, body)"
                           " FROM search_stage ON CONFLICT DO NOTHING");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = cs_pg_error(s->conn, res, errstr, errstr_size);
        PQclear(res);
        return rc;
    }
    *inserted = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return cs_pg_exec(s->conn, "COMMIT", errstr, errstr_size);
}

static cs_err_t cs_pgs_write(void *vs, const cs_envelope_t *msgs, size_t n,
                             cs_sink_stats_t *stats, char *errstr, size_t errstr_size)
{
    cs_pgs_t *s = vs;
    memset(stats, 0, sizeof(*stats));
    if (n == 0)
        return CS_ERR_OK;
    int64_t t0 = cs_mono_us();
    cs_err_t rc = cs_pgs_connect(s, errstr, errstr_size);
    if (rc == CS_ERR_OK) {
        cs_buf_reset(&s->copy);
        for (size_t i = 0; i < n; i++) {
            cs_buf_append(&s->copy, msgs[i].id, CS_UUID_STR_LEN);
            cs_buf_putc(&s->copy, '\t');
            cs_pg_copy_text(&s->copy, msgs[i].room, msgs[i].room_len);
            cs_buf_putc(&s->copy, '\t');
            cs_pg_copy_text(&s->copy, msgs[i].text, msgs[i].text_len);
            cs_buf_putc(&s->copy, '\n');
        }
        size_t inserted = 0;
        if (s->copy.oom) {
            snprintf(errstr, errstr_size, "out of memory building the COPY data");
            rc = CS_ERR_NOMEM;
        } else if ((rc = cs_pgs_txn(s, &inserted, errstr, errstr_size)) == CS_ERR_OK) {
            stats->written = inserted;
            stats->duplicates = n - inserted;
        } else if (s->conn && PQstatus(s->conn) == CONNECTION_OK) {
            char ignore[128];
            cs_pg_exec(s->conn, "ROLLBACK", ignore, sizeof(ignore));
        }
        if (s->copy.cap > (64u << 20))
            cs_buf_free(&s->copy);
    }
    cs_sink_meter_batch(&s->meter, rc, stats, t0);
    if (cs_err_retriable(rc) && (!s->conn || PQstatus(s->conn) != CONNECTION_OK))
        cs_pgs_drop(s);
    return rc;
}

static bool cs_pgs_healthy(void *vs)
{
    return cs_sink_meter_healthy(&((cs_pgs_t *)vs)->meter);
}

static void cs_pgs_close(void *vs)
{
    cs_pgs_t *s = vs;
    if (!s)
        return;
    cs_pgs_drop(s);
    cs_buf_free(&s->copy);
    free(s);
}

const cs_sink_ops_t cs_sink_postgres_search = {
    .name = "postgres-search",
    .conf_defs = cs_pgs_defs,
    .conf_ndefs = sizeof(cs_pgs_defs) / sizeof(cs_pgs_defs[0]),
    .conf_size = sizeof(cs_pgs_conf_t),
    .open = cs_pgs_open,
    .write_batch = cs_pgs_write,
    .healthy = cs_pgs_healthy,
    .close = cs_pgs_close,
};
