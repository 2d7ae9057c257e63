/*
 * Fuzz target: the chat.vectors record decoder (and through it the strict JSON reader
 * and the base64 decoder). Beyond "no crash": whatever it accepts re-encodes to
 * something it accepts again with identical fields and a bit-identical vector.
 */
#include "cs_vectors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[256];
    size_t arena_size = cs_vrec_arena_size(size);
    char *arena = malloc(arena_size);
    cs_vrec_t rec;
    if (cs_vrec_decode((const char *)data, size, &rec, arena, arena_size, errstr,
                       sizeof(errstr)) == CS_ERR_OK) {
        cs_buf_t out = CS_BUF_INIT;
        cs_vrec_encode(&rec, &out);
        size_t arena2_size = cs_vrec_arena_size(out.len);
        char *arena2 = malloc(arena2_size);
        cs_vrec_t again;
        if (cs_vrec_decode(out.data, out.len, &again, arena2, arena2_size, errstr,
                           sizeof(errstr)) != CS_ERR_OK ||
            strcmp(rec.id, again.id) != 0 || rec.ts != again.ts || rec.dim != again.dim ||
            memcmp(rec.vec, again.vec, rec.dim * sizeof(float)) != 0 ||
            rec.text_len != again.text_len || memcmp(rec.text, again.text, rec.text_len) != 0 ||
            rec.model_len != again.model_len ||
            memcmp(rec.model, again.model, rec.model_len) != 0 ||
            rec.user_len != again.user_len || memcmp(rec.user, again.user, rec.user_len) != 0 ||
            rec.room_len != again.room_len || memcmp(rec.room, again.room, rec.room_len) != 0)
            abort(); /* the codec disagrees with itself */
        free(arena2);
        cs_buf_free(&out);
    }
    free(arena);
    return 0;
}
