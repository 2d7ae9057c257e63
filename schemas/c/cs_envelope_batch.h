/* cs_envelope_batch: decodes a batch of Kafka records into envelopes, for processors
 * that read chat.messages. Memory is kept and reused from batch to batch (a processor
 * sees the same batch sizes over and over), and a record that does not decode is
 * rejected on the spot (cs_record_reject: the framework dead-letters it with the
 * reason) so the processor only ever sees valid envelopes. */
#ifndef CS_ENVELOPE_BATCH_H
#define CS_ENVELOPE_BATCH_H

#include <stddef.h>

#include "cs_envelope.h"
#include "cs_err.h"
#include "cs_processor.h"

typedef struct cs_envelope_batch {
    cs_envelope_t *envs; /* envs[0..n): the records that decoded, in input order */
    size_t *rec_of;      /* envs[k] came from recs[rec_of[k]] */
    size_t n;
    size_t cap;
    char *arena; /* the envelopes' strings */
    size_t arena_cap;
} cs_envelope_batch_t;

/* Decodes recs[0..n) into b (zero-initialised before first use). Only running out of
 * memory fails the call (CS_ERR_NOMEM, errstr filled); bad records are rejected. */
cs_err_t cs_envelope_batch_decode(cs_envelope_batch_t *b, cs_record_t *recs, size_t n,
                                  char *errstr, size_t errstr_size);

void cs_envelope_batch_free(cs_envelope_batch_t *b);

#endif
