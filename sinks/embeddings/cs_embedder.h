/*
 * cs_embedder — turns texts into vectors, for chatstream-embed (batches of
 * messages) and for search (one query). Two providers behind one call:
 *
 *   openai  POST <embed.url>/embeddings, the OpenAI embeddings API, which OpenAI
 *           and local servers (text-embeddings-inference, Ollama, vLLM) speak.
 *           Inputs are packed into requests by count and by an estimated token
 *           budget; up to embed.inflight requests run at once (libcurl multi);
 *           retriable failures (429, 408, 5xx, connection, timeout, truncated
 *           or malformed body) are retried with capped exponential backoff and
 *           jitter, never sooner than Retry-After / retry-after-ms; a circuit
 *           breaker stops all requests while the provider is down, and the
 *           caller hands the batch back to the consumer framework, which pauses
 *           the partitions (consumption stops instead of burning the backlog).
 *   hash    built in, offline, deterministic: words (lowercased ASCII letters and
 *           digits; other UTF-8 kept as is) hashed into `embed.dim` signed
 *           buckets, two per word (feature hashing), L2-normalised. It is LEXICAL: texts that
 *           share words are close, synonyms are not. Model "lexical-hash-v1".
 *
 * Thread-safe: search threads share one embedder (and so one breaker).
 */
#ifndef CS_EMBEDDER_H
#define CS_EMBEDDER_H

#include "cs_breaker.h"
#include "cs_conf.h"
#include "cs_err.h"
#include "cs_metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_HASH_MODEL "lexical-hash-v1"
#define CS_HASH_DIM_DEFAULT 1024

typedef struct cs_embed_conf {
    char *provider;               /* "hash" or "openai" */
    char *model;                  /* openai: the model to ask for */
    char *url;                    /* openai: base URL, e.g. http://127.0.0.1:8080/v1 */
    char *api_key_env;            /* openai: environment variable holding the key */
    char *api_key_file;           /* openai: or a file whose first line is the key */
    int64_t dim;                  /* hash: dimensions (0: 1024); openai: "dimensions" to request (0: model's) */
    int64_t batch_inputs;         /* inputs per request */
    int64_t batch_tokens;         /* estimated tokens per request */
    int64_t inflight;             /* requests in flight at once */
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    int64_t response_max_bytes;
    int64_t retries;              /* retries of one request within one call */
    int64_t retry_backoff_ms;
    int64_t retry_backoff_max_ms;
    int64_t retry_after_max_ms;   /* a longer Retry-After ends the call (the framework waits) */
    int64_t breaker_failures;
    int64_t breaker_open_ms;
    int64_t breaker_open_max_ms;
} cs_embed_conf_t;

extern const cs_conf_def_t cs_embed_conf_defs[];
extern const size_t cs_embed_conf_ndefs;

/* One input. `status` and `reason` are outputs. */
typedef struct cs_embed_item {
    const char *text;
    size_t len;
    cs_err_t status;              /* OK: vector delivered; REJECTED: refused on its own; else not done */
    char reason[200];
} cs_embed_item_t;

/* Receives the vector of items[index] (dim values, valid during the call only). */
typedef void (*cs_embed_sink_fn)(void *arg, size_t index, const float *vec, uint32_t dim);

typedef struct cs_embedder cs_embedder_t;

/* NULL + errstr for configuration errors (the provider is not contacted here).
 * `component` labels the metrics ("embed", "search"). */
cs_embedder_t *cs_embedder_new(const cs_embed_conf_t *conf, cs_metrics_t *metrics,
                               const char *component, char *errstr, size_t errstr_size);
void cs_embedder_destroy(cs_embedder_t *embedder);
/* The model name written into chat.vectors. */
const char *cs_embedder_model(const cs_embedder_t *embedder);
const char *cs_embedder_provider(const cs_embedder_t *embedder);
cs_breaker_state_t cs_embedder_breaker_state(cs_embedder_t *embedder);

/*
 * Embeds items[0..n); each vector goes to sink(arg, i, vec, dim) as it arrives.
 * No new request starts after `deadline_ms` (monotonic ms; 0: no deadline).
 * Returns:
 *   CS_ERR_OK        every item is OK, or REJECTED on its own (reason says why);
 *   CS_ERR_REJECTED  a request of several inputs was refused (400/413/422): those
 *                    items are not done; split them to find the input at fault;
 *   retriable        (UNAVAILABLE, TIMEOUT) some items are not done: the provider is
 *                    failing or the breaker is open; errstr says why and when.
 */
cs_err_t cs_embedder_embed(cs_embedder_t *embedder, cs_embed_item_t *items, size_t n,
                           int64_t deadline_ms, cs_embed_sink_fn sink, void *arg, char *errstr,
                           size_t errstr_size);

/* --- exposed for tests and fuzzing ------------------------------------------------ */

/* The hash provider: writes dim floats (L2 norm 1) for text[0..len). */
void cs_embed_hash(const char *text, size_t len, uint32_t dim, float *out);
/* FNV-1a 64 (also the shard key hash: see cs_qdrant.h). */
uint64_t cs_fnv1a64(const void *data, size_t len);
/*
 * Parses an OpenAI embeddings response for n inputs: *vecs gets n * *dim floats in
 * input order (malloc'd; the caller frees). expect_dim 0: any, but the same for all.
 */
cs_err_t cs_embed_parse_response(const char *body, size_t len, size_t n, uint32_t expect_dim,
                                 float **vecs, uint32_t *dim, char *errstr, size_t errstr_size);
/* The API's own error message from an error body ({"error":{"message":..}} or {"error":".."}). */
bool cs_embed_parse_error(const char *body, size_t len, char *out, size_t out_size);

#endif
