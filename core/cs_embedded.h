/* cs_embedded — files compiled into a binary by cmake/embed.cmake (SQL migrations, web pages). */
#ifndef CS_EMBEDDED_H
#define CS_EMBEDDED_H

#include <stddef.h>

typedef struct cs_embedded_file {
    const char *name;    /* base name, e.g. "0001_messages.sql" */
    const char *data;    /* contents, NUL-terminated */
    size_t len;
} cs_embedded_file_t;

#endif
