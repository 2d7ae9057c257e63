#include "cs_jsonc.h"

#include <stdio.h>

struct json_object *cs_jsonc_parse(const char *in, size_t len, int max_depth, char *errstr,
                                   size_t errstr_size)
{
    if (len == 0 || len > (size_t)INT32_MAX) {
        snprintf(errstr, errstr_size, len ? "document too large" : "empty body");
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
