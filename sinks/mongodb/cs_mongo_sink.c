/*
 * The MongoDB sink: each batch is one unordered bulk insert into mongo.collection.
 *
 *   {_id: UUID(message id), room, user, cmid?, dedupe, text, ts: Date, stored_at: Date}
 *
 * Idempotent like the PostgreSQL sink: _id is the message id, and a unique index on
 * {user, dedupe} stores a client's retried send once. dedupe is "c:<cmid>" when the
 * client gave a cmid and "i:<message id>" otherwise: the portable form of a unique
 * index on {user, cmid} over documents that have one (partialFilterExpression is not
 * implemented by FerretDB 1.x; a plain unique index would make every cmid-less
 * message of a user collide on null). A write error with code 11000 (duplicate key) therefore means "already
 * written" and counts as success; because the bulk is unordered, every other
 * document of the batch is still inserted. Any other per-document write error is
 * the input's fault (CS_ERR_REJECTED: the framework splits the batch and the
 * document at fault is dead-lettered; what was inserted meanwhile is a duplicate
 * on the retry). Everything else (no server, timeouts, write concern, not primary)
 * is retriable: the framework pauses and retries, so offsets move only after the
 * bulk is acknowledged, with the write concern the URI asks for (w=majority etc.).
 *
 * Tested against FerretDB 1.x (MongoDB wire protocol over PostgreSQL or SQLite;
 * scripts/ferretdb.sh) and written to the MongoDB server's documented behaviour.
 */
#include "cs_log.h"
#include "cs_mongo_sink.h"
#include "cs_sink.h"
#include "cs_time.h"
#include "cs_uuid.h"

#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cs_conf_def_t cs_mongo_defs[] = {
    CS_CONF_ROW_STR(cs_mongo_conf_t, uri, "mongo.uri", "mongodb://127.0.0.1:27017/", 4096,
                    "MongoDB connection string (write concern, TLS, credentials as usual: "
                    "e.g. ?w=majority&journal=true)."),
    CS_CONF_ROW_STR(cs_mongo_conf_t, database, "mongo.database", "chatstream", 64,
                    "Database."),
    CS_CONF_ROW_STR(cs_mongo_conf_t, collection, "mongo.collection", "messages", 120,
                    "Collection."),
    CS_CONF_ROW_INT(cs_mongo_conf_t, timeout_ms, "mongo.timeout.ms", "30000", 100, 3600000,
                    "Server selection and socket timeout (unless the URI sets them)."),
    CS_CONF_ROW_BOOL(cs_mongo_conf_t, create_indexes, "mongo.create.indexes", "true",
                     "Create the unique {user, dedupe} index at start-up."),
};

typedef struct cs_mongo_sink {
    const cs_mongo_conf_t *conf;
    mongoc_client_t *client;
    mongoc_collection_t *coll;
    bool indexed;
    cs_sink_meter_t meter;
} cs_mongo_sink_t;

static pthread_once_t cs_mongo_once = PTHREAD_ONCE_INIT;

static void cs_mongo_global_init(void)
{
    mongoc_init(); /* mongoc_cleanup is left to process exit: other clients may exist */
}

static void cs_mongo_log(mongoc_log_level_t level, const char *domain, const char *message,
                         void *arg)
{
    (void)arg;
    /* FerretDB answers endSessions with "no such command": noise, not a problem. */
    if (strstr(message, "endSessions"))
        return;
    cs_log_level_t l = level <= MONGOC_LOG_LEVEL_ERROR     ? CS_LOG_ERROR
                       : level == MONGOC_LOG_LEVEL_WARNING ? CS_LOG_WARN
                       : level <= MONGOC_LOG_LEVEL_INFO    ? CS_LOG_INFO
                                                           : CS_LOG_DEBUG;
    cs_log(l, "mongoc", "%s: %s", domain, message);
}

