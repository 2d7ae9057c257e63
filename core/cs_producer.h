/*
 * cs_producer — an idempotent, acks=all producer that a batch can wait on.
 *
 * A processor produces a batch of records, then calls cs_producer_flush():
 * it returns OK only when every record produced since the previous flush has a
 * successful delivery report. Every report is checked (most "lost" messages in
 * librdkafka's tracker were unchecked reports). A full local queue is handled by
 * serving delivery reports and retrying, never by dropping. When librdkafka
 * reports a fatal idempotence error, the client is recreated on the next flush.
 *
 * Transactional mode (cs_producer_new_transactional): every send happens between
 * cs_producer_txn_begin() and cs_producer_txn_commit() / cs_producer_txn_abort(); the
 * commit carries the consumer offsets of the input the outputs were made from
 * (read-process-write, KIP-447), so outputs and input progress become visible together
 * or not at all. Any failure leaves no transaction open: it is aborted, or the client is
 * recreated (fatal errors, fencing), which makes the coordinator abort it.
 *
 * Single-threaded: call it from the processor's main loop only.
 */
#ifndef CS_PRODUCER_H
#define CS_PRODUCER_H

#include "cs_conf.h"
#include "cs_err.h"
#include "cs_metrics.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_producer cs_producer_t;

cs_producer_t *cs_producer_new(const char *brokers, const char *client_id, const cs_conf_t *conf,
                               cs_metrics_t *metrics, const char *component, char *errstr,
                               size_t errstr_size);
/*
 * A transactional producer. `transactional_id` must be unique among running producers
 * and should be stable across restarts of one instance: a restart then aborts what the
 * previous run left open at once, instead of after `transaction_timeout_ms`. Does not
 * block: transactions are initialised by the first cs_producer_txn_begin().
 */
cs_producer_t *cs_producer_new_transactional(const char *brokers, const char *client_id,
                                             const char *transactional_id,
                                             int transaction_timeout_ms, const cs_conf_t *conf,
                                             cs_metrics_t *metrics, const char *component,
                                             char *errstr, size_t errstr_size);
void cs_producer_destroy(cs_producer_t *producer);

/*
 * Enqueues one record (copies key and value). `partition` RD_KAFKA_PARTITION_UA lets the
 * partitioner hash the key. Takes ownership of `headers` (may be NULL) in every case.
 * Blocks up to `queue_timeout_ms` serving delivery reports while the local queue is full.
 */
cs_err_t cs_producer_send(cs_producer_t *producer, const char *topic, int32_t partition,
                          const void *key, size_t key_len, const void *value, size_t value_len,
                          rd_kafka_headers_t *headers, int queue_timeout_ms);
/*
 * Waits up to timeout_ms for the delivery reports of everything sent since the last
 * flush. OK when all succeeded; otherwise the first failure's status (retriable unless
 * the broker rejected the record itself), and errstr says which. Either way the next
 * batch starts clean; late reports of an abandoned batch are ignored.
 */
cs_err_t cs_producer_flush(cs_producer_t *producer, int timeout_ms, char *errstr,
                           size_t errstr_size);
/* Serves delivery reports without waiting. */
void cs_producer_poll(cs_producer_t *producer);
/* Records sent in the current batch whose reports are still missing. */
size_t cs_producer_pending(const cs_producer_t *producer);
rd_kafka_t *cs_producer_handle(cs_producer_t *producer);

/* ---- transactional mode ---- */

bool cs_producer_transactional(const cs_producer_t *producer);
/*
 * Opens a transaction (initialising transactions on this client first if needed, which
 * waits up to timeout_ms for the coordinator and completes whatever a previous client
 * with the same transactional id left behind). Retriable errors when Kafka is not there.
 */
cs_err_t cs_producer_txn_begin(cs_producer_t *producer, int timeout_ms, char *errstr,
                               size_t errstr_size);
/*
 * Waits for every delivery report of the transaction, adds `offsets` (next offset to read,
 * per input partition; may be NULL) for the consumer group of `consumer`, and commits.
 * OK: outputs and offsets are committed together. Otherwise nothing of the transaction
 * is committed (it was aborted, or the client recreated) and the caller redoes the work:
 * CS_ERR_REJECTED when the broker refused a record itself, a retriable status otherwise.
 * One case is not certain: a commit whose response never came within timeout_ms may have
 * been applied by the coordinator. The caller resolves it by reading the group's committed
 * offsets after the next cs_producer_txn_begin() (see cs_processor.c).
 */
cs_err_t cs_producer_txn_commit(cs_producer_t *producer, rd_kafka_t *consumer,
                                const rd_kafka_topic_partition_list_t *offsets, int timeout_ms,
                                char *errstr, size_t errstr_size);
/* Aborts the open transaction, if any; recreates the client if that fails. */
void cs_producer_txn_abort(cs_producer_t *producer, int timeout_ms);

#endif
