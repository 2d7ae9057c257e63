/*
 * The openai provider against a scripted HTTP server in this process: requests packed by
 * count and token budget, a 429's Retry-After honoured before retrying, a 400 on a request
 * of several inputs reported as REJECTED (to be split) and on one input pinned to it with
 * the API's message, the breaker stopping all requests once open (counted at the server),
 * an oversized answer refused, a hanging server cut off by the timeout, and the API key sent.
 */
/* Scripts are written as short positional initialisers; the fields left out are zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "cs_embedder.h"
#include "cs_test.h"
#include "cs_time.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct step {
    int status;              /* 200: a valid answer for the request's inputs */
    const char *headers;     /* extra header lines, each ending in \r\n */
    const char *body;        /* for non-200 */
    int delay_ms;
    int big;                 /* answer with this many bytes of padding */
} step_t;

static struct {
    int fd, port;
    step_t steps[32];
    int nsteps, served, inputs[32];
    char auth[128];
    pthread_mutex_t lock;
    volatile int stop;
} srv;

static void serve_one(int c)
{
    char buf[1 << 16];
    size_t len = 0;
    buf[0] = '\0';
    char *end = NULL;
    while (len < sizeof(buf) - 1 && !(end = strstr(buf, "\r\n\r\n"))) {
        ssize_t r = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
        if (r <= 0)
            return;
        len += (size_t)r;
        buf[len] = '\0';
    }
    if (!end)
        return;
    const char *cl = strcasestr(buf, "content-length:");
    size_t want = cl ? (size_t)atol(cl + 15) : 0, have = len - (size_t)(end + 4 - buf);
    while (have < want && len < sizeof(buf) - 1) {
        ssize_t r = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
        if (r <= 0)
            return;
        len += (size_t)r;
        have += (size_t)r;
        buf[len] = '\0';
    }
    const char *auth = strcasestr(buf, "authorization: ");
    pthread_mutex_lock(&srv.lock);
    int i = srv.served++;
    if (auth)
        sscanf(auth + 15, "%127[^\r]", srv.auth);
    step_t st = i < srv.nsteps ? srv.steps[i] : (step_t){500, "", "{\"error\":\"script over\"}", 0, 0};
    pthread_mutex_unlock(&srv.lock);
    struct json_object *req = json_tokener_parse(end + 4), *in = NULL;
    int n = req && json_object_object_get_ex(req, "input", &in) ? (int)json_object_array_length(in) : 0;
    json_object_put(req);
    if (i < 32)
        srv.inputs[i] = n;
    if (st.delay_ms)
        usleep((useconds_t)st.delay_ms * 1000);
    char *body = NULL;
    size_t blen = 0;
    if (st.status == 200) {
        cs_buf_t b = CS_BUF_INIT;
        cs_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
        for (int k = 0; k < n; k++)
            cs_buf_printf(&b, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":[%d,1,0,0]}",
                          k ? "," : "", k, k);
        cs_buf_puts(&b, "],\"model\":\"m\"");
        for (int k = 0; k < st.big; k++)
            cs_buf_putc(&b, ' ');
        cs_buf_putc(&b, '}');
        body = cs_buf_steal(&b, &blen);
    } else {
        body = strdup(st.body ? st.body : "");
        blen = strlen(body);
    }
    char head[512];
    int hl = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                      st.status, blen, st.headers ? st.headers : "");
    send(c, head, (size_t)hl, MSG_NOSIGNAL);
    send(c, body, blen, MSG_NOSIGNAL);
    free(body);
}

static void *server(void *arg)
{
    (void)arg;
    while (!srv.stop) {
        int c = accept(srv.fd, NULL, NULL);
        if (c < 0)
            continue;
        serve_one(c);
        close(c);
    }
    return NULL;
}

static void script(const step_t *steps, int n)
{
    pthread_mutex_lock(&srv.lock);
    memcpy(srv.steps, steps, (size_t)n * sizeof(*steps));
    srv.nsteps = n;
    srv.served = 0;
    pthread_mutex_unlock(&srv.lock);
}

static int served(void)
{
    pthread_mutex_lock(&srv.lock);
    int n = srv.served;
    pthread_mutex_unlock(&srv.lock);
    return n;
}

static int sunk;
static void sink(void *arg, size_t i, const float *v, uint32_t d)
{
    sunk++;
    CHECK_INT(d, 4);
    CHECK(v[1] == 1.0f);
}

static cs_embed_conf_t conf(char *url)
{
    return (cs_embed_conf_t){.provider = "openai", .model = "m", .url = url,
                             .api_key_env = "CS_TEST_EMBED_KEY", .api_key_file = "", .dim = 0,
                             .batch_inputs = 4, .batch_tokens = 1000, .inflight = 1,
                             .connect_timeout_ms = 1000, .timeout_ms = 1000,
                             .response_max_bytes = 4096, .retries = 2, .retry_backoff_ms = 10,
                             .retry_backoff_max_ms = 50, .retry_after_max_ms = 2000,
                             .breaker_failures = 3, .breaker_open_ms = 60000,
                             .breaker_open_max_ms = 60000};
}

