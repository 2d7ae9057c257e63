/*
 * chatstream-embed: chat.messages -> embeddings provider -> chat.vectors.
 *
 * The framework hands us batches (by count, bytes and linger time). Each batch:
 *   1. envelopes decoded; a record that is not one is dead-lettered with the reason;
 *   2. texts embedded by cs_embedder (openai: packed into requests by count and
 *      token budget, several in flight, retries with backoff and Retry-After, a
 *      circuit breaker; hash: computed here);
 *   3. one chat.vectors record per message (key = user), produced and flushed;
 *   4. only then is the batch done and its offsets stored.
 * When the provider fails, process() returns a retriable error: the framework
 * pauses the partitions and retries the batch later, while the breaker keeps
 * requests from going out until the provider is back (no request storm, no
 * burning through the backlog). When the provider refuses a request of several
 * inputs (400/413/422), process() returns CS_ERR_REJECTED: the framework splits
 * the batch until the input at fault is alone; refused alone, it is dead-lettered
 * with the provider's message.
 *
 * Vectors already bought survive a failed attempt: they are kept (bounded) by
 * message id until the record is produced, so a retry or a split does not pay
 * the provider twice for the same message.
 */
#include "cs_embedder.h"
#include "cs_envelope_batch.h"
#include "cs_log.h"
#include "cs_processor.h"
#include "cs_time.h"
#include "cs_uuid.h"
#include "cs_vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cs_embed_pconf {
    char *output_topic;
    int64_t deadline_ms;
    int64_t cache_max;
    cs_embed_conf_t *embed;       /* the embeddings section, owned by the config */
} cs_embed_pconf_t;

static const cs_conf_def_t cs_embed_pdefs[] = {
    CS_CONF_ROW_STR(cs_embed_pconf_t, output_topic, "output.topic", "chat.vectors", 200,
                    "Topic for the vectors, without the prefix."),
    CS_CONF_ROW_INT(cs_embed_pconf_t, deadline_ms, "embed.deadline.ms", "60000", 100, 3600000,
                    "No provider request starts later than this into a batch attempt; what is "
                    "left is retried by the framework."),
    CS_CONF_ROW_INT(cs_embed_pconf_t, cache_max, "embed.cache.max", "100000", 0, 10000000,
                    "Vectors kept across failed attempts so retries do not re-embed (0: off)."),
};

/* ---- the retry cache: message id -> vector ----------------------------------------- */

typedef struct cs_vcache_entry {
    uint8_t id[16];
    uint32_t dim;
    struct cs_vcache_entry *chain;  /* next in the bucket */
    struct cs_vcache_entry *newer;  /* FIFO, for eviction */
    struct cs_vcache_entry *older;
    float vec[];
} cs_vcache_entry_t;

typedef struct cs_vcache {
    cs_vcache_entry_t **buckets;
    size_t nbuckets;                /* power of two */
    size_t count, max;
    cs_vcache_entry_t *oldest, *newest;
} cs_vcache_t;

static size_t cs_vcache_slot(const cs_vcache_t *c, const uint8_t id[16])
{
    uint64_t h;
    memcpy(&h, id + 8, sizeof(h)); /* the random half of a UUIDv7 */
    return (size_t)(h * 0x9E3779B97F4A7C15ULL >> 20) & (c->nbuckets - 1);
}

static cs_vcache_entry_t *cs_vcache_find(cs_vcache_t *c, const uint8_t id[16])
{
    if (!c->nbuckets)
        return NULL;
    for (cs_vcache_entry_t *e = c->buckets[cs_vcache_slot(c, id)]; e; e = e->chain)
        if (memcmp(e->id, id, 16) == 0)
            return e;
    return NULL;
}

