#include "cs_embedder.h"
#include "cs_backoff.h"
#include "cs_httpc.h"
#include "cs_jsonc.h"
#include "cs_log.h"
#include "cs_time.h"
#include "cs_vectors.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


const cs_conf_def_t cs_embed_conf_defs[] = {
    CS_CONF_ROW_STR(cs_embed_conf_t, provider, "embed.provider", "hash", 16,
                    "Embeddings provider: hash (built in, offline, lexical) or openai "
                    "(OpenAI-compatible POST <embed.url>/embeddings)."),
    CS_CONF_ROW_STR(cs_embed_conf_t, model, "embed.model", "text-embedding-3-small", 128,
                    "openai: model name to request (also recorded with every vector)."),
    CS_CONF_ROW_STR(cs_embed_conf_t, url, "embed.url", "", 2048,
                    "openai: base URL of the API, e.g. http://127.0.0.1:8080/v1 (no default "
                    "host)."),
    CS_CONF_ROW_STR(cs_embed_conf_t, api_key_env, "embed.api.key.env", "OPENAI_API_KEY", 128,
                    "openai: environment variable holding the API key (unset: no key sent)."),
    CS_CONF_ROW_STR(cs_embed_conf_t, api_key_file, "embed.api.key.file", "", 4096,
                    "openai: file whose first line is the API key (wins over the variable)."),
    CS_CONF_ROW_INT(cs_embed_conf_t, dim, "embed.dim", "0", 0, CS_VREC_DIM_MAX,
                    "hash: vector dimensions (0: 1024); openai: 'dimensions' to request (0: the "
                    "model's own)."),
    CS_CONF_ROW_INT(cs_embed_conf_t, batch_inputs, "embed.batch.inputs", "128", 1, 2048,
                    "openai: most inputs in one request."),
    CS_CONF_ROW_INT(cs_embed_conf_t, batch_tokens, "embed.batch.tokens", "30000", 100, 1000000,
                    "openai: most estimated tokens (bytes/4) in one request."),
    CS_CONF_ROW_INT(cs_embed_conf_t, inflight, "embed.inflight", "4", 1, 64,
                    "openai: requests in flight at once."),
    CS_CONF_ROW_INT(cs_embed_conf_t, connect_timeout_ms, "embed.connect.timeout.ms", "3000", 10,
                    60000, "openai: TCP/TLS connect timeout."),
    CS_CONF_ROW_INT(cs_embed_conf_t, timeout_ms, "embed.timeout.ms", "30000", 10, 600000,
                    "openai: whole-request timeout."),
    CS_CONF_ROW_INT(cs_embed_conf_t, response_max_bytes, "embed.response.max.bytes", "67108864",
                    1024, 1073741824, "openai: larger responses are refused (the batch is split)."),
    CS_CONF_ROW_INT(cs_embed_conf_t, retries, "embed.retries", "2", 0, 20,
                    "openai: retries of a failed request within one batch attempt."),
    CS_CONF_ROW_INT(cs_embed_conf_t, retry_backoff_ms, "embed.retry.backoff.ms", "200", 1, 60000,
                    "openai: first retry delay (doubles, with jitter)."),
    CS_CONF_ROW_INT(cs_embed_conf_t, retry_backoff_max_ms, "embed.retry.backoff.max.ms", "5000",
                    1, 600000, "openai: longest retry delay."),
    CS_CONF_ROW_INT(cs_embed_conf_t, retry_after_max_ms, "embed.retry.after.max.ms", "5000", 0,
                    600000,
                    "openai: a longer Retry-After is not waited out inside a batch: the batch "
                    "goes back to the framework (partitions paused) until it has passed."),
    CS_CONF_ROW_INT(cs_embed_conf_t, breaker_failures, "embed.breaker.failures", "5", 1, 1000,
                    "openai: consecutive retriable failures that open the circuit."),
    CS_CONF_ROW_INT(cs_embed_conf_t, breaker_open_ms, "embed.breaker.open.ms", "5000", 10,
                    600000, "openai: first open period; a failed probe doubles it."),
    CS_CONF_ROW_INT(cs_embed_conf_t, breaker_open_max_ms, "embed.breaker.open.max.ms", "60000",
                    10, 3600000, "openai: longest open period."),
};
const size_t cs_embed_conf_ndefs = sizeof(cs_embed_conf_defs) / sizeof(cs_embed_conf_defs[0]);