static void *cs_mongo_open(const void *vconf, cs_metrics_t *metrics, char *errstr,
                           size_t errstr_size)
{
    const cs_mongo_conf_t *conf = vconf;
    pthread_once(&cs_mongo_once, cs_mongo_global_init);
    mongoc_log_set_handler(cs_mongo_log, NULL);
    bson_error_t err;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(conf->uri, &err);
    if (!uri) {
        snprintf(errstr, errstr_size, "mongo.uri: %s", err.message);
        return NULL;
    }
    /* bounded waits unless the operator chose otherwise in the URI */
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                       (int32_t)conf->timeout_ms);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, (int32_t)conf->timeout_ms);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS,
                                       (int32_t)(conf->timeout_ms < 10000 ? conf->timeout_ms
                                                                          : 10000));
    cs_mongo_sink_t *sink = calloc(1, sizeof(*sink));
    if (!sink) {
        mongoc_uri_destroy(uri);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    sink->conf = conf;
    sink->client = mongoc_client_new_from_uri_with_error(uri, &err);
    mongoc_uri_destroy(uri);
    if (!sink->client) {
        snprintf(errstr, errstr_size, "mongo.uri: %s", err.message);
        free(sink);
        return NULL;
    }
    mongoc_client_set_error_api(sink->client, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(sink->client, "chatstream-persist");
    sink->coll = mongoc_client_get_collection(sink->client, conf->database, conf->collection);
    cs_sink_meter_init(&sink->meter, metrics, "mongodb");
    cs_log(CS_LOG_INFO, "mongo", "writing to %s.%s", conf->database, conf->collection);
    return sink;
}

/* The unique {user, dedupe} index, once; failures are retriable (the server may be down). */
static cs_err_t cs_mongo_indexes(cs_mongo_sink_t *sink, char *errstr, size_t errstr_size)
{
    if (sink->indexed || !sink->conf->create_indexes)
        return CS_ERR_OK;
    bson_t *cmd = BCON_NEW("createIndexes", BCON_UTF8(sink->conf->collection), "indexes", "[",
                           "{", "key", "{", "user", BCON_INT32(1), "dedupe", BCON_INT32(1), "}",
                           "name", BCON_UTF8("user_dedupe"), "unique", BCON_BOOL(true), "}",
                           "]");
    bson_t reply;
    bson_error_t err;
    bool ok = mongoc_collection_write_command_with_opts(sink->coll, cmd, NULL, &reply, &err);
    bson_destroy(cmd);
    bson_destroy(&reply);
    if (!ok) {
        snprintf(errstr, errstr_size, "createIndexes user_dedupe: %s", err.message);
        return CS_ERR_UNAVAILABLE;
    }
    sink->indexed = true;
    cs_log(CS_LOG_INFO, "mongo", "unique index user_dedupe on %s.%s is in place",
           sink->conf->database, sink->conf->collection);
    return CS_ERR_OK;
}

static bool cs_mongo_append_doc(mongoc_bulk_operation_t *bulk, const cs_envelope_t *m,
                                int64_t now_ms, bson_error_t *err)
{
    cs_uuid_t id;
    if (!cs_uuid_parse(m->id, CS_UUID_STR_LEN, &id))
        return false;
    char dedupe[2 + CS_UUID_STR_LEN + 64 + 1];
    int dl = m->cmid ? snprintf(dedupe, sizeof(dedupe), "c:%.*s", (int)m->cmid_len, m->cmid)
                     : snprintf(dedupe, sizeof(dedupe), "i:%s", m->id);
    bson_t doc;
    bson_init(&doc);
    bool ok = BSON_APPEND_BINARY(&doc, "_id", BSON_SUBTYPE_UUID, id.b, 16) &&
              bson_append_utf8(&doc, "room", 4, m->room, (int)m->room_len) &&
              bson_append_utf8(&doc, "user", 4, m->user, (int)m->user_len) &&
              (!m->cmid || bson_append_utf8(&doc, "cmid", 4, m->cmid, (int)m->cmid_len)) &&
              bson_append_utf8(&doc, "dedupe", 6, dedupe, dl) &&
              bson_append_utf8(&doc, "text", 4, m->text, (int)m->text_len) &&
              BSON_APPEND_DATE_TIME(&doc, "ts", m->ts) &&
              BSON_APPEND_DATE_TIME(&doc, "stored_at", now_ms) &&
              mongoc_bulk_operation_insert_with_opts(bulk, &doc, NULL, err);
    bson_destroy(&doc);
    return ok;
}

/*
 * Reads a failed bulk's reply: counts duplicate-key errors; any other write error
 * means the input is refused. False when the reply has no writeErrors at all (the
 * failure is the server's or the network's).
 */
static bool cs_mongo_write_errors(const bson_t *reply, size_t *dups, bool *other,
                                  char *first_other, size_t first_other_size)
{
    bson_iter_t it, arr;
    *dups = 0;
    *other = false;
    if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return false;
    size_t n = 0;
    while (bson_iter_next(&arr)) {
        bson_iter_t e;
        n++;
        int32_t code = 0;
        if (BSON_ITER_HOLDS_DOCUMENT(&arr) && bson_iter_recurse(&arr, &e)) {
            while (bson_iter_next(&e)) {
                if (strcmp(bson_iter_key(&e), "code") == 0 && BSON_ITER_HOLDS_INT32(&e))
                    code = bson_iter_int32(&e);
                else if (strcmp(bson_iter_key(&e), "errmsg") == 0 && BSON_ITER_HOLDS_UTF8(&e) &&
                         code != 11000 && !*first_other)
                    snprintf(first_other, first_other_size, "%s", bson_iter_utf8(&e, NULL));
            }
        }
        if (code == 11000)
            (*dups)++;
        else
            *other = true;
    }
    return n > 0;
}

static bool cs_mongo_has_concern_error(const bson_t *reply)
{
    bson_iter_t it, arr;
    return bson_iter_init_find(&it, reply, "writeConcernErrors") && BSON_ITER_HOLDS_ARRAY(&it) &&
           bson_iter_recurse(&it, &arr) && bson_iter_next(&arr);
}

static int64_t cs_mongo_reply_int(const bson_t *reply, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, reply, key) && BSON_ITER_HOLDS_INT(&it))
        return bson_iter_as_int64(&it);
    return 0;
}

