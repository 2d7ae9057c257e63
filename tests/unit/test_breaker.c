/*
 * The circuit breaker and the retry bookkeeping around it, on a simulated clock:
 * closed -> open after `threshold` consecutive failures; nothing allowed while open;
 * exactly one probe when the period ends; a failed probe doubles the period (capped,
 * 80-100 % jitter); a successful one closes the circuit and resets the period;
 * Retry-After holds every request back in every state; HTTP outcomes classified.
 */
#include "cs_breaker.h"
#include "cs_httpc.h"
#include "cs_test.h"

static void test_opens_and_probes(void)
{
    cs_breaker_t b;
    cs_breaker_init(&b, 3, 1000, 8000);
    int64_t t = 1000000, wait;
    for (int i = 0; i < 2; i++) {
        CHECK(cs_breaker_allow(&b, t, &wait));
        cs_breaker_failure(&b, t, -1);
    }
    CHECK_INT(cs_breaker_state(&b), CS_BREAKER_CLOSED);
    cs_breaker_success(&b, t); /* a success resets the count */
    for (int i = 0; i < 2; i++)
        cs_breaker_failure(&b, t, -1);
    CHECK_INT(cs_breaker_state(&b), CS_BREAKER_CLOSED);
    cs_breaker_failure(&b, t, -1);
    CHECK_INT(cs_breaker_state(&b), CS_BREAKER_OPEN);
    CHECK_INT(cs_breaker_opened(&b), 1);
    CHECK(!cs_breaker_allow(&b, t, &wait));
    CHECK(wait >= 800 && wait <= 1000); /* 80-100 % of the first period */
    CHECK(!cs_breaker_allow(&b, t + 799, &wait));
    /* the period ends: exactly one probe */
    t += 1000;
    CHECK(cs_breaker_allow(&b, t, &wait));
    CHECK_INT(cs_breaker_state(&b), CS_BREAKER_HALF_OPEN);
    CHECK(!cs_breaker_allow(&b, t, &wait));
    CHECK(!cs_breaker_allow(&b, t + 5000, &wait));
    /* the probe fails: open again, twice as long */
    cs_breaker_failure(&b, t, -1);
    CHECK_INT(cs_breaker_state(&b), CS_BREAKER_OPEN);
    CHECK(!cs_breaker_allow(&b, t, &wait));
    CHECK(wait >= 1600 && wait <= 2000);
    t += 2000;
    CHECK(cs_breaker_allow(&b, t, &wait));
    cs_breaker_failure(&b, t, -1);
    cs_breaker_allow(&b, t, &wait);
    CHECK(wait >= 3200 && wait <= 4000);
    t += 4000;
    CHECK(cs_breaker_allow(&b, t, &wait));
    cs_breaker_failure(&b, t, -1);
    t += 8000;
    CHECK(cs_breaker_allow(&b, t, &wait));
    cs_breaker_failure(&b, t, -1);
    cs_breaker_allow(&b, t, &wait);
    CHECK(wait >= 6400 && wait <= 8000); /* capped at open_max */
    /* a successful probe closes it and the period starts over */
    t += 8000;
    CHECK(cs_breaker_allow(&b, t, &wait));
    cs_breaker_success(&b, t);
    CHECK_INT(cs_breaker_state(&b), CS_BREAKER_CLOSED);
    CHECK(cs_breaker_allow(&b, t, &wait));
    CHECK(cs_breaker_allow(&b, t, &wait)); /* closed: any number */
    for (int i = 0; i < 3; i++)
        cs_breaker_failure(&b, t, -1);
    cs_breaker_allow(&b, t, &wait);
    CHECK(wait >= 800 && wait <= 1000);
    CHECK_INT(cs_breaker_opened(&b), 6);
    cs_breaker_destroy(&b);
}

