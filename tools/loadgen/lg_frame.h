/*
 * lg_frame — what the loadgen needs to read and write of the client protocol
 * (schemas/protocol/PROTOCOL.md), on the hot path.
 *
 * Server frames are read with a key scanner instead of a JSON parser: the
 * loadgen reads a few fields of frames whose values it wrote itself (room ids,
 * cmids, texts of digits and letters), and at tens of thousands of deliveries
 * a second a full parse would cost more CPU than the server being measured.
 * A frame the scanner cannot read is counted, never guessed at.
 */
#ifndef LG_FRAME_H
#define LG_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    LG_FRAME_OTHER,
    LG_FRAME_READY,
    LG_FRAME_JOINED,
    LG_FRAME_LEFT,
    LG_FRAME_ACK,
    LG_FRAME_MSG,
    LG_FRAME_ERROR,
} lg_frame_type_t;

/* The string value of top-level key `key` ("type", not "\"type\""): *val points
 * into buf, without the quotes and unescaped only if it had no escapes (then
 * false is returned for safety). False when missing or not a string. */
bool lg_frame_str(const char *buf, size_t len, const char *key, const char **val, size_t *vlen);
/* The integer value of `key`; false when missing or not an integer. */
bool lg_frame_int(const char *buf, size_t len, const char *key, int64_t *val);
lg_frame_type_t lg_frame_type(const char *buf, size_t len);

/* The text of a loadgen message: "<send ns> <sender> <seq> " then filler up to
 * `size` bytes (at least the header). Returns its length (< cap), 0 if cap is short. */
size_t lg_text_encode(char *out, size_t cap, uint64_t send_ns, uint32_t sender, uint32_t seq,
                      size_t size);
bool lg_text_parse(const char *text, size_t len, uint64_t *send_ns, uint32_t *sender,
                   uint32_t *seq);

#endif
