/* cs_pg_sink — the PostgreSQL message store (see cs_sink.h). */
#ifndef CS_PG_SINK_H
#define CS_PG_SINK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cs_pg_sink_conf {
    char *dsn;                    /* libpq connection string or URI */
    int64_t connect_timeout_s;
    int64_t statement_timeout_ms;
    bool migrate;                 /* apply schemas/sql migrations at start-up */
    int64_t connections;          /* parallel transactions per batch (rows sharded by user) */
} cs_pg_sink_conf_t;

#endif
