#include "cs_base64.h"

#include <stdint.h>

static const char cs_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void cs_base64_encode(const void *vin, size_t n, cs_buf_t *out)
{
    const unsigned char *in = vin;
    if (!cs_buf_reserve(out, cs_base64_len(n)))
        return;
    char *p = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = cs_b64_alphabet[v >> 18];
        *p++ = cs_b64_alphabet[(v >> 12) & 63];
        *p++ = cs_b64_alphabet[(v >> 6) & 63];
        *p++ = cs_b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *p++ = cs_b64_alphabet[v >> 18];
        *p++ = cs_b64_alphabet[(v >> 12) & 63];
        *p++ = '=';
        *p++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *p++ = cs_b64_alphabet[v >> 18];
        *p++ = cs_b64_alphabet[(v >> 12) & 63];
        *p++ = cs_b64_alphabet[(v >> 6) & 63];
        *p++ = '=';
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
}

static int cs_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

bool cs_base64_decode(const char *in, size_t len, void *vout, size_t *out_len)
{
    unsigned char *out = vout;
    *out_len = 0;
    if (len % 4 != 0)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int a = cs_b64_value((unsigned char)in[i]);
        int b = cs_b64_value((unsigned char)in[i + 1]);
        if (a < 0 || b < 0)
            return false;
        if (last && in[i + 2] == '=') {
            /* xx== : one byte; the low 4 bits of b must be zero */
            if (in[i + 3] != '=' || (b & 15))
                return false;
            out[n++] = (unsigned char)(a << 2 | b >> 4);
            break;
        }
        int c = cs_b64_value((unsigned char)in[i + 2]);
        if (c < 0)
            return false;
        if (last && in[i + 3] == '=') {
            /* xxx= : two bytes; the low 2 bits of c must be zero */
            if (c & 3)
                return false;
            out[n++] = (unsigned char)(a << 2 | b >> 4);
            out[n++] = (unsigned char)((b & 15) << 4 | c >> 2);
            break;
        }
        int d = cs_b64_value((unsigned char)in[i + 3]);
        if (d < 0)
            return false;
        out[n++] = (unsigned char)(a << 2 | b >> 4);
        out[n++] = (unsigned char)((b & 15) << 4 | c >> 2);
        out[n++] = (unsigned char)((c & 3) << 6 | d);
    }
    *out_len = n;
    return true;
}
