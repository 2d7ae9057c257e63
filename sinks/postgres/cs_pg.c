#include "cs_pg.h"
#include "cs_embedded.h"
#include "cs_log.h"
#include "cs_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const cs_embedded_file_t cs_sql_migrations[];

/* Any 64-bit constant; it only has to be the same for every chatstream instance. */
#define CS_PG_MIGRATION_LOCK 0x63686174737472LL /* "chatstr" */

PGconn *cs_pg_connect(const char *dsn, int connect_timeout_s, int statement_timeout_ms,
                      char *errstr, size_t errstr_size)
{
    char timeout[16], options[64];
    snprintf(timeout, sizeof(timeout), "%d", connect_timeout_s);
    snprintf(options, sizeof(options), "-c statement_timeout=%d", statement_timeout_ms);
    /* expand_dbname: the dsn's own settings win except for the ones we must set. */
    const char *keys[] = {"dbname", "connect_timeout", "client_encoding", "options",
                          "application_name", NULL};
    const char *vals[] = {dsn, timeout, "UTF8", options, "chatstream", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(errstr, errstr_size, "%s", PQerrorMessage(conn));
        char *nl = strchr(errstr, '\n');
        if (nl)
            *nl = '\0';
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

cs_err_t cs_pg_error(PGconn *conn, const PGresult *res, char *errstr, size_t errstr_size)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = PQerrorMessage(conn);
    snprintf(errstr, errstr_size, "%s%s%s", state ? state : "", state ? ": " : "", msg);
    char *nl = strchr(errstr, '\n');
    if (nl)
        *nl = '\0';
    if (PQstatus(conn) != CONNECTION_OK || !state)
        return CS_ERR_UNAVAILABLE;
    /* SQLSTATE classes: what may succeed later vs. what this input will never pass. */
    switch (state[0]) {
    case '0':
        if (state[1] == '8') /* 08: connection exception */
            return CS_ERR_UNAVAILABLE;
        break;
    case '4':
        if (state[1] == '0') /* 40: serialization failure, deadlock */
            return CS_ERR_TRANSIENT;
        break;
    case '5':
        /* 53 insufficient resources, 54 program limit (batch too big: splitting helps),
         * 55 object not in prerequisite state, 57 operator intervention, 58 system error */
        if (state[1] == '4')
            return CS_ERR_REJECTED;
        return CS_ERR_UNAVAILABLE;
    case 'X':
        return CS_ERR_UNAVAILABLE; /* XX: internal error */
    }
    if (strcmp(state, "25P02") == 0) /* in failed transaction: an earlier error, not this input */
        return CS_ERR_TRANSIENT;
    /* 22 data exception, 23 integrity violation, 42 syntax/access: this input, forever. */
    return CS_ERR_REJECTED;
}

cs_err_t cs_pg_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    cs_err_t rc = CS_ERR_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = cs_pg_error(conn, res, errstr, errstr_size);
    PQclear(res);
    return rc;
}

static int cs_pg_migration_version(const char *name)
{
    return atoi(name); /* "0003_x.sql" -> 3 */
}

/* BEGIN, then the migration lock: whoever holds it is the only one changing the schema. */
static cs_err_t cs_pg_begin_locked(PGconn *conn, char *errstr, size_t errstr_size)
{
    char sql[256];
    cs_err_t rc = cs_pg_exec(conn, "BEGIN", errstr, errstr_size);
    if (rc != CS_ERR_OK)
        return rc;
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)",
             (long long)CS_PG_MIGRATION_LOCK);
    return cs_pg_exec(conn, sql, errstr, errstr_size);
}

