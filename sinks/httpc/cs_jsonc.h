/*
 * cs_jsonc — json-c for untrusted API responses, with its sharp edges filed off
 * (see STYLE.md): strict RFC 8259 mode, UTF-8 validated, nesting depth bounded,
 * nothing but whitespace allowed after the value, and typed getters that check
 * the type instead of letting json-c coerce ("42abc" is not 42).
 */
#ifndef CS_JSONC_H
#define CS_JSONC_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses in[0..len); NULL + errstr on any deviation. The caller json_object_put()s. */
struct json_object *cs_jsonc_parse(const char *in, size_t len, int max_depth, char *errstr,
                                   size_t errstr_size);
/* obj[key] if obj is an object and the member has `type`, else NULL. */
struct json_object *cs_jsonc_get(struct json_object *obj, const char *key, json_type type);
/* A JSON number (int or double) as a double; false for any other type. */
bool cs_jsonc_number(struct json_object *v, double *out);
/* A JSON string's bytes and length (may contain NUL); NULL for any other type. */
const char *cs_jsonc_string(struct json_object *v, size_t *len);

#endif
