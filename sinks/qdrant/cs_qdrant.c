#include "cs_qdrant.h"
#include "cs_embedder.h"
#include "cs_envelope.h"
#include "cs_ftoa.h"
#include "cs_httpc.h"
#include "cs_jsonc.h"
#include "cs_log.h"
#include "cs_time.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


const cs_conf_def_t cs_qdrant_conf_defs[] = {
    CS_CONF_ROW_STR(cs_qdrant_conf_t, urls, "qdrant.urls", "http://127.0.0.1:6333", 8192,
                    "Qdrant base URLs, comma-separated, one per shard, in shard order. Users "
                    "are spread by jump consistent hash; changing the list is a reshard (see "
                    "README)."),
    CS_CONF_ROW_STR(cs_qdrant_conf_t, collection, "qdrant.collection", "chat_messages", 255,
                    "Collection name (the same on every shard)."),
    CS_CONF_ROW_STR(cs_qdrant_conf_t, api_key_env, "qdrant.api.key.env", "QDRANT_API_KEY", 128,
                    "Environment variable holding the Qdrant API key (unset: none sent)."),
    CS_CONF_ROW_STR(cs_qdrant_conf_t, api_key_file, "qdrant.api.key.file", "", 4096,
                    "File whose first line is the Qdrant API key."),
    CS_CONF_ROW_INT(cs_qdrant_conf_t, connect_timeout_ms, "qdrant.connect.timeout.ms", "2000",
                    10, 60000, "Connect timeout."),
    CS_CONF_ROW_INT(cs_qdrant_conf_t, timeout_ms, "qdrant.timeout.ms", "30000", 10, 600000,
                    "Whole-request timeout (upserts wait until the points are applied)."),
    CS_CONF_ROW_INT(cs_qdrant_conf_t, response_max_bytes, "qdrant.response.max.bytes",
                    "16777216", 1024, 1073741824, "Larger responses are refused."),
    CS_CONF_ROW_INT(cs_qdrant_conf_t, upsert_points, "qdrant.upsert.points", "256", 1, 100000,
                    "Points per upsert request."),
    CS_CONF_ROW_INT(cs_qdrant_conf_t, inflight, "qdrant.inflight", "4", 1, 256,
                    "Requests in flight at once."),
    CS_CONF_ROW_BOOL(cs_qdrant_conf_t, create, "qdrant.create", "true",
                     "Create the collection and its payload indexes when missing."),
    CS_CONF_ROW_STR(cs_qdrant_conf_t, search_api, "qdrant.search.api", "query", 16,
                    "query (/points/query, Qdrant >= 1.10) or search (/points/search)."),
};
const size_t cs_qdrant_conf_ndefs = sizeof(cs_qdrant_conf_defs) / sizeof(cs_qdrant_conf_defs[0]);

typedef struct cs_qdrant_shard {
    char url[1024];               /* base URL, no trailing slash */
    _Atomic uint32_t ensured_dim; /* 0 until cs_qdrant_ensure succeeded */
    cs_histogram_t *m_upsert;
    cs_counter_t *m_points;
    cs_gauge_t *m_up;
} cs_qdrant_shard_t;

struct cs_qdrant {
    const cs_qdrant_conf_t *conf;
    cs_qdrant_shard_t shards[CS_QDRANT_MAX_SHARDS];
    uint32_t nshards;
    bool query_api;
    char key_header[1100];        /* "api-key: ..." or "" */
    cs_httpc_opts_t opts;
    cs_metrics_t *metrics;
    char component[32];
    cs_httpc_pool_t pool;
    cs_histogram_t *m_search;
};

/* ---- hashing ------------------------------------------------------------------------ */

uint32_t cs_jump_hash(uint64_t key, uint32_t buckets)
{
    int64_t b = -1, j = 0;
    while (j < (int64_t)buckets) {
        b = j;
        key = key * 2862933555777941757ULL + 1;
        j = (int64_t)((double)(b + 1) * ((double)(1LL << 31) / (double)((key >> 33) + 1)));
    }
    return (uint32_t)b;
}

uint32_t cs_qdrant_shard_of(const cs_qdrant_t *q, const char *user, size_t len)
{
    return cs_jump_hash(cs_fnv1a64(user, len), q->nshards);
}

/* ---- JSON helpers ------------------------------------------------------------------- */

void cs_json_put_float(cs_buf_t *out, float f)
{
    char s[CS_FTOA_MAX];
    cs_buf_append(out, s, cs_ftoa(f, s));
}

static void cs_json_put_vector(cs_buf_t *out, const float *vec, uint32_t dim)
{
    cs_buf_putc(out, '[');
    for (uint32_t i = 0; i < dim; i++) {
        if (i)
            cs_buf_putc(out, ',');
        cs_json_put_float(out, vec[i]);
    }
    cs_buf_putc(out, ']');
}

