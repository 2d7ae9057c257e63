/*
 * chatstream-index: chat.vectors -> Qdrant, sharded by user.
 *
 * Each record goes to shard jump(fnv1a64(user), nshards) as one point whose id
 * is the message id (an upsert of a replayed record overwrites the same point).
 * A batch is upserted per shard (wait=true, in requests of qdrant.upsert.points,
 * all shards in parallel) and counts as done only when every shard involved has
 * confirmed; only then does the framework store the offsets.
 *
 * One shard down must not stop the others, but the framework's unit is a batch
 * across partitions, and every partition holds users of every shard (Kafka
 * partitions by murmur2 of the key, the shards by jump hash), so pausing
 * partitions cannot isolate a shard. Hence `index.shard`:
 *
 *   index.shard=K  this process indexes only shard K, in its own consumer group
 *                  (e.g. chatstream-index-s1of3). Records of other shards are
 *                  skipped by their key (the user id) without being decoded.
 *                  When shard K is down, only this group pauses (a retriable
 *                  error: the framework pauses and retries with backoff) and its
 *                  committed offsets hold its place; the other groups go on. When
 *                  the shard returns, the group catches up from its offsets.
 *                  Cost: each group reads the whole topic (N shards: N reads,
 *                  served from the brokers' page cache; skipping is cheap).
 *   index.shard=-1 one process, one group, all shards (small deployments): a down
 *                  shard pauses everything until it returns. Nothing is lost either way.
 *
 * A record that is not a valid vector record, whose key is not its user, or whose
 * vector size differs from the collection's, is dead-lettered with the reason.
 */
#include "cs_log.h"
#include "cs_processor.h"
#include "cs_qdrant.h"
#include "cs_vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cs_index_pconf {
    int64_t shard;
    char *model;
    cs_qdrant_conf_t *qdrant;     /* owned by the config */
} cs_index_pconf_t;

static const cs_conf_def_t cs_index_pdefs[] = {
    CS_CONF_ROW_INT(cs_index_pconf_t, shard, "index.shard", "-1", -1, CS_QDRANT_MAX_SHARDS - 1,
                    "Index only this shard (0-based, in qdrant.urls order), in its own consumer "
                    "group; -1: all shards in one group (a down shard then pauses all)."),
    CS_CONF_ROW_STR(cs_index_pconf_t, model, "index.model", "", 128,
                    "If set, records of another embedding model are dead-lettered instead of "
                    "mixed into the collection."),
};

typedef struct cs_index {
    cs_index_pconf_t *pconf;
    cs_qdrant_t *qdrant;
    uint32_t nshards;
    int32_t only;                 /* -1 or the one shard */
    uint32_t dim;                 /* the collection's vector size, once known */
    cs_vrec_t *vrecs;
    cs_qdrant_point_t *pts;
    size_t *rec_of;
    size_t cap;
    char *arena;
    size_t arena_cap;
    cs_err_t shard_status[CS_QDRANT_MAX_SHARDS];
    cs_counter_t *m_skipped;
} cs_index_t;

static void cs_index_add_conf(cs_conf_t *conf, void *vpconf)
{
    cs_index_pconf_t *pconf = vpconf;
    pconf->qdrant = cs_conf_add_owned_section(conf, "Qdrant", cs_qdrant_conf_defs,
                                              cs_qdrant_conf_ndefs, sizeof(cs_qdrant_conf_t));
}

