/*
 * lg_ws — the client side of a WebSocket over a byte stream: the opening handshake
 * (RFC 6455 §4.1) and the server's frames read in bulk, for the loadgen's raw lws
 * sockets.
 *
 * Why not lws's own WebSocket client: lws 4.1.6 parses what a client receives one byte at
 * a time through its state machine; at 2,000 school users (59,000 deliveries a second)
 * that was 45 % of the loadgen's CPU, on the machine the loadgen shares with the server it
 * measures. Here a frame costs a header read and a pointer: payloads are handed out where
 * they lie. Pure: the socket stays lws's; fuzzed (tests/fuzz/fuzz_ws_stream.c).
 */
#ifndef LG_WS_H
#define LG_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_WS_KEY_LEN 24 /* base64 of 16 random bytes */

/* The upgrade request for `path` on host:port with key `key` (LG_WS_KEY_LEN chars).
 * Returns its length, 0 when cap is too small. */
size_t lg_ws_request(char *out, size_t cap, const char *host, int port, const char *path,
                     const char *key);

/* A fresh key: base64 of 16 random bytes, LG_WS_KEY_LEN chars, no NUL. */
void lg_ws_key(char key[LG_WS_KEY_LEN]);

typedef enum {
    LG_WS_HS_MORE, /* the response's header is not complete */
    LG_WS_HS_OK,   /* 101 with the right Sec-WebSocket-Accept; *used = header bytes */
    LG_WS_HS_BAD,  /* anything else: why says what (the status line when not 101) */
} lg_ws_hs_t;

/* Checks the server's answer buf[0..len) to the request sent with `key`. */
lg_ws_hs_t lg_ws_handshake(const char *buf, size_t len, const char *key, size_t *used,
                           char *why, size_t why_size);

typedef struct lg_ws_rx lg_ws_rx_t;

/* lg_ws_handshake over reads that may cut the answer anywhere: what is not complete yet
 * stays in rx. On LG_WS_HS_OK, data[*used..len) are the first frames (bytes that came
 * with an answer split over reads stay in rx for lg_ws_rx_feed). */
lg_ws_hs_t lg_ws_rx_handshake(lg_ws_rx_t *rx, const uint8_t *data, size_t len, const char *key,
                              size_t *used, char *why, size_t why_size);

/* What arrives, called once per complete message (text or binary, fragments joined) or
 * control frame; a nonzero return stops lg_ws_rx_feed with that value. */
typedef int (*lg_ws_on_frame_t)(void *ctx, uint8_t opcode, const uint8_t *payload, size_t len);

struct lg_ws_rx {
    uint8_t *pend;     /* a frame cut off by the end of a read, so far */
    uint32_t pend_len, pend_cap;
    uint8_t *msg;      /* a fragmented message, so far */
    uint32_t msg_len;
    uint8_t msg_op;    /* its opcode; 0 when none is open */
};

/* Reads data[0..len), the next bytes from the server. Returns 0; -1 on a protocol
 * violation (why says; close the connection) or out of memory; or what on() returned.
 * Messages longer than max_msg are violations. */
int lg_ws_rx_feed(lg_ws_rx_t *rx, const uint8_t *data, size_t len, uint32_t max_msg,
                  lg_ws_on_frame_t on, void *ctx, char *why, size_t why_size);

/* Frees what a connection's reader holds; it may be fed again afterwards. */
void lg_ws_rx_reset(lg_ws_rx_t *rx);

#endif
