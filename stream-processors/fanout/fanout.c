/*
 * chatstream-fanout: chat.messages (key = user) -> chat.fanout (key = room).
 *
 * Each record is decoded strictly (an invalid envelope, or one whose record key is not its
 * user, is dead-lettered with the reason), checked against the client-retry window of its
 * input partition (cs_dedupe.h: same user and cmid seen recently -> dropped), and produced
 * unchanged to chat.fanout keyed by its room, so a room's messages share one partition and
 * one order. The processor is transactional (see cs_processor.h): a batch's outputs, dead
 * letters and input offsets commit together, so chat.fanout holds every accepted message
 * exactly once for read_committed readers, across crashes and rebalances. With
 * transactions=false it is at-least-once instead (no transaction round trips per batch:
 * lower latency); a crash then repeats up to a commit interval of records in chat.fanout,
 * which the gateways drop by message id (fanout.dedupe.ids).
 *
 * The retry windows are in-memory state derived from the input. Each records the offset it
 * has seen up to; when a batch does not continue where the window stopped (a new or
 * restarted instance, a partition taken over from another instance, a batch retried after
 * an abort) the window is rebuilt first by re-reading the partition's last
 * dedupe.window.records records (bounded by time as well), so decisions are the same as an
 * uninterrupted run would have made and an aborted-and-retried batch reproduces its output.
 */
#include "cs_dedupe.h"
#include "cs_envelope.h"
#include "cs_kafka.h"
#include "cs_log.h"
#include "cs_processor.h"
#include "cs_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct cs_fanout_conf {
    char *output_topic;
    int64_t window_records;
    int64_t window_ms;
    bool rebuild;
    int64_t rebuild_timeout_ms;
    int64_t queue_timeout_ms;
    int64_t test_delay_ms;
} cs_fanout_conf_t;

static const cs_conf_def_t cs_fanout_defs[] = {
    CS_CONF_ROW_STR(cs_fanout_conf_t, output_topic, "output.topic", "chat.fanout", 200,
                    "Topic the messages are re-keyed to (by room), without the prefix."),
    CS_CONF_ROW_INT(cs_fanout_conf_t, window_records, "dedupe.window.records", "100000", 0,
                    10000000,
                    "A client retry (same user and cmid) is dropped when the previous sighting "
                    "is among the last this many records of its input partition (0: no "
                    "dedupe)..."),
    CS_CONF_ROW_INT(cs_fanout_conf_t, window_ms, "dedupe.window.ms", "300000", 0, 86400000,
                    "...and at most this much older by the gateway's ts."),
    CS_CONF_ROW_BOOL(cs_fanout_conf_t, rebuild, "dedupe.rebuild", "true",
                     "Rebuild a partition's window by re-reading its last records when taking "
                     "it over (false: start empty; retries across a restart get through)."),
    CS_CONF_ROW_INT(cs_fanout_conf_t, rebuild_timeout_ms, "dedupe.rebuild.timeout.ms", "60000",
                    1000, 3600000, "Give up a rebuild (and retry the batch later) after this long."),
    CS_CONF_ROW_INT(cs_fanout_conf_t, queue_timeout_ms, "produce.queue.timeout.ms", "30000", 100,
                    600000, "How long to wait for room in a full local producer queue."),
    CS_CONF_ROW_INT(cs_fanout_conf_t, test_delay_ms, "test.batch.delay.ms", "0", 0, 60000,
                    "Testing only: hold each batch's transaction open this long after "
                    "producing, to widen race windows (zombie tests)."),
};

/* One input partition's retry window and where it stands. */
typedef struct cs_fanout_part {
    cs_dedupe_t *window;        /* NULL until first used */
    int64_t next_offset;        /* the window reflects every record before this; -1: nothing */
    bool suspect;               /* (re)assigned since last used: valid only if we continue */
    bool revoked;               /* revoked and not (yet) assigned again */
    uint64_t stamp;             /* process() call that last checked it */
    bool rebuild;               /* to be rebuilt up to `target` in this call */
    int64_t target;             /* offset of the first record to process after the rebuild */
    int64_t target_ts;          /* that record's Kafka timestamp (bounds the re-read by time) */
} cs_fanout_part_t;