static void *cs_index_init(const cs_proc_ctx_t *ctx, void *vpconf, char *errstr,
                           size_t errstr_size)
{
    cs_index_pconf_t *pconf = vpconf;
    cs_index_t *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    x->pconf = pconf;
    x->qdrant = cs_qdrant_new(pconf->qdrant, ctx->metrics, "index", errstr, errstr_size);
    if (!x->qdrant) {
        free(x);
        return NULL;
    }
    x->nshards = cs_qdrant_nshards(x->qdrant);
    x->only = (int32_t)pconf->shard;
    if (x->only >= (int32_t)x->nshards) {
        snprintf(errstr, errstr_size, "index.shard=%d but qdrant.urls lists %u shard(s)", x->only,
                 x->nshards);
        goto fail;
    }
    if (x->only >= 0 && x->nshards > 1 && strcmp(ctx->group, "chatstream-index") == 0) {
        /* Shard groups sharing one group id would split the partitions between them and
         * each would skip the others' records: most points would never be written. */
        snprintf(errstr, errstr_size, "index.shard=%d needs a consumer group of its own: add "
                 "-X group.id=chatstream-index-s%dof%u", x->only, x->only, x->nshards);
        goto fail;
    }
    if (*pconf->model && !cs_model_valid(pconf->model, strlen(pconf->model))) {
        snprintf(errstr, errstr_size, "index.model: not a valid model name");
        goto fail;
    }
    x->m_skipped = cs_metrics_counter(ctx->metrics, "chatstream_index_skipped_total",
                                      "component=\"index\"",
                                      "Records of shards this process does not index.");
    if (x->only >= 0)
        cs_log(CS_LOG_INFO, "index", "indexing shard %d of %u (%s) as group %s", x->only,
               x->nshards, cs_qdrant_shard_url(x->qdrant, (uint32_t)x->only), ctx->group);
    else
        cs_log(CS_LOG_INFO, "index", "indexing all %u shard(s) as group %s", x->nshards,
               ctx->group);
    return x;
fail:
    cs_qdrant_destroy(x->qdrant);
    free(x);
    return NULL;
}

static bool cs_index_grow(cs_index_t *x, size_t n, size_t arena)
{
    if (n > x->cap) {
        cs_vrec_t *v = realloc(x->vrecs, n * sizeof(*v));
        if (v)
            x->vrecs = v;
        cs_qdrant_point_t *p = realloc(x->pts, n * sizeof(*p));
        if (p)
            x->pts = p;
        size_t *r = realloc(x->rec_of, n * sizeof(*r));
        if (r)
            x->rec_of = r;
        if (!v || !p || !r)
            return false;
        x->cap = n;
    }
    if (arena > x->arena_cap) {
        char *a = realloc(x->arena, arena);
        if (!a)
            return false;
        x->arena = a;
        x->arena_cap = arena;
    }
    return true;
}