static void cs_vcache_remove(cs_vcache_t *c, cs_vcache_entry_t *e)
{
    cs_vcache_entry_t **pp = &c->buckets[cs_vcache_slot(c, e->id)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->count--;
    free(e);
}

/* Adds (or replaces) a vector. No eviction here: the current batch's vectors must all
 * stay until it is produced; cs_vcache_trim() bounds what outlives a failed attempt. */
static bool cs_vcache_put(cs_vcache_t *c, const uint8_t id[16], const float *vec, uint32_t dim)
{
    if (!c->nbuckets) {
        size_t nb = 1024;
        while (nb < c->max)
            nb *= 2;
        if (!(c->buckets = calloc(nb, sizeof(*c->buckets))))
            return false;
        c->nbuckets = nb;
    }
    cs_vcache_entry_t *e = cs_vcache_find(c, id);
    if (e)
        cs_vcache_remove(c, e);
    if (!(e = malloc(sizeof(*e) + dim * sizeof(float))))
        return false;
    memcpy(e->id, id, 16);
    e->dim = dim;
    memcpy(e->vec, vec, dim * sizeof(float));
    size_t slot = cs_vcache_slot(c, id);
    e->chain = c->buckets[slot];
    c->buckets[slot] = e;
    e->newer = NULL;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->count++;
    return true;
}

/* Evicts the oldest vectors beyond `max`. */
static void cs_vcache_trim(cs_vcache_t *c)
{
    while (c->count > c->max && c->oldest)
        cs_vcache_remove(c, c->oldest);
}

static void cs_vcache_clear(cs_vcache_t *c)
{
    while (c->oldest)
        cs_vcache_remove(c, c->oldest);
    free(c->buckets);
    memset(c, 0, sizeof(*c));
}

/* ---- the processor ------------------------------------------------------------------ */

typedef struct cs_embed {
    cs_embed_pconf_t *pconf;
    cs_embedder_t *embedder;
    cs_producer_t *producer;
    char topic[256];
    cs_vcache_t cache;
    /* per batch, reused */
    cs_envelope_batch_t batch;
    uint8_t (*ids)[16];           /* batch.envs[k]'s id, binary */
    cs_embed_item_t *items;
    size_t *env_of_item;          /* items[j] is batch.envs[env_of_item[j]] */
    size_t cap;
    cs_buf_t value;
    int64_t produce_timeout_ms;
    cs_counter_t *m_cache_hits;
    cs_counter_t *m_produced;
} cs_embed_t;

static void cs_embed_add_conf(cs_conf_t *conf, void *vpconf)
{
    cs_embed_pconf_t *pconf = vpconf;
    pconf->embed = cs_conf_add_owned_section(conf, "embeddings provider", cs_embed_conf_defs,
                                             cs_embed_conf_ndefs, sizeof(cs_embed_conf_t));
}

static void *cs_embed_init(const cs_proc_ctx_t *ctx, void *vpconf, char *errstr,
                           size_t errstr_size)
{
    cs_embed_pconf_t *pconf = vpconf;
    cs_embed_t *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->pconf = pconf;
    p->producer = ctx->producer;
    p->cache.max = (size_t)pconf->cache_max;
    p->produce_timeout_ms = 30000;
    cs_proc_topic(ctx, pconf->output_topic, p->topic, sizeof(p->topic));
    p->embedder = cs_embedder_new(pconf->embed, ctx->metrics, "embed", errstr, errstr_size);
    if (!p->embedder) {
        free(p);
        return NULL;
    }
    p->m_cache_hits = cs_metrics_counter(ctx->metrics, "chatstream_embed_cache_hits_total",
                                         "component=\"embed\"",
                                         "Vectors reused from a failed attempt instead of "
                                         "asking the provider again.");
    p->m_produced = cs_metrics_counter(ctx->metrics, "chatstream_vectors_produced_total",
                                       "component=\"embed\"",
                                       "Records produced to chat.vectors.");
    cs_log(CS_LOG_INFO, "embed", "provider %s, model %s, writing to %s",
           cs_embedder_provider(p->embedder), cs_embedder_model(p->embedder), p->topic);
    return p;
}

static bool cs_embed_grow(cs_embed_t *p, size_t n)
{
    if (n <= p->cap)
        return true;
    uint8_t(*ids)[16] = realloc(p->ids, n * sizeof(*ids));
    if (ids)
        p->ids = ids;
    cs_embed_item_t *items = realloc(p->items, n * sizeof(*items));
    if (items)
        p->items = items;
    size_t *env_of_item = realloc(p->env_of_item, n * sizeof(*env_of_item));
    if (env_of_item)
        p->env_of_item = env_of_item;
    if (!ids || !items || !env_of_item)
        return false;
    p->cap = n;
    return true;
}

static void cs_embed_sink(void *arg, size_t j, const float *vec, uint32_t dim)
{
    cs_embed_t *p = arg;
    /* Into the cache: step 3 reads every vector from there (a failed put is noticed there). */
    cs_vcache_put(&p->cache, p->ids[p->env_of_item[j]], vec, dim);
}

static cs_err_t cs_embed_process(void *state, cs_record_t *recs, size_t n, char *errstr,
                                 size_t errstr_size)
{
    cs_embed_t *p = state;
    /* 1. decode */
    cs_err_t rc = cs_envelope_batch_decode(&p->batch, recs, n, errstr, errstr_size);
    if (rc != CS_ERR_OK)
        return rc;
    if (!cs_embed_grow(p, n)) {
        snprintf(errstr, errstr_size, "out of memory for a batch of %zu", n);
        return CS_ERR_NOMEM;
    }
    const cs_envelope_t *envs = p->batch.envs;
    const size_t *rec_of = p->batch.rec_of;
    size_t k = p->batch.n;
    for (size_t e = 0; e < k; e++) {
        cs_uuid_t uuid;
        cs_uuid_parse(envs[e].id, CS_UUID_STR_LEN, &uuid);
        memcpy(p->ids[e], uuid.b, 16);
    }
    /* 2. embed what is not already cached from an earlier attempt */
    size_t m = 0;
    for (size_t e = 0; e < k; e++) {
        if (cs_vcache_find(&p->cache, p->ids[e])) {
            cs_counter_inc(p->m_cache_hits);
            continue;
        }
        p->items[m] = (cs_embed_item_t){.text = envs[e].text, .len = envs[e].text_len};
        p->env_of_item[m++] = e;
    }
    rc = cs_embedder_embed(p->embedder, p->items, m,
                                    cs_mono_ms() + p->pconf->deadline_ms, cs_embed_sink, p,
                                    errstr, errstr_size);
    for (size_t j = 0; j < m; j++)
        if (p->items[j].status == CS_ERR_REJECTED)
            cs_record_reject(&recs[rec_of[p->env_of_item[j]]], CS_ERR_REJECTED, "%s",
                             p->items[j].reason);
    if (rc != CS_ERR_OK) {
        cs_vcache_trim(&p->cache);
        return rc;
    }

    /* 3. produce, keyed by user */
    const char *model = cs_embedder_model(p->embedder);
    size_t produced = 0;
    for (size_t e = 0; e < k; e++) {
        cs_record_t *rec = &recs[rec_of[e]];
        if (rec->reject != CS_ERR_OK)
            continue;
        cs_vcache_entry_t *ce = cs_vcache_find(&p->cache, p->ids[e]);
        if (!ce) { /* out of memory while caching it: try the batch again later */
            snprintf(errstr, errstr_size, "vector of %s lost (out of memory?)", envs[e].id);
            cs_vcache_trim(&p->cache);
            return CS_ERR_NOMEM;
        }
        const cs_envelope_t *env = &envs[e];
        cs_vrec_t vr = {.room = env->room, .room_len = env->room_len, .user = env->user,
                        .user_len = env->user_len, .ts = env->ts, .text = env->text,
                        .text_len = env->text_len, .model = model, .model_len = strlen(model),
                        .dim = ce->dim, .vec = ce->vec};
        memcpy(vr.id, env->id, sizeof(vr.id));
        char why[200];
        cs_err_t vrc = cs_vrec_validate(&vr, why, sizeof(why));
        if (vrc != CS_ERR_OK) { /* e.g. a provider that returned a vector of zeros */
            cs_record_reject(rec, vrc, "vector record invalid: %s", why);
            continue;
        }
        cs_buf_reset(&p->value);
        cs_vrec_encode(&vr, &p->value);
        if (p->value.oom) {
            snprintf(errstr, errstr_size, "out of memory encoding a vector record");
            cs_vcache_trim(&p->cache);
            return CS_ERR_NOMEM;
        }
        rc = cs_producer_send(p->producer, p->topic, RD_KAFKA_PARTITION_UA, env->user,
                              env->user_len, p->value.data, p->value.len, NULL, 30000);
        if (rc != CS_ERR_OK) {
            snprintf(errstr, errstr_size, "producing to %s: %s", p->topic, cs_err_str(rc));
            cs_vcache_trim(&p->cache);
            return rc;
        }
        produced++;
    }
    /* 4. durable in Kafka before the batch counts as done */
    rc = cs_producer_flush(p->producer, (int)p->produce_timeout_ms, errstr, errstr_size);
    if (rc != CS_ERR_OK) {
        cs_vcache_trim(&p->cache);
        return rc;
    }
    cs_counter_add(p->m_produced, produced);
    for (size_t e = 0; e < k; e++) {
        cs_vcache_entry_t *ce = cs_vcache_find(&p->cache, p->ids[e]);
        if (ce)
            cs_vcache_remove(&p->cache, ce);
    }
    return CS_ERR_OK;
}

static bool cs_embed_ready(void *state, char *reason, size_t reason_size)
{
    cs_embed_t *p = state;
    cs_breaker_state_t st = cs_embedder_breaker_state(p->embedder);
    if (st == CS_BREAKER_CLOSED)
        return true;
    snprintf(reason, reason_size, "embeddings provider circuit %s", cs_breaker_state_name(st));
    return false;
}

static void cs_embed_destroy(void *state)
{
    cs_embed_t *p = state;
    cs_embedder_destroy(p->embedder);
    cs_vcache_clear(&p->cache);
    cs_buf_free(&p->value);
    cs_envelope_batch_free(&p->batch);
    free(p->ids);
    free(p->items);
    free(p->env_of_item);
    free(p);
}

const cs_processor_t cs_embed_processor = {
    .name = "embed",
    .summary = "Embeds chat messages (OpenAI-compatible API or the built-in lexical hash) and "
               "writes the vectors to chat.vectors.",
    .input_topic = "chat.messages",
    .conf_defs = cs_embed_pdefs,
    .conf_ndefs = sizeof(cs_embed_pdefs) / sizeof(cs_embed_pdefs[0]),
    .conf_size = sizeof(cs_embed_pconf_t),
    .add_conf = cs_embed_add_conf,
    .init = cs_embed_init,
    .process = cs_embed_process,
    .ready = cs_embed_ready,
    .destroy = cs_embed_destroy,
};