typedef struct cs_fanout {
    cs_fanout_conf_t conf;
    const cs_proc_ctx_t *ctx;
    cs_producer_t *producer;
    char topic[256];            /* output, with prefix */
    char input[256];            /* input topic name, learnt from the records */
    cs_fanout_part_t *parts;    /* indexed by input partition */
    size_t nparts;
    uint8_t key[16];            /* SipHash key of every window */
    rd_kafka_t *reader;         /* re-reads input partitions to rebuild windows */
    cs_kafka_ctx_t reader_kctx;
    char *arena;                /* decoder arena */
    size_t arena_cap;
    uint64_t stamp;

    uint64_t pend_in, pend_out, pend_dropped; /* this attempt; counted once it commits */

    cs_counter_t *m_in;
    cs_counter_t *m_out;
    cs_counter_t *m_dropped;
    cs_counter_t *m_rebuilds;
    cs_counter_t *m_rebuild_records;
    cs_histogram_t *m_rebuild_seconds;
    cs_gauge_t *m_entries;
    cs_gauge_t *m_bytes;
    cs_gauge_t *m_windows;
} cs_fanout_t;

static void cs_fanout_add_conf(cs_conf_t *conf, void *pconf)
{
    (void)pconf;
    char err[128];
    /* Java's partitioner (murmur2): any Kafka client can compute a room's partition, which
     * room-aware routing needs. A default: kafka.producer.partitioner still wins. */
    cs_conf_set(conf, "kafka.producer.partitioner", "murmur2_random", err, sizeof(err));
}

static void *cs_fanout_init(const cs_proc_ctx_t *ctx, void *vconf, char *errstr,
                            size_t errstr_size)
{
    cs_fanout_t *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    f->conf = *(cs_fanout_conf_t *)vconf;
    f->ctx = ctx;
    f->producer = ctx->producer;
    cs_proc_topic(ctx, f->conf.output_topic, f->topic, sizeof(f->topic));
    cs_dedupe_new_key(f->key);
    cs_metrics_t *m = ctx->metrics;
    const char *l = "processor=\"fanout\"";
    f->m_in = cs_metrics_counter(m, "chatstream_fanout_records_in_total", l,
                                 "Input records in committed batches.");
    f->m_out = cs_metrics_counter(m, "chatstream_fanout_records_out_total", l,
                                  "Messages committed to the fan-out topic.");
    f->m_dropped = cs_metrics_counter(m, "chatstream_fanout_retries_dropped_total", l,
                                      "Client retries (same user and cmid) dropped.");
    f->m_rebuilds = cs_metrics_counter(m, "chatstream_fanout_window_rebuilds_total", l,
                                       "Retry windows rebuilt by re-reading their partition.");
    f->m_rebuild_records = cs_metrics_counter(m, "chatstream_fanout_window_rebuild_records_total",
                                              l, "Records re-read to rebuild retry windows.");
    f->m_rebuild_seconds = cs_metrics_histogram(m, "chatstream_fanout_window_rebuild_seconds", l,
                                                "Time to rebuild the windows a batch needed.",
                                                cs_metrics_latency_buckets,
                                                cs_metrics_latency_nbuckets);
    f->m_entries = cs_metrics_gauge(m, "chatstream_fanout_dedupe_entries", l,
                                    "(user, cmid) sightings held in the retry windows.");
    f->m_bytes = cs_metrics_gauge(m, "chatstream_fanout_dedupe_bytes", l,
                                  "Memory allocated by the retry windows.");
    f->m_windows = cs_metrics_gauge(m, "chatstream_fanout_dedupe_windows", l,
                                    "Retry windows held (one per input partition seen).");
    cs_log(CS_LOG_INFO, "fanout", "re-keying by room to %s; retry window %lld records / %lld ms%s",
           f->topic, (long long)f->conf.window_records, (long long)f->conf.window_ms,
           f->conf.rebuild ? ", rebuilt on take-over" : ", NOT rebuilt on take-over");
    return f;
}