struct cs_embedder {
    const cs_embed_conf_t *conf;
    bool hash;
    char model[CS_MODEL_MAX + 1];
    char endpoint[2100];              /* <url>/embeddings */
    char auth[1100];                  /* "Authorization: Bearer ..." or "" */
    _Atomic uint32_t dim;             /* learned from the first response (openai) */
    cs_breaker_t breaker;
    cs_backoff_t backoff_proto;       /* copied per request */
    cs_httpc_pool_t pool;

    cs_histogram_t *m_seconds;
    cs_histogram_t *m_inputs;
    cs_counter_t *m_inputs_total;
    cs_counter_t *m_opens;
    cs_metrics_t *metrics;
    char labels[96];
};

/* ---- hash provider ------------------------------------------------------------------ */

uint64_t cs_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* splitmix64's finaliser: a second, independent-looking hash of a word from its first. */
static uint64_t cs_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static bool cs_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

void cs_embed_hash(const char *text, size_t len, uint32_t dim, float *out)
{
    memset(out, 0, dim * sizeof(float));
    char word[256];
    size_t i = 0, words = 0;
    while (i < len) {
        while (i < len && !cs_word_byte((unsigned char)text[i]))
            i++;
        size_t wl = 0;
        while (i < len && cs_word_byte((unsigned char)text[i])) {
            unsigned char c = (unsigned char)text[i++];
            if (wl < sizeof(word)) /* longer words are hashed on their first 256 bytes */
                word[wl++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        if (wl == 0)
            continue;
        /* Two signed buckets per word (the second from a mixed hash): a word that collides
         * with another in one bucket shares only half its weight with it. */
        uint64_t h = cs_fnv1a64(word, wl);
        uint64_t g = cs_mix64(h);
        out[h % dim] += (h >> 63) ? -1.0f : 1.0f;
        out[g % dim] += (g >> 63) ? -1.0f : 1.0f;
        words++;
    }
    if (words == 0) { /* punctuation only: a fixed direction of its own, never a zero vector */
        uint64_t h = cs_fnv1a64("\0", 1);
        out[h % dim] = 1.0f;
    }
    double norm = 0;
    for (uint32_t d = 0; d < dim; d++)
        norm += (double)out[d] * out[d];
    if (norm == 0) { /* every word cancelled out in its bucket */
        out[0] = 1.0f;
        return;
    }
    float inv = (float)(1.0 / sqrt(norm));
    for (uint32_t d = 0; d < dim; d++)
        out[d] *= inv;
}

/* ---- response parsing --------------------------------------------------------------- */

cs_err_t cs_embed_parse_response(const char *body, size_t len, size_t n, uint32_t expect_dim,
                                 float **vecs, uint32_t *dim, char *errstr, size_t errstr_size)
{
    *vecs = NULL;
    *dim = 0;
    cs_err_t rc = CS_ERR_BAD_JSON;
    float *out = NULL;
    bool *seen = NULL;
    struct json_object *root = cs_jsonc_parse(body, len, 8, errstr, errstr_size);
    if (!root)
        return CS_ERR_BAD_JSON;
    struct json_object *data = cs_jsonc_get(root, "data", json_type_array);
    if (!data) {
        snprintf(errstr, errstr_size, "no 'data' array");
        goto done;
    }
    if (json_object_array_length(data) != n) {
        snprintf(errstr, errstr_size, "%zu embeddings for %zu inputs",
                 json_object_array_length(data), n);
        goto done;
    }
    seen = calloc(n ? n : 1, sizeof(*seen));
    if (!seen) {
        rc = CS_ERR_NOMEM;
        goto done;
    }
    uint32_t d = expect_dim;
    for (size_t k = 0; k < n; k++) {
        struct json_object *item = json_object_array_get_idx(data, k);
        struct json_object *jidx = cs_jsonc_get(item, "index", json_type_int);
        struct json_object *emb = cs_jsonc_get(item, "embedding", json_type_array);
        if (!jidx || !emb) {
            snprintf(errstr, errstr_size, "data[%zu]: needs integer 'index' and array 'embedding'",
                     k);
            goto done;
        }
        int64_t idx = json_object_get_int64(jidx);
        if (idx < 0 || (uint64_t)idx >= n || seen[idx]) {
            snprintf(errstr, errstr_size, "data[%zu]: index %lld out of range or repeated", k,
                     (long long)idx);
            goto done;
        }
        seen[idx] = true;
        size_t m = json_object_array_length(emb);
        if (d == 0) {
            if (m < 1 || m > CS_VREC_DIM_MAX) {
                snprintf(errstr, errstr_size, "data[%zu]: %zu dimensions (1..%d allowed)", k, m,
                         CS_VREC_DIM_MAX);
                goto done;
            }
            d = (uint32_t)m;
        }
        if (m != d) {
            snprintf(errstr, errstr_size, "data[%zu]: %zu dimensions, expected %u", k, m, d);
            goto done;
        }
        if (!out && !(out = malloc((size_t)n * d * sizeof(float)))) {
            rc = CS_ERR_NOMEM;
            goto done;
        }
        float *v = out + (size_t)idx * d;
        bool nonzero = false;
        for (size_t j = 0; j < m; j++) {
            double x;
            if (!cs_jsonc_number(json_object_array_get_idx(emb, j), &x) || !isfinite(x) ||
                fabs(x) > FLT_MAX) {
                snprintf(errstr, errstr_size, "data[%zu].embedding[%zu]: not a finite float", k,
                         j);
                goto done;
            }
            v[j] = (float)x;
            nonzero = nonzero || v[j] != 0.0f;
        }
        if (!nonzero) {
            snprintf(errstr, errstr_size, "data[%zu]: all-zero embedding", k);
            goto done;
        }
    }
    if (n == 0) {
        snprintf(errstr, errstr_size, "no inputs");
        goto done;
    }
    *vecs = out;
    *dim = d;
    out = NULL;
    rc = CS_ERR_OK;
done:
    free(out);
    free(seen);
    json_object_put(root);
    return rc;
}

bool cs_embed_parse_error(const char *body, size_t len, char *out, size_t out_size)
{
    char ignore[64];
    out[0] = '\0';
    struct json_object *root = cs_jsonc_parse(body, len, 8, ignore, sizeof(ignore));
    if (!root)
        return false;
    struct json_object *err = NULL;
    const char *msg = NULL;
    size_t mlen = 0;
    if ((err = cs_jsonc_get(root, "error", json_type_object)))
        msg = cs_jsonc_string(cs_jsonc_get(err, "message", json_type_string), &mlen);
    else if ((err = cs_jsonc_get(root, "error", json_type_string)))
        msg = cs_jsonc_string(err, &mlen);
    if (msg) {
        /* printable, bounded: it ends up in DLQ headers and logs */
        size_t n = 0;
        for (size_t i = 0; i < mlen && n + 1 < out_size; i++)
            out[n++] = (unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f ? msg[i] : ' ';
        out[n] = '\0';
    }
    json_object_put(root);
    return msg != NULL;
}

/* ---- set-up ------------------------------------------------------------------------- */

static double cs_embed_breaker_gauge(void *arg)
{
    return (double)cs_breaker_state(&((cs_embedder_t *)arg)->breaker);
}

cs_embedder_t *cs_embedder_new(const cs_embed_conf_t *conf, cs_metrics_t *metrics,
                               const char *component, char *errstr, size_t errstr_size)
{
    cs_embedder_t *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    e->conf = conf;
    e->metrics = metrics;
    cs_httpc_global_init();
    cs_httpc_pool_init(&e->pool, (long)conf->inflight + 1);
    cs_breaker_init(&e->breaker, (int)conf->breaker_failures, conf->breaker_open_ms,
                    conf->breaker_open_max_ms);
    if (strcmp(conf->provider, "hash") == 0) {
        /* 1024 buckets: with two per word, an unrelated word shares a bucket with a given
         * word about once in 256 words; at 256 dimensions it was visible in rankings. */
        e->hash = true;
        snprintf(e->model, sizeof(e->model), "%s", CS_HASH_MODEL);
        atomic_store(&e->dim, conf->dim > 0 ? (uint32_t)conf->dim : CS_HASH_DIM_DEFAULT);
    } else if (strcmp(conf->provider, "openai") == 0) {
        if (!conf->url || !*conf->url) {
            snprintf(errstr, errstr_size, "embed.url is required for the openai provider");
            goto fail;
        }
        if (strncmp(conf->url, "http://", 7) != 0 && strncmp(conf->url, "https://", 8) != 0) {
            snprintf(errstr, errstr_size, "embed.url must start with http:// or https://");
            goto fail;
        }
        if (!cs_model_valid(conf->model, strlen(conf->model))) {
            snprintf(errstr, errstr_size, "embed.model: must be 1-%d bytes of "
                     "[A-Za-z0-9_.:@|+/-]", CS_MODEL_MAX);
            goto fail;
        }
        size_t ul = strlen(conf->url);
        snprintf(e->endpoint, sizeof(e->endpoint), "%.*s/embeddings",
                 (int)(ul && conf->url[ul - 1] == '/' ? ul - 1 : ul), conf->url);
        snprintf(e->model, sizeof(e->model), "%s", conf->model);
        char key[1024];
        if (!cs_httpc_read_secret(conf->api_key_env, conf->api_key_file, key, sizeof(key), errstr,
                                  errstr_size))
            goto fail;
        if (*key)
            snprintf(e->auth, sizeof(e->auth), "Authorization: Bearer %s", key);
        if (conf->dim > 0)
            atomic_store(&e->dim, (uint32_t)conf->dim);
    } else {
        snprintf(errstr, errstr_size, "embed.provider: '%s' is not hash or openai",
                 conf->provider);
        goto fail;
    }
    snprintf(e->labels, sizeof(e->labels), "component=\"%s\",provider=\"%s\"", component,
             conf->provider);
    e->m_seconds = cs_metrics_histogram(metrics, "chatstream_embed_request_seconds", e->labels,
                                        "Time of one embeddings request (hash: one batch).",
                                        cs_metrics_latency_buckets, cs_metrics_latency_nbuckets);
    e->m_inputs = cs_metrics_histogram(metrics, "chatstream_embed_request_inputs", e->labels,
                                       "Inputs per embeddings request.",
                                       (const double[]){1, 4, 16, 64, 128, 256, 512, 1024, 2048},
                                       9);
    e->m_inputs_total = cs_metrics_counter(metrics, "chatstream_embed_inputs_total", e->labels,
                                           "Texts embedded.");
    e->m_opens = cs_metrics_counter(metrics, "chatstream_embed_breaker_opens_total", e->labels,
                                    "Times the provider's circuit breaker opened.");
    cs_metrics_gauge_fn(metrics, "chatstream_embed_breaker_state", e->labels,
                        "Provider circuit breaker: 0 closed, 1 open, 2 half-open.",
                        cs_embed_breaker_gauge, e);
    cs_backoff_init(&e->backoff_proto, conf->retry_backoff_ms, conf->retry_backoff_max_ms);
    return e;
fail:
    cs_embedder_destroy(e);
    return NULL;
}

void cs_embedder_destroy(cs_embedder_t *e)
{
    if (!e)
        return;
    cs_httpc_pool_destroy(&e->pool);
    cs_breaker_destroy(&e->breaker);
    free(e);
}

const char *cs_embedder_model(const cs_embedder_t *e)
{
    return e->model;
}

const char *cs_embedder_provider(const cs_embedder_t *e)
{
    return e->conf->provider;
}

cs_breaker_state_t cs_embedder_breaker_state(cs_embedder_t *e)
{
    return cs_breaker_state(&e->breaker);
}

static void cs_embed_error_count(cs_embedder_t *e, const char *kind)
{
    char l[160];
    snprintf(l, sizeof(l), "%s,kind=\"%s\"", e->labels, kind);
    cs_counter_inc(cs_metrics_counter(e->metrics, "chatstream_embed_errors_total", l,
                                      "Failed embeddings requests, by kind."));
}

/* ---- the openai call ---------------------------------------------------------------- */

typedef enum { G_PENDING, G_INFLIGHT, G_DONE, G_GAVE_UP, G_REJECTED } cs_group_state_t;

typedef struct cs_embed_group {
    size_t first, count;
    cs_group_state_t st;
    int attempt;
    int64_t ready_at;             /* monotonic ms: not before */
    cs_backoff_t backoff;
    cs_httpc_req_t req;
} cs_embed_group_t;

typedef struct cs_embed_call {
    cs_embedder_t *e;
    cs_embed_item_t *items;
    cs_embed_group_t *groups;
    size_t ngroups;
    int inflight;
    int64_t deadline;
    cs_embed_sink_fn sink;
    void *arg;
    cs_err_t retriable;           /* the not-done status to report */
    char last_error[256];
} cs_embed_call_t;

static void cs_embed_give_up(cs_embed_call_t *call, cs_embed_group_t *g, cs_err_t why,
                             const char *reason)
{
    g->st = G_GAVE_UP;
    for (size_t i = g->first; i < g->first + g->count; i++) {
        call->items[i].status = why;
        snprintf(call->items[i].reason, sizeof(call->items[i].reason), "%s", reason);
    }
    if (call->retriable == CS_ERR_OK || why == CS_ERR_UNAVAILABLE)
        call->retriable = why;
    snprintf(call->last_error, sizeof(call->last_error), "%s", reason);
}

static bool cs_embed_build(cs_embed_call_t *call, cs_embed_group_t *g, size_t k)
{
    cs_embedder_t *e = call->e;
    const char *headers[2] = {e->auth[0] ? e->auth : NULL, NULL};
    cs_httpc_opts_t opts = {e->conf->connect_timeout_ms, e->conf->timeout_ms,
                            e->conf->response_max_bytes};
    if (!cs_httpc_req_init(&g->req, "POST", e->endpoint, headers, &opts))
        return false;
    cs_buf_t *b = &g->req.body;
    cs_buf_puts(b, "{\"model\":");
    cs_buf_put_json_str(b, e->model, strlen(e->model));
    cs_buf_puts(b, ",\"input\":[");
    for (size_t i = 0; i < g->count; i++) {
        if (i)
            cs_buf_putc(b, ',');
        const cs_embed_item_t *it = &call->items[g->first + i];
        cs_buf_put_json_str(b, it->text, it->len);
    }
    cs_buf_puts(b, "],\"encoding_format\":\"float\"");
    if (e->conf->dim > 0)
        cs_buf_printf(b, ",\"dimensions\":%lld", (long long)e->conf->dim);
    cs_buf_putc(b, '}');
    g->req.owner = call;
    g->req.index = k; /* after init, which zeroes the request */
    return !b->oom;
}

static void cs_embed_done(cs_httpc_req_t *req, void *varg)
{
    cs_embed_call_t *call = varg;
    cs_embedder_t *e = call->e;
    cs_embed_group_t *g = &call->groups[req->index];
    call->inflight--;
    int64_t now = cs_mono_ms();
    cs_histogram_observe(e->m_seconds, (double)req->elapsed_us / 1e6);
    const char *kind;
    cs_httpc_class_t cls = cs_httpc_classify(req, &kind);
    char why[256];
    if (cls == CS_HTTPC_OK) {
        float *vecs = NULL;
        uint32_t dim = 0;
        char perr[160];
        cs_err_t prc = cs_embed_parse_response(req->resp.data, req->resp.len, g->count,
                                               atomic_load(&e->dim), &vecs, &dim, perr,
                                               sizeof(perr));
        if (prc == CS_ERR_OK) {
            uint32_t zero = 0;
            atomic_compare_exchange_strong(&e->dim, &zero, dim);
            for (size_t i = 0; i < g->count; i++) {
                call->items[g->first + i].status = CS_ERR_OK;
                call->sink(call->arg, g->first + i, vecs + i * dim, dim);
            }
            free(vecs);
            cs_breaker_success(&e->breaker, now);
            cs_histogram_observe(e->m_inputs, (double)g->count);
            cs_counter_add(e->m_inputs_total, g->count);
            g->st = G_DONE;
            cs_httpc_req_cleanup(&g->req);
            return;
        }
        /* A 200 we cannot use: a broken or truncated answer. Retriable (a healthy provider
         * answers properly); never blamed on the input. */
        kind = "bad_response";
        cls = CS_HTTPC_RETRY;
        snprintf(why, sizeof(why), "unusable response: %s", perr);
    } else {
        cs_httpc_describe(req, why, sizeof(why));
        char apimsg[200];
        if (req->resp.len && cs_embed_parse_error(req->resp.data, req->resp.len, apimsg,
                                                  sizeof(apimsg)))
            snprintf(why, sizeof(why), "HTTP %ld: %s", req->status, apimsg);
    }
    cs_embed_error_count(e, kind);

    if (cls == CS_HTTPC_REJECT) {
        /* The provider is up and refuses this content: not a breaker failure. */
        cs_breaker_success(&e->breaker, now);
        if (g->count == 1) {
            cs_embed_item_t *it = &call->items[g->first];
            it->status = CS_ERR_REJECTED;
            snprintf(it->reason, sizeof(it->reason), "embeddings provider refused the input: %s",
                     why);
            g->st = G_DONE;
        } else {
            g->st = G_REJECTED;
            snprintf(call->last_error, sizeof(call->last_error), "%zu inputs refused: %s",
                     g->count, why);
        }
        cs_httpc_req_cleanup(&g->req);
        return;
    }
    uint64_t opened = cs_breaker_opened(&e->breaker);
    cs_breaker_failure(&e->breaker, now, req->retry_after_ms);
    if (cs_breaker_opened(&e->breaker) != opened) {
        cs_counter_inc(e->m_opens);
        cs_log(CS_LOG_WARN, "embed", "provider circuit opened after %s (%s)", kind, why);
    }
    if (cls == CS_HTTPC_FATAL)
        cs_log(CS_LOG_ERROR, "embed", "%s: %s (configuration? retrying, never dead-lettering)",
               e->endpoint, why);
    int64_t delay = cs_backoff_next(&g->backoff);
    if (req->retry_after_ms > delay)
        delay = req->retry_after_ms;
    bool can_retry = cls == CS_HTTPC_RETRY && g->attempt < e->conf->retries &&
                     (req->retry_after_ms < 0 || req->retry_after_ms <= e->conf->retry_after_max_ms) &&
                     (call->deadline == 0 || now + delay < call->deadline);
    cs_httpc_req_cleanup(&g->req);
    if (can_retry) {
        g->attempt++;
        g->ready_at = now + delay;
        g->st = G_PENDING;
        snprintf(call->last_error, sizeof(call->last_error), "%s", why);
        return;
    }
    char reason[200];
    snprintf(reason, sizeof(reason), "embeddings provider failing (%s): %s", kind, why);
    cs_embed_give_up(call, g, strcmp(kind, "timeout") == 0 ? CS_ERR_TIMEOUT : CS_ERR_UNAVAILABLE,
                     reason);
}

static cs_err_t cs_embed_openai(cs_embedder_t *e, cs_embed_item_t *items, size_t n,
                                int64_t deadline, cs_embed_sink_fn sink, void *arg, char *errstr,
                                size_t errstr_size)
{
    /* Pack consecutive inputs into requests by count and estimated tokens. */
    cs_embed_group_t *groups = calloc(n, sizeof(*groups));
    CURLM *multi = cs_httpc_pool_get(&e->pool);
    if (!groups || !multi) {
        free(groups);
        if (multi)
            cs_httpc_pool_put(&e->pool, multi);
        snprintf(errstr, errstr_size, "out of memory");
        return CS_ERR_NOMEM;
    }
    cs_embed_call_t call = {.e = e, .items = items, .groups = groups, .deadline = deadline,
                            .sink = sink, .arg = arg};
    for (size_t i = 0; i < n;) {
        cs_embed_group_t *g = &groups[call.ngroups];
        g->first = i;
        g->backoff = e->backoff_proto;
        int64_t tokens = 0;
        while (i < n && g->count < (size_t)e->conf->batch_inputs) {
            int64_t t = (int64_t)items[i].len / 4 + 1;
            if (g->count > 0 && tokens + t > e->conf->batch_tokens)
                break;
            tokens += t;
            g->count++;
            i++;
        }
        call.ngroups++;
    }
    for (size_t i = 0; i < n; i++)
        items[i].status = CS_ERR_TRANSIENT; /* not done until it is */

    for (;;) {
        int64_t now = cs_mono_ms();
        int64_t next = INT64_MAX; /* earliest time a pending request could start */
        size_t pending = 0;
        for (size_t k = 0; k < call.ngroups; k++) {
            cs_embed_group_t *g = &groups[k];
            if (g->st != G_PENDING)
                continue;
            pending++;
            if (deadline && now >= deadline) {
                cs_embed_give_up(&call, g, CS_ERR_TIMEOUT, "batch deadline passed before the "
                                 "request could be sent");
                continue;
            }
            if (g->ready_at > now) {
                next = g->ready_at < next ? g->ready_at : next;
                continue;
            }
            if (call.inflight >= e->conf->inflight)
                continue;
            int64_t wait;
            if (!cs_breaker_allow(&e->breaker, now, &wait)) {
                bool short_wait = wait <= e->conf->retry_after_max_ms &&
                                  (!deadline || now + wait < deadline);
                if (call.inflight == 0 && !short_wait) {
                    char reason[200];
                    snprintf(reason, sizeof(reason), "embeddings provider circuit %s; next try "
                             "in %lld ms%s%s", cs_breaker_state_name(cs_breaker_state(&e->breaker)),
                             (long long)wait, call.last_error[0] ? "; last error: " : "",
                             call.last_error);
                    cs_embed_give_up(&call, g, CS_ERR_UNAVAILABLE, reason);
                    continue;
                }
                g->ready_at = now + (wait > 0 ? wait : 50);
                next = g->ready_at < next ? g->ready_at : next;
                continue;
            }
            if (!cs_embed_build(&call, g, k) || !cs_httpc_add(multi, &g->req)) {
                cs_breaker_cancel(&e->breaker);
                cs_httpc_req_cleanup(&g->req);
                cs_embed_give_up(&call, g, CS_ERR_NOMEM, "out of memory building a request");
                continue;
            }
            g->st = G_INFLIGHT;
            call.inflight++;
        }
        if (call.inflight == 0) {
            bool any_pending = false;
            for (size_t k = 0; k < call.ngroups; k++)
                any_pending = any_pending || groups[k].st == G_PENDING;
            if (!any_pending)
                break;
            /* nothing in flight: sleep until the earliest pending request may go */
            int64_t until = next == INT64_MAX ? now + 50 : next;
            if (deadline && until > deadline)
                until = deadline;
            if (until > now)
                usleep((useconds_t)((until - now) * 1000));
            continue;
        }
        int wait_ms = 100;
        if (next != INT64_MAX && next - now < wait_ms)
            wait_ms = next - now > 0 ? (int)(next - now) : 0;
        cs_httpc_run(multi, wait_ms, cs_embed_done, &call);
        (void)pending;
    }
    cs_httpc_pool_put(&e->pool, multi);

    cs_err_t rc = CS_ERR_OK;
    bool rejected_multi = false;
    for (size_t k = 0; k < call.ngroups; k++)
        rejected_multi = rejected_multi || groups[k].st == G_REJECTED;
    if (call.retriable != CS_ERR_OK) {
        rc = call.retriable;
        snprintf(errstr, errstr_size, "%s", call.last_error);
    } else if (rejected_multi) {
        rc = CS_ERR_REJECTED;
        snprintf(errstr, errstr_size, "%s", call.last_error);
    }
    free(groups);
    return rc;
}

cs_err_t cs_embedder_embed(cs_embedder_t *e, cs_embed_item_t *items, size_t n,
                           int64_t deadline_ms, cs_embed_sink_fn sink, void *arg, char *errstr,
                           size_t errstr_size)
{
    if (n == 0)
        return CS_ERR_OK;
    if (!e->hash)
        return cs_embed_openai(e, items, n, deadline_ms, sink, arg, errstr, errstr_size);
    uint32_t dim = atomic_load(&e->dim);
    float *vec = malloc(dim * sizeof(float));
    if (!vec) {
        snprintf(errstr, errstr_size, "out of memory");
        return CS_ERR_NOMEM;
    }
    int64_t t0 = cs_mono_us();
    for (size_t i = 0; i < n; i++) {
        cs_embed_hash(items[i].text, items[i].len, dim, vec);
        items[i].status = CS_ERR_OK;
        sink(arg, i, vec, dim);
    }
    free(vec);
    cs_histogram_observe(e->m_seconds, (double)(cs_mono_us() - t0) / 1e6);
    cs_histogram_observe(e->m_inputs, (double)n);
    cs_counter_add(e->m_inputs_total, n);
    return CS_ERR_OK;
}
