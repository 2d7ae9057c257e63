/*
 * The PostgreSQL sink: each batch is one transaction,
 *
 *   COPY messages_stage FROM STDIN;            -- unindexed temp table: fast
 *   SAVEPOINT fast;
 *   INSERT INTO messages SELECT ... FROM messages_stage;
 *     -- only if that hit a unique violation (a replay, a client retry):
 *     ROLLBACK TO fast; INSERT ... ON CONFLICT DO NOTHING;
 *   COMMIT;                                    -- the stage empties on commit
 *
 * COPY cannot skip conflicts; staging lets us COPY and still be idempotent. The
 * plain INSERT is the fast path: ON CONFLICT probes every unique index before each
 * row and measured about half as fast here, while duplicates are rare (replays after
 * a crash or rebalance), so they pay for the slow path only when they occur.
 * The connection is made lazily and remade after any connection error, so a
 * restarted PostgreSQL is picked up by the next retry.
 */
#include "cs_pg.h"
#include "cs_pg_sink.h"
#include "cs_sink.h"
#include "cs_buf.h"
#include "cs_log.h"
#include "cs_time.h"

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CS_PG_INSERT_STAGE                                                                         \
    "INSERT INTO messages (id, room, user_id, client_msg_id, body, sent_at) "                      \
    "SELECT id, room, user_id, client_msg_id, body, "                                              \
    "       timestamptz 'epoch' + sent_ms * interval '1 millisecond' FROM messages_stage"

typedef struct cs_pg_sink {
    const cs_pg_sink_conf_t *conf;
    PGconn *conn;                 /* NULL until connected / after a connection error */
    bool migrated;
    atomic_bool healthy;
    cs_buf_t copy;                /* COPY text of the current batch */
    cs_histogram_t *m_write;
    cs_counter_t *m_rows;
    cs_counter_t *m_dups;
    cs_counter_t *m_errors_retriable;
    cs_counter_t *m_errors_rejected;
    cs_counter_t *m_connects;
    cs_counter_t *m_slow_path;
} cs_pg_sink_t;

static const cs_conf_def_t cs_pg_sink_defs[] = {
    CS_CONF_ROW_STR(cs_pg_sink_conf_t, dsn, "pg.dsn",
                    "host=127.0.0.1 port=5432 dbname=chatstream user=chatstream", 4096,
                    "libpq connection string or URI (password: PGPASSWORD or ~/.pgpass)."),
    CS_CONF_ROW_INT(cs_pg_sink_conf_t, connect_timeout_s, "pg.connect.timeout.s", "5", 1, 300,
                    "Connection timeout."),
    CS_CONF_ROW_INT(cs_pg_sink_conf_t, statement_timeout_ms, "pg.statement.timeout.ms", "30000",
                    100, 3600000, "Server-side timeout for each statement."),
    CS_CONF_ROW_BOOL(cs_pg_sink_conf_t, migrate, "pg.migrate", "true",
                     "Apply the schema migrations at start-up."),
};

static void *cs_pg_sink_open(const void *vconf, cs_metrics_t *metrics, char *errstr,
                             size_t errstr_size)
{
    cs_pg_sink_t *sink = calloc(1, sizeof(*sink));
    if (!sink) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    sink->conf = vconf;
    const char *l = "sink=\"postgres\"";
    sink->m_write = cs_metrics_histogram(metrics, "chatstream_db_write_seconds", l,
                                         "Time to write one batch (one transaction).",
                                         cs_metrics_latency_buckets,
                                         cs_metrics_latency_nbuckets);
    sink->m_rows = cs_metrics_counter(metrics, "chatstream_db_rows_written_total", l,
                                      "Messages newly stored.");
    sink->m_dups = cs_metrics_counter(metrics, "chatstream_db_rows_duplicate_total", l,
                                      "Messages already stored (replays and client retries).");
    sink->m_errors_retriable =
        cs_metrics_counter(metrics, "chatstream_db_errors_total", "sink=\"postgres\",kind=\"retriable\"",
                           "Failed batch writes, by kind.");
    sink->m_errors_rejected =
        cs_metrics_counter(metrics, "chatstream_db_errors_total", "sink=\"postgres\",kind=\"rejected\"",
                           "Failed batch writes, by kind.");
    sink->m_connects = cs_metrics_counter(metrics, "chatstream_db_connects_total", l,
                                          "Connections made to the database.");
    sink->m_slow_path = cs_metrics_counter(
        metrics, "chatstream_db_conflict_batches_total", l,
        "Batches that contained already-stored messages and took the ON CONFLICT path.");
    atomic_store(&sink->healthy, true); /* until a write says otherwise */
    return sink;
}

