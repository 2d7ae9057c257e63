/* lg_frame — see lg_frame.h. */
#include "lg_frame.h"

#include <string.h>

/* Finds `"key"` followed by optional spaces and a colon; returns the first byte
 * of the value (after spaces), or NULL. */
static const char *lg_frame_value(const char *buf, size_t len, const char *key)
{
    size_t klen = strlen(key);
    const char *end = buf + len;
    const char *p = buf;
    while (p < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q || (size_t)(end - q) < klen + 2)
            return NULL;
        if (memcmp(q + 1, key, klen) == 0 && q[klen + 1] == '"') {
            const char *v = q + klen + 2;
            while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
                v++;
            if (v < end && *v == ':') {
                v++;
                while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
                    v++;
                return v < end ? v : NULL;
            }
        }
        /* skip this string entirely (keys and values alike), honouring escapes */
        const char *s = q + 1;
        while (s < end && *s != '"') {
            if (*s == '\\')
                s++;
            s++;
        }
        p = s + 1;
    }
    return NULL;
}

bool lg_frame_str(const char *buf, size_t len, const char *key, const char **val, size_t *vlen)
{
    const char *v = lg_frame_value(buf, len, key);
    const char *end = buf + len;
    if (!v || *v != '"')
        return false;
    v++;
    const char *q = v;
    while (q < end && *q != '"') {
        if (*q == '\\')
            return false;
        q++;
    }
    if (q >= end)
        return false;
    *val = v;
    *vlen = (size_t)(q - v);
    return true;
}

bool lg_frame_int(const char *buf, size_t len, const char *key, int64_t *val)
{
    const char *v = lg_frame_value(buf, len, key);
    const char *end = buf + len;
    if (!v)
        return false;
    bool neg = false;
    if (*v == '-') {
        neg = true;
        v++;
    }
    if (v >= end || *v < '0' || *v > '9')
        return false;
    int64_t n = 0;
    while (v < end && *v >= '0' && *v <= '9') {
        if (n > (INT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (*v - '0');
        v++;
    }
    *val = neg ? -n : n;
    return true;
}

lg_frame_type_t lg_frame_type(const char *buf, size_t len)
{
    const char *t;
    size_t n;
    if (!lg_frame_str(buf, len, "type", &t, &n))
        return LG_FRAME_OTHER;
    switch (n) {
    case 3:
        if (memcmp(t, "msg", 3) == 0)
            return LG_FRAME_MSG;
        if (memcmp(t, "ack", 3) == 0)
            return LG_FRAME_ACK;
        break;
    case 4:
        if (memcmp(t, "left", 4) == 0)
            return LG_FRAME_LEFT;
        break;
    case 5:
        if (memcmp(t, "ready", 5) == 0)
            return LG_FRAME_READY;
        if (memcmp(t, "error", 5) == 0)
            return LG_FRAME_ERROR;
        break;
    case 6:
        if (memcmp(t, "joined", 6) == 0)
            return LG_FRAME_JOINED;
        break;
    }
    return LG_FRAME_OTHER;
}

static size_t lg_put_u64(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

size_t lg_text_encode(char *out, size_t cap, uint64_t send_ns, uint32_t sender, uint32_t seq,
                      size_t size)
{
    if (cap < 64 || size >= cap)
        return 0;
    size_t n = lg_put_u64(out, send_ns);
    out[n++] = ' ';
    n += lg_put_u64(out + n, sender);
    out[n++] = ' ';
    n += lg_put_u64(out + n, seq);
    out[n++] = ' ';
    for (; n < size; n++)
        out[n] = (char)('a' + n % 26);
    out[n] = '\0';
    return n;
}

static bool lg_parse_u64(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    uint64_t n = 0;
    if (s >= end || *s < '0' || *s > '9')
        return false;
    while (s < end && *s >= '0' && *s <= '9') {
        if (n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(*s - '0');
        s++;
    }
    if (s >= end || *s != ' ')
        return false;
    *p = s + 1;
    *v = n;
    return true;
}

bool lg_text_parse(const char *text, size_t len, uint64_t *send_ns, uint32_t *sender,
                   uint32_t *seq)
{
    const char *p = text, *end = text + len;
    uint64_t ns, s, q;
    if (!lg_parse_u64(&p, end, &ns) || !lg_parse_u64(&p, end, &s) || !lg_parse_u64(&p, end, &q))
        return false;
    if (s > UINT32_MAX || q > UINT32_MAX)
        return false;
    *send_ns = ns;
    *sender = (uint32_t)s;
    *seq = (uint32_t)q;
    return true;
}