bool cs_qdrant_parse_error(const char *body, size_t len, char *out, size_t out_size)
{
    char ignore[64];
    out[0] = '\0';
    struct json_object *root = cs_jsonc_parse(body, len, 16, ignore, sizeof(ignore));
    size_t mlen = 0;
    const char *msg = cs_jsonc_string(
        cs_jsonc_get(cs_jsonc_get(root, "status", json_type_object), "error", json_type_string),
        &mlen);
    if (msg) {
        size_t n = 0;
        for (size_t i = 0; i < mlen && n + 1 < out_size; i++)
            out[n++] = (unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f ? msg[i] : ' ';
        out[n] = '\0';
    }
    json_object_put(root);
    return msg != NULL;
}

/* {"status":"ok", "result": ...}: the result, or NULL + errstr. */
static struct json_object *cs_qdrant_result(struct json_object *root, json_type type,
                                            char *errstr, size_t errstr_size)
{
    size_t slen;
    const char *status = cs_jsonc_string(cs_jsonc_get(root, "status", json_type_string), &slen);
    if (!status || slen != 2 || memcmp(status, "ok", 2) != 0) {
        snprintf(errstr, errstr_size, "status is not \"ok\"");
        return NULL;
    }
    struct json_object *result = cs_jsonc_get(root, "result", type);
    if (!result)
        snprintf(errstr, errstr_size, "no 'result' %s", json_type_to_name(type));
    return result;
}

cs_err_t cs_qdrant_parse_update(const char *body, size_t len, char *errstr, size_t errstr_size)
{
    struct json_object *root = cs_jsonc_parse(body, len, 16, errstr, errstr_size);
    if (!root)
        return CS_ERR_BAD_JSON;
    cs_err_t rc = CS_ERR_BAD_JSON;
    struct json_object *result = cs_qdrant_result(root, json_type_object, errstr, errstr_size);
    size_t slen;
    const char *st =
        cs_jsonc_string(cs_jsonc_get(result, "status", json_type_string), &slen);
    if (result && (!st || slen != 9 || memcmp(st, "completed", 9) != 0))
        snprintf(errstr, errstr_size, "update not completed (status %.*s)", st ? (int)slen : 4,
                 st ? st : "none");
    else if (result)
        rc = CS_ERR_OK;
    json_object_put(root);
    return rc;
}

cs_err_t cs_qdrant_parse_collection(const char *body, size_t len, uint32_t *dim, int *indexes,
                                    char *errstr, size_t errstr_size)
{
    *dim = 0;
    *indexes = 0;
    struct json_object *root = cs_jsonc_parse(body, len, 32, errstr, errstr_size);
    if (!root)
        return CS_ERR_BAD_JSON;
    cs_err_t rc = CS_ERR_BAD_JSON;
    struct json_object *result = cs_qdrant_result(root, json_type_object, errstr, errstr_size);
    struct json_object *vectors = cs_jsonc_get(
        cs_jsonc_get(cs_jsonc_get(result, "config", json_type_object), "params", json_type_object),
        "vectors", json_type_object);
    struct json_object *size = cs_jsonc_get(vectors, "size", json_type_int);
    if (!result) {
        /* errstr set */
    } else if (!size) {
        snprintf(errstr, errstr_size, "collection has no single unnamed vector config "
                 "(config.params.vectors.size)");
    } else if (json_object_get_int64(size) < 1 || json_object_get_int64(size) > CS_VREC_DIM_MAX) {
        snprintf(errstr, errstr_size, "vector size %lld out of range",
                 (long long)json_object_get_int64(size));
    } else {
        *dim = (uint32_t)json_object_get_int64(size);
        struct json_object *schema = cs_jsonc_get(result, "payload_schema", json_type_object);
        static const char *const fields[] = {"room", "user", "ts"};
        for (int i = 0; i < 3; i++)
            if (cs_jsonc_get(schema, fields[i], json_type_object))
                *indexes |= 1 << i;
        rc = CS_ERR_OK;
    }
    json_object_put(root);
    return rc;
}

static bool cs_hits_push(cs_qdrant_hits_t *out, cs_qdrant_hit_t *hit)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 16;
        cs_qdrant_hit_t *h = realloc(out->hits, cap * sizeof(*h));
        if (!h)
            return false;
        out->hits = h;
        out->cap = cap;
    }
    out->hits[out->n++] = *hit;
    return true;
}

