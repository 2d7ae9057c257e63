/* cs_envelope_batch: see cs_envelope_batch.h. */
#include "cs_envelope_batch.h"

#include <stdio.h>
#include <stdlib.h>

static bool cs_envelope_batch_grow(cs_envelope_batch_t *b, size_t n, size_t arena)
{
    if (n > b->cap) {
        cs_envelope_t *envs = realloc(b->envs, n * sizeof(*envs));
        if (envs)
            b->envs = envs;
        size_t *rec_of = realloc(b->rec_of, n * sizeof(*rec_of));
        if (rec_of)
            b->rec_of = rec_of;
        if (!envs || !rec_of)
            return false;
        b->cap = n;
    }
    if (arena > b->arena_cap) {
        char *a = realloc(b->arena, arena);
        if (!a)
            return false;
        b->arena = a;
        b->arena_cap = arena;
    }
    return true;
}

cs_err_t cs_envelope_batch_decode(cs_envelope_batch_t *b, cs_record_t *recs, size_t n,
                                  char *errstr, size_t errstr_size)
{
    b->n = 0;
    size_t arena = 0;
    for (size_t i = 0; i < n; i++)
        arena += cs_envelope_arena_size(recs[i].msg->len);
    if (!cs_envelope_batch_grow(b, n, arena)) {
        snprintf(errstr, errstr_size, "out of memory for a batch of %zu", n);
        return CS_ERR_NOMEM;
    }
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = recs[i].msg;
        size_t need = cs_envelope_arena_size(m->len);
        char why[200];
        cs_err_t rc = cs_envelope_decode(m->payload ? m->payload : "", m->len, &b->envs[b->n],
                                         b->arena + used, need, why, sizeof(why));
        if (rc != CS_ERR_OK) {
            cs_record_reject(&recs[i], rc, "%s", why);
            continue;
        }
        b->rec_of[b->n++] = i;
        used += need;
    }
    return CS_ERR_OK;
}

void cs_envelope_batch_free(cs_envelope_batch_t *b)
{
    free(b->envs);
    free(b->rec_of);
    free(b->arena);
    *b = (cs_envelope_batch_t){0};
}
