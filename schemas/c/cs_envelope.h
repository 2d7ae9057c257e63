/*
 * cs_envelope — the chat message envelope codec (see ../envelope.schema.json).
 *
 * Decoding is strict: the flat-object JSON reader (valid UTF-8, no duplicate
 * keys, nothing trailing), then every field's presence, type, length and
 * alphabet. A record that fails is refused with a code and a sentence; nothing
 * half-decoded escapes. Encoding writes the canonical form, keys in schema order.
 */
#ifndef CS_ENVELOPE_H
#define CS_ENVELOPE_H

#include "cs_buf.h"
#include "cs_err.h"
#include "cs_uuid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_ENVELOPE_VERSION 1
#define CS_ENVELOPE_MAX_BYTES 16384 /* a whole encoded envelope */
#define CS_IDENT_MAX 128            /* room and user ids, bytes */
#define CS_CMID_MAX 64              /* client message id, bytes */
#define CS_TEXT_MAX 4096            /* message text, bytes of UTF-8 */
#define CS_TS_MAX 253402300799999LL /* 9999-12-31T23:59:59.999Z */

typedef struct cs_envelope {
    char id[CS_UUID_STR_LEN + 1]; /* lowercase canonical UUID */
    const char *room;             /* NUL-terminated; points into the decode arena or caller memory */
    size_t room_len;
    const char *user;
    size_t user_len;
    const char *cmid;             /* NULL when absent */
    size_t cmid_len;
    const char *text;
    size_t text_len;
    int64_t ts;                   /* Unix ms, set by the gateway */
} cs_envelope_t;

/* Arena bytes cs_envelope_decode needs for an input of `len` bytes. */
size_t cs_envelope_arena_size(size_t len);

/*
 * Decodes and validates in[0..len). String fields point into `arena`
 * (cs_envelope_arena_size(len) bytes), which must outlive the envelope.
 */
cs_err_t cs_envelope_decode(const char *in, size_t len, cs_envelope_t *env, char *arena,
                            size_t arena_size, char *errstr, size_t errstr_size);

/* Validates fields set by a producer (e.g. the gateway) before encoding. */
cs_err_t cs_envelope_validate(const cs_envelope_t *env, char *errstr, size_t errstr_size);

/* Appends the canonical JSON encoding. The envelope must be valid. */
void cs_envelope_encode(const cs_envelope_t *env, cs_buf_t *out);

/* Identifier alphabet check shared with the client protocol: 1..max bytes of [A-Za-z0-9_.:@|+-]. */
bool cs_ident_valid(const char *s, size_t len, size_t max);
/* True for exactly 36 bytes of lowercase canonical UUID (the form every message id takes). */
bool cs_uuid_canonical_lower(const char *s, size_t len);
/* Text rule shared with the client protocol: 1..CS_TEXT_MAX bytes, no forbidden controls.
 * (UTF-8 validity is the JSON reader's job.) */
bool cs_text_valid(const char *s, size_t len, char *errstr, size_t errstr_size);

#endif
