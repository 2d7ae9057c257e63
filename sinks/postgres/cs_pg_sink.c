/*
 * The PostgreSQL sink. A batch is split by user into `pg.connections` lanes, each
 * lane one connection and one transaction, run in parallel:
 *
 *   COPY messages_stage FROM STDIN;            -- unindexed temp table: fast
 *   SAVEPOINT fast;
 *   INSERT INTO messages SELECT ... FROM messages_stage;
 *     -- only if that hit a unique violation (a replay, a client retry):
 *     ROLLBACK TO fast; INSERT ... ON CONFLICT DO NOTHING;
 *   COMMIT;                                    -- the stage empties on commit
 *
 * Why this shape (measured on the 2-core machine, see README "Benchmarks"):
 *   - COPY cannot skip conflicts; staging lets us COPY and still be idempotent.
 *   - The plain INSERT is the fast path: ON CONFLICT probes every unique index before
 *     each row and ran at about half the speed, while duplicates are rare (replays
 *     after a crash or rebalance, client retries), so only their batches pay for it.
 *   - One backend tops out near 60k rows/s on index maintenance; lanes put both
 *     cores to work. Sharding by user keeps a user's retries and a message's replays
 *     in one lane, so the lanes' transactions never wait on each other's keys.
 * A batch is durable when every lane committed. If one lane fails, write_batch
 * fails and the framework retries the whole batch: the lanes that had committed
 * then find their rows already stored (the ON CONFLICT path), so nothing doubles.
 * Connections are made lazily and remade after any connection error, so a
 * restarted PostgreSQL is picked up by the next retry.
 */
#include "cs_pg.h"
#include "cs_pg_sink.h"
#include "cs_sink.h"
#include "cs_buf.h"
#include "cs_hash.h"
#include "cs_log.h"
#include "cs_time.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CS_PG_MAX_LANES 16

#define CS_PG_INSERT_STAGE                                                                         \
    "INSERT INTO messages (id, room, user_id, client_msg_id, body, sent_at) "                      \
    "SELECT id, room, user_id, client_msg_id, body, "                                              \
    "       timestamptz 'epoch' + sent_ms * interval '1 millisecond' FROM messages_stage"

typedef struct cs_pg_sink cs_pg_sink_t;

/* One connection, its share of the current batch, and its outcome. */
typedef struct cs_pg_lane {
    cs_pg_sink_t *sink;
    int index;
    PGconn *conn;                 /* NULL until connected / after a connection error */
    cs_buf_t copy;                /* COPY text of this lane's rows in the current batch */
    size_t rows;                  /* rows in `copy` */
    size_t inserted;              /* result: rows new to the table */
    bool conflict;                /* result: took the ON CONFLICT path */
    cs_err_t status;              /* result */
    char errstr[256];             /* result */
    pthread_t thread;             /* lanes > 0 run on their own threads */
} cs_pg_lane_t;

struct cs_pg_sink {
    const cs_pg_sink_conf_t *conf;
    cs_pg_lane_t lanes[CS_PG_MAX_LANES];
    int nlanes;
    bool threads_started;
    bool migrated;                /* set by the lane that applied migrations */
    pthread_mutex_t lock;         /* guards generation, pending, stop, migrated */
    pthread_cond_t work;          /* a new batch for the lane threads */
    pthread_cond_t done;          /* a lane thread finished its share */
    uint64_t generation;
    int pending;
    bool stop;
    cs_sink_meter_t meter;
    cs_counter_t *m_connects;
    cs_counter_t *m_slow_path;
};

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
    CS_CONF_ROW_INT(cs_pg_sink_conf_t, connections, "pg.connections", "2", 1, CS_PG_MAX_LANES,
                    "Connections writing each batch in parallel (rows sharded by user)."),
};

/* ---- one lane ------------------------------------------------------------------------ */

static void cs_pg_lane_drop(cs_pg_lane_t *lane)
{
    if (lane->conn) {
        PQfinish(lane->conn);
        lane->conn = NULL;
    }
}

