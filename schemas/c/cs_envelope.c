#include "cs_envelope.h"
#include "cs_json.h"

#include <stdio.h>
#include <string.h>

static const char *const cs_envelope_keys[] = {"v", "id", "room", "user", "cmid", "ts", "text"};

size_t cs_envelope_arena_size(size_t len)
{
    return cs_json_arena_size(len);
}

bool cs_ident_valid(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c == '_' || c == '-' || c == '.' || c == ':' || c == '@' || c == '|' || c == '+')
            continue;
        return false;
    }
    return true;
}

bool cs_text_valid(const char *s, size_t len, char *errstr, size_t errstr_size)
{
    if (len == 0) {
        snprintf(errstr, errstr_size, "text is empty");
        return false;
    }
    if (len > CS_TEXT_MAX) {
        snprintf(errstr, errstr_size, "text is %zu bytes; the limit is %d", len, CS_TEXT_MAX);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
            snprintf(errstr, errstr_size, "text contains control character 0x%02x at byte %zu",
                     c, i);
            return false;
        }
    }
    return true;
}

bool cs_uuid_canonical_lower(const char *s, size_t len)
{
    if (len != CS_UUID_STR_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

cs_err_t cs_envelope_validate(const cs_envelope_t *env, char *errstr, size_t errstr_size)
{
    if (!cs_uuid_canonical_lower(env->id, strnlen(env->id, sizeof(env->id)))) {
        snprintf(errstr, errstr_size, "id: not a lowercase canonical UUID");
        return CS_ERR_BAD_FIELD;
    }
    if (!env->room || !cs_ident_valid(env->room, env->room_len, CS_IDENT_MAX)) {
        snprintf(errstr, errstr_size, "room: must be 1-%d bytes of [A-Za-z0-9_.:@|+-]",
                 CS_IDENT_MAX);
        return CS_ERR_BAD_FIELD;
    }
    if (!env->user || !cs_ident_valid(env->user, env->user_len, CS_IDENT_MAX)) {
        snprintf(errstr, errstr_size, "user: must be 1-%d bytes of [A-Za-z0-9_.:@|+-]",
                 CS_IDENT_MAX);
        return CS_ERR_BAD_FIELD;
    }
    if (env->cmid && !cs_ident_valid(env->cmid, env->cmid_len, CS_CMID_MAX)) {
        snprintf(errstr, errstr_size, "cmid: must be 1-%d bytes of [A-Za-z0-9_.:@|+-]",
                 CS_CMID_MAX);
        return CS_ERR_BAD_FIELD;
    }
    if (env->ts < 1 || env->ts > CS_TS_MAX) {
        snprintf(errstr, errstr_size, "ts: %lld is not a plausible Unix time in ms",
                 (long long)env->ts);
        return CS_ERR_BAD_FIELD;
    }
    char why[128];
    if (!env->text || !cs_text_valid(env->text, env->text_len, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "text: %s", env->text ? why : "missing");
        return CS_ERR_BAD_FIELD;
    }
    return CS_ERR_OK;
}

static cs_err_t cs_envelope_field_type(const cs_json_field_t *f, cs_json_type_t want,
                                       char *errstr, size_t errstr_size)
{
    if (f->type == want)
        return CS_ERR_OK;
    snprintf(errstr, errstr_size, "%s: expected %s, got %s", f->key, cs_json_type_name(want),
             cs_json_type_name(f->type));
    return CS_ERR_BAD_FIELD;
}

cs_err_t cs_envelope_decode(const char *in, size_t len, cs_envelope_t *env, char *arena,
                            size_t arena_size, char *errstr, size_t errstr_size)
{
    cs_json_obj_t obj;
    cs_err_t err;
    memset(env, 0, sizeof(*env));
    if (len > CS_ENVELOPE_MAX_BYTES) {
        snprintf(errstr, errstr_size, "envelope is %zu bytes; the limit is %d", len,
                 CS_ENVELOPE_MAX_BYTES);
        return CS_ERR_TOO_LARGE;
    }
    err = cs_json_parse_flat(in, len, &obj, arena, arena_size, errstr, errstr_size);
    if (err != CS_ERR_OK)
        return err;

    bool seen_v = false, seen_id = false, seen_ts = false;
    for (size_t i = 0; i < obj.n; i++) {
        const cs_json_field_t *f = &obj.fields[i];
        size_t k = 0;
        while (k < sizeof(cs_envelope_keys) / sizeof(cs_envelope_keys[0]) &&
               strcmp(f->key, cs_envelope_keys[k]) != 0)
            k++;
        switch (k) {
        case 0: /* v */
            if ((err = cs_envelope_field_type(f, CS_JSON_INT, errstr, errstr_size)))
                return err;
            if (f->i != CS_ENVELOPE_VERSION) {
                snprintf(errstr, errstr_size, "v: unsupported envelope version %lld",
                         (long long)f->i);
                return CS_ERR_BAD_FIELD;
            }
            seen_v = true;
            break;
        case 1: /* id */
            if ((err = cs_envelope_field_type(f, CS_JSON_STRING, errstr, errstr_size)))
                return err;
            if (!cs_uuid_canonical_lower(f->str, f->len)) {
                snprintf(errstr, errstr_size, "id: not a lowercase canonical UUID");
                return CS_ERR_BAD_FIELD;
            }
            memcpy(env->id, f->str, CS_UUID_STR_LEN + 1);
            seen_id = true;
            break;
        case 2: /* room */
            if ((err = cs_envelope_field_type(f, CS_JSON_STRING, errstr, errstr_size)))
                return err;
            env->room = f->str, env->room_len = f->len;
            break;
        case 3: /* user */
            if ((err = cs_envelope_field_type(f, CS_JSON_STRING, errstr, errstr_size)))
                return err;
            env->user = f->str, env->user_len = f->len;
            break;
        case 4: /* cmid */
            if ((err = cs_envelope_field_type(f, CS_JSON_STRING, errstr, errstr_size)))
                return err;
            env->cmid = f->str, env->cmid_len = f->len;
            break;
        case 5: /* ts */
            if ((err = cs_envelope_field_type(f, CS_JSON_INT, errstr, errstr_size)))
                return err;
            env->ts = f->i;
            seen_ts = true;
            break;
        case 6: /* text */
            if ((err = cs_envelope_field_type(f, CS_JSON_STRING, errstr, errstr_size)))
                return err;
            env->text = f->str, env->text_len = f->len;
            break;
        default:
            snprintf(errstr, errstr_size, "unknown field '%.40s'", f->key);
            return CS_ERR_UNKNOWN_FIELD;
        }
    }
    const char *missing = !seen_v      ? "v"
                          : !seen_id   ? "id"
                          : !env->room ? "room"
                          : !env->user ? "user"
                          : !seen_ts   ? "ts"
                          : !env->text ? "text"
                                       : NULL;
    if (missing) {
        snprintf(errstr, errstr_size, "missing required field '%s'", missing);
        return CS_ERR_MISSING_FIELD;
    }
    return cs_envelope_validate(env, errstr, errstr_size);
}

void cs_envelope_encode(const cs_envelope_t *env, cs_buf_t *out)
{
    cs_buf_printf(out, "{\"v\":%d,\"id\":\"%s\",\"room\":", CS_ENVELOPE_VERSION, env->id);
    cs_buf_put_json_str(out, env->room, env->room_len);
    cs_buf_puts(out, ",\"user\":");
    cs_buf_put_json_str(out, env->user, env->user_len);
    if (env->cmid) {
        cs_buf_puts(out, ",\"cmid\":");
        cs_buf_put_json_str(out, env->cmid, env->cmid_len);
    }
    cs_buf_printf(out, ",\"ts\":%lld,\"text\":", (long long)env->ts);
    cs_buf_put_json_str(out, env->text, env->text_len);
    cs_buf_putc(out, '}');
}
