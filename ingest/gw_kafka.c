/*
 * gw_kafka — the gateway's two Kafka clients and their threads.
 *
 * The producer writes envelopes to chat.messages keyed by user (idempotent, acks=all);
 * its delivery reports become acks, posted to the sender's loop. The consumer reads
 * chat.fanout (read_committed: only what fan-out's transactions committed) and posts each
 * message to every loop, which pushes it to its members of the room. The consumer has a
 * group of its own per process and pushes from the end: a gateway delivers what arrives
 * while its clients are connected; what they missed comes from PostgreSQL on join, and from
 * the recent records (gw_recent.h) for what PostgreSQL does not have yet. So that a fresh
 * gateway has those too, it starts reading fanout.recent.ms back and keeps what lies
 * before the end it found (the backfill below) in the store only. A partition a rebalance
 * takes and gives back (a mirrored topic appearing, the group rejoined after Kafka was out
 * of reach) goes on where it stopped instead: what was written in between is pushed.
 */
#include "gw_session.h"

#include "cs_dedupe.h"
#include "cs_log.h"
#include "cs_time.h"
#include "cs_uuid.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct gw_pending_send {
    int loop;
    uint64_t session;
    char cmid[CS_CMID_MAX + 1];
    char id[CS_UUID_STR_LEN + 1];
    int64_t ts;
} gw_pending_send_t;

static gw_t *gw_of(void *opaque, size_t offset)
{
    return (gw_t *)((char *)opaque - offset);
}

/* librdkafka's thread (inside rd_kafka_poll): one report per message. */
static void gw_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    gw_t *gw = gw_of(opaque, offsetof(gw_t, producer_kctx));
    gw_pending_send_t *p = msg->_private;
    if (!p)
        return;
    gw_event_t *ev = calloc(1, sizeof(*ev));
    if (ev && p->loop >= 0 && p->loop < gw->nloops) {
        ev->kind = GW_EV_ACK;
        ev->session = p->session;
        ev->err = msg->err ? cs_kafka_err(msg->err) : CS_ERR_OK;
        if (msg->err)
            cs_log(CS_LOG_WARN, "kafka", "message %s not stored: %s", p->id,
                   rd_kafka_err2str(msg->err));
        memcpy(ev->cmid, p->cmid, sizeof(ev->cmid));
        memcpy(ev->id, p->id, sizeof(ev->id));
        ev->ts = p->ts;
        gw_loop_post(gw->loops[p->loop], ev);
    } else {
        free(ev);
    }
    free(p);
}