static char *cs_strndup_printable(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

cs_err_t cs_qdrant_parse_hits(const char *body, size_t len, bool query_api, uint32_t shard,
                              cs_qdrant_hits_t *out, char *errstr, size_t errstr_size)
{
    struct json_object *root = cs_jsonc_parse(body, len, 32, errstr, errstr_size);
    if (!root)
        return CS_ERR_BAD_JSON;
    cs_err_t rc = CS_ERR_BAD_JSON;
    struct json_object *points;
    if (query_api)
        points = cs_jsonc_get(cs_qdrant_result(root, json_type_object, errstr, errstr_size),
                              "points", json_type_array);
    else
        points = cs_qdrant_result(root, json_type_array, errstr, errstr_size);
    if (!points) {
        if (query_api)
            snprintf(errstr, errstr_size, "no result.points array");
        goto done;
    }
    size_t n = json_object_array_length(points);
    for (size_t i = 0; i < n; i++) {
        struct json_object *p = json_object_array_get_idx(points, i);
        struct json_object *payload = cs_jsonc_get(p, "payload", json_type_object);
        size_t idl, rl, ul, tl;
        const char *id = cs_jsonc_string(cs_jsonc_get(p, "id", json_type_string), &idl);
        const char *room = cs_jsonc_string(cs_jsonc_get(payload, "room", json_type_string), &rl);
        const char *user = cs_jsonc_string(cs_jsonc_get(payload, "user", json_type_string), &ul);
        const char *text = cs_jsonc_string(cs_jsonc_get(payload, "text", json_type_string), &tl);
        struct json_object *ts = cs_jsonc_get(payload, "ts", json_type_int);
        double score;
        if (!id || !cs_uuid_canonical_lower(id, idl) || !room || !user || !text || !ts ||
            !json_object_object_get_ex(p, "score", NULL) ||
            !cs_jsonc_number(json_object_object_get(p, "score"), &score) || !isfinite(score)) {
            snprintf(errstr, errstr_size, "point %zu: needs a UUID id, a finite score and a "
                     "payload with room, user, text (strings) and ts (integer)", i);
            goto done;
        }
        if (!cs_ident_valid(room, rl, CS_IDENT_MAX) || !cs_ident_valid(user, ul, CS_IDENT_MAX) ||
            tl == 0 || tl > CS_TEXT_MAX || memchr(text, '\0', tl)) {
            snprintf(errstr, errstr_size, "point %zu: payload room/user/text out of bounds", i);
            goto done;
        }
        cs_qdrant_hit_t hit = {.score = score, .shard = shard, .ts = json_object_get_int64(ts)};
        memcpy(hit.id, id, CS_UUID_STR_LEN);
        hit.id[CS_UUID_STR_LEN] = '\0';
        hit.room = cs_strndup_printable(room, rl);
        hit.user = cs_strndup_printable(user, ul);
        hit.text = cs_strndup_printable(text, tl);
        if (!hit.room || !hit.user || !hit.text || !cs_hits_push(out, &hit)) {
            free(hit.room), free(hit.user), free(hit.text);
            snprintf(errstr, errstr_size, "out of memory");
            rc = CS_ERR_NOMEM;
            goto done;
        }
    }
    rc = CS_ERR_OK;
done:
    json_object_put(root);
    return rc;
}

void cs_qdrant_hits_free(cs_qdrant_hits_t *hits)
{
    for (size_t i = 0; i < hits->n; i++) {
        free(hits->hits[i].room);
        free(hits->hits[i].user);
        free(hits->hits[i].text);
    }
    free(hits->hits);
    memset(hits, 0, sizeof(*hits));
}

/* ---- set-up ------------------------------------------------------------------------- */

static bool cs_collection_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

cs_qdrant_t *cs_qdrant_new(const cs_qdrant_conf_t *conf, cs_metrics_t *metrics,
                           const char *component, char *errstr, size_t errstr_size)
{
    cs_qdrant_t *q = calloc(1, sizeof(*q));
    if (!q) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    q->conf = conf;
    q->metrics = metrics;
    cs_httpc_global_init();
    cs_httpc_pool_init(&q->pool, (long)conf->inflight);
    snprintf(q->component, sizeof(q->component), "%s", component);
    q->opts = (cs_httpc_opts_t){conf->connect_timeout_ms, conf->timeout_ms,
                                conf->response_max_bytes};
    if (!cs_collection_name_valid(conf->collection)) {
        snprintf(errstr, errstr_size, "qdrant.collection: 1-255 bytes of [A-Za-z0-9_-]");
        goto fail;
    }
    if (strcmp(conf->search_api, "query") == 0)
        q->query_api = true;
    else if (strcmp(conf->search_api, "search") != 0) {
        snprintf(errstr, errstr_size, "qdrant.search.api: '%s' is not query or search",
                 conf->search_api);
        goto fail;
    }
    size_t n;
    for (const char *cur = conf->urls, *p; cs_conf_list_next(&cur, &p, &n);) {
        while (n > 0 && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '/'))
            n--;
        if (n == 0 || n >= sizeof(q->shards[0].url)) {
            snprintf(errstr, errstr_size, "qdrant.urls: empty or overlong entry %u", q->nshards);
            goto fail;
        }
        if (q->nshards == CS_QDRANT_MAX_SHARDS) {
            snprintf(errstr, errstr_size, "qdrant.urls: at most %d shards",
                     CS_QDRANT_MAX_SHARDS);
            goto fail;
        }
        cs_qdrant_shard_t *s = &q->shards[q->nshards];
        memcpy(s->url, p, n);
        s->url[n] = '\0';
        if (strncmp(s->url, "http://", 7) != 0 && strncmp(s->url, "https://", 8) != 0) {
            snprintf(errstr, errstr_size, "qdrant.urls: '%s' must start with http:// or https://",
                     s->url);
            goto fail;
        }
        char l[160];
        snprintf(l, sizeof(l), "component=\"%s\",shard=\"%u\"", component, q->nshards);
        s->m_upsert = cs_metrics_histogram(metrics, "chatstream_qdrant_upsert_seconds", l,
                                           "Time of one upsert request (wait=true).",
                                           cs_metrics_latency_buckets,
                                           cs_metrics_latency_nbuckets);
        s->m_points = cs_metrics_counter(metrics, "chatstream_qdrant_points_upserted_total", l,
                                         "Points confirmed by the shard.");
        s->m_up = cs_metrics_gauge(metrics, "chatstream_qdrant_shard_up", l,
                                   "1 while the shard's last request succeeded.");
        cs_gauge_set(s->m_up, 1);
        q->nshards++;
    }
    if (q->nshards == 0) {
        snprintf(errstr, errstr_size, "qdrant.urls: no shard given");
        goto fail;
    }
    q->pool.maxconnects += (long)q->nshards; /* one idle connection per shard besides */
    char key[1024];
    if (!cs_httpc_read_secret(conf->api_key_env, conf->api_key_file, key, sizeof(key), errstr,
                              errstr_size))
        goto fail;
    if (*key)
        snprintf(q->key_header, sizeof(q->key_header), "api-key: %s", key);
    char l[96];
    snprintf(l, sizeof(l), "component=\"%s\"", component);
    q->m_search = cs_metrics_histogram(metrics, "chatstream_qdrant_search_seconds", l,
                                       "Time to search all shards (parallel) and merge.",
                                       cs_metrics_latency_buckets, cs_metrics_latency_nbuckets);
    return q;
fail:
    cs_qdrant_destroy(q);
    return NULL;
}