static cs_err_t cs_pg_lane_connect(cs_pg_lane_t *lane)
{
    cs_pg_sink_t *sink = lane->sink;
    char *errstr = lane->errstr;
    size_t errstr_size = sizeof(lane->errstr);
    if (lane->conn && PQstatus(lane->conn) == CONNECTION_OK)
        return CS_ERR_OK;
    cs_pg_lane_drop(lane);
    lane->conn = cs_pg_connect(sink->conf->dsn, (int)sink->conf->connect_timeout_s,
                               (int)sink->conf->statement_timeout_ms, errstr, errstr_size);
    if (!lane->conn)
        return CS_ERR_UNAVAILABLE;
    cs_counter_inc(sink->m_connects);
    cs_err_t rc = CS_ERR_OK;
    /* Migrations run under an advisory lock, so lanes and instances racing here are safe;
     * the flag only saves the later lanes a round trip. */
    pthread_mutex_lock(&sink->lock);
    bool migrate = sink->conf->migrate && !sink->migrated;
    pthread_mutex_unlock(&sink->lock);
    if (migrate) {
        int applied;
        if ((rc = cs_pg_migrate(lane->conn, &applied, errstr, errstr_size)) != CS_ERR_OK)
            goto fail;
        pthread_mutex_lock(&sink->lock);
        sink->migrated = true;
        pthread_mutex_unlock(&sink->lock);
    }
    rc = cs_pg_exec(lane->conn,
                    "CREATE TEMP TABLE IF NOT EXISTS messages_stage ("
                    " id uuid, room text, user_id text, client_msg_id text, body text,"
                    " sent_ms bigint) ON COMMIT DELETE ROWS",
                    errstr, errstr_size);
    if (rc != CS_ERR_OK)
        goto fail;
    if (lane->index == 0)
        cs_log(CS_LOG_INFO, "pg", "connected to %s:%s/%s (%d connection(s))",
               PQhost(lane->conn), PQport(lane->conn), PQdb(lane->conn), sink->nlanes);
    return CS_ERR_OK;
fail:
    /* A migration that fails for a reason other than the connection is a deployment
     * problem, not bad input: keep retrying (and alerting) rather than dead-lettering. */
    if (rc == CS_ERR_REJECTED)
        rc = CS_ERR_UNAVAILABLE;
    cs_pg_lane_drop(lane);
    return rc;
}

static cs_err_t cs_pg_lane_txn(cs_pg_lane_t *lane)
{
    PGconn *conn = lane->conn;
    char *errstr = lane->errstr;
    size_t errstr_size = sizeof(lane->errstr);
    cs_err_t rc;
    if ((rc = cs_pg_exec(conn, "BEGIN", errstr, errstr_size)) != CS_ERR_OK)
        return rc;
    PGresult *res = PQexec(conn, "COPY messages_stage FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rc = cs_pg_error(conn, res, errstr, errstr_size);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    /* Hand libpq the rows in chunks so it never holds two copies of a huge batch. */
    const size_t chunk = 1 << 20;
    for (size_t off = 0; off < lane->copy.len; off += chunk) {
        size_t n = lane->copy.len - off < chunk ? lane->copy.len - off : chunk;
        if (PQputCopyData(conn, lane->copy.data + off, (int)n) != 1)
            return cs_pg_error(conn, NULL, errstr, errstr_size);
    }
    if (PQputCopyEnd(conn, NULL) != 1)
        return cs_pg_error(conn, NULL, errstr, errstr_size);
    rc = CS_ERR_OK;
    while ((res = PQgetResult(conn))) {
        if (rc == CS_ERR_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = cs_pg_error(conn, res, errstr, errstr_size);
        PQclear(res);
    }
    if (rc != CS_ERR_OK)
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
        lane->conflict = true;
        if ((rc = cs_pg_exec(conn, "ROLLBACK TO SAVEPOINT fast", errstr, errstr_size)))
            return rc;
        res = PQexec(conn, CS_PG_INSERT_STAGE " ON CONFLICT DO NOTHING");
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = cs_pg_error(conn, res, errstr, errstr_size);
            PQclear(res);
            return rc;
        }
    }
    lane->inserted = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return cs_pg_exec(conn, "COMMIT", errstr, errstr_size);
}

