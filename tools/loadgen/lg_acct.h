/*
 * lg_acct — the loadgen's bookkeeping of what was sent and what arrived.
 *
 * Every message a simulated user sends carries (sender index, sequence number)
 * in its text, so each delivery names its message without a lookup table:
 *
 *  - per sender, an array of lg_msg_t indexed by seq: whether the send was acked,
 *    how many room members were joined when it was sent (what should arrive), and
 *    how many distinct recipients received it;
 *  - per (recipient, sender) an lg_seen_t window: a second arrival of the same
 *    (sender, seq) at the same recipient is a duplicate (this also catches a
 *    client retry stored twice under two ids, which a dedupe by id would miss);
 *    an arrival below the highest seq already seen breaks the sender's order;
 *  - per room an lg_room_log_t: the order in which the room's first recipient to
 *    get there saw the messages. Every other member must see the same order; a
 *    message that arrives after one the reference order puts later is out of order.
 *    The reference is only trustworthy when nothing is lost: a recipient that never
 *    got M1 but got M2 first makes "M2 before M1" look like the room's order, and a
 *    member that correctly sees M1 then M2 is then flagged. So when anything was
 *    lost, lg_acct_finish() reports room-order counts as unverified instead (the
 *    per-sender order check stays exact: seqs are the sender's own truth).
 *
 * At the end lg_acct_tally() turns the per-message records into totals:
 * expected = Σ over acked sends of the members joined at send time; lost =
 * expected − delivered (per message, never negative). Single-threaded.
 */
#ifndef LG_ACCT_H
#define LG_ACCT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    LG_MSG_UNSENT = 0,
    LG_MSG_SENT = 1,   /* written to the socket, no answer yet */
    LG_MSG_ACKED = 2,  /* the gateway acked it: it must reach every member */
    LG_MSG_FAILED = 3, /* refused with an error frame and given up on */
};

typedef struct lg_msg {
    uint16_t delivered; /* distinct recipients that received it */
    uint16_t expected;  /* room members joined when it was sent (sender included) */
    uint8_t state;      /* LG_MSG_* */
    uint8_t attempts;   /* refusals so far (the loadgen retries rate_limited/unavailable) */
} lg_msg_t;

/* Which seqs of one sender one recipient has seen: `top` is the highest,
 * bit i of `bits` says whether top - i was seen (bit 0 = top). Seqs start at 1. */
typedef struct lg_seen {
    uint32_t top;
    uint64_t bits;
} lg_seen_t;

typedef enum {
    LG_SEEN_NEW,     /* first arrival, in the sender's order */
    LG_SEEN_LATE,    /* first arrival, but a later seq of this sender came before it */
    LG_SEEN_DUP,     /* seen before: a duplicate */
    LG_SEEN_TOO_OLD, /* more than 64 below top: cannot tell */
} lg_seen_result_t;

lg_seen_result_t lg_seen_mark(lg_seen_t *seen, uint32_t seq);

/* The reference order of a room: a ring of the last 2^bits message keys. */
typedef struct lg_room_log {
    uint64_t len;   /* messages appended so far */
    uint64_t *ring; /* key = (uint64_t)sender << 32 | seq */
    uint32_t mask;  /* ring size - 1 */
} lg_room_log_t;

typedef enum {
    LG_ORDER_OK,        /* where the reference order says */
    LG_ORDER_LATE,      /* after a message the reference order puts after it */
    LG_ORDER_UNCHECKED, /* the recipient is further behind than the ring reaches */
} lg_order_result_t;

/* One recipient's place in its room's reference order. */
typedef struct lg_room_pos {
    uint64_t cursor;  /* the next entry it should receive */
    uint64_t skipped; /* entries it jumped over: each is lost to it, or arrives LATE */
} lg_room_pos_t;

bool lg_room_log_init(lg_room_log_t *log, unsigned bits);
void lg_room_log_free(lg_room_log_t *log);
/* One recipient at `pos` receives `key` (never a duplicate: check lg_seen first). */
lg_order_result_t lg_room_log_observe(lg_room_log_t *log, lg_room_pos_t *pos, uint64_t key);

typedef struct lg_acct_totals {
    uint64_t sends;              /* messages written */
    uint64_t acked;              /* of which acked */
    uint64_t failed;             /* of which refused for good */
    uint64_t expected;           /* Σ members joined at send time, over acked sends */
    uint64_t delivered;          /* distinct (recipient, message) arrivals */
    uint64_t delivered_of_acked; /* of which of acked messages, capped at expected */
    uint64_t lost;               /* expected - delivered_of_acked, per message */
    uint64_t extra;              /* arrivals beyond expected (members who joined later) */
    uint64_t unacked_delivered;  /* arrivals of messages never acked */
    uint64_t duplicates;         /* second arrivals at the same recipient */
    uint64_t out_of_order;       /* arrivals against the room's reference order */
    uint64_t sender_order;       /* arrivals below a later seq of the same sender */
    uint64_t unchecked;          /* arrivals too late to check for order or duplicates */
    uint64_t unknown;            /* push frames that are not ours or do not parse */
    uint64_t order_unverified;   /* room-order faults seen in a run with losses (see above) */
} lg_acct_totals_t;

/* Records one arrival of (sender, seq) at a recipient: `seen` is the recipient's
 * window for that sender, `pos` its place in the room log, `msg` the
 * sender's record of that seq (NULL when the seq was never sent). */
void lg_acct_deliver(lg_acct_totals_t *totals, lg_seen_t *seen, lg_room_log_t *room,
                     lg_room_pos_t *pos, lg_msg_t *msg, uint32_t sender, uint32_t seq);
/* Adds one sender's messages to the totals (expected, delivered_of_acked, lost,
 * extra, unacked_delivered). Call once per sender, at the end. */
void lg_acct_tally(const lg_msg_t *msgs, size_t nmsgs, lg_acct_totals_t *totals);
/* After every sender's tally: with losses, room-order counts become unverified. */
void lg_acct_finish(lg_acct_totals_t *totals);

#endif
