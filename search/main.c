/*
 * chatstream-search — a small HTTP API process serving cs_search:
 *
 *   GET /v1/search?q=...&room=...&limit=...   the search (see cs_search.h)
 *   GET /healthz, /readyz, /metrics           as every chatstream process
 *
 * Who asks: auth.mode=jwt (the default) takes the user and their rooms from the
 * HS256 bearer token the gateway accepts (core/cs_jwt: sub, and the optional rooms
 * claim; no claim = any room). auth.mode=dev-insecure-header trusts the headers
 * X-Chatstream-Insecure-User and X-Chatstream-Insecure-Rooms (comma-separated;
 * absent = any room). As the name says: for development and tests only.
 *
 * http.threads worker threads share the listening socket; each serves one
 * request per connection (Connection: close), head at most 16 KiB, 5 s to send it.
 */
#include "cs_conf.h"
#include "cs_envelope.h"
#include "cs_jwt.h"
#include "cs_log.h"
#include "cs_search.h"
#include "cs_time.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define CS_API_HEAD_MAX 16384
#define CS_API_IO_MS 5000
#define CS_API_MAX_ROOMS 1024

typedef struct cs_api_conf {
    char *host;
    int64_t port;
    int64_t threads;
    char *auth_mode;
    cs_jwt_conf_t jwt; /* the "JWT" section (cs_jwt_conf_defs) */
    char *log_level;
} cs_api_conf_t;

static const cs_conf_def_t cs_api_defs[] = {
    CS_CONF_ROW_STR(cs_api_conf_t, host, "http.host", "127.0.0.1", 255, "Address to listen on."),
    CS_CONF_ROW_INT(cs_api_conf_t, port, "http.port", "8090", 0, 65535,
                    "Port (0: any free port, logged)."),
    CS_CONF_ROW_INT(cs_api_conf_t, threads, "http.threads", "4", 1, 256,
                    "Worker threads (each serves one request at a time)."),
    CS_CONF_ROW_STR(cs_api_conf_t, auth_mode, "auth.mode", "jwt", 32,
                    "jwt (HS256 bearer token, as the gateway's) or dev-insecure-header (trusts "
                    "X-Chatstream-Insecure-User/-Rooms: development and tests only)."),
    CS_CONF_ROW_STR(cs_api_conf_t, log_level, "log.level", "info", 16,
                    "error, warn, info or debug."),
};

typedef struct cs_api {
    cs_api_conf_t conf;
    cs_search_confs_t sconfs;
    cs_search_t *search;
    cs_metrics_t *metrics;
    int fd;
    atomic_bool stop;
    cs_counter_t *m_requests;
    uint8_t secret[CS_JWT_MAX_SECRET]; /* the verifier's key */
    cs_jwt_verifier_t verifier;
} cs_api_t;

static volatile sig_atomic_t cs_api_signal;

static void cs_api_on_signal(int sig)
{
    cs_api_signal = sig;
}

static void cs_api_send(int fd, int status, const char *ctype, const char *body, size_t len)
{
    const char *reason = status == 200   ? "OK"
                         : status == 400 ? "Bad Request"
                         : status == 401 ? "Unauthorized"
                         : status == 403 ? "Forbidden"
                         : status == 404 ? "Not Found"
                         : status == 405 ? "Method Not Allowed"
                         : status == 431 ? "Request Header Fields Too Large"
                                         : "Service Unavailable";
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     status, reason, ctype, len);
    struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    while (msg.msg_iovlen > 0) {
        ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        while (w > 0 && msg.msg_iovlen > 0) {
            if ((size_t)w >= msg.msg_iov[0].iov_len) {
                w -= (ssize_t)msg.msg_iov[0].iov_len;
                msg.msg_iov++;
                msg.msg_iovlen--;
            } else {
                msg.msg_iov[0].iov_base = (char *)msg.msg_iov[0].iov_base + w;
                msg.msg_iov[0].iov_len -= (size_t)w;
                w = 0;
            }
        }
    }
}

static void cs_api_json(int fd, int status, cs_buf_t *body)
{
    cs_api_send(fd, status, "application/json", body->data ? body->data : "", body->len);
}

static void cs_api_error(int fd, int status, const char *code, const char *message)
{
    cs_buf_t b = CS_BUF_INIT;
    cs_buf_printf(&b, "{\"error\":\"%s\",\"message\":", code);
    cs_buf_put_json_str(&b, message, strlen(message));
    cs_buf_putc(&b, '}');
    cs_api_json(fd, status, &b);
    cs_buf_free(&b);
}

/* The value of header `name` in head (NUL-terminated, lines end in \r\n), into out. */
static bool cs_api_header(const char *head, const char *name, char *out, size_t out_size)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *end = strstr(v, "\r\n");
            size_t len = end ? (size_t)(end - v) : strlen(v);
            while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
            if (len >= out_size)
                return false;
            memcpy(out, v, len);
            out[len] = '\0';
            return true;
        }
    }
    return false;
}

