/*
 * cs_buf — a growable byte buffer.
 *
 * Used to build JSON, Prometheus text, COPY rows and HTTP responses without
 * counting bytes by hand. Allocation failure is sticky: once an append fails,
 * `oom` is set and later appends are no-ops, so a caller checks once at the end.
 */
#ifndef CS_BUF_H
#define CS_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct cs_buf {
    char *data;    /* always NUL-terminated when cap > 0 */
    size_t len;    /* bytes in use, excluding the NUL */
    size_t cap;    /* bytes allocated */
    bool oom;      /* an append failed; contents are truncated */
} cs_buf_t;

#define CS_BUF_INIT {NULL, 0, 0, false}

void cs_buf_init(cs_buf_t *buf);
void cs_buf_free(cs_buf_t *buf);
void cs_buf_reset(cs_buf_t *buf); /* len = 0, keeps the allocation */
bool cs_buf_reserve(cs_buf_t *buf, size_t extra);
void cs_buf_append(cs_buf_t *buf, const void *data, size_t len);
void cs_buf_puts(cs_buf_t *buf, const char *str);
void cs_buf_putc(cs_buf_t *buf, char c);
void cs_buf_printf(cs_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cs_buf_vprintf(cs_buf_t *buf, const char *fmt, va_list ap);
/* Appends `len` bytes as a quoted JSON string, escaping what JSON requires. */
void cs_buf_put_json_str(cs_buf_t *buf, const char *str, size_t len);
/* Hands the allocation to the caller (who frees it) and empties the buffer. */
char *cs_buf_steal(cs_buf_t *buf, size_t *len);

#endif
