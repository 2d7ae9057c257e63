#include "cs_http.h"
#include "cs_log.h"
#include "cs_time.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CS_HTTP_REQ_MAX 8192
#define CS_HTTP_IO_TIMEOUT_MS 2000

struct cs_http {
    int fd;                         /* listening socket */
    int port;
    int wake[2];                    /* pipe: a byte here stops the thread */
    pthread_t thread;
    cs_metrics_t *metrics;
    cs_http_ready_fn ready;
    void *ready_arg;
    _Atomic int64_t heartbeat_ms;   /* monotonic time of the owner's last heartbeat */
    _Atomic int64_t stall_ms;
    cs_counter_t *requests;
};

static void cs_http_send(int fd, int status, const char *reason, const char *ctype,
                         const char *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nCache-Control: no-store\r\n\r\n",
                     status, reason, ctype, len);
    struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    size_t total = (size_t)n + len;
    while (total > 0) {
        ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        total -= (size_t)w;
        /* advance the iovecs past what was written */
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

/* Reads the request head (up to CS_HTTP_REQ_MAX) and answers it. */
static void cs_http_serve_one(cs_http_t *http, int fd)
{
    char req[CS_HTTP_REQ_MAX + 1];
    size_t len = 0;
    int64_t deadline = cs_mono_ms() + CS_HTTP_IO_TIMEOUT_MS;
    while (len < CS_HTTP_REQ_MAX) {
        int wait = (int)(deadline - cs_mono_ms());
        if (wait <= 0)
            return;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, wait) <= 0)
            return;
        ssize_t r = recv(fd, req + len, CS_HTTP_REQ_MAX - len, 0);
        if (r <= 0)
            return;
        len += (size_t)r;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
            break;
    }
    req[len] = '\0';
    cs_counter_inc(http->requests);

    char method[8], path[256];
    if (sscanf(req, "%7s %255s", method, path) != 2) {
        cs_http_send(fd, 400, "Bad Request", "text/plain", "bad request\n", 12);
        return;
    }
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        cs_http_send(fd, 405, "Method Not Allowed", "text/plain", "GET only\n", 9);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        cs_buf_t body = CS_BUF_INIT;
        cs_metrics_render(http->metrics, &body);
        cs_http_send(fd, 200, "OK", "text/plain; version=0.0.4", body.data ? body.data : "",
                     body.len);
        cs_buf_free(&body);
    } else if (strcmp(path, "/healthz") == 0) {
        int64_t age = cs_mono_ms() - atomic_load(&http->heartbeat_ms);
        char body[128];
        if (age > atomic_load(&http->stall_ms)) {
            int n = snprintf(body, sizeof(body), "main loop stalled for %lld ms\n",
                             (long long)age);
            cs_http_send(fd, 503, "Service Unavailable", "text/plain", body, (size_t)n);
        } else {
            cs_http_send(fd, 200, "OK", "text/plain", "ok\n", 3);
        }
    } else if (strcmp(path, "/readyz") == 0) {
        char reason[200] = "ready";
        bool ok = http->ready ? http->ready(http->ready_arg, reason, sizeof(reason)) : true;
        char body[256];
        int n = snprintf(body, sizeof(body), "%s\n", ok ? "ready" : reason);
        if (ok)
            cs_http_send(fd, 200, "OK", "text/plain", body, (size_t)n);
        else
            cs_http_send(fd, 503, "Service Unavailable", "text/plain", body, (size_t)n);
    } else {
        cs_http_send(fd, 404, "Not Found", "text/plain", "not found\n", 10);
    }
}

static void *cs_http_main(void *arg)
{
    cs_http_t *http = arg;
    for (;;) {
        struct pollfd pfds[2] = {{http->fd, POLLIN, 0}, {http->wake[0], POLLIN, 0}};
        int r = poll(pfds, 2, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || pfds[1].revents)
            break;
        if (pfds[0].revents & POLLIN) {
            int fd = accept4(http->fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0)
                continue;
            cs_http_serve_one(http, fd);
            close(fd);
        }
    }
    return NULL;
}

cs_http_t *cs_http_new(const char *host, int port, cs_metrics_t *metrics, cs_http_ready_fn ready,
                       void *ready_arg, char *errstr, size_t errstr_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int rc = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(errstr, errstr_size, "admin address %s:%d: %s", host, port, gai_strerror(rc));
        return NULL;
    }
    cs_http_t *http = calloc(1, sizeof(*http));
    if (!http) {
        freeaddrinfo(res);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    http->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (http->fd >= 0)
        setsockopt(http->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (http->fd < 0 || bind(http->fd, res->ai_addr, res->ai_addrlen) != 0 ||
        listen(http->fd, 64) != 0) {
        snprintf(errstr, errstr_size, "admin listener %s:%d: %s", host, port, strerror(errno));
        freeaddrinfo(res);
        if (http->fd >= 0)
            close(http->fd);
        free(http);
        return NULL;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(http->fd, (struct sockaddr *)&ss, &sl);
    http->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    http->metrics = metrics;
    http->ready = ready;
    http->ready_arg = ready_arg;
    http->heartbeat_ms = cs_mono_ms();
    http->stall_ms = 60000;
    http->requests = cs_metrics_counter(metrics, "chatstream_admin_requests_total", NULL,
                                        "Requests served on the admin endpoint.");
    if (pipe2(http->wake, O_CLOEXEC) != 0) {
        snprintf(errstr, errstr_size, "admin wake pipe: %s", strerror(errno));
        goto err_close_fd;
    }
    if (pthread_create(&http->thread, NULL, cs_http_main, http) != 0) {
        snprintf(errstr, errstr_size, "admin thread: %s", strerror(errno));
        goto err_close_pipe;
    }
    cs_log(CS_LOG_INFO, "admin", "serving /metrics /healthz /readyz on %s:%d", host, http->port);
    return http;

err_close_pipe:
    close(http->wake[0]);
    close(http->wake[1]);
err_close_fd:
    close(http->fd);
    free(http);
    return NULL;
}

int cs_http_port(const cs_http_t *http)
{
    return http->port;
}

void cs_http_heartbeat(cs_http_t *http)
{
    if (http)
        atomic_store(&http->heartbeat_ms, cs_mono_ms());
}

void cs_http_set_stall_ms(cs_http_t *http, int64_t stall_ms)
{
    atomic_store(&http->stall_ms, stall_ms);
}

void cs_http_destroy(cs_http_t *http)
{
    if (!http)
        return;
    ssize_t w = write(http->wake[1], "x", 1);
    (void)w;
    pthread_join(http->thread, NULL);
    close(http->wake[0]);
    close(http->wake[1]);
    close(http->fd);
    free(http);
}
