/*
 * gw_outq — a session's frames waiting to be written, oldest first.
 *
 * A ring of frame pointers that doubles when full: queueing a delivery allocates nothing
 * once the ring has grown to the session's usual backlog. (It was a linked list with a node
 * malloc'd per queued frame and freed per written one: a malloc and a free per delivery,
 * ~1 % of a busy gateway in perf.) The ring holds what the caller gives it and counts the
 * bytes; references are the caller's business (gw_session_queue takes one, the writer
 * drops it). A ring that never held anything owns no memory (an idle connection pays 16
 * bytes for it), and one grown past 64 frames is freed when it empties.
 *
 * No locking: a session's queue belongs to its loop's thread. Plain data, no lws:
 * unit-tested on its own (tests/unit/test_gw_outq.c).
 */
#ifndef GW_OUTQ_H
#define GW_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_frame;

typedef struct gw_outq {
    struct gw_frame **ring;
    uint32_t head; /* index of the oldest */
    uint32_t len;
    uint32_t cap;  /* 0, or a power of two */
} gw_outq_t;

/* Appends f; false when the ring could not grow (out of memory: nothing changed). */
bool gw_outq_push(gw_outq_t *q, struct gw_frame *f);

/* The oldest frame, or NULL when empty. */
static inline struct gw_frame *gw_outq_peek(const gw_outq_t *q)
{
    return q->len ? q->ring[q->head] : NULL;
}

/* Removes and returns the oldest frame, or NULL when empty. */
struct gw_frame *gw_outq_pop(gw_outq_t *q);

/* Frees the ring's storage; the frames still in it must have been popped first. */
void gw_outq_free(gw_outq_t *q);

#endif
