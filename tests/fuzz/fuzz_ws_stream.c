/*
 * Fuzz target: the loadgen's WebSocket client reader (tools/loadgen/lg_ws.c, on
 * core/cs_ws.c) and its upgrade-answer check. Beyond "no crash": the byte stream read
 * whole and read in pieces (cut where the input's first byte says) hands out the same
 * messages and control frames and fails at the same frame, or not at all.
 */
#include "lg_ws.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct log {
    uint64_t hash; /* FNV-1a over (opcode, length, payload) of every callback */
    size_t calls;
} log_t;

static int on_frame(void *ctx, uint8_t opcode, const uint8_t *payload, size_t len)
{
    log_t *l = ctx;
    uint64_t h = l->hash ^ opcode;
    h *= 1099511628211ull;
    h ^= len;
    h *= 1099511628211ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ payload[i]) * 1099511628211ull;
    l->hash = h;
    l->calls++;
    return 0;
}

static int feed(const uint8_t *s, size_t n, size_t step, log_t *l)
{
    lg_ws_rx_t rx = {0};
    char why[128];
    int r = 0;
    for (size_t at = 0; at < n && r == 0; at += step) {
        size_t k = step < n - at ? step : n - at;
        r = lg_ws_rx_feed(&rx, s + at, k, 4096, on_frame, l, why, sizeof(why));
    }
    lg_ws_rx_reset(&rx);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = 1 + data[0] % 32;
    log_t whole = {0xcbf29ce484222325ull, 0}, pieces = {0xcbf29ce484222325ull, 0};
    int a = feed(data + 1, size - 1, size, &whole);
    int b = feed(data + 1, size - 1, step, &pieces);
    if (a != b || whole.hash != pieces.hash || whole.calls != pieces.calls)
        abort(); /* the reader depends on where reads end */

    /* the same bytes as an answer to the upgrade: no crash, and OK only with a 101 */
    size_t used = 0;
    char why[128];
    if (lg_ws_handshake((const char *)data, size, "dGhlIHNhbXBsZSBub25jZQ==", &used, why,
                        sizeof(why)) == LG_WS_HS_OK &&
        (used > size || size < 12 || memcmp(data, "HTTP/1.1 101", 12) != 0))
        abort();
    return 0;
}
