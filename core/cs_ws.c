/* cs_ws: see cs_ws.h. */
#include "cs_ws.h"

#include <string.h>

size_t cs_ws_header(uint8_t h[CS_WS_HEADER_MAX], uint8_t fin_opcode, uint64_t len,
                    const uint8_t mask[4])
{
    size_t n;
    h[0] = fin_opcode;
    if (len < 126) {
        h[1] = (uint8_t)len;
        n = 2;
    } else if (len < 65536) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        n = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        h[1] |= 0x80;
        memcpy(h + n, mask, 4);
        n += 4;
    }
    return n;
}

void cs_ws_mask(uint8_t *p, size_t len, const uint8_t mask[4], uint64_t at)
{
    uint8_t key[8];
    for (int i = 0; i < 8; i++)
        key[i] = mask[(at + (uint64_t)i) & 3];
    uint64_t k;
    memcpy(&k, key, 8);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) { /* eight bytes at a time: the key repeats every 4 */
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k;
        memcpy(p + i, &w, 8);
    }
    for (; i < len; i++)
        p[i] ^= key[i & 7];
}

cs_ws_status_t cs_ws_parse_header(const uint8_t *p, size_t avail, uint64_t max_len,
                                  cs_ws_frame_t *f, const char **why)
{
    if (avail < 2)
        return CS_WS_MORE;
    f->fin = (p[0] & 0x80) != 0;
    f->opcode = p[0] & 0x0f;
    f->masked = (p[1] & 0x80) != 0;
    if (p[0] & 0x70) {
        *why = "reserved bits set (no extension was negotiated)";
        return CS_WS_BAD;
    }
    bool control = f->opcode & 0x8;
    if (f->opcode > CS_WS_PONG || (f->opcode > CS_WS_BINARY && f->opcode < CS_WS_CLOSE)) {
        *why = "undefined opcode";
        return CS_WS_BAD;
    }
    uint64_t len = p[1] & 0x7f;
    size_t n = 2;
    if (control && (len > CS_WS_CONTROL_MAX || !f->fin)) {
        *why = "a control frame must be whole and at most 125 bytes";
        return CS_WS_BAD;
    }
    if (len == 126) {
        if (avail < 4)
            return CS_WS_MORE;
        len = (uint64_t)p[2] << 8 | p[3];
        n = 4;
        if (len < 126) {
            *why = "length not in its fewest bytes";
            return CS_WS_BAD;
        }
    } else if (len == 127) {
        if (avail < 10)
            return CS_WS_MORE;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        n = 10;
        if (len >> 63 || len < 65536) {
            *why = len >> 63 ? "length has its top bit set" : "length not in its fewest bytes";
            return CS_WS_BAD;
        }
    }
    if (len > max_len) {
        *why = "frame longer than the limit";
        return CS_WS_BAD;
    }
    if (f->masked) {
        if (avail < n + 4)
            return CS_WS_MORE;
        memcpy(f->mask, p + n, 4);
        n += 4;
    }
    f->len = len;
    f->header_len = n;
    return CS_WS_OK;
}
