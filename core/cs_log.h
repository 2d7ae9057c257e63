/*
 * cs_log — one JSON object per line on stderr.
 *
 *   {"ts":"2026-11-23T10:00:00.123Z","level":"warn","app":"persist","fac":"pg","msg":"..."}
 *
 * The level is checked before anything is formatted, so debug logging on a hot
 * path costs one comparison when it is off. Lines are written with a single
 * write(2), so lines from different threads (librdkafka's, ours) never interleave.
 */
#ifndef CS_LOG_H
#define CS_LOG_H

#include <stdbool.h>

typedef enum {
    CS_LOG_ERROR = 0,
    CS_LOG_WARN = 1,
    CS_LOG_INFO = 2,
    CS_LOG_DEBUG = 3,
} cs_log_level_t;

/* Process-wide, like syslog's: logging is the one thing every thread may do. */
extern cs_log_level_t cs_log_threshold;

#define cs_log(level, fac, ...)                                                                    \
    do {                                                                                           \
        if ((level) <= cs_log_threshold)                                                           \
            cs_log_write((level), (fac), __VA_ARGS__);                                             \
    } while (0)

void cs_log_write(cs_log_level_t level, const char *fac, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets the "app" field of every line (the binary's short name). */
void cs_log_set_app(const char *app);
/* "error", "warn", "info", "debug" -> level; false if unknown. */
bool cs_log_level_parse(const char *name, cs_log_level_t *level);
const char *cs_log_level_name(cs_log_level_t level);
/* Maps a syslog severity (librdkafka and libwebsockets use them) to ours. */
cs_log_level_t cs_log_level_from_syslog(int severity);

#endif
