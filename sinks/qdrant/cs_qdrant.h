/*
 * cs_qdrant — chatstream's client for a set of Qdrant endpoints used as shards.
 *
 * Shards: `qdrant.urls` lists one base URL per shard, in shard order. A user's
 * messages live in shard jump(fnv1a64(user), nshards) (Lamping & Veach's jump
 * consistent hash): growing from n to n+1 shards moves only ~1/(n+1) of the
 * users, all of them to the new shard. Every shard holds the same collection
 * (`qdrant.collection`): unnamed cosine vectors + payload {room, user, ts, text,
 * model}, keyword indexes on room and user and an integer index on ts.
 * Point id = the message id (a UUID, which Qdrant accepts as a point id), so
 * upserting a record twice leaves one point.
 *
 * Calls use Qdrant's REST API (the double in tests/doubles/ follows it):
 *   GET  /collections/{c}                   exists? vector size?
 *   PUT  /collections/{c}                   create  {"vectors":{"size":d,"distance":"Cosine"}}
 *   PUT  /collections/{c}/index?wait=true   payload index {"field_name","field_schema"}
 *   PUT  /collections/{c}/points?wait=true  upsert {"points":[{"id","vector","payload"}]}
 *   POST /collections/{c}/points/query      search (Qdrant >= 1.10), or /points/search
 * Responses: {"result":...,"status":"ok","time":s}; errors {"status":{"error":"..."}}.
 *
 * Thread-safe for search (a pool of curl multi handles); upserts and ensure()
 * come from the index processor's one thread.
 */
#ifndef CS_QDRANT_H
#define CS_QDRANT_H

#include "cs_conf.h"
#include "cs_err.h"
#include "cs_metrics.h"
#include "cs_vectors.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_QDRANT_MAX_SHARDS 64

typedef struct cs_qdrant_conf {
    char *urls;                   /* comma-separated base URLs, one per shard, in shard order */
    char *collection;
    char *api_key_env;
    char *api_key_file;
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    int64_t response_max_bytes;
    int64_t upsert_points;        /* points per upsert request */
    int64_t inflight;             /* requests in flight at once (all shards) */
    bool create;                  /* create the collection and payload indexes when missing */
    char *search_api;             /* "query" (/points/query) or "search" (/points/search) */
} cs_qdrant_conf_t;

extern const cs_conf_def_t cs_qdrant_conf_defs[];
extern const size_t cs_qdrant_conf_ndefs;

typedef struct cs_qdrant cs_qdrant_t;

/* One point to upsert. `status` and `reason` are outputs. */
typedef struct cs_qdrant_point {
    uint32_t shard;               /* cs_qdrant_shard_of(rec->user) */
    const cs_vrec_t *rec;
    cs_err_t status;              /* OK: confirmed; REJECTED: refused on its own; else not done */
    char reason[200];
} cs_qdrant_point_t;

typedef struct cs_qdrant_filter {
    const char *room;             /* only this room (NULL: any) */
    const char *const *rooms;     /* only these rooms (NULL: no restriction) */
    size_t nrooms;
} cs_qdrant_filter_t;

typedef struct cs_qdrant_hit {
    char id[CS_UUID_STR_LEN + 1];
    double score;
    uint32_t shard;
    char *room;                   /* malloc'd */
    char *user;
    char *text;
    int64_t ts;
} cs_qdrant_hit_t;

typedef struct cs_qdrant_hits {
    cs_qdrant_hit_t *hits;
    size_t n, cap;
} cs_qdrant_hits_t;

/* NULL + errstr for configuration errors. `component` labels the metrics. */
cs_qdrant_t *cs_qdrant_new(const cs_qdrant_conf_t *conf, cs_metrics_t *metrics,
                           const char *component, char *errstr, size_t errstr_size);
void cs_qdrant_destroy(cs_qdrant_t *qdrant);
uint32_t cs_qdrant_nshards(const cs_qdrant_t *qdrant);
const char *cs_qdrant_shard_url(const cs_qdrant_t *qdrant, uint32_t shard);
uint32_t cs_qdrant_shard_of(const cs_qdrant_t *qdrant, const char *user, size_t len);

/* Jump consistent hash: a bucket in [0, buckets) for key. */
uint32_t cs_jump_hash(uint64_t key, uint32_t buckets);

/*
 * Makes sure shard `shard` has the collection and its payload indexes, creating what
 * is missing (when qdrant.create) with `dim`-sized cosine vectors. *actual gets the
 * collection's vector size: an existing collection keeps its own, whatever `dim` says
 * (the caller decides what to do with records of another size). Remembered until an
 * upsert finds the collection gone.
 */
cs_err_t cs_qdrant_ensure(cs_qdrant_t *qdrant, uint32_t shard, uint32_t dim, uint32_t *actual,
                          char *errstr, size_t errstr_size);

/*
 * Upserts pts[0..n) with wait=true: per shard in requests of qdrant.upsert.points,
 * all shards in parallel. shard_status[nshards] (may be NULL) gets each shard's outcome.
 * Returns OK (every point confirmed or refused alone), REJECTED (a request of several
 * points was refused: split to find the point) or a retriable error.
 */
cs_err_t cs_qdrant_upsert(cs_qdrant_t *qdrant, cs_qdrant_point_t *pts, size_t n,
                          cs_err_t *shard_status, char *errstr, size_t errstr_size);

/*
 * Searches every shard in parallel for the `limit` nearest points that pass the
 * filter and merges them by score (best first, at most `limit`). A failed shard
 * fails the search (the caller falls back): partial answers would silently hide
 * the users of the missing shard. No request starts after deadline_ms (0: none).
 */
cs_err_t cs_qdrant_search(cs_qdrant_t *qdrant, const float *vec, uint32_t dim,
                          const cs_qdrant_filter_t *filter, size_t limit, int64_t deadline_ms,
                          cs_qdrant_hits_t *out, char *errstr, size_t errstr_size);
void cs_qdrant_hits_free(cs_qdrant_hits_t *hits);

/* --- exposed for tests and fuzzing ------------------------------------------------ */

/* Parses a search answer (api "query" or "search") and appends its hits. */
cs_err_t cs_qdrant_parse_hits(const char *body, size_t len, bool query_api, uint32_t shard,
                              cs_qdrant_hits_t *out, char *errstr, size_t errstr_size);
/* Parses an update answer: OK only for status "ok" and result.status "completed". */
cs_err_t cs_qdrant_parse_update(const char *body, size_t len, char *errstr, size_t errstr_size);
/* Parses GET /collections/{c}: *dim = configured vector size; *indexes = bitmask of
 * existing payload indexes (1 room, 2 user, 4 ts). */
cs_err_t cs_qdrant_parse_collection(const char *body, size_t len, uint32_t *dim, int *indexes,
                                    char *errstr, size_t errstr_size);
/* Qdrant's own error message ({"status":{"error":".."}}). */
bool cs_qdrant_parse_error(const char *body, size_t len, char *out, size_t out_size);
/* Appends a float as JSON, round-trippable to the same binary32 value. */
void cs_json_put_float(cs_buf_t *out, float f);

#endif