static cs_fanout_part_t *cs_fanout_part(cs_fanout_t *f, int32_t partition)
{
    if (partition < 0)
        return NULL;
    if ((size_t)partition >= f->nparts) {
        size_t n = (size_t)partition + 1;
        cs_fanout_part_t *parts = realloc(f->parts, n * sizeof(*parts));
        if (!parts)
            return NULL;
        for (size_t i = f->nparts; i < n; i++)
            parts[i] = (cs_fanout_part_t){.next_offset = -1};
        f->parts = parts;
        f->nparts = n;
    }
    return &f->parts[partition];
}

static void cs_fanout_part_free(cs_fanout_part_t *p)
{
    cs_dedupe_destroy(p->window);
    p->window = NULL;
    p->next_offset = -1;
    p->suspect = false;
}

/*
 * Decodes one input record. Not OK for a record fan-out refuses, with the reason: an
 * invalid envelope, or a key that is not the sender (retry dedupe relies on all of a
 * user's messages sharing a partition).
 */
static cs_err_t cs_fanout_decode(cs_fanout_t *f, const rd_kafka_message_t *m, cs_envelope_t *env,
                                 char *why, size_t why_size)
{
    size_t need = cs_envelope_arena_size(m->len);
    if (need > f->arena_cap) {
        char *a = realloc(f->arena, need);
        if (!a) {
            snprintf(why, why_size, "out of memory");
            return CS_ERR_NOMEM;
        }
        f->arena = a;
        f->arena_cap = need;
    }
    cs_err_t rc = cs_envelope_decode(m->payload ? m->payload : "", m->len, env, f->arena, need,
                                     why, why_size);
    if (rc != CS_ERR_OK)
        return rc;
    if (!m->key || m->key_len != env->user_len || memcmp(m->key, env->user, env->user_len) != 0) {
        snprintf(why, why_size, "record key '%.*s' is not the sender '%s' (%s must be keyed by "
                 "user)", m->key ? (int)(m->key_len > 64 ? 64 : m->key_len) : 6,
                 m->key ? (const char *)m->key : "(null)", env->user, f->input);
        return CS_ERR_BAD_FIELD;
    }
    return CS_ERR_OK;
}

/* Rebuild: what the original run remembered from a record (decisions are not needed). */
static void cs_fanout_remember(cs_fanout_t *f, cs_fanout_part_t *p, const rd_kafka_message_t *m)
{
    cs_envelope_t env;
    char why[200];
    if (cs_fanout_decode(f, m, &env, why, sizeof(why)) == CS_ERR_OK && env.cmid)
        cs_dedupe_observe(p->window, env.user, env.user_len, env.cmid, env.cmid_len, env.ts,
                          m->offset);
}

