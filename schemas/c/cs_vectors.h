/*
 * cs_vectors — the record codec of chat.vectors (see ../vectors.schema.json).
 *
 * One record per embedded message, keyed by user id, written by chatstream-embed
 * and read by chatstream-index (and by anything that rebuilds or reshards the
 * index: the topic is the source of truth, so an index can be rebuilt without
 * paying the embeddings provider again). The value is one flat JSON object:
 *
 *   {"v":1,"id":"<uuid>","room":"r1","user":"alice","ts":1763892000123,
 *    "text":"...","model":"lexical-hash-v1","dim":256,"vector":"<base64>"}
 *
 * `vector` is the base64 (RFC 4648, padded) of `dim` IEEE-754 binary32 values,
 * little-endian: a quarter of the size of a JSON number array, exact, and still
 * a flat object that the strict reader (cs_json) validates. Decoding checks
 * every field like the envelope codec does, plus: base64 canonical, exactly
 * dim * 4 bytes, every value finite and not all zero (cosine distance needs a
 * direction).
 */
#ifndef CS_VECTORS_H
#define CS_VECTORS_H

#include "cs_buf.h"
#include "cs_err.h"
#include "cs_uuid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_VREC_VERSION 1
#define CS_VREC_MAX_BYTES 65536 /* a whole encoded record */
#define CS_VREC_DIM_MAX 4096    /* vector dimensions */
#define CS_MODEL_MAX 128        /* model name, bytes */

typedef struct cs_vrec {
    char id[CS_UUID_STR_LEN + 1]; /* message id (lowercase canonical UUID) */
    const char *room;             /* NUL-terminated; arena or caller memory */
    size_t room_len;
    const char *user;
    size_t user_len;
    int64_t ts;                   /* Unix ms, from the envelope */
    const char *text;
    size_t text_len;
    const char *model;            /* provider's model name, e.g. "text-embedding-3-small" */
    size_t model_len;
    uint32_t dim;
    const float *vec;             /* dim values; arena (decode) or caller memory (encode) */
} cs_vrec_t;

/* Arena bytes cs_vrec_decode needs for an input of `len` bytes. */
size_t cs_vrec_arena_size(size_t len);

/*
 * Decodes and validates in[0..len). Strings and the vector point into `arena`
 * (cs_vrec_arena_size(len) bytes, any alignment), which must outlive the record.
 */
cs_err_t cs_vrec_decode(const char *in, size_t len, cs_vrec_t *rec, char *arena,
                        size_t arena_size, char *errstr, size_t errstr_size);

/* Validates a record before encoding (the same rules as decoding). */
cs_err_t cs_vrec_validate(const cs_vrec_t *rec, char *errstr, size_t errstr_size);

/* Appends the canonical encoding. The record must be valid. */
void cs_vrec_encode(const cs_vrec_t *rec, cs_buf_t *out);

/* Model-name alphabet: 1..CS_MODEL_MAX bytes of [A-Za-z0-9_.:@|+/-]. */
bool cs_model_valid(const char *s, size_t len);

#endif
