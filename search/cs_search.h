/*
 * cs_search — the search behind GET /v1/search?q=...&room=...&limit=...
 *
 * A library, so that whichever process serves HTTP (chatstream-search here, the
 * gateway later) mounts the same logic:
 *
 *   semantic  the query is embedded by the same provider as the messages
 *             (cs_embedder), every Qdrant shard is searched in parallel with the
 *             caller's room filter, the hits are merged by score;
 *   fulltext  when the provider or any shard fails (or the circuit is open), the
 *             same question goes to PostgreSQL full-text search (the GIN index of
 *             migration 0002) and the answer says "mode":"fulltext" and why.
 *
 * Access control is the caller's claim, enforced here: `allowed_rooms` (from the
 * JWT's `rooms` claim; NULL = any room) restricts every query, in Qdrant's filter
 * and in SQL, and asking for a room outside it is 403. The answer:
 *
 *   {"mode":"semantic","query":"homework","room":null,"took_ms":12,
 *    "hits":[{"id":"...","room":"math-101","user":"alice","ts":1763892000123,
 *             "text":"Is the homework due Friday?","score":0.83}]}
 *
 * Thread-safe: one cs_search_t serves every request thread of a process (the
 * embedder, the Qdrant client and a PostgreSQL connection pool are shared).
 * Calls block for up to search.timeout.ms (+ the SQL statement timeout): call
 * them from a worker thread, never from an event loop's service thread.
 */
#ifndef CS_SEARCH_H
#define CS_SEARCH_H

#include "cs_buf.h"
#include "cs_conf.h"
#include "cs_embedder.h"
#include "cs_metrics.h"
#include "cs_qdrant.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_SEARCH_QUERY_MAX 512  /* bytes of query text */

typedef struct cs_search_conf {
    char *mode;                   /* "auto" (semantic, fall back), "semantic", "fulltext" */
    char *pg_dsn;
    int64_t pg_connect_timeout_s;
    int64_t pg_statement_timeout_ms;
    int64_t pg_pool;              /* connections kept */
    int64_t timeout_ms;           /* budget of the semantic path (embed + shards) */
    int64_t limit_default;
    int64_t limit_max;
} cs_search_conf_t;

/* The three configuration sections search needs, owned by a cs_conf_t. */
typedef struct cs_search_confs {
    cs_search_conf_t *search;
    cs_embed_conf_t *embed;       /* must match chatstream-embed's (same provider and model) */
    cs_qdrant_conf_t *qdrant;     /* must match chatstream-index's (same urls, same order) */
} cs_search_confs_t;

typedef struct cs_search cs_search_t;

/* Registers the sections ("search", "embeddings provider", "Qdrant") before cs_conf_load. */
void cs_search_add_conf(cs_conf_t *conf, cs_search_confs_t *out);

/* NULL + errstr for configuration errors; nothing is contacted yet. */
cs_search_t *cs_search_new(const cs_search_confs_t *confs, cs_metrics_t *metrics, char *errstr,
                           size_t errstr_size);
void cs_search_destroy(cs_search_t *search);

/*
 * One search on behalf of `user`. allowed_rooms[0..nallowed): the rooms the user may
 * read; allowed_rooms NULL means any room. q: the query text (1..512 bytes of UTF-8);
 * room: NULL or one room; limit: 0 for the default, else 1..search.limit.max.
 * Appends the JSON answer to json_out and returns its HTTP status: 200, 400 (bad
 * parameters), 403 (room not allowed) or 503 (neither path could answer).
 */
int cs_search_query(cs_search_t *search, const char *user, const char *const *allowed_rooms,
                    size_t nallowed, const char *q, const char *room, int limit,
                    cs_buf_t *json_out);

/*
 * The same from a raw URL query string ("q=home%20work&room=r1&limit=5"): decodes
 * and validates the parameters, then cs_search_query. For HTTP front ends.
 */
int cs_search_http(cs_search_t *search, const char *user, const char *const *allowed_rooms,
                   size_t nallowed, const char *query_string, cs_buf_t *json_out);

/* True when the last semantic attempt worked (for /readyz: fulltext-only is degraded). */
bool cs_search_semantic_ok(cs_search_t *search);

/* --- exposed for tests ------------------------------------------------------------ */

/* Decodes one application/x-www-form-urlencoded value; false on a bad %-escape. */
bool cs_url_decode(const char *in, size_t len, char *out, size_t out_size, size_t *out_len);

#endif
