#include "cs_jsonc.h"
#include "cs_utf8.h"

#include <stdio.h>
#include <string.h>

/*
 * An RFC 8259 grammar check without allocation, run before json-c: json-c 0.16 in strict
 * mode still accepts single-quoted strings, and what a parser accepts should be exactly
 * JSON. Returns the position after the value, or NULL.
 */
typedef struct cs_jv {
    const char *p, *end;
    int depth, max_depth;
} cs_jv_t;

static void cs_jv_ws(cs_jv_t *v)
{
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

static bool cs_jv_lit(cs_jv_t *v, const char *lit, size_t n)
{
    if ((size_t)(v->end - v->p) < n || memcmp(v->p, lit, n) != 0)
        return false;
    v->p += n;
    return true;
}

static bool cs_jv_digits(cs_jv_t *v)
{
    const char *start = v->p;
    while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
        v->p++;
    return v->p > start;
}

static bool cs_jv_number(cs_jv_t *v)
{
    if (v->p < v->end && *v->p == '-')
        v->p++;
    if (v->p < v->end && *v->p == '0')
        v->p++;
    else if (!cs_jv_digits(v))
        return false;
    if (v->p < v->end && *v->p == '.') {
        v->p++;
        if (!cs_jv_digits(v))
            return false;
    }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-'))
            v->p++;
        if (!cs_jv_digits(v))
            return false;
    }
    return true;
}

static bool cs_jv_string(cs_jv_t *v)
{
    v->p++; /* the opening quote */
    while (v->p < v->end) {
        unsigned char c = (unsigned char)*v->p++;
        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (v->p >= v->end)
                return false;
            char e = *v->p++;
            if (e == 'u') {
                for (int i = 0; i < 4; i++, v->p++)
                    if (v->p >= v->end || !strchr("0123456789abcdefABCDEF", *v->p) || !*v->p)
                        return false;
            } else if (!strchr("\"\\/bfnrt", e) || !e) {
                return false;
            }
        }
    }
    return false;
}

static bool cs_jv_value(cs_jv_t *v)
{
    cs_jv_ws(v);
    if (v->p >= v->end)
        return false;
    switch (*v->p) {
    case '"':
        return cs_jv_string(v);
    case 't':
        return cs_jv_lit(v, "true", 4);
    case 'f':
        return cs_jv_lit(v, "false", 5);
    case 'n':
        return cs_jv_lit(v, "null", 4);
    case '[':
    case '{': {
        char close = *v->p == '[' ? ']' : '}';
        bool object = close == '}';
        if (++v->depth > v->max_depth)
            return false;
        v->p++;
        cs_jv_ws(v);
        if (v->p < v->end && *v->p == close) {
            v->p++;
            v->depth--;
            return true;
        }
        for (;;) {
            if (object) {
                cs_jv_ws(v);
                if (v->p >= v->end || *v->p != '"' || !cs_jv_string(v))
                    return false;
                cs_jv_ws(v);
                if (v->p >= v->end || *v->p++ != ':')
                    return false;
            }
            if (!cs_jv_value(v))
                return false;
            cs_jv_ws(v);
            if (v->p >= v->end)
                return false;
            if (*v->p == ',') {
                v->p++;
                continue;
            }
            if (*v->p++ != close)
                return false;
            v->depth--;
            return true;
        }
    }
    default:
        return cs_jv_number(v);
    }
}

static bool cs_json_grammar_ok(const char *in, size_t len, int max_depth)
{
    cs_jv_t v = {in, in + len, 0, max_depth};
    if (!cs_jv_value(&v))
        return false;
    cs_jv_ws(&v);
    return v.p == v.end;
}

struct json_object *cs_jsonc_parse(const char *in, size_t len, int max_depth, char *errstr,
                                   size_t errstr_size)
{
    if (len == 0 || len > (size_t)INT32_MAX) {
        snprintf(errstr, errstr_size, len ? "document too large" : "empty body");
        return NULL;
    }
    if (!cs_utf8_valid(in, len)) {
        snprintf(errstr, errstr_size, "invalid UTF-8");
        return NULL;
    }
    if (!cs_json_grammar_ok(in, len, max_depth)) {
        snprintf(errstr, errstr_size, "not JSON (RFC 8259), truncated, or nested deeper than %d",
                 max_depth);
        return NULL;
    }
    json_tokener *tok = json_tokener_new_ex(max_depth);
    if (!tok) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *obj = json_tokener_parse_ex(tok, in, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (!obj || jerr != json_tokener_success) {
        snprintf(errstr, errstr_size, "%s at byte %zu",
                 jerr == json_tokener_continue ? "truncated JSON"
                                               : json_tokener_error_desc(jerr),
                 end);
        json_object_put(obj);
        json_tokener_free(tok);
        return NULL;
    }
    for (size_t i = end; i < len; i++) {
        char c = in[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            snprintf(errstr, errstr_size, "trailing data at byte %zu", i);
            json_object_put(obj);
            json_tokener_free(tok);
            return NULL;
        }
    }
    json_tokener_free(tok);
    return obj;
}

struct json_object *cs_jsonc_get(struct json_object *obj, const char *key, json_type type)
{
    struct json_object *v = NULL;
    if (!obj || !json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, type))
        return NULL;
    return v;
}

bool cs_jsonc_number(struct json_object *v, double *out)
{
    if (json_object_is_type(v, json_type_double)) {
        *out = json_object_get_double(v);
        return true;
    }
    if (json_object_is_type(v, json_type_int)) {
        *out = (double)json_object_get_int64(v);
        return true;
    }
    return false;
}

const char *cs_jsonc_string(struct json_object *v, size_t *len)
{
    if (!json_object_is_type(v, json_type_string))
        return NULL;
    *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}