static void cs_api_search(cs_api_t *api, int fd, const char *head, const char *query)
{
    char user[CS_IDENT_MAX + 1];
    char rooms[8192];
    const char *list[CS_API_MAX_ROOMS];
    size_t n = 0;
    bool restricted = false;
    cs_jwt_claims_t *claims = NULL;
    if (strcmp(api->conf.auth_mode, "jwt") == 0) {
        char bearer[CS_JWT_MAX_TOKEN + 16], why[200] = "out of memory";
        if (!cs_api_header(head, "Authorization", bearer, sizeof(bearer)) ||
            strncmp(bearer, "Bearer ", 7) != 0) {
            cs_api_error(fd, 401, "unauthorized", "Authorization: Bearer <token> required");
            return;
        }
        claims = malloc(sizeof(*claims));
        if (!claims || cs_jwt_verify(&api->verifier, bearer + 7, strlen(bearer + 7),
                                     cs_wall_ms() / 1000, claims, why, sizeof(why)) != CS_ERR_OK) {
            free(claims);
            cs_api_error(fd, 401, "unauthorized", why);
            return;
        }
        snprintf(user, sizeof(user), "%s", claims->sub);
        restricted = claims->nrooms >= 0;
        for (int i = 0; restricted && i < claims->nrooms && n < CS_API_MAX_ROOMS; i++)
            list[n++] = claims->rooms[i];
    } else {
        if (!cs_api_header(head, "X-Chatstream-Insecure-User", user, sizeof(user)) || !*user) {
            cs_api_error(fd, 401, "unauthorized", "X-Chatstream-Insecure-User is required");
            return;
        }
        restricted = cs_api_header(head, "X-Chatstream-Insecure-Rooms", rooms, sizeof(rooms));
        if (restricted) {
            char *save = NULL;
            for (char *r = strtok_r(rooms, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
                while (*r == ' ')
                    r++;
                if (!*r)
                    continue;
                if (n == CS_API_MAX_ROOMS) {
                    cs_api_error(fd, 400, "bad_request", "too many rooms");
                    return;
                }
                list[n++] = r;
            }
        }
    }
    cs_buf_t out = CS_BUF_INIT;
    int status = cs_search_http(api->search, user, restricted ? list : NULL, n, query, &out);
    cs_api_json(fd, status, &out);
    cs_buf_free(&out);
    free(claims);
}

static void cs_api_serve(cs_api_t *api, int fd)
{
    char head[CS_API_HEAD_MAX + 1];
    size_t len = 0;
    int64_t deadline = cs_mono_ms() + CS_API_IO_MS;
    for (;;) {
        int wait = (int)(deadline - cs_mono_ms());
        struct pollfd pfd = {fd, POLLIN, 0};
        if (wait <= 0 || poll(&pfd, 1, wait) <= 0)
            return;
        ssize_t r = recv(fd, head + len, CS_API_HEAD_MAX - len, 0);
        if (r <= 0)
            return;
        len += (size_t)r;
        head[len] = '\0';
        if (memchr(head, '\0', len)) {
            cs_api_error(fd, 400, "bad_request", "NUL in request head");
            return;
        }
        if (strstr(head, "\r\n\r\n"))
            break;
        if (len == CS_API_HEAD_MAX) {
            cs_api_error(fd, 431, "too_large", "request head over 16 KiB");
            return;
        }
    }
    cs_counter_inc(api->m_requests);
    char method[8], target[CS_API_HEAD_MAX];
    if (sscanf(head, "%7s %16383s HTTP/1.", method, target) != 2) {
        cs_api_error(fd, 400, "bad_request", "malformed request line");
        return;
    }
    if (strcmp(method, "GET") != 0) {
        cs_api_error(fd, 405, "method_not_allowed", "GET only");
        return;
    }
    char *query = strchr(target, '?');
    if (query)
        *query++ = '\0';
    if (strcmp(target, "/v1/search") == 0) {
        cs_api_search(api, fd, head, query ? query : "");
    } else if (strcmp(target, "/healthz") == 0) {
        cs_api_send(fd, 200, "text/plain", "ok\n", 3);
    } else if (strcmp(target, "/readyz") == 0) {
        bool semantic = cs_search_semantic_ok(api->search);
        /* full-text-only is degraded but answering: ready, and says so */
        const char *msg = semantic ? "ok\n" : "degraded: semantic search failing, full-text answers\n";
        cs_api_send(fd, 200, "text/plain", msg, strlen(msg));
    } else if (strcmp(target, "/metrics") == 0) {
        cs_buf_t b = CS_BUF_INIT;
        cs_metrics_render(api->metrics, &b);
        cs_api_send(fd, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len);
        cs_buf_free(&b);
    } else {
        cs_api_error(fd, 404, "not_found", "no such path");
    }
}

static void *cs_api_worker(void *arg)
{
    cs_api_t *api = arg;
    while (!atomic_load(&api->stop)) {
        struct pollfd pfd = {api->fd, POLLIN, 0};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        int fd = accept(api->fd, NULL, NULL);
        if (fd < 0)
            continue; /* another worker took it, or a transient error */
        cs_api_serve(api, fd);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

static int cs_api_listen(const char *host, int port, int *bound, char *errstr, size_t errstr_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &ai);
    if (rc) {
        snprintf(errstr, errstr_size, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 256) != 0) {
        snprintf(errstr, errstr_size, "listen on %s:%d: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                            : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

int main(int argc, char **argv)
{
    cs_api_t api;
    memset(&api, 0, sizeof(api));
    api.fd = -1;
    char errstr[512];
    int status = 1;
    pthread_t *threads = NULL;
    int64_t started = 0;
    cs_log_set_app("search");
    cs_conf_t *conf = cs_conf_new("chatstream-search", "Serves GET /v1/search: semantic search "
                                  "over the Qdrant shards, PostgreSQL full-text as fallback.");
    if (!conf)
        return 1;
    cs_conf_add_section(conf, "search API", cs_api_defs, sizeof(cs_api_defs) / sizeof(cs_api_defs[0]),
                        &api.conf);
    cs_conf_add_section(conf, "JWT", cs_jwt_conf_defs, cs_jwt_conf_ndefs, &api.conf.jwt);
    cs_search_add_conf(conf, &api.sconfs);
    switch (cs_conf_load(conf, argc, argv, errstr, sizeof(errstr))) {
    case CS_CONF_EXIT_OK:
        status = 0;
        goto done;
    case CS_CONF_ERROR:
        fprintf(stderr, "chatstream-search: %s\n", errstr);
        status = 2;
        goto done;
    case CS_CONF_RUN:
        break;
    }
    cs_log_level_t level;
    if (!cs_log_level_parse(api.conf.log_level, &level)) {
        fprintf(stderr, "chatstream-search: log.level: '%s' is not error, warn, info or debug\n",
                api.conf.log_level);
        status = 2;
        goto done;
    }
    cs_log_threshold = level;
    if (strcmp(api.conf.auth_mode, "dev-insecure-header") == 0) {
        cs_log(CS_LOG_WARN, "auth", "auth.mode=dev-insecure-header: anyone can claim any user "
               "and rooms in request headers. Development and tests only.");
    } else if (strcmp(api.conf.auth_mode, "jwt") == 0) {
        if (cs_jwt_verifier_load(&api.conf.jwt, api.secret, &api.verifier, errstr,
                                 sizeof(errstr)) != CS_ERR_OK) {
            fprintf(stderr, "chatstream-search: %s (the gateway's)\n", errstr);
            status = 2;
            goto done;
        }
    } else {
        fprintf(stderr, "chatstream-search: auth.mode: '%s' is not jwt or dev-insecure-header\n",
                api.conf.auth_mode);
        status = 2;
        goto done;
    }
    cs_conf_log(conf);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = cs_api_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    api.metrics = cs_metrics_new();
    api.m_requests = cs_metrics_counter(api.metrics, "chatstream_http_requests_total",
                                        "component=\"search\"", "HTTP requests received.");
    api.search = cs_search_new(&api.sconfs, api.metrics, errstr, sizeof(errstr));
    if (!api.search) {
        cs_log(CS_LOG_ERROR, "setup", "%s", errstr);
        status = 2;
        goto done;
    }
    int port;
    api.fd = cs_api_listen(api.conf.host, (int)api.conf.port, &port, errstr, sizeof(errstr));
    if (api.fd < 0) {
        cs_log(CS_LOG_ERROR, "setup", "%s", errstr);
        goto done;
    }
    threads = calloc((size_t)api.conf.threads, sizeof(*threads));
    for (int64_t i = 0; threads && i < api.conf.threads; i++)
        if (pthread_create(&threads[i], NULL, cs_api_worker, &api) == 0)
            started++;
    if (started == 0) {
        cs_log(CS_LOG_ERROR, "setup", "no worker thread");
        goto done;
    }
    cs_log(CS_LOG_INFO, "setup", "serving /v1/search on %s:%d with %lld threads",
           api.conf.host, port, (long long)started);
    while (!cs_api_signal)
        pause();
    cs_log(CS_LOG_INFO, "shutdown", "signal %d: finishing requests", (int)cs_api_signal);
    status = 0;
done:
    atomic_store(&api.stop, true);
    for (int64_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    if (api.fd >= 0)
        close(api.fd);
    cs_search_destroy(api.search);
    cs_metrics_destroy(api.metrics);
    cs_conf_destroy(conf);
    if (status == 0 && started)
        cs_log(CS_LOG_INFO, "shutdown", "clean exit");
    return status;
}
