#include "cs_vectors.h"
#include "cs_base64.h"
#include "cs_envelope.h"
#include "cs_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const cs_vrec_keys[] = {"v",    "id",    "room", "user",  "ts",
                                           "text", "model", "dim",  "vector"};
enum { K_V, K_ID, K_ROOM, K_USER, K_TS, K_TEXT, K_MODEL, K_DIM, K_VECTOR, K_COUNT };

size_t cs_vrec_arena_size(size_t len)
{
    /* strings (the JSON reader's arena) + the decoded vector (<= 3/4 of its text) + alignment */
    return cs_json_arena_size(len) + len + sizeof(float);
}

bool cs_model_valid(const char *s, size_t len)
{
    if (len == 0 || len > CS_MODEL_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (strchr("_.:@|+/-", c) && c != '\0')
            continue;
        return false;
    }
    return true;
}

/* Little-endian binary32 <-> float, whatever the host's byte order. */
static float cs_f32_load(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static void cs_f32_store(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    p[0] = (unsigned char)u;
    p[1] = (unsigned char)(u >> 8);
    p[2] = (unsigned char)(u >> 16);
    p[3] = (unsigned char)(u >> 24);
}

static cs_err_t cs_vec_check(const float *vec, uint32_t dim, char *errstr, size_t errstr_size)
{
    bool nonzero = false;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(vec[i])) {
            snprintf(errstr, errstr_size, "vector: value %u is not finite", i);
            return CS_ERR_BAD_FIELD;
        }
        if (vec[i] != 0.0f)
            nonzero = true;
    }
    if (!nonzero) {
        snprintf(errstr, errstr_size, "vector: all zero (no direction for cosine similarity)");
        return CS_ERR_BAD_FIELD;
    }
    return CS_ERR_OK;
}

cs_err_t cs_vrec_validate(const cs_vrec_t *rec, char *errstr, size_t errstr_size)
{
    if (!cs_uuid_canonical_lower(rec->id, strnlen(rec->id, sizeof(rec->id)))) {
        snprintf(errstr, errstr_size, "id: not a lowercase canonical UUID");
        return CS_ERR_BAD_FIELD;
    }
    if (!rec->room || !cs_ident_valid(rec->room, rec->room_len, CS_IDENT_MAX)) {
        snprintf(errstr, errstr_size, "room: must be 1-%d bytes of [A-Za-z0-9_.:@|+-]",
                 CS_IDENT_MAX);
        return CS_ERR_BAD_FIELD;
    }
    if (!rec->user || !cs_ident_valid(rec->user, rec->user_len, CS_IDENT_MAX)) {
        snprintf(errstr, errstr_size, "user: must be 1-%d bytes of [A-Za-z0-9_.:@|+-]",
                 CS_IDENT_MAX);
        return CS_ERR_BAD_FIELD;
    }
    if (rec->ts < 1 || rec->ts > CS_TS_MAX) {
        snprintf(errstr, errstr_size, "ts: %lld is not a plausible Unix time in ms",
                 (long long)rec->ts);
        return CS_ERR_BAD_FIELD;
    }
    char why[128];
    if (!rec->text || !cs_text_valid(rec->text, rec->text_len, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "text: %s", rec->text ? why : "missing");
        return CS_ERR_BAD_FIELD;
    }
    if (!rec->model || !cs_model_valid(rec->model, rec->model_len)) {
        snprintf(errstr, errstr_size, "model: must be 1-%d bytes of [A-Za-z0-9_.:@|+/-]",
                 CS_MODEL_MAX);
        return CS_ERR_BAD_FIELD;
    }
    if (rec->dim < 1 || rec->dim > CS_VREC_DIM_MAX) {
        snprintf(errstr, errstr_size, "dim: %u is outside [1, %d]", rec->dim, CS_VREC_DIM_MAX);
        return CS_ERR_BAD_FIELD;
    }
    if (!rec->vec) {
        snprintf(errstr, errstr_size, "vector: missing");
        return CS_ERR_BAD_FIELD;
    }
    return cs_vec_check(rec->vec, rec->dim, errstr, errstr_size);
}

static cs_err_t cs_vrec_type(const cs_json_field_t *f, cs_json_type_t want, char *errstr,
                             size_t errstr_size)
{
    if (f->type == want)
        return CS_ERR_OK;
    snprintf(errstr, errstr_size, "%s: expected %s, got %s", f->key, cs_json_type_name(want),
             cs_json_type_name(f->type));
    return CS_ERR_BAD_FIELD;
}

