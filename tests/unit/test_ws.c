/*
 * Unit tests of WebSocket framing: cs_ws (headers written and read, masking) and the
 * loadgen's client side (lg_ws: the upgrade answer, frames read across any split of the
 * byte stream, fragments joined, protocol violations refused).
 */
#include "cs_test.h"
#include "cs_ws.h"
#include "lg_ws.h"

#include <stdlib.h>

static void test_header_round_trip(void)
{
    static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 1u << 20};
    static const uint8_t key[4] = {0xa1, 0x02, 0xff, 0x30};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        for (int masked = 0; masked < 2; masked++) {
            uint8_t h[CS_WS_HEADER_MAX];
            size_t n = cs_ws_header(h, CS_WS_FIN | CS_WS_TEXT, lens[i], masked ? key : NULL);
            size_t want = (lens[i] < 126 ? 2 : lens[i] < 65536 ? 4 : 10) + (masked ? 4 : 0);
            CHECK_INT(n, want);
            cs_ws_frame_t f;
            const char *why = NULL;
            for (size_t cut = 0; cut < n; cut++) /* any prefix: more, never wrong */
                CHECK(cs_ws_parse_header(h, cut, UINT64_MAX >> 1, &f, &why) == CS_WS_MORE);
            CHECK(cs_ws_parse_header(h, n, UINT64_MAX >> 1, &f, &why) == CS_WS_OK);
            CHECK(f.fin && f.opcode == CS_WS_TEXT && f.len == lens[i] && f.header_len == n);
            CHECK(f.masked == (masked != 0));
            if (masked)
                CHECK(memcmp(f.mask, key, 4) == 0);
            if (lens[i] > 0) /* one byte over the limit is refused */
                CHECK(cs_ws_parse_header(h, n, lens[i] - 1, &f, &why) == CS_WS_BAD);
        }
    }
}

static void test_header_refusals(void)
{
    cs_ws_frame_t f;
    const char *why = NULL;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        const uint8_t b[] = {__VA_ARGS__};                                                         \
        why = NULL;                                                                                \
        CHECK(cs_ws_parse_header(b, sizeof(b), 1u << 20, &f, &why) == CS_WS_BAD && why);          \
    } while (0)
    BAD(0xc1, 0x01, 'x');                         /* RSV1: no extension negotiated */
    BAD(0x83, 0x00);                              /* opcode 3: undefined */
    BAD(0x8b, 0x00);                              /* opcode 0xb: undefined */
    BAD(0x09, 0x00);                              /* a fragmented ping */
    BAD(0x89, 0x7e, 0x00, 0x7e);                  /* a ping longer than 125 */
    BAD(0x81, 0x7e, 0x00, 0x05);                  /* 5 in 16 bits: not fewest bytes */
    BAD(0x81, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff); /* 65535 in 64 bits */
    BAD(0x81, 0x7f, 0x80, 0, 0, 0, 0, 1, 0, 0);   /* top bit set */
#undef BAD
    const uint8_t ok[] = {0x88, 0x02, 0x03, 0xe8};
    CHECK(cs_ws_parse_header(ok, sizeof(ok), 0, &f, &why) == CS_WS_BAD); /* over max 0 */
    CHECK(cs_ws_parse_header(ok, sizeof(ok), 2, &f, &why) == CS_WS_OK);
    CHECK(f.opcode == CS_WS_CLOSE && f.len == 2);
}

static void test_mask(void)
{
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d}; /* RFC 6455 §5.7's example */
    uint8_t hello[5] = {'H', 'e', 'l', 'l', 'o'};
    cs_ws_mask(hello, 5, key, 0);
    const uint8_t want[5] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
    CHECK(memcmp(hello, want, 5) == 0);
    /* any length and offset: the same as byte by byte */
    for (int t = 0; t < 200; t++) {
        uint8_t a[64], b[64];
        size_t len = cs_test_rand() % 64, at = cs_test_rand() % 9;
        for (size_t i = 0; i < len; i++)
            a[i] = b[i] = (uint8_t)cs_test_rand();
        cs_ws_mask(a, len, key, at);
        for (size_t i = 0; i < len; i++)
            b[i] ^= key[(at + i) & 3];
        CHECK(memcmp(a, b, len) == 0);
    }
}