cs_err_t gw_kafka_send(gw_t *gw, int loop, uint64_t session, const char *room,
                       const char *user, const char *cmid, size_t cmid_len, const char *text,
                       size_t text_len)
{
    if (atomic_load(&gw->draining))
        return CS_ERR_UNAVAILABLE; /* shutting down: the client retries on another gateway */
    cs_envelope_t envelope;
    const cs_envelope_t *env = &envelope;
    memset(&envelope, 0, sizeof(envelope));
    cs_uuid_t uuid;
    cs_uuid_v7(&uuid);
    cs_uuid_format(&uuid, envelope.id);
    envelope.room = room, envelope.room_len = strlen(room);
    envelope.user = user, envelope.user_len = strlen(user);
    envelope.cmid = cmid, envelope.cmid_len = cmid_len;
    envelope.text = text, envelope.text_len = text_len;
    envelope.ts = cs_wall_ms();
    if (!atomic_load(&gw->consumer_kctx.broker_up))
        return CS_ERR_UNAVAILABLE; /* fail fast rather than queue for message.timeout.ms */
    gw_pending_send_t *p = malloc(sizeof(*p));
    cs_buf_t value = CS_BUF_INIT;
    if (!p)
        return CS_ERR_NOMEM;
    p->loop = loop;
    p->session = session;
    snprintf(p->cmid, sizeof(p->cmid), "%.*s", (int)env->cmid_len, env->cmid ? env->cmid : "");
    memcpy(p->id, env->id, sizeof(p->id));
    p->ts = env->ts;
    cs_envelope_encode(env, &value);
    size_t len = 0;
    char *data = value.oom ? NULL : cs_buf_steal(&value, &len);
    cs_buf_free(&value);
    /* librdkafka takes the buffer (F_FREE) instead of copying it; on refusal it stays ours */
    rd_kafka_resp_err_t err =
        !data ? RD_KAFKA_RESP_ERR__FAIL
              : rd_kafka_producev(gw->producer, RD_KAFKA_V_RKT(gw->producer_topic),
                                  RD_KAFKA_V_KEY(env->user, env->user_len),
                                  RD_KAFKA_V_VALUE(data, len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                  RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
    if (err)
        free(data);
    if (err) {
        free(p);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            cs_log(CS_LOG_WARN, "kafka", "produce refused: %s", rd_kafka_err2str(err));
        return CS_ERR_UNAVAILABLE;
    }
    return CS_ERR_OK;
}

/* A partition read from fanout.recent.ms back: records below `live` (its end when it was
 * assigned) predate every client here and go to the store only. Kafka thread only. */
typedef struct gw_backfill {
    char topic[256];
    int32_t partition;
    int64_t live; /* -1: passed */
} gw_backfill_t;

#define GW_BACKFILL_TIMEOUT_MS 5000
/* The most a backfill holds the gateway's readiness back. */
#define GW_BACKFILL_READY_MS 5000
/* A partition given back within this long after a rebalance took it goes on where it
 * stopped: a rebalance takes seconds, and what was written meanwhile is news to the clients
 * still connected. Later than this it starts afresh (the store's window, then live): a
 * minute's backlog pushed late is still worth having, an hour's is not chat any more. */
#define GW_RESUME_MAX_MS 60000

/* The backfill entry of a partition, or NULL. */
static gw_backfill_t *gw_backfill_find(gw_backfill_t *b, int n, const char *topic,
                                       int32_t partition)
{
    for (int i = 0; i < n; i++)
        if (b[i].partition == partition && strcmp(b[i].topic, topic) == 0)
            return &b[i];
    return NULL;
}

/* Puts `with` (NULL: nothing) in a slot of partition lists the Kafka thread keeps, freeing
 * what was there. */
static void gw_parts_replace(rd_kafka_topic_partition_list_t **slot,
                             rd_kafka_topic_partition_list_t *with)
{
    if (*slot)
        rd_kafka_topic_partition_list_destroy(*slot);
    *slot = with;
}

/* A rebalance takes the partitions: notes where each stood, the next offset to read. One
 * nothing was read from since it was given has no position; it stands where it was given
 * (an offset the plan resolved, or none if the plan could not). */
static void gw_fanout_note_stop(gw_t *gw, rd_kafka_t *rk,
                                const rd_kafka_topic_partition_list_t *parts)
{
    gw_parts_replace(&gw->fanout_stopped, rd_kafka_topic_partition_list_copy(parts));
    if (rd_kafka_position(rk, gw->fanout_stopped) != RD_KAFKA_RESP_ERR_NO_ERROR)
        gw_parts_replace(&gw->fanout_stopped, NULL);
    for (int i = 0; gw->fanout_stopped && gw->fanout_started && i < gw->fanout_stopped->cnt;
         i++) {
        rd_kafka_topic_partition_t *p = &gw->fanout_stopped->elems[i];
        const rd_kafka_topic_partition_t *given =
            rd_kafka_topic_partition_list_find(gw->fanout_started, p->topic, p->partition);
        if (p->offset < 0 && given && given->offset >= 0) {
            p->offset = given->offset;
            p->err = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
    }
    gw->fanout_stopped_ms = cs_mono_ms();
    cs_log(CS_LOG_INFO, "kafka", "a rebalance takes %d partition(s) of the fan-out",
           parts->cnt);
}

/* Sets each partition's start. One taken by a rebalance less than GW_RESUME_MAX_MS ago goes
 * on where it stopped (still backfilling if it was). Any other starts fanout.recent.ms back
 * where it has records from then, else at its end; either way at an offset, not the
 * logical end, so that a rebalance before anything is read from it knows where it stood.
 * The end is the last stable offset (a ListOffsets for "latest" under read_committed, one
 * request for all the partitions): records of a transaction still open now are news when
 * it commits, so they are live. Blocking Kafka requests, GW_BACKFILL_TIMEOUT_MS for both;
 * on a failure a partition simply starts at the end. */
static void gw_backfill_plan(gw_t *gw, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    gw_backfill_t *was = gw->backfill;
    int nwas = gw->nbackfill;
    gw->backfill = parts->cnt ? calloc((size_t)parts->cnt, sizeof(*gw->backfill)) : NULL;
    gw->nbackfill = 0;
    bool resume = gw->fanout_stopped && cs_mono_ms() - gw->fanout_stopped_ms <= GW_RESUME_MAX_MS;
    int resumed = 0;
    /* the fresh partitions: their ends, and their offsets fanout.recent.ms back */
    rd_kafka_topic_partition_list_t *ends = rd_kafka_topic_partition_list_new(parts->cnt);
    rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        rd_kafka_topic_partition_t *stop =
            resume ? rd_kafka_topic_partition_list_find(gw->fanout_stopped, p->topic,
                                                        p->partition)
                   : NULL;
        if (stop && stop->err == RD_KAFKA_RESP_ERR_NO_ERROR && stop->offset >= 0) {
            p->offset = stop->offset;
            resumed++;
            gw_backfill_t *b = gw_backfill_find(was, nwas, p->topic, p->partition);
            if (b && b->live > stop->offset && gw->backfill)
                gw->backfill[gw->nbackfill++] = *b;
            continue;
        }
        p->offset = RD_KAFKA_OFFSET_END;
        /* as times, for the queries: "latest", and fanout.recent.ms ago */
        rd_kafka_topic_partition_list_add(ends, p->topic, p->partition)->offset =
            RD_KAFKA_OFFSET_END;
        rd_kafka_topic_partition_list_add(at, p->topic, p->partition)->offset =
            cs_wall_ms() - gw->conf->recent_ms;
    }
    free(was);
    gw_parts_replace(&gw->fanout_stopped, NULL);
    if (resumed)
        cs_log(CS_LOG_INFO, "kafka", "%d partition(s) go on where the rebalance took them",
               resumed);
    int64_t deadline = cs_mono_ms() + GW_BACKFILL_TIMEOUT_MS;
    rd_kafka_resp_err_t err = ends->cnt ? rd_kafka_offsets_for_times(rk, ends,
                                                                     GW_BACKFILL_TIMEOUT_MS)
                                        : RD_KAFKA_RESP_ERR_NO_ERROR;
    int64_t left = deadline - cs_mono_ms();
    bool window = !err && at->cnt && gw->conf->recent_ms > 0 && gw->backfill && left > 0;
    rd_kafka_resp_err_t werr = window ? rd_kafka_offsets_for_times(rk, at, (int)left)
                                      : RD_KAFKA_RESP_ERR_NO_ERROR;
    int64_t records = 0;
    int fresh = 0;
    for (int i = 0; !err && i < ends->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &ends->elems[i];
        if (e->err || e->offset < 0)
            continue;
        const rd_kafka_topic_partition_t *w =
            rd_kafka_topic_partition_list_find(at, e->topic, e->partition);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(parts, e->topic, e->partition);
        p->offset = e->offset;
        if (!window || werr || !w || w->err || w->offset < 0 || w->offset >= e->offset)
            continue;
        p->offset = w->offset;
        gw_backfill_t *b = &gw->backfill[gw->nbackfill++];
        snprintf(b->topic, sizeof(b->topic), "%s", e->topic);
        b->partition = e->partition;
        b->live = e->offset;
        records += e->offset - w->offset;
        fresh++;
    }
    if (err || werr)
        cs_log(CS_LOG_WARN, "kafka", "cannot look up the fan-out's %s (%s): %s",
               err ? "ends" : "last records", rd_kafka_err2str(err ? err : werr),
               err ? "new partitions start at the end, and the recent records empty"
                   : "the recent records start empty");
    else if (fresh)
        cs_log(CS_LOG_INFO, "kafka", "reading the last %lld ms of %d partition(s) (<= %lld "
               "records) into the recent records", (long long)gw->conf->recent_ms,
               fresh, (long long)records);
    atomic_store(&gw->backfill_until_ms, gw->nbackfill ? cs_mono_ms() + GW_BACKFILL_READY_MS : 0);
    gw_parts_replace(&gw->fanout_started, rd_kafka_topic_partition_list_copy(parts));
    rd_kafka_topic_partition_list_destroy(ends);
    rd_kafka_topic_partition_list_destroy(at);
}

/* True for a record read only into the store: below its partition's `live` offset. */
static bool gw_backfill_only(gw_t *gw, const char *topic, int32_t partition, int64_t offset)
{
    gw_backfill_t *b = gw_backfill_find(gw->backfill, gw->nbackfill, topic, partition);
    if (!b || b->live < 0)
        return false;
    if (offset < b->live)
        return true;
    b->live = -1; /* caught up: from here on, records are live */
    return false;
}

/* Every 100 ms while backfilling: a partition whose position passed `live` (also without a
 * record there: the end was a transaction marker) is through; the last one ends the
 * backfill, and the gateway is ready. */
static void gw_backfill_check(gw_t *gw, int64_t now_ms)
{
    if (!gw->nbackfill || now_ms - gw->backfill_checked_ms < 100)
        return;
    gw->backfill_checked_ms = now_ms;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(gw->nbackfill);
    for (int i = 0; i < gw->nbackfill; i++)
        if (gw->backfill[i].live >= 0)
            rd_kafka_topic_partition_list_add(l, gw->backfill[i].topic,
                                              gw->backfill[i].partition);
    if (l->cnt && rd_kafka_position(gw->consumer, l) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (int k = 0; k < l->cnt; k++) {
            gw_backfill_t *b = gw_backfill_find(gw->backfill, gw->nbackfill, l->elems[k].topic,
                                                l->elems[k].partition);
            if (b && l->elems[k].offset >= b->live)
                b->live = -1;
        }
    int left = 0;
    for (int i = 0; i < gw->nbackfill; i++)
        left += gw->backfill[i].live >= 0;
    if (!left) {
        free(gw->backfill);
        gw->backfill = NULL;
        gw->nbackfill = 0;
        atomic_store(&gw->backfill_until_ms, 0);
        cs_log(CS_LOG_INFO, "kafka", "the recent records reach back to the start: %.0f "
               "record(s) read into them only", (double)cs_counter_value(gw->m.fanout_backfilled));
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void gw_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    gw_t *gw = gw_of(opaque, offsetof(gw_t, consumer_kctx));
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* live from the end; the last fanout.recent.ms before it into the store only */
        gw_backfill_plan(gw, rk, parts);
        rd_kafka_assign(rk, parts);
        cs_kafka_partitions_assigned(&gw->consumer_kctx, parts, cs_mono_us());
        atomic_store(&gw->fanout_assigned, true);
        cs_log(CS_LOG_INFO, "kafka", "reading %d partition(s) of %s", parts->cnt,
               gw->topic_fanout);
    } else {
        gw_fanout_note_stop(gw, rk, parts);
        rd_kafka_assign(rk, NULL);
        cs_kafka_partitions_revoked(&gw->consumer_kctx, parts);
        atomic_store(&gw->fanout_assigned, false);
    }
}

const char *gw_fanout_decode(const void *key, size_t key_len, const void *value, size_t len,
                             cs_envelope_t *env, char *arena, char *why, size_t why_size)
{
    if (len > CS_ENVELOPE_MAX_BYTES)
        return "too large";
    if (cs_envelope_decode(value ? value : "", len, env, arena, GW_FANOUT_ARENA, why,
                           why_size) != CS_ERR_OK)
        return why;
    if (key_len != env->room_len || memcmp(key, env->room, key_len) != 0)
        return "its key is not its room";
    return NULL;
}

static void gw_fanout_record(gw_t *gw, const rd_kafka_message_t *m)
{
    static _Thread_local char arena[GW_FANOUT_ARENA];
    cs_envelope_t env;
    char why[200];
    const char *topic = rd_kafka_topic_name(m->rkt);
    cs_counter_inc(strcmp(topic, gw->topic_fanout) == 0 ? gw->m.fanout_local
                                                         : gw->m.fanout_remote);
    /* Every record is kept a while, as it came, for a loop that starts keeping its room
     * later (gw_recent.h); before the room set is asked, so that none falls between. One
     * read at start from before it is as old as its timestamp says, so that the store
     * reaches back fanout.recent.ms from its start, not that much from when it was read. */
    bool backfill = gw->nbackfill && gw_backfill_only(gw, topic, m->partition, m->offset);
    int64_t at_ms = cs_mono_ms();
    if (backfill) {
        int64_t ts = rd_kafka_message_timestamp(m, NULL), age = ts > 0 ? cs_wall_ms() - ts : 0;
        at_ms -= age > 0 ? age : 0;
    }
    uint64_t seq = m->key_len > 0 ? gw_recent_add(gw->recent, m->key, m->key_len, m->payload,
                                                  m->len, at_ms)
                                  : 0;
    if (backfill) {
        cs_counter_inc(gw->m.fanout_backfilled);
        return;
    }
    /* The key is the room, and only the loops that keep the room get the record: one no
     * loop keeps concerns nobody here and is not decoded, deduplicated, framed or posted
     * (with many gateways most records are someone else's: a DM has members on two at
     * most). A record without a key goes on to be refused below. */
    uint32_t loops = m->key_len > 0 ? gw_roomset_loops(gw->rooms, m->key, m->key_len) : ~0u;
    if (!loops) {
        cs_counter_inc(gw->m.fanout_skipped);
        return;
    }
    const char *bad =
        gw_fanout_decode(m->key, m->key_len, m->payload, m->len, &env, arena, why, sizeof(why));
    if (bad) {
        cs_log(CS_LOG_WARN, "kafka", "skipping a bad record in %s [%d] @%lld: %s", topic,
               m->partition, (long long)m->offset, bad);
        cs_counter_inc(gw->m.rejected[GW_REJ_BAD_REQUEST]);
        return;
    }
    /* Ids are assigned once, upstream: an id seen again is a copy (MirrorMaker re-copies
     * what it had not committed when the link was cut), never a new message. */
    if (gw->fanout_seen && cs_dedupe_observe(gw->fanout_seen, "", 0, env.id, strlen(env.id),
                                             env.ts, ++gw->fanout_seq)) {
        cs_counter_inc(gw->m.fanout_repeats);
        return;
    }
    /* A copy per loop: every delivery takes and drops a reference, and one count shared
     * by the loops' threads would bounce its cache line between the cores at each. */
    gw_frame_t *first = gw_frame_msg(&env);
    bool first_used = false;
    for (int i = 0; first && i < gw->nloops; i++) {
        if (!(loops & (UINT32_C(1) << i)))
            continue;
        gw_event_t *ev = calloc(1, sizeof(*ev));
        if (!ev)
            continue;
        ev->frame = !first_used ? gw_frame_ref(first)
                                : gw_frame_new((const char *)first->buf + LWS_PRE, first->len,
                                               env.id);
        first_used = true;
        if (!ev->frame) {
            free(ev);
            continue;
        }
        ev->kind = GW_EV_MSG;
        ev->seq = seq;
        snprintf(ev->room, sizeof(ev->room), "%s", env.room);
        gw_loop_post(gw->loops[i], ev);
    }
    gw_frame_unref(first);
}

/* The copies a crashed fan-out leaves are at most its commit interval (1 s) plus its
 * session timeout (10 s) old when they arrive; the id window has to reach that far back. */
#define GW_DEDUPE_MIN_SPAN_MS 11000

/* True at most once a minute per *last_ms: the pace of the Kafka thread's warnings. */
static bool gw_once_a_minute(int64_t *last_ms, int64_t now_ms)
{
    if (*last_ms && now_ms - *last_ms < 60000)
        return false;
    *last_ms = now_ms;
    return true;
}

/* Once a second: the id window's reach as a gauge, and a warning (at most once a minute)
 * when it is full and reaches back less than GW_DEDUPE_MIN_SPAN_MS — the message rate has
 * outgrown fanout.dedupe.ids. */
static void gw_dedupe_check(gw_t *gw, int64_t now_ms)
{
    if (!gw->fanout_seen || now_ms - gw->dedupe_checked_ms < 1000)
        return;
    gw->dedupe_checked_ms = now_ms;
    int64_t span_ms = cs_dedupe_span_ms(gw->fanout_seen);
    cs_gauge_set(gw->m.dedupe_window_s, (double)span_ms / 1000.0);
    bool full = (int64_t)cs_dedupe_entries(gw->fanout_seen) >= gw->conf->dedupe_ids;
    if (full && span_ms < GW_DEDUPE_MIN_SPAN_MS &&
        gw_once_a_minute(&gw->dedupe_warned_ms, now_ms))
        cs_log(CS_LOG_WARN, "kafka",
               "fanout.dedupe.ids=%lld reaches back only %.1f s of messages (< %d s): a "
               "repeat older than that (a crashed fan-out's copies) would be pushed twice; "
               "raise it to at least the message rate x %d s",
               (long long)gw->conf->dedupe_ids, (double)span_ms / 1000.0,
               GW_DEDUPE_MIN_SPAN_MS / 1000, GW_DEDUPE_MIN_SPAN_MS / 1000);
}

/* Once a second: the recent records' age limit applied when none come, their gauges, and a
 * warning (at most once a minute) when fanout.recent.bytes made them go before
 * fanout.recent.ms — a catch-up on a room started here then covers less of persist's
 * delay than configured. */
static void gw_recent_check(gw_t *gw, int64_t now_ms)
{
    if (now_ms - gw->recent_checked_ms < 1000)
        return;
    gw->recent_checked_ms = now_ms;
    gw_recent_expire(gw->recent, now_ms);
    gw_recent_stats_t st;
    gw_recent_stats(gw->recent, now_ms, &st);
    cs_gauge_set(gw->m.recent_bytes, (double)st.bytes);
    cs_gauge_set(gw->m.recent_window_s, (double)st.span_ms / 1000.0);
    uint64_t cut = st.evicted_full - gw->recent_evicted_full;
    gw->recent_evicted_full = st.evicted_full;
    cs_counter_add(gw->m.recent_cut, cut);
    if (cut > 0 && gw_once_a_minute(&gw->recent_warned_ms, now_ms))
        cs_log(CS_LOG_WARN, "kafka",
               "fanout.recent.bytes=%lld holds only %.1f s of fan-out records (< "
               "fanout.recent.ms=%lld): a room started here catches up less of persist's "
               "delay; raise it to at least the fan-out bytes per second x %lld s",
               (long long)gw->conf->recent_bytes, (double)st.span_ms / 1000.0,
               (long long)gw->conf->recent_ms, (long long)(gw->conf->recent_ms / 1000));
}

static void *gw_kafka_main(void *arg)
{
    gw_t *gw = arg;
    while (!atomic_load(&gw->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(gw->consumer, 20);
        /* The record first, the checks after: the poll that returned it already moved the
         * partition's position past it, so a backfill check in between would call the
         * partition through and the record, the backfill's last, would go out as live. */
        if (m && !m->err)
            gw_fanout_record(gw, m);
        else if (m && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            cs_log(CS_LOG_WARN, "kafka", "%s: %s",
                   m->rkt ? rd_kafka_topic_name(m->rkt) : gw->topic_fanout,
                   rd_kafka_message_errstr(m));
        if (m)
            rd_kafka_message_destroy(m);
        int64_t now_ms = cs_mono_ms();
        gw_dedupe_check(gw, now_ms);
        gw_recent_check(gw, now_ms);
        gw_backfill_check(gw, now_ms);
    }
    return NULL;
}

/* Delivery reports get a thread of their own: acks wait for nothing else. */
static pthread_t gw_dr_thread;
static void *gw_dr_main(void *arg)
{
    gw_t *gw = arg;
    while (!atomic_load(&gw->stop))
        rd_kafka_poll(gw->producer, 50);
    return NULL;
}

static bool gw_set(rd_kafka_conf_t *c, const char *k, const char *v, char *errstr, size_t n)
{
    return rd_kafka_conf_set(c, k, v, errstr, n) == RD_KAFKA_CONF_OK;
}

bool gw_kafka_start(gw_t *gw, char *errstr, size_t errstr_size)
{
    gw->producer_kctx.metrics = gw->metrics;
    gw->producer_kctx.component = "gateway";
    rd_kafka_conf_t *pc = cs_kafka_conf_new(CS_KAFKA_PRODUCER, gw->conf->brokers,
                                            "chatstream-gateway", gw->cs_conf, &gw->producer_kctx,
                                            errstr, errstr_size);
    if (!pc)
        return false;
    char ms[32];
    snprintf(ms, sizeof(ms), "%lld", (long long)gw->conf->produce_timeout_ms);
    if (!gw_set(pc, "message.timeout.ms", ms, errstr, errstr_size)) {
        rd_kafka_conf_destroy(pc);
        return false;
    }
    rd_kafka_conf_set_dr_msg_cb(pc, gw_dr_cb);
    gw->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, errstr_size);
    if (!gw->producer) {
        rd_kafka_conf_destroy(pc);
        return false;
    }
    gw->producer_topic = rd_kafka_topic_new(gw->producer, gw->topic_messages, NULL);

    gw->consumer_kctx.metrics = gw->metrics;
    gw->consumer_kctx.component = "gateway";
    char group[200], host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    snprintf(group, sizeof(group), "chatstream-gateway.%s.%d.%lld", host, (int)getpid(),
             (long long)cs_wall_ms());
    /* Broker health comes from the consumer's statistics (every second): librdkafka only
     * says ALL_BROKERS_DOWN, never "back up", and the producer keeps no statistics. */
    gw->consumer_kctx.group = "gateway";
    rd_kafka_conf_t *cc = cs_kafka_conf_new(CS_KAFKA_CONSUMER, gw->conf->brokers,
                                            "chatstream-gateway", gw->cs_conf, &gw->consumer_kctx,
                                            errstr, errstr_size);
    if (!cc)
        return false;
    if (!gw_set(cc, "group.id", group, errstr, errstr_size) ||
        !gw_set(cc, "enable.auto.commit", "false", errstr, errstr_size) ||
        !gw_set(cc, "auto.offset.reset", "latest", errstr, errstr_size) ||
        !gw_set(cc, "isolation.level", "read_committed", errstr, errstr_size) ||
        !gw_set(cc, "statistics.interval.ms", "1000", errstr, errstr_size)) {
        rd_kafka_conf_destroy(cc);
        return false;
    }
    rd_kafka_conf_set_rebalance_cb(cc, gw_rebalance_cb);
    gw->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, errstr_size);
    if (!gw->consumer) {
        rd_kafka_conf_destroy(cc);
        return false;
    }
    rd_kafka_poll_set_consumer(gw->consumer);
    if (gw->conf->dedupe_ids > 0) {
        uint8_t key[16];
        cs_dedupe_new_key(key);
        /* by count only: a day's window never evicts by age before the count does */
        gw->fanout_seen = cs_dedupe_new(gw->conf->dedupe_ids, 86400000, key);
        if (!gw->fanout_seen) {
            snprintf(errstr, errstr_size, "out of memory for fanout.dedupe.ids");
            return false;
        }
    }
    /* this region's fan-out, and the other regions' mirrored into this cluster (a topic
     * that does not exist yet is picked up when MirrorMaker creates it) */
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_add(topics, gw->topic_fanout, RD_KAFKA_PARTITION_UA);
    size_t n;
    for (const char *cur = gw->conf->fanout_remote, *p; cs_conf_list_next(&cur, &p, &n);) {
        char name[256];
        if (n > 0) {
            /* Kafka's own rule: 1..249 of [A-Za-z0-9._-] */
            bool ok = n <= 249;
            for (size_t i = 0; ok && i < n; i++)
                ok = isalnum((unsigned char)p[i]) || p[i] == '.' || p[i] == '_' || p[i] == '-';
            if (!ok) {
                snprintf(errstr, errstr_size, "fanout.remote.topics: '%.*s' is not a Kafka topic "
                         "name (1-249 of letters, digits, '.', '_', '-')", (int)(n > 80 ? 80 : n), p);
                rd_kafka_topic_partition_list_destroy(topics);
                return false;
            }
            memcpy(name, p, n);
            name[n] = '\0';
            rd_kafka_topic_partition_list_add(topics, name, RD_KAFKA_PARTITION_UA);
            cs_log(CS_LOG_INFO, "kafka", "also delivering the mirrored %s", name);
        }
    }
    rd_kafka_resp_err_t err = rd_kafka_subscribe(gw->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe to %s: %s", gw->topic_fanout,
                 rd_kafka_err2str(err));
        return false;
    }
    cs_log(CS_LOG_INFO, "kafka", "reading the fan-out as consumer group %s", group);
    if (pthread_create(&gw->kafka_thread, NULL, gw_kafka_main, gw) != 0 ||
        pthread_create(&gw_dr_thread, NULL, gw_dr_main, gw) != 0) {
        snprintf(errstr, errstr_size, "cannot start the Kafka threads");
        return false;
    }
    return true;
}

void gw_kafka_drain(gw_t *gw, int64_t timeout_ms)
{
    /* outq_len counts queued, in-flight and not-yet-served delivery reports */
    int64_t deadline = cs_mono_ms() + timeout_ms;
    while (gw->producer && rd_kafka_outq_len(gw->producer) > 0 && cs_mono_ms() < deadline)
        usleep(10 * 1000);
}

/* After the loops have stopped: waits (bounded) for the last reports, closes both. */
void gw_kafka_stop(gw_t *gw)
{
    if (gw->consumer) {
        pthread_join(gw->kafka_thread, NULL);
        pthread_join(gw_dr_thread, NULL);
        rd_kafka_consumer_close(gw->consumer);
        rd_kafka_destroy(gw->consumer);
        gw->consumer = NULL;
    }
    if (gw->producer) {
        rd_kafka_flush(gw->producer, 5000);
        if (gw->producer_topic)
            rd_kafka_topic_destroy(gw->producer_topic);
        rd_kafka_destroy(gw->producer);
        gw->producer = NULL;
    }
    cs_dedupe_destroy(gw->fanout_seen);
    gw->fanout_seen = NULL;
    free(gw->backfill);
    gw->backfill = NULL;
    gw->nbackfill = 0;
    gw_parts_replace(&gw->fanout_stopped, NULL);
    gw_parts_replace(&gw->fanout_started, NULL);
    cs_kafka_ctx_clear(&gw->producer_kctx);
    cs_kafka_ctx_clear(&gw->consumer_kctx);
}