cs_err_t cs_vrec_decode(const char *in, size_t len, cs_vrec_t *rec, char *arena,
                        size_t arena_size, char *errstr, size_t errstr_size)
{
    cs_json_obj_t obj;
    cs_err_t err;
    memset(rec, 0, sizeof(*rec));
    if (len > CS_VREC_MAX_BYTES) {
        snprintf(errstr, errstr_size, "record is %zu bytes; the limit is %d", len,
                 CS_VREC_MAX_BYTES);
        return CS_ERR_TOO_LARGE;
    }
    if (arena_size < cs_vrec_arena_size(len)) {
        snprintf(errstr, errstr_size, "decode arena too small");
        return CS_ERR_INVALID;
    }
    size_t json_arena = cs_json_arena_size(len);
    err = cs_json_parse_flat(in, len, &obj, arena, json_arena, errstr, errstr_size);
    if (err != CS_ERR_OK)
        return err;

    const cs_json_field_t *seen[K_COUNT] = {0};
    for (size_t i = 0; i < obj.n; i++) {
        const cs_json_field_t *f = &obj.fields[i];
        size_t k = 0;
        while (k < K_COUNT && strcmp(f->key, cs_vrec_keys[k]) != 0)
            k++;
        if (k == K_COUNT) {
            snprintf(errstr, errstr_size, "unknown field '%.40s'", f->key);
            return CS_ERR_UNKNOWN_FIELD;
        }
        static const cs_json_type_t types[K_COUNT] = {
            CS_JSON_INT,    CS_JSON_STRING, CS_JSON_STRING, CS_JSON_STRING, CS_JSON_INT,
            CS_JSON_STRING, CS_JSON_STRING, CS_JSON_INT,    CS_JSON_STRING};
        if ((err = cs_vrec_type(f, types[k], errstr, errstr_size)))
            return err;
        seen[k] = f; /* the reader refuses duplicate keys, so each is seen once */
    }
    for (size_t k = 0; k < K_COUNT; k++) {
        if (!seen[k]) {
            snprintf(errstr, errstr_size, "missing required field '%s'", cs_vrec_keys[k]);
            return CS_ERR_MISSING_FIELD;
        }
    }
    if (seen[K_V]->i != CS_VREC_VERSION) {
        snprintf(errstr, errstr_size, "v: unsupported record version %lld",
                 (long long)seen[K_V]->i);
        return CS_ERR_BAD_FIELD;
    }
    if (!cs_uuid_canonical_lower(seen[K_ID]->str, seen[K_ID]->len)) {
        snprintf(errstr, errstr_size, "id: not a lowercase canonical UUID");
        return CS_ERR_BAD_FIELD;
    }
    memcpy(rec->id, seen[K_ID]->str, CS_UUID_STR_LEN + 1);
    rec->room = seen[K_ROOM]->str, rec->room_len = seen[K_ROOM]->len;
    rec->user = seen[K_USER]->str, rec->user_len = seen[K_USER]->len;
    rec->text = seen[K_TEXT]->str, rec->text_len = seen[K_TEXT]->len;
    rec->model = seen[K_MODEL]->str, rec->model_len = seen[K_MODEL]->len;
    rec->ts = seen[K_TS]->i;
    if (seen[K_DIM]->i < 1 || seen[K_DIM]->i > CS_VREC_DIM_MAX) {
        snprintf(errstr, errstr_size, "dim: %lld is outside [1, %d]", (long long)seen[K_DIM]->i,
                 CS_VREC_DIM_MAX);
        return CS_ERR_BAD_FIELD;
    }
    rec->dim = (uint32_t)seen[K_DIM]->i;

    const cs_json_field_t *v = seen[K_VECTOR];
    if (v->len != cs_base64_len((size_t)rec->dim * 4)) {
        snprintf(errstr, errstr_size, "vector: %zu base64 characters; dim %u needs %zu", v->len,
                 rec->dim, cs_base64_len((size_t)rec->dim * 4));
        return CS_ERR_BAD_FIELD;
    }
    /* Decode into the arena past the strings, then convert in place to aligned floats. */
    char *raw = arena + json_arena;
    size_t raw_len;
    if (!cs_base64_decode(v->str, v->len, raw, &raw_len) || raw_len != (size_t)rec->dim * 4) {
        snprintf(errstr, errstr_size, "vector: not canonical base64 of %u float32 values",
                 rec->dim);
        return CS_ERR_BAD_FIELD;
    }
    uintptr_t at = (uintptr_t)raw;
    float *vec = (float *)(void *)(raw + (sizeof(float) - at % sizeof(float)) % sizeof(float));
    /* vec starts at or after raw and both walk forward by 4: back to front is safe */
    for (size_t i = rec->dim; i-- > 0;)
        vec[i] = cs_f32_load((const unsigned char *)raw + i * 4);
    rec->vec = vec;
    return cs_vrec_validate(rec, errstr, errstr_size);
}

void cs_vrec_encode(const cs_vrec_t *rec, cs_buf_t *out)
{
    cs_buf_printf(out, "{\"v\":%d,\"id\":\"%s\",\"room\":", CS_VREC_VERSION, rec->id);
    cs_buf_put_json_str(out, rec->room, rec->room_len);
    cs_buf_puts(out, ",\"user\":");
    cs_buf_put_json_str(out, rec->user, rec->user_len);
    cs_buf_printf(out, ",\"ts\":%lld,\"text\":", (long long)rec->ts);
    cs_buf_put_json_str(out, rec->text, rec->text_len);
    cs_buf_puts(out, ",\"model\":");
    cs_buf_put_json_str(out, rec->model, rec->model_len);
    cs_buf_printf(out, ",\"dim\":%u,\"vector\":\"", rec->dim);
    /* Whole groups of 3 bytes per chunk, so the chunks concatenate into one encoding, and
     * whole floats (768 = 3 x 4 x 64), so each float is stored once. */
    unsigned char chunk[3 * 4 * 64];
    for (uint32_t at = 0; at < rec->dim;) {
        uint32_t floats = rec->dim - at < sizeof(chunk) / 4 ? rec->dim - at : sizeof(chunk) / 4;
        for (uint32_t i = 0; i < floats; i++)
            cs_f32_store(chunk + (size_t)i * 4, rec->vec[at + i]);
        cs_base64_encode(chunk, (size_t)floats * 4, out);
        at += floats;
    }
    cs_buf_puts(out, "\"}");
}
