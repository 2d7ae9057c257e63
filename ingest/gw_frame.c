/* gw_frame: see gw_frame.h. */
#include "gw_frame.h"

#include "cs_envelope.h"
#include "cs_jwt.h"

#include <stdio.h>
#include <string.h>

size_t gw_frame_arena_size(size_t len)
{
    return cs_json_arena_size(len);
}

static const char *gw_cf_str(const cs_json_obj_t *o, const char *key, size_t *len)
{
    const cs_json_field_t *f = cs_json_get(o, key);
    if (!f || f->type != CS_JSON_STRING)
        return NULL;
    *len = f->len;
    return f->str;
}

/* Every key of the object is one of `keys` (NULL-terminated). */
static bool gw_cf_only(const cs_json_obj_t *o, const char *const *keys)
{
    for (size_t i = 0; i < o->n; i++) {
        bool ok = false;
        for (const char *const *k = keys; *k && !ok; k++)
            ok = strcmp(o->fields[i].key, *k) == 0;
        if (!ok)
            return false;
    }
    return true;
}

#define GW_CF_FAIL(st, ...)                                                                        \
    do {                                                                                           \
        snprintf(why, why_size, __VA_ARGS__);                                                      \
        return st;                                                                                 \
    } while (0)

gw_cf_status_t gw_frame_parse(const char *data, size_t len, size_t max_text,
                              gw_client_frame_t *f, char *arena, size_t arena_size, char *why,
                              size_t why_size)
{
    memset(f, 0, sizeof(*f) - sizeof(f->obj));
    cs_json_obj_t *o = &f->obj;
    if (cs_json_parse_flat(data, len, o, arena, arena_size, why, why_size) != CS_ERR_OK)
        return GW_CF_BAD_REQUEST;
    size_t tl = 0;
    const char *type = gw_cf_str(o, "type", &tl);
    if (!type)
        GW_CF_FAIL(GW_CF_BAD_REQUEST, "a frame needs a string \"type\"");
    size_t n;
    const char *room = gw_cf_str(o, "room", &n);
    if (room && cs_ident_valid(room, n, CS_IDENT_MAX))
        f->room = room, f->room_len = n;
    const char *cmid = gw_cf_str(o, "cmid", &n);
    if (cmid && cs_ident_valid(cmid, n, CS_CMID_MAX))
        f->cmid = cmid, f->cmid_len = n;

    if (strcmp(type, "auth") == 0) {
        static const char *const keys[] = {"type", "token", "user", NULL};
        f->type = GW_CF_AUTH;
        f->token = gw_cf_str(o, "token", &f->token_len);
        f->user = gw_cf_str(o, "user", &f->user_len);
        if (!gw_cf_only(o, keys) || (!f->token == !f->user) ||
            (f->token && (f->token_len == 0 || f->token_len > CS_JWT_MAX_TOKEN)) ||
            (f->user && !cs_ident_valid(f->user, f->user_len, CS_IDENT_MAX)))
            GW_CF_FAIL(GW_CF_BAD_REQUEST, "auth needs \"token\" (a JWT) or, in dev mode, \"user\"");
        return GW_CF_OK;
    }
    if (strcmp(type, "join") == 0 || strcmp(type, "leave") == 0) {
        static const char *const join_keys[] = {"type", "room", "since", NULL};
        static const char *const leave_keys[] = {"type", "room", NULL};
        bool join = type[0] == 'j';
        f->type = join ? GW_CF_JOIN : GW_CF_LEAVE;
        if (!gw_cf_only(o, join ? join_keys : leave_keys) || !f->room)
            GW_CF_FAIL(GW_CF_BAD_REQUEST, "%s needs \"room\" (1-128 of A-Za-z0-9_.:@|+-)%s", type,
                       join ? " and optionally \"since\" (a message id)" : "");
        if (join && cs_json_get(o, "since")) {
            f->since = gw_cf_str(o, "since", &n);
            if (!f->since || !cs_uuid_canonical_lower(f->since, n))
                GW_CF_FAIL(GW_CF_BAD_REQUEST, "\"since\" must be a message id (lowercase UUID)");
        }
        return GW_CF_OK;
    }
    if (strcmp(type, "send") == 0) {
        static const char *const keys[] = {"type", "room", "text", "cmid", NULL};
        f->type = GW_CF_SEND;
        f->text = gw_cf_str(o, "text", &f->text_len);
        if (!gw_cf_only(o, keys) || !f->room || !f->cmid || !f->text)
            GW_CF_FAIL(GW_CF_BAD_REQUEST,
                       "send needs \"room\", \"text\" and \"cmid\" (1-64 of A-Za-z0-9_.:@|+-)");
        if (f->text_len > max_text)
            GW_CF_FAIL(GW_CF_TOO_LARGE, "text is %zu bytes; the limit is %zu", f->text_len,
                       max_text);
        if (!cs_text_valid(f->text, f->text_len, why, why_size))
            return GW_CF_BAD_REQUEST;
        return GW_CF_OK;
    }
    GW_CF_FAIL(GW_CF_UNKNOWN_TYPE, "unknown frame type");
}

void gw_frame_render(const gw_client_frame_t *f, cs_buf_t *out)
{
    static const char *const names[] = {"auth", "join", "leave", "send"};
    cs_buf_printf(out, "{\"type\":\"%s\"", names[f->type]);
#define GW_CF_PUT(key, p, l)                                                                       \
    if (p) {                                                                                       \
        cs_buf_puts(out, ",\"" key "\":");                                                         \
        cs_buf_put_json_str(out, p, l);                                                            \
    }
    GW_CF_PUT("token", f->token, f->token_len);
    GW_CF_PUT("user", f->user, f->user_len);
    if (f->type != GW_CF_AUTH) {
        GW_CF_PUT("room", f->room, f->room_len);
    }
    GW_CF_PUT("since", f->since, f->since ? strlen(f->since) : 0);
    GW_CF_PUT("text", f->text, f->text_len);
    if (f->type == GW_CF_SEND) {
        GW_CF_PUT("cmid", f->cmid, f->cmid_len);
    }
#undef GW_CF_PUT
    cs_buf_putc(out, '}');
}