void cs_qdrant_destroy(cs_qdrant_t *q)
{
    if (!q)
        return;
    cs_httpc_pool_destroy(&q->pool);
    free(q);
}

uint32_t cs_qdrant_nshards(const cs_qdrant_t *q)
{
    return q->nshards;
}

const char *cs_qdrant_shard_url(const cs_qdrant_t *q, uint32_t shard)
{
    return shard < q->nshards ? q->shards[shard].url : NULL;
}

static void cs_qdrant_error_count(cs_qdrant_t *q, uint32_t shard, const char *op, const char *kind)
{
    char l[200];
    snprintf(l, sizeof(l), "component=\"%s\",shard=\"%u\",op=\"%s\",kind=\"%s\"", q->component,
             shard, op, kind);
    cs_counter_inc(cs_metrics_counter(q->metrics, "chatstream_qdrant_errors_total", l,
                                      "Failed Qdrant requests, by shard, operation and kind."));
}

static bool cs_qdrant_req(cs_qdrant_t *q, cs_httpc_req_t *req, const char *method, uint32_t shard,
                          const char *path)
{
    char url[1400];
    snprintf(url, sizeof(url), "%s/collections/%s%s", q->shards[shard].url, q->conf->collection,
             path);
    const char *headers[2] = {q->key_header[0] ? q->key_header : NULL, NULL};
    return cs_httpc_req_init(req, method, url, headers, &q->opts);
}

static void cs_sync_done(cs_httpc_req_t *req, void *arg)
{
    *(bool *)arg = true;
}

/* One request, waited for (set-up calls only). */
static cs_httpc_class_t cs_qdrant_sync(cs_qdrant_t *q, cs_httpc_req_t *req, uint32_t shard,
                                       const char *op, char *errstr, size_t errstr_size)
{
    CURLM *multi = cs_httpc_pool_get(&q->pool);
    bool done = false;
    if (!multi || !cs_httpc_add(multi, req)) {
        if (multi)
            cs_httpc_pool_put(&q->pool, multi);
        snprintf(errstr, errstr_size, "out of memory");
        return CS_HTTPC_RETRY;
    }
    while (!done)
        cs_httpc_run(multi, 200, cs_sync_done, &done);
    cs_httpc_pool_put(&q->pool, multi);
    const char *kind;
    cs_httpc_class_t cls = cs_httpc_classify(req, &kind);
    if (cls != CS_HTTPC_OK) {
        char msg[200];
        if (req->resp.len && cs_qdrant_parse_error(req->resp.data, req->resp.len, msg,
                                                   sizeof(msg)))
            snprintf(errstr, errstr_size, "shard %u %s: HTTP %ld: %s", shard, op, req->status,
                     msg);
        else {
            cs_httpc_describe(req, msg, sizeof(msg));
            snprintf(errstr, errstr_size, "shard %u %s: %s", shard, op, msg);
        }
        cs_qdrant_error_count(q, shard, op, kind);
    }
    return cls;
}