static void test_retry_after(void)
{
    cs_breaker_t b;
    cs_breaker_init(&b, 5, 1000, 60000);
    int64_t t = 50000, wait;
    /* one 429 with Retry-After: 3 s holds everything back, though the circuit is closed */
    cs_breaker_failure(&b, t, 3000);
    CHECK_INT(cs_breaker_state(&b), CS_BREAKER_CLOSED);
    CHECK(!cs_breaker_allow(&b, t + 10, &wait));
    CHECK_INT(wait, 2990);
    CHECK(cs_breaker_allow(&b, t + 3000, &wait));
    /* opening honours it too: never shorter than Retry-After */
    for (int i = 0; i < 5; i++)
        cs_breaker_failure(&b, t + 3000, 30000);
    CHECK_INT(cs_breaker_state(&b), CS_BREAKER_OPEN);
    CHECK(!cs_breaker_allow(&b, t + 3000, &wait));
    CHECK_INT(wait, 30000);
    /* a late failure of a request sent before opening extends nothing it should not */
    cs_breaker_failure(&b, t + 4000, -1);
    CHECK(!cs_breaker_allow(&b, t + 32999, &wait));
    CHECK(cs_breaker_allow(&b, t + 33000, &wait)); /* the probe */
    /* a probe allowed but never sent can be given back */
    cs_breaker_cancel(&b);
    CHECK(cs_breaker_allow(&b, t + 33000, &wait));
    cs_breaker_destroy(&b);
}

static void test_retry_after_parse(void)
{
    int64_t now = 1763892000; /* Sun, 23 Nov 2025 10:00:00 GMT */
    CHECK_INT(cs_httpc_parse_retry_after("2", 1, now), 2000);
    CHECK_INT(cs_httpc_parse_retry_after(" 120 \r\n", 7, now), 120000);
    CHECK_INT(cs_httpc_parse_retry_after("Sun, 23 Nov 2025 10:00:30 GMT", 29, now), 30000);
    CHECK_INT(cs_httpc_parse_retry_after("Sun, 23 Nov 2025 09:00:00 GMT", 29, now), 0); /* past */
    CHECK_INT(cs_httpc_parse_retry_after("soon", 4, now), -1);
    CHECK_INT(cs_httpc_parse_retry_after("-1", 2, now), -1);
    CHECK_INT(cs_httpc_parse_retry_after("", 0, now), -1);
    CHECK_INT(cs_httpc_parse_retry_after("99999999999", 11, now), -1); /* absurd: ignored */
}

static cs_httpc_class_t classify(long status, CURLcode result, bool too_large, const char **kind)
{
    cs_httpc_req_t r = {.status = status, .result = result, .too_large = too_large};
    return cs_httpc_classify(&r, kind);
}

static void test_classify(void)
{
    const char *k;
    CHECK_INT(classify(200, CURLE_OK, false, &k), CS_HTTPC_OK);
    CHECK_INT(classify(429, CURLE_OK, false, &k), CS_HTTPC_RETRY);
    CHECK_STR(k, "rate_limited");
    CHECK_INT(classify(408, CURLE_OK, false, &k), CS_HTTPC_RETRY);
    CHECK_INT(classify(500, CURLE_OK, false, &k), CS_HTTPC_RETRY);
    CHECK_INT(classify(503, CURLE_OK, false, &k), CS_HTTPC_RETRY);
    CHECK_STR(k, "server");
    CHECK_INT(classify(400, CURLE_OK, false, &k), CS_HTTPC_REJECT);
    CHECK_INT(classify(413, CURLE_OK, false, &k), CS_HTTPC_REJECT);
    CHECK_INT(classify(422, CURLE_OK, false, &k), CS_HTTPC_REJECT);
    CHECK_INT(classify(401, CURLE_OK, false, &k), CS_HTTPC_FATAL);
    CHECK_STR(k, "auth");
    CHECK_INT(classify(404, CURLE_OK, false, &k), CS_HTTPC_FATAL);
    CHECK_INT(classify(301, CURLE_OK, false, &k), CS_HTTPC_FATAL);
    CHECK_STR(k, "redirect");
    CHECK_INT(classify(0, CURLE_OPERATION_TIMEDOUT, false, &k), CS_HTTPC_RETRY);
    CHECK_STR(k, "timeout");
    CHECK_INT(classify(0, CURLE_COULDNT_CONNECT, false, &k), CS_HTTPC_RETRY);
    CHECK_STR(k, "connection");
    CHECK_INT(classify(200, CURLE_PARTIAL_FILE, false, &k), CS_HTTPC_RETRY);
    CHECK_STR(k, "truncated");
    CHECK_INT(classify(200, CURLE_RECV_ERROR, false, &k), CS_HTTPC_RETRY);
    /* an oversized answer: a smaller request may pass */
    CHECK_INT(classify(200, CURLE_WRITE_ERROR, true, &k), CS_HTTPC_REJECT);
    CHECK_STR(k, "too_large");
}

int main(void)
{
    RUN(test_opens_and_probes);
    RUN(test_retry_after);
    RUN(test_retry_after_parse);
    RUN(test_classify);
    CS_TEST_DONE();
}
