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
 * Single-threaded: call it from the processor's main loop only.
 */
#ifndef CS_PRODUCER_H
#define CS_PRODUCER_H

#include "cs_conf.h"
#include "cs_err.h"
#include "cs_metrics.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_producer cs_producer_t;

cs_producer_t *cs_producer_new(const char *brokers, const char *client_id, const cs_conf_t *conf,
                               cs_metrics_t *metrics, const char *component, char *errstr,
                               size_t errstr_size);
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

#endif