static cs_err_t cs_index_process(void *state, cs_record_t *recs, size_t n, char *errstr,
                                 size_t errstr_size)
{
    cs_index_t *x = state;
    size_t arena = 0;
    for (size_t i = 0; i < n; i++)
        arena += cs_vrec_arena_size(recs[i].msg->len);
    if (!cs_index_grow(x, n, arena)) {
        snprintf(errstr, errstr_size, "out of memory for a batch of %zu", n);
        return CS_ERR_NOMEM;
    }
    size_t k = 0, used = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = recs[i].msg;
        if (x->only >= 0 && m->key && m->key_len > 0 &&
            cs_qdrant_shard_of(x->qdrant, m->key, m->key_len) != (uint32_t)x->only) {
            skipped++; /* another shard group's record */
            continue;
        }
        size_t need = cs_vrec_arena_size(m->len);
        cs_vrec_t *v = &x->vrecs[k];
        char why[200];
        cs_err_t rc = cs_vrec_decode(m->payload ? m->payload : "", m->len, v, x->arena + used,
                                     need, why, sizeof(why));
        if (rc != CS_ERR_OK) {
            cs_record_reject(&recs[i], rc, "%s", why);
            continue;
        }
        used += need;
        if (!m->key || m->key_len != v->user_len || memcmp(m->key, v->user, v->user_len) != 0) {
            /* the key chose the shard group; a record whose key lies would be indexed by
             * the wrong group or not at all */
            cs_record_reject(&recs[i], CS_ERR_BAD_FIELD, "record key is not the user id '%s'",
                             v->user);
            continue;
        }
        if (*x->pconf->model && (v->model_len != strlen(x->pconf->model) ||
                                 memcmp(v->model, x->pconf->model, v->model_len) != 0)) {
            cs_record_reject(&recs[i], CS_ERR_BAD_FIELD, "model '%s' is not index.model '%s'",
                             v->model, x->pconf->model);
            continue;
        }
        x->pts[k] = (cs_qdrant_point_t){
            .shard = cs_qdrant_shard_of(x->qdrant, v->user, v->user_len), .rec = v};
        x->rec_of[k] = i;
        k++;
    }
    cs_counter_add(x->m_skipped, skipped);
    if (k == 0)
        return CS_ERR_OK;

    /* Collections (created if missing) on every shard this batch touches. */
    bool touched[CS_QDRANT_MAX_SHARDS] = {0};
    for (size_t j = 0; j < k; j++)
        touched[x->pts[j].shard] = true;
    uint32_t want = x->dim;
    if (!want) {
        /* A collection that exists keeps its size (ensure() reports it); one that must be
         * created gets the most common size of this batch, so one odd record cannot
         * shape it. */
        size_t best = 0;
        for (size_t j = 0; j < k && best <= k / 2; j++) {
            size_t same = 0;
            for (size_t i2 = 0; i2 < k; i2++)
                same += x->pts[i2].rec->dim == x->pts[j].rec->dim;
            if (same > best) {
                best = same;
                want = x->pts[j].rec->dim;
            }
        }
    }
    for (uint32_t s = 0; s < x->nshards; s++) {
        if (!touched[s])
            continue;
        uint32_t have;
        cs_err_t rc = cs_qdrant_ensure(x->qdrant, s, want, &have, errstr, errstr_size);
        if (rc != CS_ERR_OK)
            return rc;
        if (x->dim && have != x->dim) {
            snprintf(errstr, errstr_size, "shard %u's collection has %u-dimensional vectors, "
                     "the others %u: fix the collections (or reshard into a new one)", s, have,
                     x->dim);
            cs_log(CS_LOG_ERROR, "index", "%s", errstr);
            return CS_ERR_UNAVAILABLE;
        }
        x->dim = have;
    }
    /* Records of another size cannot go into this collection: dead-lettered (kept there
     * for a replay into a collection of their size, e.g. after a model change). */
    size_t kept = 0;
    for (size_t j = 0; j < k; j++) {
        if (x->pts[j].rec->dim != x->dim) {
            cs_record_reject(&recs[x->rec_of[j]], CS_ERR_BAD_FIELD, "vector has %u dimensions; "
                             "the collection has %u", x->pts[j].rec->dim, x->dim);
            continue;
        }
        x->pts[kept] = x->pts[j];
        x->rec_of[kept++] = x->rec_of[j];
    }
    k = kept;
    cs_err_t rc = cs_qdrant_upsert(x->qdrant, x->pts, k, x->shard_status, errstr, errstr_size);
    for (size_t j = 0; j < k; j++)
        if (x->pts[j].status == CS_ERR_REJECTED && rc != CS_ERR_REJECTED)
            cs_record_reject(&recs[x->rec_of[j]], CS_ERR_REJECTED, "%s", x->pts[j].reason);
    return rc;
}

static void cs_index_destroy(void *state)
{
    cs_index_t *x = state;
    cs_qdrant_destroy(x->qdrant);
    free(x->vrecs);
    free(x->pts);
    free(x->rec_of);
    free(x->arena);
    free(x);
}

const cs_processor_t cs_index_processor = {
    .name = "index",
    .summary = "Upserts chat.vectors into Qdrant, sharded by user (jump consistent hash).",
    .input_topic = "chat.vectors",
    .conf_defs = cs_index_pdefs,
    .conf_ndefs = sizeof(cs_index_pdefs) / sizeof(cs_index_pdefs[0]),
    .conf_size = sizeof(cs_index_pconf_t),
    .add_conf = cs_index_add_conf,
    .init = cs_index_init,
    .process = cs_index_process,
    .destroy = cs_index_destroy,
};