/* ---- ensure ------------------------------------------------------------------------- */

static cs_err_t cs_qdrant_create_index(cs_qdrant_t *q, uint32_t shard, const char *field,
                                       const char *schema, char *errstr, size_t errstr_size)
{
    cs_httpc_req_t req = {0};
    if (!cs_qdrant_req(q, &req, "PUT", shard, "/index?wait=true"))
        return CS_ERR_NOMEM;
    cs_buf_printf(&req.body, "{\"field_name\":\"%s\",\"field_schema\":\"%s\"}", field, schema);
    cs_httpc_class_t cls = cs_qdrant_sync(q, &req, shard, "index", errstr, errstr_size);
    cs_err_t rc = CS_ERR_OK;
    if (cls == CS_HTTPC_OK)
        rc = cs_qdrant_parse_update(req.resp.data, req.resp.len, errstr, errstr_size) == CS_ERR_OK
                 ? CS_ERR_OK
                 : CS_ERR_UNAVAILABLE;
    else
        rc = CS_ERR_UNAVAILABLE;
    if (rc == CS_ERR_OK)
        cs_log(CS_LOG_INFO, "qdrant", "shard %u: payload index on %s (%s)", shard, field, schema);
    cs_httpc_req_cleanup(&req);
    return rc;
}

cs_err_t cs_qdrant_ensure(cs_qdrant_t *q, uint32_t shard, uint32_t dim, uint32_t *actual,
                          char *errstr, size_t errstr_size)
{
    cs_qdrant_shard_t *s = &q->shards[shard];
    uint32_t have = atomic_load(&s->ensured_dim);
    *actual = have;
    if (have != 0)
        return CS_ERR_OK;
    cs_httpc_req_t req = {0};
    if (!cs_qdrant_req(q, &req, "GET", shard, ""))
        return CS_ERR_NOMEM;
    cs_httpc_class_t cls = cs_qdrant_sync(q, &req, shard, "get_collection", errstr, errstr_size);
    cs_err_t rc;
    uint32_t size = 0;
    int indexes = 0;
    if (cls == CS_HTTPC_OK) {
        rc = cs_qdrant_parse_collection(req.resp.data, req.resp.len, &size, &indexes, errstr,
                                        errstr_size);
        if (rc != CS_ERR_OK) {
            rc = CS_ERR_UNAVAILABLE;
            goto done;
        }
        dim = size; /* an existing collection keeps its size */
    } else if (req.status == 404 && q->conf->create) {
        cs_httpc_req_cleanup(&req);
        if (!cs_qdrant_req(q, &req, "PUT", shard, "")) {
            rc = CS_ERR_NOMEM;
            goto done;
        }
        cs_buf_printf(&req.body, "{\"vectors\":{\"size\":%u,\"distance\":\"Cosine\"}}", dim);
        cls = cs_qdrant_sync(q, &req, shard, "create_collection", errstr, errstr_size);
        if (cls != CS_HTTPC_OK && req.status != 409) { /* 409: created by someone else meanwhile */
            rc = CS_ERR_UNAVAILABLE;
            goto done;
        }
        cs_log(CS_LOG_INFO, "qdrant", "shard %u (%s): %s collection %s (%u dims, cosine)", shard,
               s->url, req.status == 409 ? "found" : "created", q->conf->collection, dim);
        if (req.status == 409) { /* verify what the other creator made */
            cs_httpc_req_cleanup(&req);
            return cs_qdrant_ensure(q, shard, dim, actual, errstr, errstr_size);
        }
    } else {
        if (req.status == 404)
            snprintf(errstr, errstr_size, "shard %u: collection %s does not exist and "
                     "qdrant.create=false", shard, q->conf->collection);
        rc = CS_ERR_UNAVAILABLE;
        goto done;
    }
    static const char *const fields[] = {"room", "user", "ts"};
    static const char *const schemas[] = {"keyword", "keyword", "integer"};
    for (int i = 0; i < 3; i++) {
        if ((indexes & (1 << i)) || !q->conf->create)
            continue;
        if ((rc = cs_qdrant_create_index(q, shard, fields[i], schemas[i], errstr, errstr_size)))
            goto done;
    }
    atomic_store(&s->ensured_dim, dim);
    *actual = dim;
    cs_gauge_set(s->m_up, 1);
    rc = CS_ERR_OK;
done:
    if (rc != CS_ERR_OK)
        cs_gauge_set(s->m_up, 0);
    cs_httpc_req_cleanup(&req);
    return rc;
}

