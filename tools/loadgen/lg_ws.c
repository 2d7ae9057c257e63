/* lg_ws: see lg_ws.h. */
#include "lg_ws.h"

#include "cs_rand.h"
#include "cs_ws.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LG_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 §1.3 */
#define LG_WS_HEADER_MAX 8192                                /* a response header, at most */

size_t lg_ws_request(char *out, size_t cap, const char *host, int port, const char *path,
                     const char *key)
{
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %.*s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Origin: http://%s\r\n"
                     "\r\n",
                     path, host, port, LG_WS_KEY_LEN, key, host);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void lg_ws_key(char key[LG_WS_KEY_LEN])
{
    uint64_t r[2] = {cs_rand_u64(), cs_rand_u64()};
    unsigned char b64[LG_WS_KEY_LEN + 1];
    EVP_EncodeBlock(b64, (const unsigned char *)r, 16);
    memcpy(key, b64, LG_WS_KEY_LEN);
}

/* The value of header `name` in the header block h[0..len) (lines after the status
 * line), trimmed; NULL when absent. */
static const char *lg_ws_header_value(const char *h, size_t len, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *end = h + len;
    for (const char *line = h; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = eol + 1;
    }
    return NULL;
}

/* Whether the comma-separated list v[0..vl) holds `token` (case-insensitive). */
static bool lg_ws_has_token(const char *v, size_t vl, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i < vl;) {
        while (i < vl && (v[i] == ' ' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < vl && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && v[e - 1] == ' ')
            e--;
        if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
            return true;
    }
    return false;
}

