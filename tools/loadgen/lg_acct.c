/* lg_acct — see lg_acct.h. */
#include "lg_acct.h"

#include <stdlib.h>

lg_seen_result_t lg_seen_mark(lg_seen_t *seen, uint32_t seq)
{
    if (seq > seen->top) {
        uint32_t d = seq - seen->top;
        seen->bits = d >= 64 ? 0 : seen->bits << d;
        seen->bits |= 1;
        seen->top = seq;
        return LG_SEEN_NEW;
    }
    uint32_t d = seen->top - seq;
    if (d >= 64)
        return LG_SEEN_TOO_OLD;
    uint64_t bit = 1ull << d;
    if (seen->bits & bit)
        return LG_SEEN_DUP;
    seen->bits |= bit;
    return LG_SEEN_LATE;
}

bool lg_room_log_init(lg_room_log_t *log, unsigned bits)
{
    log->len = 0;
    log->mask = (1u << bits) - 1;
    log->ring = calloc((size_t)log->mask + 1, sizeof(*log->ring));
    return log->ring != NULL;
}

void lg_room_log_free(lg_room_log_t *log)
{
    if (!log)
        return;
    free(log->ring);
    log->ring = NULL;
}

/* Whether `key` is among the entries from `oldest` up to (not including) `from`. */
static bool lg_room_log_find_back(const lg_room_log_t *log, uint64_t from, uint64_t oldest,
                                  uint64_t key)
{
    for (uint64_t i = from; i-- > oldest;)
        if (log->ring[i & log->mask] == key)
            return true;
    return false;
}

lg_order_result_t lg_room_log_observe(lg_room_log_t *log, lg_room_pos_t *pos, uint64_t key)
{
    uint64_t size = (uint64_t)log->mask + 1;
    uint64_t oldest = log->len > size ? log->len - size : 0;
    if (pos->cursor < oldest) {
        /* this recipient is more than a ring behind the first one: cannot check */
        pos->cursor++;
        return LG_ORDER_UNCHECKED;
    }
    /* A recipient that jumped over entries may now receive one of them: late.
     * (Only then is the backward search needed, so the common path stays O(1).) */
    if (pos->skipped > 0 && lg_room_log_find_back(log, pos->cursor, oldest, key)) {
        pos->skipped--;
        return LG_ORDER_LATE;
    }
    if (pos->cursor == log->len) { /* first to get here: this arrival defines the order */
        log->ring[log->len & log->mask] = key;
        log->len++;
        pos->cursor++;
        return LG_ORDER_OK;
    }
    if (log->ring[pos->cursor & log->mask] == key) {
        pos->cursor++;
        return LG_ORDER_OK;
    }
    /* Ahead in the reference order: the ones in between have not arrived (yet).
     * Not an order fault by itself: if they never come they are lost (the tally
     * says so); if they come later, they are LATE above. */
    for (uint64_t i = pos->cursor + 1; i < log->len; i++) {
        if (log->ring[i & log->mask] == key) {
            pos->skipped += i - pos->cursor;
            pos->cursor = i + 1;
            return LG_ORDER_OK;
        }
    }
    /* Not in the log, while this recipient has not had everything before it: it
     * is new to the room, and the entries from the cursor on were skipped. */
    pos->skipped += log->len - pos->cursor;
    log->ring[log->len & log->mask] = key;
    log->len++;
    pos->cursor = log->len;
    return LG_ORDER_OK;
}

void lg_acct_deliver(lg_acct_totals_t *totals, lg_seen_t *seen, lg_room_log_t *room,
                     lg_room_pos_t *pos, lg_msg_t *msg, uint32_t sender, uint32_t seq)
{
    if (!msg || seq == 0) {
        totals->unknown++;
        return;
    }
    switch (lg_seen_mark(seen, seq)) {
    case LG_SEEN_DUP:
        totals->duplicates++;
        return;
    case LG_SEEN_TOO_OLD:
        totals->unchecked++;
        return;
    case LG_SEEN_LATE:
        totals->sender_order++;
        break;
    case LG_SEEN_NEW:
        break;
    }
    totals->delivered++;
    if (msg->delivered < UINT16_MAX)
        msg->delivered++;
    switch (lg_room_log_observe(room, pos, (uint64_t)sender << 32 | seq)) {
    case LG_ORDER_LATE:
        totals->out_of_order++;
        break;
    case LG_ORDER_UNCHECKED:
        totals->unchecked++;
        break;
    case LG_ORDER_OK:
        break;
    }
}

void lg_acct_tally(const lg_msg_t *msgs, size_t nmsgs, lg_acct_totals_t *totals)
{
    for (size_t i = 0; i < nmsgs; i++) {
        const lg_msg_t *m = &msgs[i];
        if (m->state == LG_MSG_ACKED) {
            uint64_t got = m->delivered < m->expected ? m->delivered : m->expected;
            totals->expected += m->expected;
            totals->delivered_of_acked += got;
            totals->lost += m->expected - got;
            totals->extra += m->delivered - got;
        } else {
            totals->unacked_delivered += m->delivered;
        }
    }
}

void lg_acct_finish(lg_acct_totals_t *totals)
{
    if (totals->lost > 0) {
        totals->order_unverified += totals->out_of_order;
        totals->out_of_order = 0;
    }
}
