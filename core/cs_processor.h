/*
 * cs_processor — the consumer framework every chatstream processor runs on.
 *
 * A processor is a table of callbacks (name, config table, init, process,
 * ready, destroy); its main() is one call to cs_processor_main(). The framework
 * owns everything else, once, for all of them:
 *
 *   - configuration (its own table + the processor's), logging, /metrics,
 *     /healthz and /readyz;
 *   - subscribe and poll (rd_kafka_consumer_poll: librdkafka 2.0.2's batch APIs
 *     can lose messages in a rebalance), batching by count, bytes and time;
 *   - process(): the processor makes a batch durable; only then are the batch's
 *     offsets stored (enable.auto.offset.store=false) and later committed;
 *   - a retriable failure pauses the assigned partitions (no spinning, no
 *     skipping), retries the same batch with capped exponential backoff, and
 *     resumes when it succeeds;
 *   - a permanent failure splits the batch in halves until the record the sink
 *     refuses is alone; that record goes to the dead-letter topic with the reason
 *     in headers, the rest is written;
 *   - rebalance: on revoke, the batch is finished if possible and the stored
 *     offsets are committed synchronously before the partitions are given up;
 *   - consumer lag per partition as a gauge; SIGTERM/SIGINT: finish the batch,
 *     commit, close, exit 0.
 *
 * Guarantee: at-least-once. A crash repeats at most the uncommitted records, so
 * every process() must be idempotent (sinks write on the message id). Records process()
 * produces with cs_producer_send() are waited for, with the batch's dead letters, before
 * the batch's offsets are stored: a failed delivery retries the batch. A record the broker
 * refuses for good (too large, invalid) is narrowed down like a sink's refusal: the batch is
 * processed again in halves, each half's outputs flushed and delivered (repeats, which an
 * at-least-once topic's readers accept), until the input record whose output was refused is
 * alone; it is dead-lettered and the batch processed once more without it.
 *
 * Transactional processors (`.transactional = true`, for Kafka-to-Kafka processors):
 * exactly-once into their output topics, for read_committed readers. The shared producer
 * is transactional; each batch is one transaction holding the processor's outputs, the
 * batch's dead letters and the batch's input offsets (sendOffsetsToTransaction), committed
 * together or aborted together. Offsets are then never stored or auto-committed
 * (enable.auto.commit=false): the transaction is the only commit. process() produces with
 * cs_producer_send() and need not wait for delivery: the framework waits for every report
 * before committing. A failure aborts the transaction and retries the whole batch (paused,
 * with backoff); a retry first drops the records the group's committed offsets say are
 * done (a commit whose answer was lost may have succeeded). A permanent failure is
 * narrowed down with throwaway transactions (always aborted) until the record at fault is
 * alone; it is dead-lettered and the rest committed. On revoke the batch is committed in
 * one last transaction if possible, else aborted and left to the next owner; a zombie
 * instance cannot commit, its group generation is fenced (KIP-447).
 */
#ifndef CS_PROCESSOR_H
#define CS_PROCESSOR_H

#include "cs_conf.h"
#include "cs_err.h"
#include "cs_metrics.h"
#include "cs_producer.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

/* One consumed record in a batch. */
typedef struct cs_record {
    rd_kafka_message_t *msg;     /* the record; owned by the framework */
    cs_err_t reject;             /* set by process() (cs_record_reject) to dead-letter it */
    char reason[200];            /* why, for the DLQ headers and the log */
    bool dead;                   /* framework-internal: rejected before process() saw it */
} cs_record_t;

/* What a processor gets from the framework at init. */
typedef struct cs_proc_ctx {
    const char *name;            /* "persist" */
    const char *group;           /* consumer group id */
    const char *topic_prefix;    /* prepend to every topic name */
    const char *brokers;
    const cs_conf_t *conf;       /* for cs_kafka_conf_new / kafka.* passthrough */
    cs_metrics_t *metrics;       /* the process's registry */
    cs_producer_t *producer;     /* shared idempotent producer (outputs and DLQ) */
} cs_proc_ctx_t;

typedef struct cs_processor {
    const char *name;            /* short name; the binary is chatstream-<name> */
    const char *summary;         /* one line for --help */
    const char *input_topic;     /* default input topic, without the prefix */
    const cs_conf_def_t *conf_defs; /* the processor's own options (may be NULL) */
    size_t conf_ndefs;
    size_t conf_size;            /* sizeof the struct conf_defs point into */
    /* Optional: registers more config sections (e.g. one per sink) before loading. */
    void (*add_conf)(cs_conf_t *conf, void *pconf);
    /* Builds the processor's state; NULL + errstr to abort start-up. */
    void *(*init)(const cs_proc_ctx_t *ctx, void *conf, char *errstr, size_t errstr_size);
    /*
     * Makes recs[0..n) durable, idempotently. For a record it will never accept,
     * call cs_record_reject() and carry on. Return:
     *   CS_ERR_OK            everything not rejected is durable;
     *   a retriable error    nothing is assumed written; the same batch comes again later;
     *   a permanent error    the batch is split to find the record at fault.
     * May be called again with the same records; must not keep them after returning.
     */
    cs_err_t (*process)(void *state, cs_record_t *recs, size_t n, char *errstr,
                        size_t errstr_size);
    /* Optional readiness (called on the admin thread: read only thread-safe state). */
    bool (*ready)(void *state, char *reason, size_t reason_size);
    void (*destroy)(void *state);

    /* Opt in to transactional (exactly-once) output; see the head comment. */
    bool transactional;
    /*
     * Optional: called on the main loop after each attempt at a batch ends. durable=true:
     * the work of every process() call since the previous on_batch_end is durable
     * (committed). durable=false: it was abandoned (aborted, or failed) and the records
     * will be processed again, so in-memory state derived from them must not be trusted.
     */
    void (*on_batch_end)(void *state, bool durable);
    /*
     * Optional: partitions assigned (true) or revoked/lost (false), called from the rebalance
     * callback on the main loop, after the batch records of revoked partitions have been
     * committed or dropped. Lets a processor keep per-partition state.
     */
    void (*on_rebalance)(void *state, bool assigned,
                         const rd_kafka_topic_partition_list_t *partitions);
} cs_processor_t;

/* Marks a record for the dead-letter topic, with a reason. */
void cs_record_reject(cs_record_t *rec, cs_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* prefix + base into out, e.g. cs_proc_topic(ctx, "chat.vectors", ...). */
void cs_proc_topic(const cs_proc_ctx_t *ctx, const char *base, char *out, size_t out_size);

/* Runs the processor until SIGTERM/SIGINT. Returns the process exit code. */
int cs_processor_main(const cs_processor_t *proc, int argc, char **argv);
/* Asks a running cs_processor_main to shut down as if signalled (tests, embedding). */
void cs_processor_stop(void);

#endif
