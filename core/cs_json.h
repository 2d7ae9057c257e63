/*
 * cs_json — a strict reader for flat JSON objects.
 *
 * Chat messages and client frames are flat objects of strings, integers and
 * booleans. This reader accepts exactly RFC 8259 for that subset and refuses
 * everything else, with a message that says where and why:
 *   - one object, optional whitespace around it, nothing after it;
 *   - values: string, number, true, false, null (nested objects/arrays refused);
 *   - strings: valid UTF-8, no raw control characters, escapes decoded, no lone
 *     surrogates; their decoded length is reported (NULs possible: use the length);
 *   - integers outside int64 refused rather than capped; duplicate keys refused.
 * It allocates nothing: decoded strings go into a caller's arena, which needs
 * at most as many bytes as the input (decoding never grows a string).
 * json-c remains the tool for nested documents (HTTP APIs, librdkafka stats).
 */
#ifndef CS_JSON_H
#define CS_JSON_H

#include "cs_err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_JSON_MAX_FIELDS 32

typedef enum {
    CS_JSON_STRING,
    CS_JSON_INT,    /* a number without fraction or exponent that fits int64 */
    CS_JSON_DOUBLE, /* any other number */
    CS_JSON_BOOL,
    CS_JSON_NULL,
} cs_json_type_t;

typedef struct cs_json_field {
    const char *key;        /* decoded, NUL-terminated, in the arena */
    size_t key_len;
    cs_json_type_t type;
    const char *str;        /* CS_JSON_STRING: decoded, NUL-terminated, in the arena */
    size_t len;             /* decoded byte length of str */
    int64_t i;              /* CS_JSON_INT */
    double d;               /* CS_JSON_DOUBLE (and CS_JSON_INT, converted) */
    bool b;                 /* CS_JSON_BOOL */
} cs_json_field_t;

typedef struct cs_json_obj {
    cs_json_field_t fields[CS_JSON_MAX_FIELDS];
    size_t n;
} cs_json_obj_t;

/*
 * Parses in[0..len) into obj. `arena` must hold at least len + 2 * CS_JSON_MAX_FIELDS bytes
 * (decoded strings plus their terminating NULs). Returns CS_ERR_OK, CS_ERR_BAD_JSON,
 * CS_ERR_BAD_UTF8 or CS_ERR_TOO_LARGE (too many fields); errstr says where.
 */
cs_err_t cs_json_parse_flat(const char *in, size_t len, cs_json_obj_t *obj, char *arena,
                            size_t arena_size, char *errstr, size_t errstr_size);
/* Arena bytes needed for an input of `len` bytes. */
static inline size_t cs_json_arena_size(size_t len)
{
    return len + 2 * CS_JSON_MAX_FIELDS + 1;
}
/* The field named `key`, or NULL. */
const cs_json_field_t *cs_json_get(const cs_json_obj_t *obj, const char *key);
const char *cs_json_type_name(cs_json_type_t type);

#endif