static cs_err_t cs_mongo_write(void *vsink, const cs_envelope_t *msgs, size_t n,
                               cs_sink_stats_t *stats, char *errstr, size_t errstr_size)
{
    cs_mongo_sink_t *sink = vsink;
    memset(stats, 0, sizeof(*stats));
    if (n == 0)
        return CS_ERR_OK;
    int64_t t0 = cs_mono_us();
    cs_err_t rc = cs_mongo_indexes(sink, errstr, errstr_size);
    if (rc != CS_ERR_OK)
        goto done;
    bson_t opts;
    bson_init(&opts);
    BSON_APPEND_BOOL(&opts, "ordered", false);
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(sink->coll,
                                                                                      &opts);
    bson_destroy(&opts);
    bson_error_t err;
    int64_t now_ms = cs_wall_ms();
    for (size_t i = 0; i < n; i++) {
        if (!cs_mongo_append_doc(bulk, &msgs[i], now_ms, &err)) {
            /* a document the driver will not send (e.g. over 16 MiB): this input */
            snprintf(errstr, errstr_size, "document %s: %s", msgs[i].id, err.message);
            mongoc_bulk_operation_destroy(bulk);
            rc = CS_ERR_REJECTED;
            goto done;
        }
    }
    bson_t reply;
    uint32_t server = mongoc_bulk_operation_execute(bulk, &reply, &err);
    int64_t inserted = cs_mongo_reply_int(&reply, "nInserted");
    if (server != 0) {
        stats->written = (size_t)inserted;
        rc = CS_ERR_OK;
    } else {
        size_t dups = 0;
        bool other = false;
        char other_msg[200] = "";
        bool write_errors = cs_mongo_write_errors(&reply, &dups, &other, other_msg,
                                                  sizeof(other_msg));
        if (write_errors && !other && !cs_mongo_has_concern_error(&reply)) {
            /* only duplicate keys: those documents were already written */
            stats->written = (size_t)inserted;
            stats->duplicates = dups;
            rc = CS_ERR_OK;
        } else if (write_errors && other) {
            snprintf(errstr, errstr_size, "write error: %s", other_msg);
            rc = CS_ERR_REJECTED;
        } else {
            snprintf(errstr, errstr_size, "%s (domain %u, code %u)", err.message, err.domain,
                     err.code);
            rc = CS_ERR_UNAVAILABLE;
        }
    }
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
done:
    cs_sink_meter_batch(&sink->meter, rc, stats, t0);
    return rc;
}

static bool cs_mongo_healthy(void *vsink)
{
    return cs_sink_meter_healthy(&((cs_mongo_sink_t *)vsink)->meter);
}

static void cs_mongo_close(void *vsink)
{
    cs_mongo_sink_t *sink = vsink;
    if (!sink)
        return;
    mongoc_collection_destroy(sink->coll);
    mongoc_client_destroy(sink->client);
    free(sink);
}

const cs_sink_ops_t cs_sink_mongodb = {
    .name = "mongodb",
    .conf_defs = cs_mongo_defs,
    .conf_ndefs = sizeof(cs_mongo_defs) / sizeof(cs_mongo_defs[0]),
    .conf_size = sizeof(cs_mongo_conf_t),
    .open = cs_mongo_open,
    .write_batch = cs_mongo_write,
    .healthy = cs_mongo_healthy,
    .close = cs_mongo_close,
};
