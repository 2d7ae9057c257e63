#include "cs_httpc.h"
#include "cs_time.h"

#include <ctype.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static pthread_once_t cs_httpc_once = PTHREAD_ONCE_INIT;

static void cs_httpc_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void cs_httpc_global_init(void)
{
    pthread_once(&cs_httpc_once, cs_httpc_init_once);
}

static size_t cs_httpc_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    cs_httpc_req_t *req = arg;
    size_t n = size * nmemb;
    if (req->resp.len + n > req->max_bytes) {
        req->too_large = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    cs_buf_append(&req->resp, data, n);
    return req->resp.oom ? 0 : n;
}

int64_t cs_httpc_parse_retry_after(const char *value, size_t len, int64_t now_unix_s)
{
    char buf[128];
    while (len > 0 && isspace((unsigned char)*value))
        value++, len--;
    while (len > 0 && isspace((unsigned char)value[len - 1]))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, value, len);
    buf[len] = '\0';
    bool digits = true;
    for (size_t i = 0; i < len; i++)
        digits = digits && isdigit((unsigned char)buf[i]);
    if (digits) {
        if (len > 9) /* more than 30 years: nonsense, but bounded */
            return -1;
        return strtoll(buf, NULL, 10) * 1000;
    }
    time_t when = curl_getdate(buf, NULL); /* RFC 7231 IMF-fixdate and the obsolete forms */
    if (when == (time_t)-1)
        return -1;
    int64_t delta = ((int64_t)when - now_unix_s) * 1000;
    return delta > 0 ? delta : 0;
}

static size_t cs_httpc_header_cb(char *line, size_t size, size_t nmemb, void *arg)
{
    cs_httpc_req_t *req = arg;
    size_t n = size * nmemb;
    static const char ra[] = "retry-after:", ram[] = "retry-after-ms:";
    if (n > sizeof(ram) - 1 && strncasecmp(line, ram, sizeof(ram) - 1) == 0) {
        /* milliseconds (OpenAI and Azure send it): wins over Retry-After */
        char v[32];
        size_t vl = n - (sizeof(ram) - 1);
        if (vl < sizeof(v)) {
            memcpy(v, line + sizeof(ram) - 1, vl);
            v[vl] = '\0';
            char *end;
            errno = 0;
            double ms = strtod(v, &end);
            while (*end && isspace((unsigned char)*end))
                end++;
            if (errno == 0 && *end == '\0' && end != v && ms >= 0 && ms < 1e12)
                req->retry_after_ms = (int64_t)(ms + 0.999);
        }
    } else if (n > sizeof(ra) - 1 && strncasecmp(line, ra, sizeof(ra) - 1) == 0) {
        if (req->retry_after_ms < 0) {
            int64_t ms = cs_httpc_parse_retry_after(line + sizeof(ra) - 1, n - (sizeof(ra) - 1),
                                                    (int64_t)time(NULL));
            if (ms >= 0)
                req->retry_after_ms = ms;
        }
    } else if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        req->retry_after_ms = -1; /* a new response (after a 100 Continue): start afresh */
    }
    return n;
}

bool cs_httpc_req_init(cs_httpc_req_t *req, const char *method, const char *url,
                       const char *const *headers, const cs_httpc_opts_t *opts)
{
    cs_httpc_req_cleanup(req);
    req->retry_after_ms = -1;
    req->max_bytes = (size_t)opts->max_response_bytes;
    req->easy = curl_easy_init();
    if (!req->easy)
        return false;
    CURL *e = req->easy;
    /* "Expect:" off: a server that does not answer 100-continue would cost a second */
    req->headers = curl_slist_append(NULL, "Expect:");
    if (req->headers && strcmp(method, "GET") != 0)
        req->headers = curl_slist_append(req->headers, "Content-Type: application/json");
    for (size_t i = 0; headers && headers[i] && req->headers; i++)
        req->headers = curl_slist_append(req->headers, headers[i]);
    if (!req->headers) {
        cs_httpc_req_cleanup(req);
        return false;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)opts->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)opts->timeout_ms);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opts->max_response_bytes);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* whatever this libcurl can decode */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, cs_httpc_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, cs_httpc_header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, req);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "chatstream/" CS_VERSION);
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    return true;
}

void cs_httpc_req_cleanup(cs_httpc_req_t *req)
{
    if (!req)
        return;
    if (req->easy)
        curl_easy_cleanup(req->easy);
    curl_slist_free_all(req->headers);
    cs_buf_free(&req->body);
    cs_buf_free(&req->resp);
    memset(req, 0, sizeof(*req));
}

bool cs_httpc_add(CURLM *multi, cs_httpc_req_t *req)
{
    if (req->body.len > 0 || (req->body.data && req->body.len == 0)) {
        curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->body.data);
        curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
    }
    if (req->body.oom)
        return false;
    cs_buf_reset(&req->resp);
    req->too_large = false;
    req->status = 0;
    req->retry_after_ms = -1;
    req->error[0] = '\0';
    req->started_us = cs_mono_us();
    return curl_multi_add_handle(multi, req->easy) == CURLM_OK;
}