/* Writes this lane's share of the batch; the outcome is left in the lane. */
static void cs_pg_lane_write(cs_pg_lane_t *lane)
{
    lane->inserted = 0;
    lane->conflict = false;
    lane->errstr[0] = '\0';
    if (lane->rows == 0) {
        lane->status = CS_ERR_OK;
        return;
    }
    lane->status = cs_pg_lane_connect(lane);
    if (lane->status != CS_ERR_OK)
        return;
    lane->status = cs_pg_lane_txn(lane);
    if (lane->status == CS_ERR_OK)
        return;
    if (!lane->conn || PQstatus(lane->conn) != CONNECTION_OK) {
        cs_pg_lane_drop(lane);
    } else {
        char ignore[128];
        cs_pg_exec(lane->conn, "ROLLBACK", ignore, sizeof(ignore));
    }
}

/* Lanes 1..n-1 wait here for each batch; lane 0 runs on the caller's thread. */
static void *cs_pg_lane_main(void *arg)
{
    cs_pg_lane_t *lane = arg;
    cs_pg_sink_t *sink = lane->sink;
    uint64_t seen = 0;
    pthread_mutex_lock(&sink->lock);
    for (;;) {
        while (!sink->stop && sink->generation == seen)
            pthread_cond_wait(&sink->work, &sink->lock);
        if (sink->stop)
            break;
        seen = sink->generation;
        pthread_mutex_unlock(&sink->lock);
        cs_pg_lane_write(lane);
        pthread_mutex_lock(&sink->lock);
        if (--sink->pending == 0)
            pthread_cond_signal(&sink->done);
    }
    pthread_mutex_unlock(&sink->lock);
    return NULL;
}

/* ---- COPY text ------------------------------------------------------------------------ */

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

/* FNV-1a of the user id: which lane a message goes to. */
static int cs_pg_lane_of(const cs_envelope_t *m, int nlanes)
{
    return (int)(cs_fnv1a(m->user, m->user_len) % (uint32_t)nlanes);
}

/* ---- the sink ------------------------------------------------------------------------- */

static void *cs_pg_sink_open(const void *vconf, cs_metrics_t *metrics, char *errstr,
                             size_t errstr_size)
{
    cs_pg_sink_t *sink = calloc(1, sizeof(*sink));
    if (!sink) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    sink->conf = vconf;
    sink->nlanes = (int)sink->conf->connections;
    pthread_mutex_init(&sink->lock, NULL);
    pthread_cond_init(&sink->work, NULL);
    pthread_cond_init(&sink->done, NULL);
    for (int i = 0; i < sink->nlanes; i++) {
        sink->lanes[i].sink = sink;
        sink->lanes[i].index = i;
    }
    for (int i = 1; i < sink->nlanes; i++) {
        if (pthread_create(&sink->lanes[i].thread, NULL, cs_pg_lane_main, &sink->lanes[i])) {
            snprintf(errstr, errstr_size, "cannot start database lane threads");
            sink->nlanes = i; /* join the ones that started */
            sink->threads_started = i > 1;
            pthread_mutex_lock(&sink->lock);
            sink->stop = true;
            pthread_cond_broadcast(&sink->work);
            pthread_mutex_unlock(&sink->lock);
            for (int j = 1; j < i; j++)
                pthread_join(sink->lanes[j].thread, NULL);
            free(sink);
            return NULL;
        }
    }
    sink->threads_started = sink->nlanes > 1;
    cs_sink_meter_init(&sink->meter, metrics, "postgres");
    const char *l = "sink=\"postgres\"";
    sink->m_connects = cs_metrics_counter(metrics, "chatstream_db_connects_total", l,
                                          "Connections made to the database.");
    sink->m_slow_path = cs_metrics_counter(
        metrics, "chatstream_db_conflict_batches_total", l,
        "Lane transactions that met already-stored messages and took the ON CONFLICT path.");
    return sink;
}