lg_ws_hs_t lg_ws_handshake(const char *buf, size_t len, const char *key, size_t *used,
                           char *why, size_t why_size)
{
    const char *end = NULL;
    for (size_t i = 0; i + 4 <= len && !end; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
            end = buf + i + 4;
    if (!end) {
        if (len < LG_WS_HEADER_MAX)
            return LG_WS_HS_MORE;
        snprintf(why, why_size, "handshake: no end of the response header in %d bytes",
                 LG_WS_HEADER_MAX);
        return LG_WS_HS_BAD;
    }
    const char *eol = memchr(buf, '\r', (size_t)(end - buf));
    size_t sl = (size_t)(eol - buf);
    if (sl < 12 || memcmp(buf, "HTTP/1.1 ", 9) != 0 || memcmp(buf + 9, "101", 3) != 0 ||
        (sl > 12 && buf[12] != ' ')) {
        /* the status line is what an operator needs to see: "HTTP/1.1 503 ..." */
        snprintf(why, why_size, "handshake: %.*s", (int)(sl > 60 ? 60 : sl), buf);
        for (char *p = why; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                *p = '?';
        return LG_WS_HS_BAD;
    }
    const char *h = eol + 2;
    size_t hl = (size_t)(end - 2 - h);
    size_t vl;
    const char *v = lg_ws_header_value(h, hl, "Upgrade", &vl);
    if (!v || !lg_ws_has_token(v, vl, "websocket")) {
        snprintf(why, why_size, "handshake: no \"Upgrade: websocket\"");
        return LG_WS_HS_BAD;
    }
    v = lg_ws_header_value(h, hl, "Connection", &vl);
    if (!v || !lg_ws_has_token(v, vl, "upgrade")) {
        snprintf(why, why_size, "handshake: no \"Connection: upgrade\"");
        return LG_WS_HS_BAD;
    }
    /* we asked for no extension and no subprotocol: a server choosing one is wrong */
    if (lg_ws_header_value(h, hl, "Sec-WebSocket-Extensions", &vl) ||
        lg_ws_header_value(h, hl, "Sec-WebSocket-Protocol", &vl)) {
        snprintf(why, why_size, "handshake: an extension or subprotocol nobody asked for");
        return LG_WS_HS_BAD;
    }
    char material[LG_WS_KEY_LEN + sizeof(LG_WS_GUID)];
    memcpy(material, key, LG_WS_KEY_LEN);
    memcpy(material + LG_WS_KEY_LEN, LG_WS_GUID, sizeof(LG_WS_GUID) - 1);
    unsigned char digest[SHA_DIGEST_LENGTH], expect[32];
    SHA1((const unsigned char *)material, sizeof(material) - 1, digest);
    int el = EVP_EncodeBlock(expect, digest, SHA_DIGEST_LENGTH);
    v = lg_ws_header_value(h, hl, "Sec-WebSocket-Accept", &vl);
    if (!v || vl != (size_t)el || memcmp(v, expect, vl) != 0) {
        snprintf(why, why_size, "handshake: wrong or missing Sec-WebSocket-Accept");
        return LG_WS_HS_BAD;
    }
    *used = (size_t)(end - buf);
    return LG_WS_HS_OK;
}

/* Says why for an allocation that failed; -1, what the frame reader returns then. */
static int lg_ws_oom(char *why, size_t why_size)
{
    snprintf(why, why_size, "out of memory");
    return -1;
}

/* One whole frame: control frames and complete messages go to on(); fragments are
 * joined first. */
static int lg_ws_frame(lg_ws_rx_t *rx, const cs_ws_frame_t *f, const uint8_t *payload,
                       uint32_t max_msg, lg_ws_on_frame_t on, void *ctx, char *why,
                       size_t why_size)
{
    if (f->opcode & 0x8)
        return on(ctx, f->opcode, payload, (size_t)f->len);
    if ((f->opcode == CS_WS_CONT) != (rx->msg_op != 0)) {
        snprintf(why, why_size, "%s", f->opcode == CS_WS_CONT
                                          ? "a continuation frame with no message open"
                                          : "a new message before the last one ended");
        return -1;
    }
    if (f->fin && f->opcode != CS_WS_CONT) /* the common case: one frame, one message */
        return on(ctx, f->opcode, payload, (size_t)f->len);
    if ((uint64_t)rx->msg_len + f->len > max_msg) {
        snprintf(why, why_size, "a message longer than %u bytes", max_msg);
        return -1;
    }
    if (f->len) {
        uint8_t *m = realloc(rx->msg, rx->msg_len + (size_t)f->len);
        if (!m)
            return lg_ws_oom(why, why_size);
        memcpy(m + rx->msg_len, payload, (size_t)f->len);
        rx->msg = m;
        rx->msg_len += (uint32_t)f->len;
    }
    if (f->opcode != CS_WS_CONT)
        rx->msg_op = f->opcode;
    if (!f->fin)
        return 0;
    uint8_t op = rx->msg_op;
    uint8_t *m = rx->msg;
    uint32_t ml = rx->msg_len;
    rx->msg = NULL, rx->msg_len = 0, rx->msg_op = 0;
    int r = on(ctx, op, m, ml);
    free(m);
    return r;
}

/* Appends data[0..n) to the pending bytes. */
static bool lg_ws_pend(lg_ws_rx_t *rx, const uint8_t *data, size_t n)
{
    if (rx->pend_len + n > rx->pend_cap) {
        size_t cap = rx->pend_cap ? rx->pend_cap : 256;
        while (cap < rx->pend_len + n)
            cap *= 2;
        uint8_t *p = realloc(rx->pend, cap);
        if (!p)
            return false;
        rx->pend = p, rx->pend_cap = (uint32_t)cap;
    }
    memcpy(rx->pend + rx->pend_len, data, n);
    rx->pend_len += (uint32_t)n;
    return true;
}

/* The size of a header whose first two bytes are b0 b1. */
static size_t lg_ws_header_size(uint8_t b1)
{
    size_t n = (b1 & 0x7f) == 126 ? 4 : (b1 & 0x7f) == 127 ? 10 : 2;
    return b1 & 0x80 ? n + 4 : n;
}

int lg_ws_rx_feed(lg_ws_rx_t *rx, const uint8_t *data, size_t len, uint32_t max_msg,
                  lg_ws_on_frame_t on, void *ctx, char *why, size_t why_size)
{
    cs_ws_frame_t f;
    const char *bad = NULL;
    /* First finish a frame the last read cut off, taking from data exactly what it lacks
     * (first its header, then its payload), so what follows stays where it lies. */
    while (rx->pend_len) {
        cs_ws_status_t st = cs_ws_parse_header(rx->pend, rx->pend_len, max_msg, &f, &bad);
        if (st == CS_WS_BAD)
            goto bad;
        size_t need = st == CS_WS_MORE
                          ? (rx->pend_len < 2 ? 2 : lg_ws_header_size(rx->pend[1]))
                          : f.header_len + (size_t)f.len;
        if (st == CS_WS_MORE && need <= rx->pend_len) { /* cannot happen: the sizes agree */
            bad = "a frame header that never completes";
            goto bad;
        }
        if (need > rx->pend_len) {
            if (len == 0)
                return 0;
            size_t take = need - rx->pend_len < len ? need - rx->pend_len : len;
            if (!lg_ws_pend(rx, data, take))
                return lg_ws_oom(why, why_size);
            data += take, len -= take;
            continue; /* read again: a longer header, or the frame is whole now */
        }
        if (f.masked) {
            bad = "a masked frame from the server";
            goto bad;
        }
        rx->pend_len = 0;
        int r = lg_ws_frame(rx, &f, rx->pend + f.header_len, max_msg, on, ctx, why, why_size);
        if (r)
            return r;
    }
    /* Then whole frames where they lie. */
    while (len) {
        cs_ws_status_t st = cs_ws_parse_header(data, len, max_msg, &f, &bad);
        if (st == CS_WS_BAD)
            goto bad;
        if (st == CS_WS_MORE || f.header_len + f.len > len)
            break;
        if (f.masked) {
            bad = "a masked frame from the server";
            goto bad;
        }
        int r = lg_ws_frame(rx, &f, data + f.header_len, max_msg, on, ctx, why, why_size);
        if (r)
            return r;
        data += f.header_len + (size_t)f.len, len -= f.header_len + (size_t)f.len;
    }
    if (len && !lg_ws_pend(rx, data, len))
        return lg_ws_oom(why, why_size);
    return 0;
bad:
    snprintf(why, why_size, "%s", bad);
    return -1;
}

void lg_ws_rx_reset(lg_ws_rx_t *rx)
{
    free(rx->pend);
    free(rx->msg);
    memset(rx, 0, sizeof(*rx));
}

lg_ws_hs_t lg_ws_rx_handshake(lg_ws_rx_t *rx, const uint8_t *data, size_t len, const char *key,
                              size_t *used, char *why, size_t why_size)
{
    size_t hl = 0;
    if (rx->pend_len == 0) { /* the usual case: the whole answer in one read */
        lg_ws_hs_t r = lg_ws_handshake((const char *)data, len, key, &hl, why, why_size);
        if (r == LG_WS_HS_OK)
            *used = hl;
        if (r != LG_WS_HS_MORE)
            return r;
        if (!lg_ws_pend(rx, data, len)) {
            lg_ws_oom(why, why_size);
            return LG_WS_HS_BAD;
        }
        return LG_WS_HS_MORE;
    }
    if (!lg_ws_pend(rx, data, len)) {
        lg_ws_oom(why, why_size);
        return LG_WS_HS_BAD;
    }
    lg_ws_hs_t r = lg_ws_handshake((const char *)rx->pend, rx->pend_len, key, &hl, why, why_size);
    if (r != LG_WS_HS_OK)
        return r;
    /* frames right behind the header stay pending for the next lg_ws_rx_feed */
    memmove(rx->pend, rx->pend + hl, rx->pend_len - hl);
    rx->pend_len -= (uint32_t)hl;
    *used = len;
    return LG_WS_HS_OK;
}
