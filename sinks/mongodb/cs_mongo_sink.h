/* cs_mongo_sink — the MongoDB message store (see cs_sink.h and cs_mongo_sink.c). */
#ifndef CS_MONGO_SINK_H
#define CS_MONGO_SINK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cs_mongo_conf {
    char *uri;                    /* connection string; write concern goes here */
    char *database;
    char *collection;
    int64_t timeout_ms;           /* server selection / socket timeout unless the URI sets them */
    bool create_indexes;          /* the unique {user, dedupe} index */
} cs_mongo_conf_t;

#endif
