/*
 * cs_pg — PostgreSQL plumbing shared by the persist sink and the gateway's history
 * and search queries: connecting with bounded timeouts, classifying errors by
 * SQLSTATE into retriable or permanent, and applying the embedded migrations.
 */
#ifndef CS_PG_H
#define CS_PG_H

#include "cs_buf.h"
#include "cs_err.h"

#include <libpq-fe.h>
#include <stddef.h>

/* Connects with client_encoding=UTF8 and the given statement timeout; NULL + errstr. */
PGconn *cs_pg_connect(const char *dsn, int connect_timeout_s, int statement_timeout_ms,
                      char *errstr, size_t errstr_size);
/* Maps a failed result (or a broken connection) to a status; errstr gets the message. */
cs_err_t cs_pg_error(PGconn *conn, const PGresult *res, char *errstr, size_t errstr_size);
/* Runs a command that returns no rows; OK or the classified error. */
cs_err_t cs_pg_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size);
/*
 * Applies the schemas/sql migrations not yet recorded in schema_migrations, in name order,
 * each in its own transaction under an advisory lock, so concurrent instances
 * starting together apply each migration exactly once. Returns the number applied
 * through *applied.
 */
cs_err_t cs_pg_migrate(PGconn *conn, int *applied, char *errstr, size_t errstr_size);

/* Appends s[0..len) escaped for COPY's text format (backslash, tab, newline, CR). */
void cs_pg_copy_text(cs_buf_t *out, const char *s, size_t len);
/* Runs `copy_sql` (a COPY ... FROM STDIN) and streams `data` into it, in 1 MiB chunks. */
cs_err_t cs_pg_copy_in(PGconn *conn, const char *copy_sql, const cs_buf_t *data, char *errstr,
                       size_t errstr_size);

#endif
