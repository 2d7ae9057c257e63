/*
 * Fuzz target: the gateway's client-frame parser (ingest/gw_frame.c), which sees every
 * byte a WebSocket client sends after the UTF-8 check. Beyond "no crash": a frame it
 * accepts renders to canonical JSON that parses again to the same request.
 */
#include "cs_utf8.h"
#include "gw_frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const char *a, size_t al, const char *b, size_t bl)
{
    return (a == NULL) == (b == NULL) && (!a || (al == bl && memcmp(a, b, al) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cs_utf8_valid((const char *)data, size))
        return 0; /* the gateway closes with 1007 before parsing */
    char why[200];
    gw_client_frame_t *f = malloc(sizeof(*f)), *g = malloc(sizeof(*g));
    char *arena = malloc(gw_frame_arena_size(size));
    if (gw_frame_parse((const char *)data, size, 4096, f, arena, gw_frame_arena_size(size), why,
                       sizeof(why)) == GW_CF_OK) {
        cs_buf_t out = CS_BUF_INIT;
        gw_frame_render(f, &out);
        char *arena2 = malloc(gw_frame_arena_size(out.len));
        if (gw_frame_parse(out.data, out.len, 4096, g, arena2, gw_frame_arena_size(out.len), why,
                           sizeof(why)) != GW_CF_OK ||
            f->type != g->type || !same(f->room, f->room_len, g->room, g->room_len) ||
            !same(f->text, f->text_len, g->text, g->text_len) ||
            !same(f->cmid, f->cmid_len, g->cmid, g->cmid_len) ||
            !same(f->token, f->token_len, g->token, g->token_len) ||
            !same(f->user, f->user_len, g->user, g->user_len) || (!f->since != !g->since))
            abort(); /* the parser disagrees with its own canonical form */
        free(arena2);
        cs_buf_free(&out);
    }
    free(arena);
    free(f);
    free(g);
    return 0;
}
