/*
 * cs_test_vectors — walks one of the shared vector files (tests/vectors/<name>.jsonl, also checked
 * against the JSON Schemas by check_schema.py) for a unit test: one JSON object per line with
 * "expect" ("valid" or "invalid"), "error" (the code a refusal must carry), "note", and the
 * input as "input" (text) or "input_hex" (bytes). The test's callback runs its own decoder on
 * the input and hands the outcome to cs_test_vector_verdict.
 */
#ifndef CS_TEST_VECTORS_H
#define CS_TEST_VECTORS_H

#include "cs_test.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cs_test_vector {
    struct json_object *json; /* the whole line, for fields only one file has */
    const char *expect;
    const char *error;        /* NULL when absent or null */
    const char *note;
    char *input;              /* a NUL-terminated copy of input / input_hex */
    size_t input_len;
} cs_test_vector_t;

static inline const char *cs_test_vector_str(struct json_object *v, const char *key)
{
    struct json_object *o;
    return json_object_object_get_ex(v, key, &o) && o ? json_object_get_string(o) : NULL;
}

/* Calls check(vector, ctx) for every line; check returns whether the vector was one of its
 * own (counted). Returns the count; a missing file or an unparsable line fails a CHECK. */
static inline int cs_test_each_vector(const char *name,
                                      bool (*check)(const cs_test_vector_t *, void *), void *ctx)
{
    char *all = cs_test_read_vectors(name);
    CHECK(all != NULL);
    if (!all)
        return 0;
    int count = 0;
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        cs_test_vector_t t = {.json = json_tokener_parse(line)};
        CHECK(t.json != NULL);
        if (!t.json)
            continue;
        t.expect = cs_test_vector_str(t.json, "expect");
        t.error = cs_test_vector_str(t.json, "error");
        t.note = cs_test_vector_str(t.json, "note");
        t.expect = t.expect ? t.expect : "";
        t.note = t.note ? t.note : "";
        struct json_object *o;
        if (json_object_object_get_ex(t.json, "input_hex", &o)) {
            const char *hex = json_object_get_string(o);
            t.input = malloc(strlen(hex) / 2 + 1);
            for (; t.input && hex[0] && hex[1]; hex += 2) {
                unsigned v;
                sscanf(hex, "%2x", &v);
                t.input[t.input_len++] = (char)v;
            }
        } else if (json_object_object_get_ex(t.json, "input", &o)) {
            t.input_len = (size_t)json_object_get_string_len(o);
            t.input = malloc(t.input_len + 1);
            if (t.input)
                memcpy(t.input, json_object_get_string(o), t.input_len);
        }
        CHECK(t.input != NULL);
        if (t.input) {
            t.input[t.input_len] = '\0';
            count += check(&t, ctx);
        }
        free(t.input);
        json_object_put(t.json);
    }
    free(all);
    return count;
}

/* The verdict on one vector: `got` is the refusal's code (NULL when accepted), `why` the
 * decoder's explanation. Valid vectors must be accepted; invalid ones refused with exactly
 * their "error", and every refusal must say why. */
static inline void cs_test_vector_verdict(const cs_test_vector_t *t, const char *got,
                                          const char *why)
{
    bool ok = strcmp(t->expect, "valid") == 0 ? got == NULL
                                              : got && t->error && strcmp(got, t->error) == 0;
    if (!ok)
        fprintf(stderr, "  vector '%s': got %s (%s), expected %s %s\n", t->note,
                got ? got : "ok", why, t->expect, t->error ? t->error : "");
    CHECK(ok);
    if (got)
        CHECK(why[0] != '\0'); /* every refusal says why */
}

#endif
