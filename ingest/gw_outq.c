/* gw_outq: see gw_outq.h. */
#include "gw_outq.h"

#include <stdlib.h>
#include <string.h>

#define GW_OUTQ_FIRST 8 /* a room's burst to one member rarely needs more */
#define GW_OUTQ_KEEP 64 /* a ring this big or smaller is kept when it empties */

bool gw_outq_push(gw_outq_t *q, struct gw_frame *f)
{
    if (q->len == q->cap) {
        uint32_t cap = q->cap ? q->cap * 2 : GW_OUTQ_FIRST;
        if (cap < q->cap) /* 2^31 frames: outq.max.bytes stops a session long before */
            return false;
        struct gw_frame **ring = malloc((size_t)cap * sizeof(*ring));
        if (!ring)
            return false;
        /* unwrap: the oldest goes to index 0 */
        uint32_t first = q->cap - q->head < q->len ? q->cap - q->head : q->len;
        if (q->len) {
            memcpy(ring, q->ring + q->head, first * sizeof(*ring));
            memcpy(ring + first, q->ring, (q->len - first) * sizeof(*ring));
        }
        free(q->ring);
        q->ring = ring;
        q->cap = cap;
        q->head = 0;
    }
    q->ring[(q->head + q->len) & (q->cap - 1)] = f;
    q->len++;
    return true;
}

struct gw_frame *gw_outq_pop(gw_outq_t *q)
{
    if (!q->len)
        return NULL;
    struct gw_frame *f = q->ring[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->len--;
    /* a catch-up of hundreds of frames should not pin its ring for the connection's life */
    if (!q->len && q->cap > GW_OUTQ_KEEP)
        gw_outq_free(q);
    return f;
}

void gw_outq_free(gw_outq_t *q)
{
    free(q->ring);
    memset(q, 0, sizeof(*q));
}