static void items(cs_embed_item_t *it, int n, const char *text)
{
    for (int i = 0; i < n; i++)
        it[i] = (cs_embed_item_t){.text = text, .len = strlen(text)};
}

static void test_batching_and_retry_after(char *url, cs_metrics_t *m)
{
    cs_embed_conf_t c = conf(url);
    char err[256];
    cs_embedder_t *e = cs_embedder_new(&c, m, "t1", err, sizeof(err));
    CHECK(e != NULL);
    cs_embed_item_t it[10];
    items(it, 10, "hello");
    script((step_t[]){{200}, {200}, {200}}, 3);
    sunk = 0;
    CHECK_INT(cs_embedder_embed(e, it, 10, 0, sink, NULL, err, sizeof(err)), CS_ERR_OK);
    CHECK_INT(served(), 3); /* 4 + 4 + 2 */
    CHECK(srv.inputs[0] == 4 && srv.inputs[1] == 4 && srv.inputs[2] == 2);
    CHECK_INT(sunk, 10);
    CHECK_STR(srv.auth, "Bearer sk-test");
    /* token budget: 1000 tokens, inputs of ~600 */
    char big[2400];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    items(it, 3, big);
    script((step_t[]){{200}, {200}, {200}}, 3);
    CHECK_INT(cs_embedder_embed(e, it, 3, 0, sink, NULL, err, sizeof(err)), CS_ERR_OK);
    CHECK_INT(served(), 3);
    CHECK(srv.inputs[0] == 1 && srv.inputs[1] == 1);
    /* 429 with Retry-After: 1 -> waits at least that long, then succeeds */
    items(it, 2, "x");
    script((step_t[]){{429, "Retry-After: 1\r\n", "{\"error\":{\"message\":\"slow down\"}}"}, {200}}, 2);
    int64_t t0 = cs_mono_ms();
    CHECK_INT(cs_embedder_embed(e, it, 2, 0, sink, NULL, err, sizeof(err)), CS_ERR_OK);
    int64_t took = cs_mono_ms() - t0;
    CHECK_INT(served(), 2);
    CHECK(took >= 990 && took < 3000);
    /* retry-after-ms wins over Retry-After */
    script((step_t[]){{503, "Retry-After: 5\r\nretry-after-ms: 200\r\n", "{}"}, {200}}, 2);
    t0 = cs_mono_ms();
    CHECK_INT(cs_embedder_embed(e, it, 2, 0, sink, NULL, err, sizeof(err)), CS_ERR_OK);
    took = cs_mono_ms() - t0;
    CHECK(took >= 190 && took < 1500);
    /* a Retry-After longer than embed.retry.after.max.ms ends the call (retriable) at once */
    script((step_t[]){{429, "Retry-After: 30\r\n", "{}"}, {200}}, 2);
    t0 = cs_mono_ms();
    cs_err_t rc = cs_embedder_embed(e, it, 2, 0, sink, NULL, err, sizeof(err));
    CHECK(cs_err_retriable(rc));
    CHECK(cs_mono_ms() - t0 < 1000);
    CHECK_INT(served(), 1);
    /* ...and nothing is sent until it has passed */
    rc = cs_embedder_embed(e, it, 2, 0, sink, NULL, err, sizeof(err));
    CHECK(cs_err_retriable(rc));
    CHECK_INT(served(), 1);
    CHECK_CONTAINS(err, "next try in");
    cs_embedder_destroy(e);
}

