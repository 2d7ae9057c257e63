/* Small core pieces: buffers and JSON string output, UTF-8, backoff, status codes. */
#include "cs_backoff.h"
#include "cs_buf.h"
#include "cs_err.h"
#include "cs_test.h"
#include "cs_utf8.h"

#include <stdlib.h>

static void test_buf(void)
{
    cs_buf_t b = CS_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        cs_buf_printf(&b, "%d,", i);
    CHECK_INT(b.len, 3890);
    CHECK(b.data[b.len] == '\0');
    cs_buf_reset(&b);
    CHECK_INT(b.len, 0);
    cs_buf_put_json_str(&b, "a\"b\\c\n\x01\x7f", 8);
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\n\\u0001\\u007f\"");
    cs_buf_reset(&b);
    /* invalid UTF-8 never makes it into JSON output */
    cs_buf_put_json_str(&b, "ok\xff\xc3\xa9", 5);
    CHECK_STR(b.data, "\"ok\xef\xbf\xbd\xc3\xa9\"");
    size_t len;
    char *s = cs_buf_steal(&b, &len);
    CHECK_INT(len, 9);
    CHECK(b.data == NULL && b.len == 0);
    free(s);
}

static void test_utf8(void)
{
    CHECK(cs_utf8_valid("", 0));
    CHECK(cs_utf8_valid("plain ascii text, long enough for the fast path", 48));
    CHECK(cs_utf8_valid("\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80", 9));
    CHECK(!cs_utf8_valid("\x80", 1));
    CHECK(!cs_utf8_valid("\xc1\xbf", 2));             /* overlong */
    CHECK(!cs_utf8_valid("\xe0\x9f\xbf", 3));         /* overlong */
    CHECK(!cs_utf8_valid("\xf0\x8f\xbf\xbf", 4));     /* overlong */
    CHECK(!cs_utf8_valid("\xed\xbf\xbf", 3));         /* surrogate */
    CHECK(!cs_utf8_valid("\xf4\x90\x80\x80", 4));     /* > U+10FFFF */
    CHECK(!cs_utf8_valid("abcdefgh\xe6\x97", 10));    /* truncated after the fast path */
    char out[4];
    for (uint32_t cp = 1; cp <= 0x10ffff; cp += 97) {
        if (cp >= 0xd800 && cp <= 0xdfff)
            continue;
        size_t n = cs_utf8_encode(cp, out);
        uint32_t back = 0;
        if (cs_utf8_decode((unsigned char *)out, n, &back) != n || back != cp) {
            CHECK(back == cp);
            break;
        }
    }
}

static void test_backoff(void)
{
    cs_backoff_t b;
    cs_backoff_init(&b, 100, 1000);
    int64_t lo[] = {50, 100, 200, 400, 500, 500, 500};
    int64_t hi[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int i = 0; i < 7; i++) {
        int64_t d = cs_backoff_next(&b);
        CHECK(d >= lo[i] && d <= hi[i]);
    }
    cs_backoff_reset(&b);
    int64_t d = cs_backoff_next(&b);
    CHECK(d >= 50 && d <= 100);
    /* jitter: not every delay is the same */
    int64_t first = -1;
    bool varied = false;
    for (int i = 0; i < 50; i++) {
        cs_backoff_reset(&b);
        d = cs_backoff_next(&b);
        if (first >= 0 && d != first)
            varied = true;
        first = d;
    }
    CHECK(varied);
}

static void test_err(void)
{
    CHECK_STR(cs_err_name(CS_ERR_BAD_UTF8), "BAD_UTF8");
    CHECK_STR(cs_err_str(CS_ERR_BAD_UTF8), "invalid UTF-8");
    CHECK(cs_err_retriable(CS_ERR_UNAVAILABLE));
    CHECK(cs_err_retriable(CS_ERR_TIMEOUT));
    CHECK(!cs_err_retriable(CS_ERR_BAD_JSON));
    CHECK(!cs_err_retriable(CS_ERR_REJECTED));
    CHECK(!cs_err_retriable(CS_ERR_OK));
    CHECK_STR(cs_err_name((cs_err_t)999), "UNKNOWN");
}

int main(void)
{
    RUN(test_buf);
    RUN(test_utf8);
    RUN(test_backoff);
    RUN(test_err);
    CS_TEST_DONE();
}