static void cs_pg_sink_drop(cs_pg_sink_t *sink)
{
    if (sink->conn) {
        PQfinish(sink->conn);
        sink->conn = NULL;
    }
}

static cs_err_t cs_pg_sink_connect(cs_pg_sink_t *sink, char *errstr, size_t errstr_size)
{
    if (sink->conn && PQstatus(sink->conn) == CONNECTION_OK)
        return CS_ERR_OK;
    cs_pg_sink_drop(sink);
    sink->conn = cs_pg_connect(sink->conf->dsn, (int)sink->conf->connect_timeout_s,
                               (int)sink->conf->statement_timeout_ms, errstr, errstr_size);
    if (!sink->conn)
        return CS_ERR_UNAVAILABLE;
    cs_counter_inc(sink->m_connects);
    cs_err_t rc;
    if (sink->conf->migrate && !sink->migrated) {
        int applied;
        if ((rc = cs_pg_migrate(sink->conn, &applied, errstr, errstr_size)) != CS_ERR_OK)
            goto fail;
        sink->migrated = true;
    }
    rc = cs_pg_exec(sink->conn,
                    "CREATE TEMP TABLE IF NOT EXISTS messages_stage ("
                    " id uuid, room text, user_id text, client_msg_id text, body text,"
                    " sent_ms bigint) ON COMMIT DELETE ROWS",
                    errstr, errstr_size);
    if (rc != CS_ERR_OK)
        goto fail;
    cs_log(CS_LOG_INFO, "pg", "connected to %s:%s/%s", PQhost(sink->conn), PQport(sink->conn),
           PQdb(sink->conn));
    return CS_ERR_OK;
fail:
    /* A migration that fails for a reason other than the connection is a deployment
     * problem, not bad input: keep retrying (and alerting) rather than dead-lettering. */
    if (rc == CS_ERR_REJECTED)
        rc = CS_ERR_UNAVAILABLE;
    cs_pg_sink_drop(sink);
    return rc;
}

static void cs_copy_row(cs_buf_t *out, const cs_envelope_t *m)
{
    cs_buf_append(out, m->id, CS_UUID_STR_LEN);
    cs_buf_putc(out, '\t');
    cs_pg_copy_text(out, m->room, m->room_len);
    cs_buf_putc(out, '\t');
    cs_pg_copy_text(out, m->user, m->user_len);
    cs_buf_putc(out, '\t');
    if (m->cmid)
        cs_pg_copy_text(out, m->cmid, m->cmid_len);
    else
        cs_buf_append(out, "\\N", 2);
    cs_buf_putc(out, '\t');
    cs_pg_copy_text(out, m->text, m->text_len);
    cs_buf_printf(out, "\t%lld\n", (long long)m->ts);
}

