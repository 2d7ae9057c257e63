#include "cs_buf.h"
#include "cs_utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cs_buf_init(cs_buf_t *buf)
{
    memset(buf, 0, sizeof(*buf));
}

void cs_buf_free(cs_buf_t *buf)
{
    free(buf->data);
    memset(buf, 0, sizeof(*buf));
}

void cs_buf_reset(cs_buf_t *buf)
{
    buf->len = 0;
    buf->oom = false;
    if (buf->data)
        buf->data[0] = '\0';
}

bool cs_buf_reserve(cs_buf_t *buf, size_t extra)
{
    if (buf->oom)
        return false;
    if (buf->len + extra + 1 <= buf->cap)
        return true;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < buf->len + extra + 1) {
        if (cap > ((size_t)-1) / 2) {
            buf->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *data = realloc(buf->data, cap);
    if (!data) {
        buf->oom = true;
        return false;
    }
    buf->data = data;
    buf->cap = cap;
    return true;
}

void cs_buf_append(cs_buf_t *buf, const void *data, size_t len)
{
    if (!cs_buf_reserve(buf, len))
        return;
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void cs_buf_puts(cs_buf_t *buf, const char *str)
{
    cs_buf_append(buf, str, strlen(str));
}

void cs_buf_putc(cs_buf_t *buf, char c)
{
    if (!cs_buf_reserve(buf, 1))
        return;
    buf->data[buf->len++] = c;
    buf->data[buf->len] = '\0';
}

void cs_buf_vprintf(cs_buf_t *buf, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof(small)) {
        cs_buf_append(buf, small, (size_t)n);
    } else if (cs_buf_reserve(buf, (size_t)n)) {
        vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap2);
        buf->len += (size_t)n;
    }
    va_end(ap2);
}

void cs_buf_printf(cs_buf_t *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cs_buf_vprintf(buf, fmt, ap);
    va_end(ap);
}

void cs_buf_put_json_str(cs_buf_t *buf, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case every byte becomes \u00XX or U+FFFD; reserve once, write without checks. */
    if (!cs_buf_reserve(buf, len * 6 + 2))
        return;
    const unsigned char *s = (const unsigned char *)str;
    char *out = buf->data + buf->len;
    *out++ = '"';
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            /* Invalid UTF-8 (possible in logs of bad input) becomes U+FFFD so the
             * output is always valid JSON. */
            uint32_t cp;
            size_t n = cs_utf8_decode(s + i, len - i, &cp);
            if (n == 0) {
                memcpy(out, "\xef\xbf\xbd", 3);
                out += 3;
                i++;
            } else {
                memcpy(out, s + i, n);
                out += n;
                i += n;
            }
            continue;
        }
        i++;
        switch (c) {
        case '"': *out++ = '\\'; *out++ = '"'; break;
        case '\\': *out++ = '\\'; *out++ = '\\'; break;
        case '\n': *out++ = '\\'; *out++ = 'n'; break;
        case '\r': *out++ = '\\'; *out++ = 'r'; break;
        case '\t': *out++ = '\\'; *out++ = 't'; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                memcpy(out, "\\u00", 4);
                out[4] = hex[c >> 4];
                out[5] = hex[c & 15];
                out += 6;
            } else {
                *out++ = (char)c;
            }
        }
    }
    *out++ = '"';
    buf->len = (size_t)(out - buf->data);
    buf->data[buf->len] = '\0';
}

char *cs_buf_steal(cs_buf_t *buf, size_t *len)
{
    char *data = buf->data;
    if (len)
        *len = buf->len;
    memset(buf, 0, sizeof(*buf));
    return data;
}