static void test_rejects(char *url, cs_metrics_t *m)
{
    cs_embed_conf_t c = conf(url);
    char err[256];
    cs_embedder_t *e = cs_embedder_new(&c, m, "t2", err, sizeof(err));
    cs_embed_item_t it[6];
    items(it, 6, "x");
    const char *msg = "{\"error\":{\"message\":\"input 3 is too long\",\"type\":\"invalid_request_error\"}}";
    /* requests of 4 and 2 inputs; the first refused: the call says split */
    script((step_t[]){{400, "", msg}, {200}}, 2);
    sunk = 0;
    CHECK_INT(cs_embedder_embed(e, it, 6, 0, sink, NULL, err, sizeof(err)), CS_ERR_REJECTED);
    CHECK_CONTAINS(err, "input 3 is too long");
    CHECK_INT(sunk, 2); /* the other request's vectors were delivered */
    CHECK_INT(it[4].status, CS_ERR_OK);
    CHECK(it[0].status != CS_ERR_OK && it[0].status != CS_ERR_REJECTED);
    /* alone, the input itself is refused, with the provider's words; the call is OK */
    script((step_t[]){{400, "", msg}}, 1);
    CHECK_INT(cs_embedder_embed(e, it, 1, 0, sink, NULL, err, sizeof(err)), CS_ERR_OK);
    CHECK_INT(it[0].status, CS_ERR_REJECTED);
    CHECK_CONTAINS(it[0].reason, "input 3 is too long");
    /* an answer over embed.response.max.bytes is refused like content (smaller requests pass) */
    script((step_t[]){{200, NULL, NULL, 0, 8000}}, 1);
    CHECK_INT(cs_embedder_embed(e, it, 2, 0, sink, NULL, err, sizeof(err)), CS_ERR_REJECTED);
    /* 401 is configuration, not content: retriable, never rejected */
    script((step_t[]){{401, "", "{\"error\":{\"message\":\"bad key\"}}"}}, 1);
    cs_err_t rc = cs_embedder_embed(e, it, 1, cs_mono_ms() + 200, sink, NULL, err, sizeof(err));
    CHECK(cs_err_retriable(rc));
    CHECK(it[0].status != CS_ERR_REJECTED);
    cs_embedder_destroy(e);
}

static void test_breaker_stops_requests(char *url, cs_metrics_t *m)
{
    cs_embed_conf_t c = conf(url);
    c.retries = 10;
    char err[256];
    cs_embedder_t *e = cs_embedder_new(&c, m, "t3", err, sizeof(err));
    cs_embed_item_t it[1];
    items(it, 1, "x");
    step_t fail[8];
    for (int i = 0; i < 8; i++)
        fail[i] = (step_t){500, "", "{\"error\":{\"message\":\"down\"}}"};
    script(fail, 8);
    cs_err_t rc = cs_embedder_embed(e, it, 1, 0, sink, NULL, err, sizeof(err));
    CHECK(cs_err_retriable(rc));
    CHECK_INT(served(), 3); /* opened after 3 failures though 10 retries were allowed */
    CHECK_INT(cs_embedder_breaker_state(e), CS_BREAKER_OPEN);
    for (int i = 0; i < 5; i++)
        CHECK(cs_err_retriable(cs_embedder_embed(e, it, 1, 0, sink, NULL, err, sizeof(err))));
    CHECK_INT(served(), 3); /* open: not one more request */
    CHECK_CONTAINS(err, "circuit open");
    cs_embedder_destroy(e);
}

static void test_timeout(char *url, cs_metrics_t *m)
{
    cs_embed_conf_t c = conf(url);
    c.timeout_ms = 300;
    c.retries = 0;
    char err[256];
    cs_embedder_t *e = cs_embedder_new(&c, m, "t4", err, sizeof(err));
    cs_embed_item_t it[1];
    items(it, 1, "x");
    script((step_t[]){{200, NULL, NULL, 1500}}, 1);
    int64_t t0 = cs_mono_ms();
    CHECK_INT(cs_embedder_embed(e, it, 1, 0, sink, NULL, err, sizeof(err)), CS_ERR_TIMEOUT);
    CHECK(cs_mono_ms() - t0 < 1200);
    cs_embedder_destroy(e);
    usleep(1300 * 1000); /* let the server thread finish that request */
}

int main(void)
{
    setenv("CS_TEST_EMBED_KEY", "sk-test", 1);
    pthread_mutex_init(&srv.lock, NULL);
    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (bind(srv.fd, (struct sockaddr *)&a, sizeof(a)) || listen(srv.fd, 16) ||
        getsockname(srv.fd, (struct sockaddr *)&a, &al)) {
        perror("listen");
        return 1;
    }
    pthread_t th;
    pthread_create(&th, NULL, server, NULL);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", ntohs(a.sin_port));
    cs_metrics_t *m = cs_metrics_new();
    test_batching_and_retry_after(url, m);
    fprintf(stderr, "%s test_batching_and_retry_after\n", cs_test_failures ? "FAIL" : "ok  ");

    {
        int before = cs_test_failures;
        test_rejects(url, m);
        fprintf(stderr, "%s test_rejects\n", cs_test_failures == before ? "ok  " : "FAIL");
        before = cs_test_failures;
        test_breaker_stops_requests(url, m);
        fprintf(stderr, "%s test_breaker_stops_requests\n", cs_test_failures == before ? "ok  " : "FAIL");
        before = cs_test_failures;
        test_timeout(url, m);
        fprintf(stderr, "%s test_timeout\n", cs_test_failures == before ? "ok  " : "FAIL");
    }
    srv.stop = 1;
    shutdown(srv.fd, SHUT_RDWR);
    close(srv.fd);
    pthread_join(th, NULL);
    cs_metrics_destroy(m);
    CS_TEST_DONE();
}
