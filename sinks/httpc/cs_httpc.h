/*
 * cs_httpc — the HTTP client side of chatstream: the calls to external APIs
 * (the embeddings provider, the Qdrant shards) made with libcurl's multi
 * interface, so several requests are in flight on one thread.
 *
 * Every request is bounded the same way, once, here: a connect timeout, a
 * whole-transfer timeout, a response-size cap (checked against Content-Length
 * up front and while receiving), no redirects, http/https only, CURLOPT_NOSIGNAL.
 * `Retry-After` (seconds or an HTTP date) and `retry-after-ms` are captured.
 * cs_httpc_classify() turns the outcome into what the caller should do:
 *
 *   OK      2xx with the whole body;
 *   RETRY   408, 429, 5xx, connection refused/reset, timeout, truncated body —
 *           the same request may succeed later (count it against a breaker);
 *   REJECT  400, 413, 422, or a response over the size cap — this request's
 *           content is refused: a smaller or different request may pass
 *           (the processors split the batch to find the input at fault);
 *   FATAL   401, 403, 404, other 4xx, redirects — configuration, not input:
 *           retried (never dead-lettered) but reported loudly.
 *
 * Not thread-safe per request; a CURLM and its requests belong to one thread.
 */
#ifndef CS_HTTPC_H
#define CS_HTTPC_H

#include "cs_buf.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_httpc_opts {
    int64_t connect_timeout_ms;
    int64_t timeout_ms;           /* the whole transfer, including waiting for the answer */
    int64_t max_response_bytes;
} cs_httpc_opts_t;

typedef enum {
    CS_HTTPC_OK,
    CS_HTTPC_RETRY,
    CS_HTTPC_REJECT,
    CS_HTTPC_FATAL,
} cs_httpc_class_t;

typedef struct cs_httpc_req {
    CURL *easy;
    struct curl_slist *headers;
    cs_buf_t body;                /* request body, owned */
    cs_buf_t resp;                /* response body */
    size_t max_bytes;
    bool too_large;               /* the response passed max_bytes; transfer aborted */
    long status;                  /* HTTP status, 0 if none was received */
    CURLcode result;
    int64_t retry_after_ms;       /* from the response headers; -1 when absent */
    int64_t started_us;           /* monotonic, set by cs_httpc_add */
    int64_t elapsed_us;           /* set when done */
    char error[CURL_ERROR_SIZE];
    void *owner;                  /* the caller's cookie */
    size_t index;                 /* the caller's cookie */
} cs_httpc_req_t;

/* curl_global_init, once per process (call from set-up code, before any request). */
void cs_httpc_global_init(void);

/* A few idle curl multi handles kept for reuse: each keeps its connections alive, so a
 * caller that runs requests from several threads (search) or one batch after another
 * (embed, index) does not reconnect every time. Thread-safe. */
#define CS_HTTPC_POOL_MAX 8
typedef struct cs_httpc_pool {
    pthread_mutex_t lock;
    CURLM *idle[CS_HTTPC_POOL_MAX];
    size_t nidle;
    long maxconnects; /* CURLMOPT_MAXCONNECTS of each new handle */
} cs_httpc_pool_t;

void cs_httpc_pool_init(cs_httpc_pool_t *pool, long maxconnects);
void cs_httpc_pool_destroy(cs_httpc_pool_t *pool);
/* An idle handle, or a new one; NULL when out of memory. */
CURLM *cs_httpc_pool_get(cs_httpc_pool_t *pool);
/* Back to the pool (or cleaned up when the pool is full). */
void cs_httpc_pool_put(cs_httpc_pool_t *pool, CURLM *multi);

/*
 * Prepares `req` (zeroed by the caller or a previous cleanup) for `method` on `url`
 * with the given extra header lines (NULL-terminated; may be NULL). The body, if
 * any, is appended to req->body before cs_httpc_add. False when out of memory.
 */
bool cs_httpc_req_init(cs_httpc_req_t *req, const char *method, const char *url,
                       const char *const *headers, const cs_httpc_opts_t *opts);
/* Frees what the request holds and zeroes it. NULL-safe and idempotent. */
void cs_httpc_req_cleanup(cs_httpc_req_t *req);

/* Starts the request on `multi`. */
bool cs_httpc_add(CURLM *multi, cs_httpc_req_t *req);
/*
 * Drives `multi` for up to `timeout_ms`, calling done(req, arg) for each request
 * that finished (already removed from the multi handle). Returns the number of
 * requests still running.
 */
int cs_httpc_run(CURLM *multi, int timeout_ms, void (*done)(cs_httpc_req_t *req, void *arg),
                 void *arg);

/* What to do about a finished request; *kind gets a stable label for metrics/logs
 * ("ok", "rate_limited", "server", "timeout", "connection", "truncated", "too_large",
 * "rejected", "auth", "not_found", "client", "redirect"). */
cs_httpc_class_t cs_httpc_classify(const cs_httpc_req_t *req, const char **kind);
/* One line describing a failed request, e.g. "HTTP 503: <body excerpt>" or "timeout after 5000 ms". */
void cs_httpc_describe(const cs_httpc_req_t *req, char *out, size_t out_size);

/* Parses a Retry-After value (delta-seconds or HTTP-date) relative to now; -1 if invalid. */
int64_t cs_httpc_parse_retry_after(const char *value, size_t len, int64_t now_unix_s);

/* Reads a secret: the file's first line if `file` is set, else $env if set; "" if neither.
 * Returns false (errstr) when the file is named but unreadable or empty. */
bool cs_httpc_read_secret(const char *env, const char *file, char *out, size_t out_size,
                          char *errstr, size_t errstr_size);

#endif
