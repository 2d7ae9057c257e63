/* cs_lws_uv.c — tearing down libwebsockets on a caller-owned libuv loop. */
#include "cs_lws_uv.h"

void cs_lws_uv_destroy(struct lws_context *ctx, uv_loop_t *uv)
{
    if (ctx) {
        lws_context_destroy(ctx);
        for (int i = 0; i < 1000 && uv_run(uv, UV_RUN_NOWAIT); i++)
            ;
        lws_context_destroy(ctx);
    }
    for (int i = 0; i < 1000 && uv_loop_close(uv) == UV_EBUSY; i++)
        uv_run(uv, UV_RUN_NOWAIT);
}