static void test_handshake(void)
{
    /* RFC 6455 §1.3's example key and its accept value */
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    const char *good = "HTTP/1.1 101 Switching Protocols\r\n"
                       "upgrade: WebSocket\r\n"
                       "Connection: keep-alive, Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                       "\r\n";
    size_t used = 0, gl = strlen(good);
    char why[128];
    CHECK(lg_ws_handshake(good, gl, key, &used, why, sizeof(why)) == LG_WS_HS_OK);
    CHECK_INT(used, gl);
    for (size_t cut = 0; cut < gl; cut++)
        CHECK(lg_ws_handshake(good, cut, key, &used, why, sizeof(why)) == LG_WS_HS_MORE);
    const char *other_key = "AAAAAAAAAAAAAAAAAAAAAA==";
    CHECK(lg_ws_handshake(good, gl, other_key, &used, why, sizeof(why)) == LG_WS_HS_BAD);
    CHECK_CONTAINS(why, "Sec-WebSocket-Accept");
    const char *busy = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    CHECK(lg_ws_handshake(busy, strlen(busy), key, &used, why, sizeof(why)) == LG_WS_HS_BAD);
    CHECK_STR(why, "handshake: HTTP/1.1 503 Service Unavailable");
    const char *ext = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"
                      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    CHECK(lg_ws_handshake(ext, strlen(ext), key, &used, why, sizeof(why)) == LG_WS_HS_BAD);
    const char *no_upgrade = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    CHECK(lg_ws_handshake(no_upgrade, strlen(no_upgrade), key, &used, why, sizeof(why)) ==
          LG_WS_HS_BAD);
    CHECK_CONTAINS(why, "Upgrade");

    char req[512];
    size_t rl = lg_ws_request(req, sizeof(req), "127.0.0.1", 8080, "/v1/ws", key);
    CHECK(rl == strlen(req));
    CHECK_CONTAINS(req, "GET /v1/ws HTTP/1.1\r\n");
    CHECK_CONTAINS(req, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
    CHECK(rl > 4 && memcmp(req + rl - 4, "\r\n\r\n", 4) == 0);
    CHECK_INT(lg_ws_request(req, 40, "127.0.0.1", 8080, "/v1/ws", key), 0);

    /* the answer split over reads, with a frame right behind it */
    char stream[512];
    memcpy(stream, good, gl);
    memcpy(stream + gl, "\x81\x02hi", 4);
    for (size_t cut = 1; cut < gl + 4; cut++) {
        lg_ws_rx_t rx = {0};
        lg_ws_hs_t r = lg_ws_rx_handshake(&rx, (const uint8_t *)stream, cut, key, &used, why,
                                          sizeof(why));
        size_t rest_at = cut;
        if (r == LG_WS_HS_MORE) {
            r = lg_ws_rx_handshake(&rx, (const uint8_t *)stream + cut, gl + 4 - cut, key,
                                   &used, why, sizeof(why));
            rest_at = cut + used;
        } else {
            rest_at = used;
        }
        CHECK(r == LG_WS_HS_OK);
        /* what is left, in rx or in the stream, is exactly the frame */
        CHECK_INT(rx.pend_len + (gl + 4 - rest_at), 4);
        lg_ws_rx_reset(&rx);
    }
}

/* ---- frames over a byte stream ------------------------------------------------------ */

typedef struct rec {
    char log[4096];
    size_t len;
    int stop_at; /* return 7 from the n-th callback (0: never) */
    int calls;
} rec_t;

static int rec_on(void *ctx, uint8_t opcode, const uint8_t *payload, size_t len)
{
    rec_t *r = ctx;
    int n = snprintf(r->log + r->len, sizeof(r->log) - r->len, "%u:%.*s|", opcode, (int)len,
                     (const char *)payload);
    if (n > 0 && r->len + (size_t)n < sizeof(r->log))
        r->len += (size_t)n;
    return ++r->calls == r->stop_at ? 7 : 0;
}

static size_t put_frame(uint8_t *out, uint8_t fin_opcode, const char *payload)
{
    size_t len = strlen(payload);
    size_t n = cs_ws_header(out, fin_opcode, len, NULL);
    memcpy(out + n, payload, len);
    return n + len;
}

static void test_stream_splits(void)
{
    uint8_t s[2048];
    size_t n = 0;
    char big[300];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    n += put_frame(s + n, CS_WS_FIN | CS_WS_TEXT, "{\"type\":\"ready\"}");
    n += put_frame(s + n, CS_WS_TEXT, "frag1-");           /* a message in three fragments */
    n += put_frame(s + n, CS_WS_FIN | CS_WS_PING, "ping"); /* a ping between them */
    n += put_frame(s + n, CS_WS_CONT, "frag2-");
    n += put_frame(s + n, CS_WS_FIN | CS_WS_CONT, "frag3");
    n += put_frame(s + n, CS_WS_FIN | CS_WS_TEXT, big); /* 16-bit length */
    n += put_frame(s + n, CS_WS_FIN | CS_WS_TEXT, "");
    n += put_frame(s + n, CS_WS_FIN | CS_WS_CLOSE, "\x0f\xa0");
    char why[128];

    rec_t whole = {0};
    lg_ws_rx_t rx0 = {0};
    CHECK_INT(lg_ws_rx_feed(&rx0, s, n, 1 << 20, rec_on, &whole, why, sizeof(why)), 0);
    CHECK_INT(rx0.pend_len + rx0.msg_len, 0);
    lg_ws_rx_reset(&rx0);
    char want[1024];
    snprintf(want, sizeof(want), "1:{\"type\":\"ready\"}|9:ping|1:frag1-frag2-frag3|1:%s|1:|8:%s|",
             big, "\x0f\xa0");
    CHECK_STR(whole.log, want);

    /* byte by byte, and 300 random splits: always the same callbacks */
    for (int t = 0; t < 301; t++) {
        lg_ws_rx_t rx = {0};
        rec_t r = {0};
        for (size_t at = 0; at < n;) {
            size_t step = t == 0 ? 1 : 1 + cs_test_rand() % 40;
            if (step > n - at)
                step = n - at;
            CHECK_INT(lg_ws_rx_feed(&rx, s + at, step, 1 << 20, rec_on, &r, why, sizeof(why)),
                      0);
            at += step;
        }
        CHECK_STR(r.log, want);
        CHECK_INT(rx.pend_len, 0);
        CHECK_INT(rx.msg_len, 0);
        lg_ws_rx_reset(&rx);
    }

    /* a callback's nonzero return stops the feed and is returned */
    rec_t stop = {.stop_at = 2};
    lg_ws_rx_t rx = {0};
    CHECK_INT(lg_ws_rx_feed(&rx, s, n, 1 << 20, rec_on, &stop, why, sizeof(why)), 7);
    CHECK_INT(stop.calls, 2);
    lg_ws_rx_reset(&rx);
}

static void test_stream_violations(void)
{
    char why[128];
    uint8_t s[64];
    rec_t r = {0};
    lg_ws_rx_t rx = {0};
    /* a masked frame from the server */
    const uint8_t key[4] = {1, 2, 3, 4};
    size_t n = cs_ws_header(s, CS_WS_FIN | CS_WS_TEXT, 2, key);
    memcpy(s + n, "hi", 2);
    CHECK_INT(lg_ws_rx_feed(&rx, s, n + 2, 1 << 20, rec_on, &r, why, sizeof(why)), -1);
    CHECK_CONTAINS(why, "masked");
    lg_ws_rx_reset(&rx);
    /* the same, cut after its header: still refused */
    CHECK_INT(lg_ws_rx_feed(&rx, s, n, 1 << 20, rec_on, &r, why, sizeof(why)), 0);
    CHECK_INT(lg_ws_rx_feed(&rx, s + n, 2, 1 << 20, rec_on, &r, why, sizeof(why)), -1);
    lg_ws_rx_reset(&rx);
    /* a continuation with no message open; a new message inside a fragmented one */
    n = put_frame(s, CS_WS_FIN | CS_WS_CONT, "x");
    CHECK_INT(lg_ws_rx_feed(&rx, s, n, 1 << 20, rec_on, &r, why, sizeof(why)), -1);
    CHECK_CONTAINS(why, "continuation");
    lg_ws_rx_reset(&rx);
    n = put_frame(s, CS_WS_TEXT, "a");
    n += put_frame(s + n, CS_WS_FIN | CS_WS_TEXT, "b");
    CHECK_INT(lg_ws_rx_feed(&rx, s, n, 1 << 20, rec_on, &r, why, sizeof(why)), -1);
    lg_ws_rx_reset(&rx);
    /* fragments adding up past the limit */
    n = put_frame(s, CS_WS_TEXT, "abcdef");
    n += put_frame(s + n, CS_WS_FIN | CS_WS_CONT, "ghijkl");
    CHECK_INT(lg_ws_rx_feed(&rx, s, n, 10, rec_on, &r, why, sizeof(why)), -1);
    CHECK_CONTAINS(why, "longer than 10");
    lg_ws_rx_reset(&rx);
    CHECK_INT(r.calls, 0); /* nothing was handed out on the way */
}

int main(void)
{
    RUN(test_header_round_trip);
    RUN(test_header_refusals);
    RUN(test_mask);
    RUN(test_handshake);
    RUN(test_stream_splits);
    RUN(test_stream_violations);
    CS_TEST_DONE();
}
