/*
 * Fuzz target: the envelope decoder (and through it the strict JSON reader).
 * Beyond "no crash": anything it accepts must re-encode to something it accepts
 * again with identical fields (decode . encode is the identity on valid input).
 */
#include "cs_envelope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[256];
    size_t arena_size = cs_envelope_arena_size(size);
    char *arena = malloc(arena_size);
    cs_envelope_t env;
    if (cs_envelope_decode((const char *)data, size, &env, arena, arena_size, errstr,
                           sizeof(errstr)) == CS_ERR_OK) {
        cs_buf_t out = CS_BUF_INIT;
        cs_envelope_encode(&env, &out);
        size_t arena2_size = cs_envelope_arena_size(out.len);
        char *arena2 = malloc(arena2_size);
        cs_envelope_t again;
        if (cs_envelope_decode(out.data, out.len, &again, arena2, arena2_size, errstr,
                               sizeof(errstr)) != CS_ERR_OK ||
            strcmp(env.id, again.id) != 0 || env.ts != again.ts ||
            env.text_len != again.text_len || memcmp(env.text, again.text, env.text_len) != 0 ||
            env.room_len != again.room_len || memcmp(env.room, again.room, env.room_len) != 0 ||
            env.user_len != again.user_len || memcmp(env.user, again.user, env.user_len) != 0 ||
            (env.cmid == NULL) != (again.cmid == NULL))
            abort(); /* the codec disagrees with itself */
        free(arena2);
        cs_buf_free(&out);
    }
    free(arena);
    return 0;
}
