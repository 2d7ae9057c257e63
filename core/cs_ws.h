/*
 * cs_ws — WebSocket framing (RFC 6455 §5.2): frame headers written and read, payloads
 * masked. Pure: no I/O, no allocation, no state.
 *
 * Two callers frame on their own instead of leaving it to libwebsockets: the gateway
 * writes a client's pending pushes as one raw send (ingest/gw_ws.c), and the loadgen
 * speaks the protocol over raw sockets (tools/loadgen/lg_ws.c), because lws 4.1's client
 * parser runs a state machine per received byte — half of the loadgen's CPU. Fuzzed
 * (tests/fuzz/fuzz_ws_stream.c).
 */
#ifndef CS_WS_H
#define CS_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    CS_WS_CONT = 0x0,
    CS_WS_TEXT = 0x1,
    CS_WS_BINARY = 0x2,
    CS_WS_CLOSE = 0x8,
    CS_WS_PING = 0x9,
    CS_WS_PONG = 0xa,
};
#define CS_WS_FIN 0x80
#define CS_WS_HEADER_MAX 14   /* 2 + 8 (64-bit length) + 4 (mask key) */
#define CS_WS_CONTROL_MAX 125 /* a control frame's payload */

typedef struct cs_ws_frame {
    bool fin;
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t len;      /* payload bytes */
    size_t header_len; /* bytes before the payload */
} cs_ws_frame_t;

typedef enum {
    CS_WS_OK,   /* a whole header was read */
    CS_WS_MORE, /* the header is not all there yet */
    CS_WS_BAD,  /* not a frame a peer may send (why says) */
} cs_ws_status_t;

/* Writes a header for a payload of `len` bytes: FIN/opcode byte, the length in the fewest
 * bytes (1, 3 or 9), then the mask key when `mask` is not NULL (clients mask, servers do
 * not). Returns its size, 2..CS_WS_HEADER_MAX. */
size_t cs_ws_header(uint8_t h[CS_WS_HEADER_MAX], uint8_t fin_opcode, uint64_t len,
                    const uint8_t mask[4]);

/* XORs p[0..len) with the mask key, as payload bytes at offset `at` of the frame. */
void cs_ws_mask(uint8_t *p, size_t len, const uint8_t mask[4], uint64_t at);

/* Reads the header at p[0..avail). Refused (CS_WS_BAD): reserved bits set (we negotiate
 * no extension), an undefined opcode, a fragmented control frame or one longer than 125
 * bytes, a length not in its fewest bytes or with the top bit set, a payload longer than
 * `max_len`. */
cs_ws_status_t cs_ws_parse_header(const uint8_t *p, size_t avail, uint64_t max_len,
                                  cs_ws_frame_t *f, const char **why);

#endif