static cs_err_t cs_pg_sink_write(void *vsink, const cs_envelope_t *msgs, size_t n,
                                 cs_sink_stats_t *stats, char *errstr, size_t errstr_size)
{
    cs_pg_sink_t *sink = vsink;
    memset(stats, 0, sizeof(*stats));
    if (n == 0)
        return CS_ERR_OK;
    int64_t t0 = cs_mono_us();
    for (int i = 0; i < sink->nlanes; i++) {
        cs_buf_reset(&sink->lanes[i].copy);
        sink->lanes[i].rows = 0;
    }
    for (size_t i = 0; i < n; i++) {
        cs_pg_lane_t *lane = &sink->lanes[cs_pg_lane_of(&msgs[i], sink->nlanes)];
        cs_copy_row(&lane->copy, &msgs[i]);
        lane->rows++;
    }
    for (int i = 0; i < sink->nlanes; i++) {
        if (sink->lanes[i].copy.oom) {
            snprintf(errstr, errstr_size, "out of memory building the COPY data");
            return CS_ERR_NOMEM;
        }
    }
    if (sink->nlanes > 1) {
        pthread_mutex_lock(&sink->lock);
        sink->pending = sink->nlanes - 1;
        sink->generation++;
        pthread_cond_broadcast(&sink->work);
        pthread_mutex_unlock(&sink->lock);
    }
    cs_pg_lane_write(&sink->lanes[0]);
    if (sink->nlanes > 1) {
        pthread_mutex_lock(&sink->lock);
        while (sink->pending > 0)
            pthread_cond_wait(&sink->done, &sink->lock);
        pthread_mutex_unlock(&sink->lock);
    }

    /* The batch's status: a permanent refusal wins (it will not pass by retrying, so the
     * framework must split), else any retriable failure, else success. */
    cs_err_t rc = CS_ERR_OK;
    for (int i = 0; i < sink->nlanes; i++) {
        cs_pg_lane_t *lane = &sink->lanes[i];
        if (lane->status != CS_ERR_OK &&
            (rc == CS_ERR_OK || (cs_err_retriable(rc) && !cs_err_retriable(lane->status)))) {
            rc = lane->status;
            snprintf(errstr, errstr_size, "%s", lane->errstr);
        }
        stats->written += lane->inserted;
        if (lane->conflict)
            cs_counter_inc(sink->m_slow_path);
        /* Keep one huge batch's buffer from pinning memory forever. */
        if (lane->copy.cap > (64u << 20))
            cs_buf_free(&lane->copy);
    }
    if (rc == CS_ERR_OK)
        stats->duplicates = n - stats->written;
    cs_sink_meter_batch(&sink->meter, rc, stats, t0);
    return rc;
}

static bool cs_pg_sink_healthy(void *vsink)
{
    return cs_sink_meter_healthy(&((cs_pg_sink_t *)vsink)->meter);
}

static void cs_pg_sink_close(void *vsink)
{
    cs_pg_sink_t *sink = vsink;
    if (!sink)
        return;
    if (sink->threads_started) {
        pthread_mutex_lock(&sink->lock);
        sink->stop = true;
        pthread_cond_broadcast(&sink->work);
        pthread_mutex_unlock(&sink->lock);
        for (int i = 1; i < sink->nlanes; i++)
            pthread_join(sink->lanes[i].thread, NULL);
    }
    for (int i = 0; i < sink->nlanes; i++) {
        cs_pg_lane_drop(&sink->lanes[i]);
        cs_buf_free(&sink->lanes[i].copy);
    }
    pthread_cond_destroy(&sink->work);
    pthread_cond_destroy(&sink->done);
    pthread_mutex_destroy(&sink->lock);
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
