/*
 * gw_frame — parses and validates one client frame (schemas/protocol/PROTOCOL.md) into a
 * typed struct, so the session code only ever sees well-formed requests. Pure: no I/O,
 * no state; fuzzed (tests/fuzz/fuzz_client_frame.c) and unit-tested.
 */
#ifndef CS_GW_FRAME_H
#define CS_GW_FRAME_H

#include "cs_buf.h"
#include "cs_json.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum { GW_CF_AUTH, GW_CF_JOIN, GW_CF_LEAVE, GW_CF_SEND } gw_cf_type_t;

typedef enum {
    GW_CF_OK,
    GW_CF_BAD_REQUEST,  /* malformed JSON, missing/ill-typed/extra fields */
    GW_CF_UNKNOWN_TYPE,
    GW_CF_TOO_LARGE,    /* text over max_text */
} gw_cf_status_t;

typedef struct gw_client_frame {
    gw_cf_type_t type;
    const char *room;  /* join, leave, send; also set on errors when it was valid */
    size_t room_len;
    const char *since; /* join; NULL when absent */
    const char *text;  /* send */
    size_t text_len;
    const char *cmid;  /* send; also set on errors when it was valid */
    size_t cmid_len;
    const char *token; /* auth (jwt) */
    size_t token_len;
    const char *user;  /* auth (dev mode) */
    size_t user_len;
    cs_json_obj_t obj; /* the strings above point into the caller's arena */
} gw_client_frame_t;

/* Arena bytes gw_frame_parse needs for a frame of `len` bytes. */
size_t gw_frame_arena_size(size_t len);

/* Parses data[0..len) (valid UTF-8 already checked by the caller); texts longer than
 * max_text are GW_CF_TOO_LARGE. On failure `why` says what is wrong. */
gw_cf_status_t gw_frame_parse(const char *data, size_t len, size_t max_text,
                              gw_client_frame_t *f, char *arena, size_t arena_size, char *why,
                              size_t why_size);

/* The canonical JSON of a parsed frame (for tests and the fuzz round trip). */
void gw_frame_render(const gw_client_frame_t *f, cs_buf_t *out);

#endif