static rd_kafka_t *cs_fanout_reader(cs_fanout_t *f, char *errstr, size_t errstr_size)
{
    if (f->reader)
        return f->reader;
    char cid[300];
    snprintf(cid, sizeof(cid), "chatstream-fanout-rebuild");
    f->reader_kctx.component = "fanout-rebuild";
    rd_kafka_conf_t *kconf = cs_kafka_conf_new(CS_KAFKA_CONSUMER, f->ctx->brokers, cid,
                                               f->ctx->conf, &f->reader_kctx, errstr, errstr_size);
    if (!kconf)
        return NULL;
    /* Partitions are assigned by hand and nothing is committed, so the group is never
     * joined; librdkafka 2.0.2's consumer_poll still wants a group.id ("Unknown group"). */
    char group[300];
    snprintf(group, sizeof(group), "%s.rebuild", f->ctx->group);
    if (rd_kafka_conf_set(kconf, "group.id", group, errstr, errstr_size) ||
        rd_kafka_conf_set(kconf, "enable.auto.commit", "false", errstr, errstr_size) ||
        rd_kafka_conf_set(kconf, "enable.partition.eof", "true", errstr, errstr_size) ||
        rd_kafka_conf_set(kconf, "statistics.interval.ms", "0", errstr, errstr_size)) {
        rd_kafka_conf_destroy(kconf);
        return NULL;
    }
    f->reader = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, errstr_size);
    if (!f->reader) {
        rd_kafka_conf_destroy(kconf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(f->reader);
    return f->reader;
}

/*
 * Rebuilds every window marked `rebuild`: clears it, then re-reads its partition from
 * max(target - window.records, the first offset within window.ms + skew of the target's
 * timestamp) up to target - 1 and remembers each record as the original run did.
 */
static cs_err_t cs_fanout_rebuild(cs_fanout_t *f, char *errstr, size_t errstr_size)
{
    int64_t t0 = cs_mono_us();
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    rd_kafka_topic_partition_list_t *bytime = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < f->nparts; i++) {
        cs_fanout_part_t *p = &f->parts[i];
        if (!p->rebuild)
            continue;
        cs_dedupe_clear(p->window);
        int64_t start = p->target - f->conf.window_records;
        if (!f->conf.rebuild || p->target <= 0) {
            p->rebuild = false; /* nothing before it, or the gap accepted by configuration */
            p->next_offset = p->target;
            continue;
        }
        rd_kafka_topic_partition_list_add(list, f->input, (int32_t)i)->offset =
            start > 0 ? start : 0;
        if (p->target_ts > 0)
            rd_kafka_topic_partition_list_add(bytime, f->input, (int32_t)i)->offset =
                p->target_ts - f->conf.window_ms - CS_DEDUPE_SKEW_MS;
    }
    cs_err_t status = CS_ERR_OK;
    if (list->cnt == 0)
        goto done;
    rd_kafka_t *reader = cs_fanout_reader(f, errstr, errstr_size);
    if (!reader) {
        status = CS_ERR_UNAVAILABLE;
        goto done;
    }
    /* Start no earlier than the window's age allows: at low traffic that is far fewer than
     * window.records records. (Kafka timestamps are the gateway's send times, close to the
     * envelope's ts; CS_DEDUPE_SKEW_MS covers the difference.) */
    if (bytime->cnt > 0 &&
        rd_kafka_offsets_for_times(reader, bytime, (int)f->conf.rebuild_timeout_ms) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < bytime->cnt; i++) {
            rd_kafka_topic_partition_t *t = &bytime->elems[i];
            rd_kafka_topic_partition_t *l =
                rd_kafka_topic_partition_list_find(list, f->input, t->partition);
            if (!t->err && l && t->offset > l->offset)
                l->offset = t->offset;
        }
    }
    int remaining = 0;
    for (int i = 0; i < list->cnt; i++) {
        cs_fanout_part_t *p = &f->parts[list->elems[i].partition];
        if (list->elems[i].offset >= p->target) {
            p->rebuild = false;
            p->next_offset = p->target;
        } else {
            remaining++;
        }
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(reader, list);
    if (err) {
        snprintf(errstr, errstr_size, "rebuild: assign: %s", rd_kafka_err2str(err));
        status = CS_ERR_UNAVAILABLE;
        goto done;
    }
    int64_t deadline = cs_mono_ms() + f->conf.rebuild_timeout_ms;
    uint64_t records = 0;
    int logged = 0;
    while (remaining > 0) {
        if (cs_mono_ms() > deadline) {
            snprintf(errstr, errstr_size, "rebuild of %d retry window(s) timed out", remaining);
            status = CS_ERR_TIMEOUT;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(reader, 100);
        if (!m)
            continue;
        cs_fanout_part_t *p = m->partition >= 0 && (size_t)m->partition < f->nparts
                                  ? &f->parts[m->partition]
                                  : NULL;
        if (m->err && !p && !logged++)
            cs_log(CS_LOG_WARN, "rebuild", "%s", rd_kafka_message_errstr(m));
        if (!p || !p->rebuild) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                p->rebuild = false;
                remaining--;
            } else {
                cs_log(CS_LOG_INFO, "rebuild", "[%d]: %s", m->partition,
                       rd_kafka_message_errstr(m));
            }
        } else if (m->offset >= p->target) {
            p->rebuild = false;
            remaining--;
        } else {
            cs_fanout_remember(f, p, m);
            records++;
            if (m->offset == p->target - 1) {
                p->rebuild = false;
                remaining--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(reader, NULL);
    cs_counter_add(f->m_rebuild_records, records);
    if (status == CS_ERR_OK) {
        cs_counter_add(f->m_rebuilds, (uint64_t)list->cnt);
        cs_histogram_observe(f->m_rebuild_seconds, (double)(cs_mono_us() - t0) / 1e6);
        cs_log(CS_LOG_INFO, "rebuild", "%d retry window(s) rebuilt from %llu records in %.3f s",
               list->cnt, (unsigned long long)records, (double)(cs_mono_us() - t0) / 1e6);
    }
done:
    for (int i = 0; i < list->cnt; i++) {
        cs_fanout_part_t *p = &f->parts[list->elems[i].partition];
        if (status == CS_ERR_OK) {
            p->next_offset = p->target;
        } else {
            p->rebuild = false;
            p->next_offset = -1; /* still unknown: the retried batch rebuilds it */
            cs_dedupe_clear(p->window);
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_topic_partition_list_destroy(bytime);
    return status;
}

/* Marks the windows this call cannot trust for a rebuild; rebuilds them. */
static cs_err_t cs_fanout_check_windows(cs_fanout_t *f, cs_record_t *recs, size_t n,
                                        char *errstr, size_t errstr_size)
{
    bool need = false;
    f->stamp++;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = recs[i].msg;
        cs_fanout_part_t *p = cs_fanout_part(f, m->partition);
        if (!p) {
            snprintf(errstr, errstr_size, "out of memory");
            return CS_ERR_NOMEM;
        }
        if (p->stamp == f->stamp)
            continue; /* only the partition's first record in this call decides */
        p->stamp = f->stamp;
        if (!*f->input)
            snprintf(f->input, sizeof(f->input), "%s", rd_kafka_topic_name(m->rkt));
        if (!p->window) {
            p->window = cs_dedupe_new(f->conf.window_records, f->conf.window_ms, f->key);
            if (!p->window) {
                snprintf(errstr, errstr_size, "out of memory");
                return CS_ERR_NOMEM;
            }
            p->next_offset = -1;
        }
        /* Valid: we have seen everything before this record, and nobody else has since
         * (after a (re)assignment the offset must match exactly; otherwise the framework
         * may have skipped records it dead-lettered unread). */
        bool valid = p->next_offset >= 0 &&
                     (p->suspect ? m->offset == p->next_offset : m->offset >= p->next_offset);
        p->suspect = false;
        if (!valid) {
            rd_kafka_timestamp_type_t tstype;
            p->rebuild = true;
            p->target = m->offset;
            p->target_ts = rd_kafka_message_timestamp(m, &tstype);
            need = true;
        }
    }
    return need ? cs_fanout_rebuild(f, errstr, errstr_size) : CS_ERR_OK;
}

static cs_err_t cs_fanout_process(void *state, cs_record_t *recs, size_t n, char *errstr,
                                  size_t errstr_size)
{
    cs_fanout_t *f = state;
    bool dedupe = f->conf.window_records > 0;
    if (dedupe) {
        cs_err_t rc = cs_fanout_check_windows(f, recs, n, errstr, errstr_size);
        if (rc != CS_ERR_OK)
            return rc;
    }
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = recs[i].msg;
        cs_envelope_t env;
        char why[200];
        f->pend_in++;
        cs_err_t rc = cs_fanout_decode(f, m, &env, why, sizeof(why));
        cs_fanout_part_t *p = dedupe ? &f->parts[m->partition] : NULL;
        if (rc == CS_ERR_NOMEM) {
            snprintf(errstr, errstr_size, "%s", why);
            return rc;
        }
        if (rc != CS_ERR_OK) {
            cs_record_reject(&recs[i], rc, "%s", why);
            if (p)
                p->next_offset = m->offset + 1;
            continue;
        }
        bool retry = p && env.cmid &&
                     cs_dedupe_observe(p->window, env.user, env.user_len, env.cmid,
                                       env.cmid_len, env.ts, m->offset);
        if (p)
            p->next_offset = m->offset + 1;
        if (retry) {
            f->pend_dropped++;
            continue;
        }
        /* The value is forwarded byte for byte: the same envelope, keyed by room. */
        rc = cs_producer_send(f->producer, f->topic, RD_KAFKA_PARTITION_UA, env.room,
                              env.room_len, m->payload, m->len, NULL,
                              (int)f->conf.queue_timeout_ms);
        if (rc != CS_ERR_OK) {
            snprintf(errstr, errstr_size, "produce to %s: %s", f->topic, cs_err_str(rc));
            return rc;
        }
        f->pend_out++;
    }
    if (f->conf.test_delay_ms > 0)
        usleep((useconds_t)(f->conf.test_delay_ms * 1000));
    return CS_ERR_OK;
}

static void cs_fanout_batch_end(void *state, bool durable)
{
    cs_fanout_t *f = state;
    if (durable) {
        cs_counter_add(f->m_in, f->pend_in);
        cs_counter_add(f->m_out, f->pend_out);
        cs_counter_add(f->m_dropped, f->pend_dropped);
    }
    f->pend_in = f->pend_out = f->pend_dropped = 0;
    size_t entries = 0, bytes = 0, windows = 0;
    for (size_t i = 0; i < f->nparts; i++) {
        if (!f->parts[i].window)
            continue;
        windows++;
        entries += cs_dedupe_entries(f->parts[i].window);
        bytes += cs_dedupe_bytes(f->parts[i].window);
    }
    cs_gauge_set(f->m_entries, (double)entries);
    cs_gauge_set(f->m_bytes, (double)bytes);
    cs_gauge_set(f->m_windows, (double)windows);
}

/*
 * Windows survive a rebalance: an eager rebalance revokes everything and usually gives most
 * partitions back, and a window whose partition continues exactly where it stopped is still
 * right. Windows of partitions that went elsewhere are freed at the next assignment.
 */
static void cs_fanout_rebalance(void *state, bool assigned,
                                const rd_kafka_topic_partition_list_t *parts)
{
    cs_fanout_t *f = state;
    for (int i = 0; i < parts->cnt; i++) {
        cs_fanout_part_t *p = cs_fanout_part(f, parts->elems[i].partition);
        if (!p)
            continue;
        p->revoked = !assigned;
        p->suspect = true;
    }
    if (!assigned)
        return;
    for (size_t i = 0; i < f->nparts; i++) {
        if (f->parts[i].revoked) {
            cs_fanout_part_free(&f->parts[i]);
            f->parts[i].revoked = false;
        }
    }
}

static void cs_fanout_destroy(void *state)
{
    cs_fanout_t *f = state;
    if (f->reader) {
        rd_kafka_consumer_close(f->reader);
        rd_kafka_destroy(f->reader);
    }
    cs_kafka_ctx_clear(&f->reader_kctx);
    for (size_t i = 0; i < f->nparts; i++)
        cs_fanout_part_free(&f->parts[i]);
    free(f->parts);
    free(f->arena);
    free(f);
}

const cs_processor_t cs_fanout_processor = {
    .name = "fanout",
    .summary = "Re-keys chat messages by room (chat.messages -> chat.fanout), exactly once, "
               "dropping client retries.",
    .input_topic = "chat.messages",
    .conf_defs = cs_fanout_defs,
    .conf_ndefs = sizeof(cs_fanout_defs) / sizeof(cs_fanout_defs[0]),
    .conf_size = sizeof(cs_fanout_conf_t),
    .add_conf = cs_fanout_add_conf,
    .init = cs_fanout_init,
    .process = cs_fanout_process,
    .destroy = cs_fanout_destroy,
    .transactional = true,
    .on_batch_end = cs_fanout_batch_end,
    .on_rebalance = cs_fanout_rebalance,
};