/* ---- upsert ------------------------------------------------------------------------- */

typedef struct cs_upsert_req {
    cs_httpc_req_t http;
    uint32_t shard;
    size_t *idx;                  /* indexes into pts */
    size_t count;
    bool done;
} cs_upsert_req_t;

typedef struct cs_upsert_call {
    cs_qdrant_t *q;
    cs_qdrant_point_t *pts;
    cs_err_t *shard_status;
    int inflight;
    bool rejected_multi;
    cs_err_t retriable;
    char last_error[256];
} cs_upsert_call_t;

static void cs_upsert_body(cs_buf_t *b, cs_qdrant_point_t *pts, const size_t *idx, size_t count)
{
    cs_buf_puts(b, "{\"points\":[");
    for (size_t i = 0; i < count; i++) {
        const cs_vrec_t *r = pts[idx[i]].rec;
        if (i)
            cs_buf_putc(b, ',');
        cs_buf_printf(b, "{\"id\":\"%s\",\"vector\":", r->id);
        cs_json_put_vector(b, r->vec, r->dim);
        cs_buf_puts(b, ",\"payload\":{\"room\":");
        cs_buf_put_json_str(b, r->room, r->room_len);
        cs_buf_puts(b, ",\"user\":");
        cs_buf_put_json_str(b, r->user, r->user_len);
        cs_buf_printf(b, ",\"ts\":%lld,\"text\":", (long long)r->ts);
        cs_buf_put_json_str(b, r->text, r->text_len);
        cs_buf_puts(b, ",\"model\":");
        cs_buf_put_json_str(b, r->model, r->model_len);
        cs_buf_puts(b, "}}");
    }
    cs_buf_puts(b, "]}");
}

static void cs_upsert_fail(cs_upsert_call_t *call, cs_upsert_req_t *u, cs_err_t rc,
                           const char *why)
{
    for (size_t i = 0; i < u->count; i++) {
        cs_qdrant_point_t *p = &call->pts[u->idx[i]];
        p->status = rc;
        snprintf(p->reason, sizeof(p->reason), "%s", why);
    }
    if (call->shard_status && (call->shard_status[u->shard] == CS_ERR_OK ||
                               cs_err_retriable(rc)))
        call->shard_status[u->shard] = rc;
}

static void cs_upsert_done(cs_httpc_req_t *req, void *arg)
{
    cs_upsert_call_t *call = arg;
    cs_qdrant_t *q = call->q;
    cs_upsert_req_t *u = req->owner;
    cs_qdrant_shard_t *s = &q->shards[u->shard];
    call->inflight--;
    u->done = true;
    const char *kind;
    cs_httpc_class_t cls = cs_httpc_classify(req, &kind);
    char why[256];
    if (cls == CS_HTTPC_OK) {
        char perr[160];
        if (cs_qdrant_parse_update(req->resp.data, req->resp.len, perr, sizeof(perr)) ==
            CS_ERR_OK) {
            for (size_t i = 0; i < u->count; i++)
                call->pts[u->idx[i]].status = CS_ERR_OK;
            cs_histogram_observe(s->m_upsert, (double)req->elapsed_us / 1e6);
            cs_counter_add(s->m_points, u->count);
            cs_gauge_set(s->m_up, 1);
            return;
        }
        kind = "bad_response";
        cls = CS_HTTPC_RETRY;
        snprintf(why, sizeof(why), "shard %u: unusable upsert response: %s", u->shard, perr);
    } else {
        char msg[200];
        if (req->resp.len && cs_qdrant_parse_error(req->resp.data, req->resp.len, msg,
                                                   sizeof(msg)))
            snprintf(why, sizeof(why), "shard %u: HTTP %ld: %s", u->shard, req->status, msg);
        else {
            cs_httpc_describe(req, msg, sizeof(msg));
            snprintf(why, sizeof(why), "shard %u: %s", u->shard, msg);
        }
    }
    cs_qdrant_error_count(q, u->shard, "upsert", kind);
    if (cls == CS_HTTPC_REJECT) {
        if (u->count == 1) {
            cs_qdrant_point_t *p = &call->pts[u->idx[0]];
            p->status = CS_ERR_REJECTED;
            snprintf(p->reason, sizeof(p->reason), "Qdrant refused the point: %s", why);
        } else {
            call->rejected_multi = true;
            cs_upsert_fail(call, u, CS_ERR_REJECTED, why);
            snprintf(call->last_error, sizeof(call->last_error), "%s", why);
        }
        return;
    }
    if (req->status == 404) /* the collection is gone: recreate it on the next attempt */
        atomic_store(&s->ensured_dim, 0);
    cs_gauge_set(s->m_up, 0);
    cs_upsert_fail(call, u, CS_ERR_UNAVAILABLE, why);
    call->retriable = CS_ERR_UNAVAILABLE;
    snprintf(call->last_error, sizeof(call->last_error), "%s", why);
}

