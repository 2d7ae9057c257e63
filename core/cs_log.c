#include "cs_log.h"
#include "cs_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

cs_log_level_t cs_log_threshold = CS_LOG_INFO;
static char cs_log_app[32] = "chatstream";

static const char *const cs_log_names[] = {"error", "warn", "info", "debug"};

void cs_log_set_app(const char *app)
{
    snprintf(cs_log_app, sizeof(cs_log_app), "%s", app);
}

const char *cs_log_level_name(cs_log_level_t level)
{
    return (unsigned)level <= CS_LOG_DEBUG ? cs_log_names[level] : "debug";
}

bool cs_log_level_parse(const char *name, cs_log_level_t *level)
{
    for (int i = 0; i <= CS_LOG_DEBUG; i++) {
        if (strcasecmp(name, cs_log_names[i]) == 0) {
            *level = (cs_log_level_t)i;
            return true;
        }
    }
    return false;
}

cs_log_level_t cs_log_level_from_syslog(int severity)
{
    if (severity <= 3)
        return CS_LOG_ERROR;
    if (severity == 4)
        return CS_LOG_WARN;
    if (severity <= 6)
        return CS_LOG_INFO;
    return CS_LOG_DEBUG;
}

void cs_log_write(cs_log_level_t level, const char *fac, const char *fmt, ...)
{
    char stack[1024];
    cs_buf_t msg = CS_BUF_INIT, line = CS_BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(stack, sizeof(stack), fmt, ap);
    va_end(ap);
    const char *text = stack;
    size_t text_len = n < 0 ? 0 : (size_t)n;
    if (n >= (int)sizeof(stack)) {
        va_start(ap, fmt);
        cs_buf_vprintf(&msg, fmt, ap);
        va_end(ap);
        text = msg.data ? msg.data : "";
        text_len = msg.len;
    }

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    cs_buf_printf(&line, "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\",\"app\":\"%s\",\"fac\":", ts,
                  (int)(tv.tv_usec / 1000), cs_log_level_name(level), cs_log_app);
    cs_buf_put_json_str(&line, fac ? fac : "", fac ? strlen(fac) : 0);
    cs_buf_puts(&line, ",\"msg\":");
    cs_buf_put_json_str(&line, text, text_len);
    cs_buf_puts(&line, "}\n");
    if (!line.oom) {
        /* One write per line; a short write to a pipe under PIPE_BUF cannot happen. */
        ssize_t w = write(STDERR_FILENO, line.data, line.len);
        (void)w;
    }
    cs_buf_free(&line);
    cs_buf_free(&msg);
}