cs_err_t cs_pg_migrate(PGconn *conn, int *applied, char *errstr, size_t errstr_size)
{
    cs_err_t rc;
    *applied = 0;
    /* Under the lock too: two connections running CREATE TABLE IF NOT EXISTS at once can
     * both miss the table and one then fails (23505, or 42710 "type already exists": CI saw
     * a persist's second connection do that while its first was migrating). */
    if ((rc = cs_pg_begin_locked(conn, errstr, errstr_size)) != CS_ERR_OK ||
        (rc = cs_pg_exec(conn,
                         "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version int PRIMARY KEY, name text NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now())",
                         errstr, errstr_size)) != CS_ERR_OK ||
        (rc = cs_pg_exec(conn, "COMMIT", errstr, errstr_size)) != CS_ERR_OK)
        goto rollback;
    for (const cs_embedded_file_t *f = cs_sql_migrations; f->name; f++) {
        int version = cs_pg_migration_version(f->name);
        if ((rc = cs_pg_begin_locked(conn, errstr, errstr_size)) != CS_ERR_OK)
            goto rollback;
        char vstr[16];
        snprintf(vstr, sizeof(vstr), "%d", version);
        const char *params[] = {vstr};
        PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1",
                                     1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = cs_pg_error(conn, res, errstr, errstr_size);
            PQclear(res);
            goto rollback;
        }
        int done = PQntuples(res) > 0;
        PQclear(res);
        if (!done) {
            if ((rc = cs_pg_exec(conn, f->data, errstr, errstr_size)) != CS_ERR_OK) {
                cs_log(CS_LOG_ERROR, "pg", "migration %s failed: %s", f->name, errstr);
                goto rollback;
            }
            const char *p2[] = {vstr, f->name};
            res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                               2, NULL, p2, NULL, NULL, 0);
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                rc = cs_pg_error(conn, res, errstr, errstr_size);
                PQclear(res);
                goto rollback;
            }
            PQclear(res);
            cs_log(CS_LOG_INFO, "pg", "applied migration %s", f->name);
            (*applied)++;
        }
        if ((rc = cs_pg_exec(conn, "COMMIT", errstr, errstr_size)) != CS_ERR_OK)
            return rc;
    }
    return CS_ERR_OK;

rollback:
    {
        char ignore[128];
        cs_pg_exec(conn, "ROLLBACK", ignore, sizeof(ignore));
    }
    return rc;
}

void cs_pg_copy_text(cs_buf_t *out, const char *s, size_t len)
{
    /* COPY text format: backslash, tab, newline and carriage return must be escaped. */
    if (!cs_buf_reserve(out, len * 2 + 1))
        return;
    char *p = out->data + out->len;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        switch (c) {
        case '\\': *p++ = '\\'; *p++ = '\\'; break;
        case '\t': *p++ = '\\'; *p++ = 't'; break;
        case '\n': *p++ = '\\'; *p++ = 'n'; break;
        case '\r': *p++ = '\\'; *p++ = 'r'; break;
        default: *p++ = c;
        }
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
}

cs_err_t cs_pg_copy_in(PGconn *conn, const char *copy_sql, const cs_buf_t *data, char *errstr,
                       size_t errstr_size)
{
    cs_err_t rc;
    PGresult *res = PQexec(conn, copy_sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rc = cs_pg_error(conn, res, errstr, errstr_size);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    /* Hand libpq the rows in chunks so it never holds two copies of a huge batch. */
    const size_t chunk = 1 << 20;
    for (size_t off = 0; off < data->len; off += chunk) {
        size_t n = data->len - off < chunk ? data->len - off : chunk;
        if (PQputCopyData(conn, data->data + off, (int)n) != 1)
            return cs_pg_error(conn, NULL, errstr, errstr_size);
    }
    if (PQputCopyEnd(conn, NULL) != 1)
        return cs_pg_error(conn, NULL, errstr, errstr_size);
    res = PQgetResult(conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = cs_pg_error(conn, res, errstr, errstr_size);
        PQclear(res);
        while ((res = PQgetResult(conn)))
            PQclear(res);
        return rc;
    }
    PQclear(res);
    while ((res = PQgetResult(conn)))
        PQclear(res);
    return CS_ERR_OK;
}