cs_err_t cs_qdrant_upsert(cs_qdrant_t *q, cs_qdrant_point_t *pts, size_t n,
                          cs_err_t *shard_status, char *errstr, size_t errstr_size)
{
    if (shard_status)
        for (uint32_t k = 0; k < q->nshards; k++)
            shard_status[k] = CS_ERR_OK;
    if (n == 0)
        return CS_ERR_OK;
    size_t per = (size_t)q->conf->upsert_points;
    size_t nreq_max = n + q->nshards; /* each shard's points in ceil(count/per) requests */
    size_t *order = malloc(n * sizeof(*order));
    cs_upsert_req_t *reqs = calloc(nreq_max, sizeof(*reqs));
    CURLM *multi = cs_httpc_pool_get(&q->pool);
    cs_err_t rc = CS_ERR_OK;
    if (!order || !reqs || !multi) {
        snprintf(errstr, errstr_size, "out of memory");
        rc = CS_ERR_NOMEM;
        goto done;
    }
    /* Group by shard, keeping each shard's points in batch order. */
    size_t nreq = 0, k = 0;
    for (uint32_t s = 0; s < q->nshards; s++) {
        size_t start = k;
        for (size_t i = 0; i < n; i++)
            if (pts[i].shard == s)
                order[k++] = i;
        for (size_t off = start; off < k; off += per) {
            cs_upsert_req_t *u = &reqs[nreq++];
            u->shard = s;
            u->idx = order + off;
            u->count = k - off < per ? k - off : per;
        }
    }
    for (size_t i = 0; i < n; i++) {
        pts[i].status = CS_ERR_TRANSIENT;
        pts[i].reason[0] = '\0';
    }
    cs_upsert_call_t call = {.q = q, .pts = pts, .shard_status = shard_status};
    size_t next = 0;
    while (next < nreq || call.inflight > 0) {
        while (next < nreq && call.inflight < q->conf->inflight) {
            cs_upsert_req_t *u = &reqs[next++];
            if (!cs_qdrant_req(q, &u->http, "PUT", u->shard, "/points?wait=true")) {
                cs_upsert_fail(&call, u, CS_ERR_NOMEM, "out of memory");
                call.retriable = CS_ERR_NOMEM;
                continue;
            }
            cs_upsert_body(&u->http.body, pts, u->idx, u->count);
            u->http.owner = u;
            if (!cs_httpc_add(multi, &u->http)) {
                cs_upsert_fail(&call, u, CS_ERR_NOMEM, "out of memory");
                call.retriable = CS_ERR_NOMEM;
                continue;
            }
            call.inflight++;
        }
        cs_httpc_run(multi, 100, cs_upsert_done, &call);
    }
    if (call.retriable != CS_ERR_OK) {
        rc = call.retriable;
        snprintf(errstr, errstr_size, "%s", call.last_error);
    } else if (call.rejected_multi) {
        rc = CS_ERR_REJECTED;
        snprintf(errstr, errstr_size, "%s", call.last_error);
    }
done:
    if (reqs)
        for (size_t i = 0; i < nreq_max; i++)
            cs_httpc_req_cleanup(&reqs[i].http);
    if (multi)
        cs_httpc_pool_put(&q->pool, multi);
    free(reqs);
    free(order);
    return rc;
}

/* ---- search ------------------------------------------------------------------------- */

typedef struct cs_search_call {
    cs_qdrant_t *q;
    cs_httpc_req_t *reqs;
    cs_qdrant_hits_t *out;
    cs_err_t rc;
    char errstr[256];
} cs_search_call_t;

static void cs_search_done(cs_httpc_req_t *req, void *arg)
{
    cs_search_call_t *call = arg;
    uint32_t shard = (uint32_t)req->index;
    const char *kind;
    cs_httpc_class_t cls = cs_httpc_classify(req, &kind);
    char why[200];
    if (cls == CS_HTTPC_OK) {
        cs_err_t prc = cs_qdrant_parse_hits(req->resp.data, req->resp.len, call->q->query_api,
                                            shard, call->out, why, sizeof(why));
        if (prc == CS_ERR_OK) {
            cs_gauge_set(call->q->shards[shard].m_up, 1);
            return;
        }
        kind = "bad_response";
    } else {
        char msg[160];
        if (req->resp.len && cs_qdrant_parse_error(req->resp.data, req->resp.len, msg,
                                                   sizeof(msg)))
            snprintf(why, sizeof(why), "HTTP %ld: %s", req->status, msg);
        else
            cs_httpc_describe(req, why, sizeof(why));
    }
    cs_qdrant_error_count(call->q, shard, "search", kind);
    if (call->rc == CS_ERR_OK) {
        call->rc = CS_ERR_UNAVAILABLE;
        snprintf(call->errstr, sizeof(call->errstr), "shard %u: %s", shard, why);
    }
}