int cs_httpc_run(CURLM *multi, int timeout_ms, void (*done)(cs_httpc_req_t *req, void *arg),
                 void *arg)
{
    int running = 0;
    curl_multi_perform(multi, &running);
    if (running > 0 && timeout_ms > 0) {
        curl_multi_poll(multi, NULL, 0, timeout_ms, NULL);
        curl_multi_perform(multi, &running);
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode result = m->data.result; /* read before remove: m is invalid afterwards */
        cs_httpc_req_t *req = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&req);
        curl_multi_remove_handle(multi, e);
        if (!req)
            continue;
        req->result = result;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &req->status);
        req->elapsed_us = cs_mono_us() - req->started_us;
        if (result == CURLE_FILESIZE_EXCEEDED)
            req->too_large = true;
        done(req, arg);
    }
    return running;
}

cs_httpc_class_t cs_httpc_classify(const cs_httpc_req_t *req, const char **kind)
{
    const char *k;
    cs_httpc_class_t c;
    if (req->too_large) {
        k = "too_large", c = CS_HTTPC_REJECT;
    } else if (req->result != CURLE_OK) {
        switch (req->result) {
        case CURLE_OPERATION_TIMEDOUT:
            k = "timeout";
            break;
        case CURLE_PARTIAL_FILE:
        case CURLE_BAD_CONTENT_ENCODING:
            k = "truncated";
            break;
        default: /* refused, reset, nothing received, DNS, TLS... */
            k = "connection";
        }
        c = CS_HTTPC_RETRY;
    } else if (req->status >= 200 && req->status < 300) {
        k = "ok", c = CS_HTTPC_OK;
    } else if (req->status == 429) {
        k = "rate_limited", c = CS_HTTPC_RETRY;
    } else if (req->status == 408 || req->status >= 500) {
        k = req->status == 408 ? "timeout" : "server", c = CS_HTTPC_RETRY;
    } else if (req->status == 400 || req->status == 413 || req->status == 422) {
        k = "rejected", c = CS_HTTPC_REJECT;
    } else if (req->status == 401 || req->status == 403) {
        k = "auth", c = CS_HTTPC_FATAL;
    } else if (req->status == 404) {
        k = "not_found", c = CS_HTTPC_FATAL;
    } else if (req->status >= 300 && req->status < 400) {
        k = "redirect", c = CS_HTTPC_FATAL;
    } else {
        k = "client", c = CS_HTTPC_FATAL;
    }
    if (kind)
        *kind = k;
    return c;
}

void cs_httpc_describe(const cs_httpc_req_t *req, char *out, size_t out_size)
{
    if (req->too_large) {
        snprintf(out, out_size, "response larger than %zu bytes", req->max_bytes);
    } else if (req->result != CURLE_OK) {
        snprintf(out, out_size, "%s after %lld ms%s%s", curl_easy_strerror(req->result),
                 (long long)(req->elapsed_us / 1000), req->error[0] ? ": " : "", req->error);
    } else {
        /* a short, printable excerpt of the body: the API's own words */
        char excerpt[161];
        size_t n = 0;
        for (size_t i = 0; i < req->resp.len && n < sizeof(excerpt) - 1; i++) {
            unsigned char c = (unsigned char)req->resp.data[i];
            excerpt[n++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
        }
        excerpt[n] = '\0';
        snprintf(out, out_size, "HTTP %ld: %s", req->status, excerpt);
    }
}

bool cs_httpc_read_secret(const char *env, const char *file, char *out, size_t out_size,
                          char *errstr, size_t errstr_size)
{
    out[0] = '\0';
    if (file && *file) {
        FILE *fp = fopen(file, "r");
        if (!fp) {
            snprintf(errstr, errstr_size, "%s: %s", file, strerror(errno));
            return false;
        }
        bool ok = fgets(out, (int)out_size, fp) != NULL;
        fclose(fp);
        out[strcspn(out, "\r\n")] = '\0';
        if (!ok || !*out) {
            snprintf(errstr, errstr_size, "%s: empty", file);
            return false;
        }
        return true;
    }
    const char *v = env && *env ? getenv(env) : NULL;
    if (v)
        snprintf(out, out_size, "%s", v);
    return true;
}

void cs_httpc_pool_init(cs_httpc_pool_t *pool, long maxconnects)
{
    pthread_mutex_init(&pool->lock, NULL);
    pool->nidle = 0;
    pool->maxconnects = maxconnects;
}

void cs_httpc_pool_destroy(cs_httpc_pool_t *pool)
{
    for (size_t i = 0; i < pool->nidle; i++)
        curl_multi_cleanup(pool->idle[i]);
    pool->nidle = 0;
    pthread_mutex_destroy(&pool->lock);
}

CURLM *cs_httpc_pool_get(cs_httpc_pool_t *pool)
{
    CURLM *m = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->nidle > 0)
        m = pool->idle[--pool->nidle];
    pthread_mutex_unlock(&pool->lock);
    if (!m && (m = curl_multi_init()))
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, pool->maxconnects);
    return m;
}

void cs_httpc_pool_put(cs_httpc_pool_t *pool, CURLM *m)
{
    pthread_mutex_lock(&pool->lock);
    if (pool->nidle < CS_HTTPC_POOL_MAX) {
        pool->idle[pool->nidle++] = m;
        m = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    if (m)
        curl_multi_cleanup(m);
}
