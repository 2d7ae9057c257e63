/* cs_lws_uv.h — libwebsockets on a libuv loop the caller owns (a "foreign" loop). */
#ifndef CS_LWS_UV_H
#define CS_LWS_UV_H

#include <uv.h> /* before libwebsockets.h: declares its libuv helpers */

#include <libwebsockets.h>

/* Destroys ctx (may be NULL) and closes uv, which ctx was created on. On libuv lws's
 * destroy is spread over time: it closes its handles, the loop has to run until they are
 * closed, then a second destroy frees the rest (lws 4.1's foreign-loop example does the
 * same; one call left 684 KB per gateway to LeakSanitizer). Bounded: a handle that never
 * closes leaves the loop open rather than hanging the caller's shutdown. */
void cs_lws_uv_destroy(struct lws_context *ctx, uv_loop_t *uv);

#endif