static int cs_hit_cmp(const void *a, const void *b)
{
    const cs_qdrant_hit_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void cs_filter_json(cs_buf_t *b, const cs_qdrant_filter_t *f)
{
    if (!f || (!f->room && !f->rooms))
        return;
    cs_buf_puts(b, ",\"filter\":{\"must\":[");
    bool first = true;
    if (f->rooms) {
        cs_buf_puts(b, "{\"key\":\"room\",\"match\":{\"any\":[");
        for (size_t i = 0; i < f->nrooms; i++) {
            if (i)
                cs_buf_putc(b, ',');
            cs_buf_put_json_str(b, f->rooms[i], strlen(f->rooms[i]));
        }
        cs_buf_puts(b, "]}}");
        first = false;
    }
    if (f->room) {
        if (!first)
            cs_buf_putc(b, ',');
        cs_buf_puts(b, "{\"key\":\"room\",\"match\":{\"value\":");
        cs_buf_put_json_str(b, f->room, strlen(f->room));
        cs_buf_puts(b, "}}");
    }
    cs_buf_puts(b, "]}");
}

cs_err_t cs_qdrant_search(cs_qdrant_t *q, const float *vec, uint32_t dim,
                          const cs_qdrant_filter_t *filter, size_t limit, int64_t deadline_ms,
                          cs_qdrant_hits_t *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    int64_t t0 = cs_mono_us();
    cs_httpc_req_t *reqs = calloc(q->nshards, sizeof(*reqs));
    CURLM *multi = cs_httpc_pool_get(&q->pool);
    cs_search_call_t call = {.q = q, .reqs = reqs, .out = out};
    if (!reqs || !multi) {
        free(reqs);
        if (multi)
            cs_httpc_pool_put(&q->pool, multi);
        snprintf(errstr, errstr_size, "out of memory");
        return CS_ERR_NOMEM;
    }
    /* One body for every shard. */
    cs_buf_t body = CS_BUF_INIT;
    cs_buf_puts(&body, q->query_api ? "{\"query\":" : "{\"vector\":");
    cs_json_put_vector(&body, vec, dim);
    cs_buf_printf(&body, ",\"limit\":%zu,\"with_payload\":[\"room\",\"user\",\"ts\",\"text\"]",
                  limit);
    cs_filter_json(&body, filter);
    cs_buf_putc(&body, '}');
    int running = 0;
    for (uint32_t s = 0; s < q->nshards; s++) {
        if (!cs_qdrant_req(q, &reqs[s], "POST", s,
                           q->query_api ? "/points/query" : "/points/search")) {
            call.rc = CS_ERR_NOMEM;
            break;
        }
        cs_buf_append(&reqs[s].body, body.data, body.len);
        reqs[s].index = s;
        if (deadline_ms) { /* never wait past the caller's deadline */
            int64_t left = deadline_ms - cs_mono_ms();
            if (left < 1)
                left = 1;
            if (left < q->opts.timeout_ms)
                curl_easy_setopt(reqs[s].easy, CURLOPT_TIMEOUT_MS, (long)left);
        }
        if (!cs_httpc_add(multi, &reqs[s])) {
            call.rc = CS_ERR_NOMEM;
            break;
        }
        running++;
    }
    cs_buf_free(&body);
    while (running > 0)
        running = cs_httpc_run(multi, 100, cs_search_done, &call);
    /* collect whatever finished in the last turn */
    cs_httpc_run(multi, 0, cs_search_done, &call);
    for (uint32_t s = 0; s < q->nshards; s++)
        cs_httpc_req_cleanup(&reqs[s]);
    free(reqs);
    cs_httpc_pool_put(&q->pool, multi);
    if (call.rc != CS_ERR_OK) {
        snprintf(errstr, errstr_size, "%s", call.errstr[0] ? call.errstr : cs_err_str(call.rc));
        cs_qdrant_hits_free(out);
        return call.rc;
    }
    /* Merge: best score first; a point seen twice (mid-reshard) counts once. */
    qsort(out->hits, out->n, sizeof(out->hits[0]), cs_hit_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < out->n; i++) {
        bool dup = false;
        for (size_t j = 0; j < kept && !dup; j++)
            dup = strcmp(out->hits[j].id, out->hits[i].id) == 0;
        if (dup || kept >= limit) {
            free(out->hits[i].room), free(out->hits[i].user), free(out->hits[i].text);
            continue;
        }
        out->hits[kept++] = out->hits[i];
    }
    out->n = kept;
    cs_histogram_observe(q->m_search, (double)(cs_mono_us() - t0) / 1e6);
    return CS_ERR_OK;
}