static cs_err_t cs_pg_sink_txn(cs_pg_sink_t *sink, size_t *inserted, char *errstr,
                               size_t errstr_size)
{
    PGconn *conn = sink->conn;
    cs_err_t rc;
    PGresult *res;
    if ((rc = cs_pg_exec(conn, "BEGIN", errstr, errstr_size)) != CS_ERR_OK)
        return rc;
    if ((rc = cs_pg_copy_in(conn, "COPY messages_stage FROM STDIN", &sink->copy, errstr,
                            errstr_size)) != CS_ERR_OK)
        return rc;

    if ((rc = cs_pg_exec(conn, "SAVEPOINT fast", errstr, errstr_size)) != CS_ERR_OK)
        return rc;
    res = PQexec(conn, CS_PG_INSERT_STAGE);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (!state || strcmp(state, "23505") != 0) {
            rc = cs_pg_error(conn, res, errstr, errstr_size);
            PQclear(res);
            return rc;
        }
        PQclear(res);
        cs_counter_inc(sink->m_slow_path);
        if ((rc = cs_pg_exec(conn, "ROLLBACK TO SAVEPOINT fast", errstr, errstr_size)))
            return rc;
        res = PQexec(conn, CS_PG_INSERT_STAGE " ON CONFLICT DO NOTHING");
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = cs_pg_error(conn, res, errstr, errstr_size);
            PQclear(res);
            return rc;
        }
    }
    *inserted = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return cs_pg_exec(conn, "COMMIT", errstr, errstr_size);
}

static cs_err_t cs_pg_sink_write(void *vsink, const cs_envelope_t *msgs, size_t n,
                                 cs_sink_stats_t *stats, char *errstr, size_t errstr_size)
{
    cs_pg_sink_t *sink = vsink;
    memset(stats, 0, sizeof(*stats));
    if (n == 0)
        return CS_ERR_OK;
    int64_t t0 = cs_mono_us();
    cs_err_t rc = cs_pg_sink_connect(sink, errstr, errstr_size);
    if (rc == CS_ERR_OK) {
        cs_buf_reset(&sink->copy);
        for (size_t i = 0; i < n; i++)
            cs_copy_row(&sink->copy, &msgs[i]);
        if (sink->copy.oom) {
            snprintf(errstr, errstr_size, "out of memory building the COPY data");
            rc = CS_ERR_NOMEM;
        } else {
            size_t inserted = 0;
            rc = cs_pg_sink_txn(sink, &inserted, errstr, errstr_size);
            if (rc == CS_ERR_OK) {
                stats->written = inserted;
                stats->duplicates = n - inserted;
            } else if (sink->conn && PQstatus(sink->conn) == CONNECTION_OK) {
                char ignore[128];
                cs_pg_exec(sink->conn, "ROLLBACK", ignore, sizeof(ignore));
            }
        }
        /* Keep a big batch's buffer from pinning memory forever. */
        if (sink->copy.cap > (64u << 20))
            cs_buf_free(&sink->copy);
    }
    if (rc == CS_ERR_OK) {
        cs_histogram_observe(sink->m_write, (double)(cs_mono_us() - t0) / 1e6);
        cs_counter_add(sink->m_rows, stats->written);
        cs_counter_add(sink->m_dups, stats->duplicates);
        atomic_store(&sink->healthy, true);
        return CS_ERR_OK;
    }
    if (cs_err_retriable(rc)) {
        cs_counter_inc(sink->m_errors_retriable);
        atomic_store(&sink->healthy, false);
        if (!sink->conn || PQstatus(sink->conn) != CONNECTION_OK)
            cs_pg_sink_drop(sink);
    } else {
        cs_counter_inc(sink->m_errors_rejected);
    }
    return rc;
}

static bool cs_pg_sink_healthy(void *vsink)
{
    return atomic_load(&((cs_pg_sink_t *)vsink)->healthy);
}

static void cs_pg_sink_close(void *vsink)
{
    cs_pg_sink_t *sink = vsink;
    if (!sink)
        return;
    cs_pg_sink_drop(sink);
    cs_buf_free(&sink->copy);
    free(sink);
}

const cs_sink_ops_t cs_sink_postgres = {
    .name = "postgres",
    .conf_defs = cs_pg_sink_defs,
    .conf_ndefs = sizeof(cs_pg_sink_defs) / sizeof(cs_pg_sink_defs[0]),
    .conf_size = sizeof(cs_pg_sink_conf_t),
    .open = cs_pg_sink_open,
    .write_batch = cs_pg_sink_write,
    .healthy = cs_pg_sink_healthy,
    .close = cs_pg_sink_close,
};
