/*
 * cs_err — the one status type of chatstream.
 *
 * Every fallible function returns a cs_err_t. Each code says whether the
 * failure is worth retrying (the dependency may come back: back off, pause,
 * try again) or permanent for this input (dead-letter it, refuse it), so a
 * processor never has to guess. The list below generates the enum, the names
 * and the messages, the way libuv and c-ares do it.
 */
#ifndef CS_ERR_H
#define CS_ERR_H

#include <stdbool.h>

/*       name          retriable  message */
#define CS_ERR_LIST(X)                                                                   \
    X(OK,              0, "success")                                                     \
    X(NOMEM,           1, "out of memory")                                               \
    X(INVALID,         0, "invalid input")                                               \
    X(BAD_JSON,        0, "malformed JSON")                                              \
    X(BAD_UTF8,        0, "invalid UTF-8")                                               \
    X(TOO_LARGE,       0, "input exceeds a size limit")                                  \
    X(MISSING_FIELD,   0, "a required field is missing")                                 \
    X(BAD_FIELD,       0, "a field has the wrong type, length or format")                \
    X(UNKNOWN_FIELD,   0, "an unknown field is present")                                 \
    X(CONFIG,          0, "invalid configuration")                                       \
    X(REJECTED,        0, "the sink permanently rejected the input")                     \
    X(TRANSIENT,       1, "transient failure")                                           \
    X(UNAVAILABLE,     1, "a dependency is unavailable")                                 \
    X(TIMEOUT,         1, "timed out")                                                   \
    X(IO,              1, "input/output error")                                          \
    X(SHUTDOWN,        0, "shutting down")                                               \
    X(FATAL,           0, "fatal error")

typedef enum {
#define CS_ERR_ENUM(name, retriable, msg) CS_ERR_##name,
    CS_ERR_LIST(CS_ERR_ENUM)
#undef CS_ERR_ENUM
    CS_ERR__COUNT
} cs_err_t;

/* "BAD_UTF8" — stable, for logs, metric labels and DLQ headers. */
const char *cs_err_name(cs_err_t err);
/* "invalid UTF-8" — for humans. */
const char *cs_err_str(cs_err_t err);
/* True when the same operation may succeed later without changing the input. */
bool cs_err_retriable(cs_err_t err);

#endif
