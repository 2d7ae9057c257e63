#include "cs_json.h"
#include "cs_utf8.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cs_json_reader {
    const unsigned char *p;    /* next byte */
    const unsigned char *start;
    const unsigned char *end;
    char *arena;
    size_t arena_used;
    size_t arena_size;
    char *errstr;
    size_t errstr_size;
} cs_json_reader_t;

static cs_err_t cs_json_fail(cs_json_reader_t *r, cs_err_t err, const char *what)
{
    snprintf(r->errstr, r->errstr_size, "%s at byte %zu", what, (size_t)(r->p - r->start));
    return err;
}

static void cs_json_skip_ws(cs_json_reader_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int cs_json_hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* Reads a string starting at the opening quote; decoded bytes go to the arena. */
static cs_err_t cs_json_string(cs_json_reader_t *r, const char **out, size_t *out_len)
{
    r->p++; /* opening quote */
    char *dst = r->arena + r->arena_used;
    size_t room = r->arena_size - r->arena_used;
    size_t n = 0;
    for (;;) {
        /* Fast path: a run of printable ASCII other than '"' and '\\' is copied at once
         * (the whole of a typical chat message); everything else goes byte by byte below. */
        const unsigned char *run = r->p;
        while (run < r->end && *run >= 0x20 && *run < 0x80 && *run != '"' && *run != '\\')
            run++;
        if (run > r->p) {
            size_t k = (size_t)(run - r->p);
            if (n + k + 3 >= room) /* as the per-byte check below would have found */
                return cs_json_fail(r, CS_ERR_TOO_LARGE, "string arena exhausted");
            memcpy(dst + n, r->p, k);
            n += k;
            r->p = run;
        }
        if (r->p >= r->end)
            return cs_json_fail(r, CS_ERR_BAD_JSON, "unterminated string");
        unsigned char c = *r->p;
        if (c == '"') {
            r->p++;
            break;
        }
        if (n + 4 >= room) /* cannot happen with a correctly sized arena */
            return cs_json_fail(r, CS_ERR_TOO_LARGE, "string arena exhausted");
        if (c < 0x20)
            return cs_json_fail(r, CS_ERR_BAD_JSON, "control character in string");
        if (c == '\\') {
            if (r->end - r->p < 2)
                return cs_json_fail(r, CS_ERR_BAD_JSON, "unterminated escape");
            unsigned char e = r->p[1];
            r->p += 2;
            switch (e) {
            case '"': dst[n++] = '"'; break;
            case '\\': dst[n++] = '\\'; break;
            case '/': dst[n++] = '/'; break;
            case 'b': dst[n++] = '\b'; break;
            case 'f': dst[n++] = '\f'; break;
            case 'n': dst[n++] = '\n'; break;
            case 'r': dst[n++] = '\r'; break;
            case 't': dst[n++] = '\t'; break;
            case 'u': {
                if (r->end - r->p < 4)
                    return cs_json_fail(r, CS_ERR_BAD_JSON, "short \\u escape");
                int cp = cs_json_hex4(r->p);
                if (cp < 0)
                    return cs_json_fail(r, CS_ERR_BAD_JSON, "bad \\u escape");
                r->p += 4;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return cs_json_fail(r, CS_ERR_BAD_UTF8, "lone low surrogate");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u')
                        return cs_json_fail(r, CS_ERR_BAD_UTF8, "lone high surrogate");
                    int lo = cs_json_hex4(r->p + 2);
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return cs_json_fail(r, CS_ERR_BAD_UTF8, "lone high surrogate");
                    r->p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                n += cs_utf8_encode((uint32_t)cp, dst + n);
                break;
            }
            default:
                r->p -= 1;
                return cs_json_fail(r, CS_ERR_BAD_JSON, "unknown escape");
            }
            continue;
        }
        if (c < 0x80) {
            dst[n++] = (char)c;
            r->p++;
            continue;
        }
        uint32_t cp;
        size_t k = cs_utf8_decode(r->p, (size_t)(r->end - r->p), &cp);
        if (k == 0)
            return cs_json_fail(r, CS_ERR_BAD_UTF8, "invalid UTF-8 in string");
        memcpy(dst + n, r->p, k);
        n += k;
        r->p += k;
    }
    dst[n] = '\0';
    *out = dst;
    *out_len = n;
    r->arena_used += n + 1;
    return CS_ERR_OK;
}

static cs_err_t cs_json_number(cs_json_reader_t *r, cs_json_field_t *f)
{
    const unsigned char *s = r->p;
    const unsigned char *q = s;
    bool is_int = true;
    if (q < r->end && *q == '-')
        q++;
    if (q >= r->end)
        return cs_json_fail(r, CS_ERR_BAD_JSON, "bad number");
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        while (q < r->end && *q >= '0' && *q <= '9')
            q++;
    } else {
        return cs_json_fail(r, CS_ERR_BAD_JSON, "bad number");
    }
    if (q < r->end && *q == '.') {
        is_int = false;
        q++;
        if (q >= r->end || *q < '0' || *q > '9')
            return cs_json_fail(r, CS_ERR_BAD_JSON, "bad fraction");
        while (q < r->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < r->end && (*q == 'e' || *q == 'E')) {
        is_int = false;
        q++;
        if (q < r->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= r->end || *q < '0' || *q > '9')
            return cs_json_fail(r, CS_ERR_BAD_JSON, "bad exponent");
        while (q < r->end && *q >= '0' && *q <= '9')
            q++;
    }
    char tmp[64];
    size_t n = (size_t)(q - s);
    if (n >= sizeof(tmp))
        return cs_json_fail(r, CS_ERR_BAD_JSON, "number too long");
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    if (is_int) {
        long long v = strtoll(tmp, NULL, 10);
        if (errno == ERANGE)
            return cs_json_fail(r, CS_ERR_BAD_JSON, "integer out of range");
        f->type = CS_JSON_INT;
        f->i = v;
        f->d = (double)v;
    } else {
        f->type = CS_JSON_DOUBLE;
        f->d = strtod(tmp, NULL);
        if (errno == ERANGE)
            return cs_json_fail(r, CS_ERR_BAD_JSON, "number out of range");
    }
    r->p = q;
    return CS_ERR_OK;
}

static bool cs_json_literal(cs_json_reader_t *r, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
        return false;
    r->p += n;
    return true;
}

cs_err_t cs_json_parse_flat(const char *in, size_t len, cs_json_obj_t *obj, char *arena,
                            size_t arena_size, char *errstr, size_t errstr_size)
{
    cs_json_reader_t r = {(const unsigned char *)in, (const unsigned char *)in,
                          (const unsigned char *)in + len, arena, 0, arena_size, errstr,
                          errstr_size};
    cs_err_t err;
    obj->n = 0;
    if (arena_size < cs_json_arena_size(len))
        return cs_json_fail(&r, CS_ERR_TOO_LARGE, "arena too small");

    cs_json_skip_ws(&r);
    if (r.p >= r.end || *r.p != '{')
        return cs_json_fail(&r, CS_ERR_BAD_JSON, "expected '{'");
    r.p++;
    cs_json_skip_ws(&r);
    if (r.p < r.end && *r.p == '}') {
        r.p++;
        goto trailing;
    }
    for (;;) {
        cs_json_skip_ws(&r);
        if (r.p >= r.end || *r.p != '"')
            return cs_json_fail(&r, CS_ERR_BAD_JSON, "expected a key");
        if (obj->n >= CS_JSON_MAX_FIELDS)
            return cs_json_fail(&r, CS_ERR_TOO_LARGE, "too many fields");
        cs_json_field_t *f = &obj->fields[obj->n];
        memset(f, 0, sizeof(*f));
        if ((err = cs_json_string(&r, &f->key, &f->key_len)) != CS_ERR_OK)
            return err;
        for (size_t i = 0; i < obj->n; i++) {
            if (obj->fields[i].key_len == f->key_len &&
                memcmp(obj->fields[i].key, f->key, f->key_len) == 0)
                return cs_json_fail(&r, CS_ERR_BAD_JSON, "duplicate key");
        }
        cs_json_skip_ws(&r);
        if (r.p >= r.end || *r.p != ':')
            return cs_json_fail(&r, CS_ERR_BAD_JSON, "expected ':'");
        r.p++;
        cs_json_skip_ws(&r);
        if (r.p >= r.end)
            return cs_json_fail(&r, CS_ERR_BAD_JSON, "expected a value");
        unsigned char c = *r.p;
        if (c == '"') {
            f->type = CS_JSON_STRING;
            if ((err = cs_json_string(&r, &f->str, &f->len)) != CS_ERR_OK)
                return err;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if ((err = cs_json_number(&r, f)) != CS_ERR_OK)
                return err;
        } else if (cs_json_literal(&r, "true")) {
            f->type = CS_JSON_BOOL, f->b = true;
        } else if (cs_json_literal(&r, "false")) {
            f->type = CS_JSON_BOOL, f->b = false;
        } else if (cs_json_literal(&r, "null")) {
            f->type = CS_JSON_NULL;
        } else if (c == '{' || c == '[') {
            return cs_json_fail(&r, CS_ERR_BAD_JSON, "nested values are not accepted");
        } else {
            return cs_json_fail(&r, CS_ERR_BAD_JSON, "expected a value");
        }
        obj->n++;
        cs_json_skip_ws(&r);
        if (r.p < r.end && *r.p == ',') {
            r.p++;
            continue;
        }
        if (r.p < r.end && *r.p == '}') {
            r.p++;
            break;
        }
        return cs_json_fail(&r, CS_ERR_BAD_JSON, "expected ',' or '}'");
    }
trailing:
    cs_json_skip_ws(&r);
    if (r.p != r.end)
        return cs_json_fail(&r, CS_ERR_BAD_JSON, "trailing data after the object");
    return CS_ERR_OK;
}

const cs_json_field_t *cs_json_get(const cs_json_obj_t *obj, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < obj->n; i++)
        if (obj->fields[i].key_len == klen && memcmp(obj->fields[i].key, key, klen) == 0)
            return &obj->fields[i];
    return NULL;
}

const char *cs_json_type_name(cs_json_type_t type)
{
    static const char *const names[] = {"string", "integer", "number", "boolean", "null"};
    return (unsigned)type <= CS_JSON_NULL ? names[type] : "?";
}
