/*
 * test_h2_check.c - the HTTP/2 preface match, the per-connection flood guard, the client
 * stream history and frame verdicts (RFC 9113 §5.1, §5.1.1, §5.3.1, §6.3) and the request
 * pseudo-header rules (src/http2/h2_check.c).
 */
#include "http2/h2.h"

#include <event2/buffer.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static int preface(const char *bytes, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, bytes, len);
    int r = h2_preface_match(b);
    evbuffer_free(b);
    return r;
}

static void test_preface(void **state)
{
    (void)state;
    assert_int_equal(preface(H2_PREFACE, H2_PREFACE_LEN), 1);
    assert_int_equal(preface(H2_PREFACE "\0\0\0\4", H2_PREFACE_LEN + 4), 1);
    /* every strict prefix of the first line waits; the line itself means HTTP/2 */
    for (size_t i = 1; i < H2_PREFACE_LINE_LEN; i++)
        assert_int_equal(preface(H2_PREFACE, i), 0);
    for (size_t i = H2_PREFACE_LINE_LEN; i <= H2_PREFACE_LEN; i++)
        assert_int_equal(preface(H2_PREFACE, i), 1);
    assert_int_equal(preface("GET / HTTP/1.1\r\n", 16), -1);
    /* a broken rest of the preface is still an HTTP/2 client (nghttp2 answers GOAWAY) */
    assert_int_equal(preface("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", 24), 1);
    assert_int_equal(preface("PRI * HTTP/2.1\r\n", 16), -1);
    assert_int_equal(preface("P", 1), 0);
    assert_int_equal(preface("X", 1), -1);
}

/* frame types and flags as on the wire */
enum { DATA = 0, HEADERS = 1, PRIORITY = 2, RST = 3, SETTINGS = 4, PING = 6, WU = 8, CONT = 9 };

static void test_guard_rst_flood(void **state)
{
    (void)state;
    struct h2_guard g = {0};
    struct h2_guard_limits l;
    h2_guard_limits_default(&l);
    uint32_t lim = l.per_sec[H2G_RST_STREAM];
    for (uint32_t i = 0; i < lim; i++)
        assert_int_equal(h2_guard_frame(&g, &l, 1000, RST, 0, 4), -1);
    assert_int_equal(h2_guard_frame(&g, &l, 1500, RST, 0, 4), H2G_RST_STREAM);
    /* a new window starts over */
    struct h2_guard g2 = {0};
    for (uint32_t i = 0; i < lim; i++)
        assert_int_equal(h2_guard_frame(&g2, &l, 1000, RST, 0, 4), -1);
    assert_int_equal(h2_guard_frame(&g2, &l, 2000, RST, 0, 4), -1);
}

static void test_guard_kinds(void **state)
{
    (void)state;
    struct h2_guard_limits l;
    h2_guard_limits_default(&l);
    struct {
        uint8_t type, flags;
        size_t len;
        int kind;
    } cases[] = {
        {SETTINGS, 0, 6, H2G_SETTINGS}, {PING, 0, 8, H2G_PING},        {DATA, 0, 0, H2G_EMPTY_DATA},
        {PRIORITY, 0, 5, H2G_PRIORITY}, {WU, 0, 4, H2G_WINDOW_UPDATE},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct h2_guard g = {0};
        uint32_t lim = l.per_sec[cases[c].kind];
        int r = -1;
        uint32_t i;
        for (i = 0; i <= lim && r < 0; i++)
            r = h2_guard_frame(&g, &l, 5000, cases[c].type, cases[c].flags, cases[c].len);
        assert_int_equal(r, cases[c].kind);
        assert_int_equal(i, lim + 1);
    }
    /* not counted: ACKs, non-empty DATA, empty DATA ending the stream, HEADERS */
    struct h2_guard g = {0};
    for (int i = 0; i < 100000; i++) {
        assert_int_equal(h2_guard_frame(&g, &l, 5000, SETTINGS, 1, 0), -1);
        assert_int_equal(h2_guard_frame(&g, &l, 5000, PING, 1, 8), -1);
        assert_int_equal(h2_guard_frame(&g, &l, 5000, DATA, 0, 10), -1);
        assert_int_equal(h2_guard_frame(&g, &l, 5000, DATA, 1, 0), -1);
        assert_int_equal(h2_guard_frame(&g, &l, 5000, HEADERS, 5, 10), -1);
    }
}

static void test_guard_continuation(void **state)
{
    (void)state;
    struct h2_guard g = {0};
    struct h2_guard_limits l;
    h2_guard_limits_default(&l);
    uint32_t lim = l.per_sec[H2G_CONTINUATION];
    for (int block = 0; block < 100; block++) {
        assert_int_equal(h2_guard_frame(&g, &l, 1, HEADERS, 0, 100), -1);
        for (uint32_t i = 0; i < lim; i++)
            assert_int_equal(h2_guard_frame(&g, &l, 1, CONT, 0, 100), -1);
    }
    assert_int_equal(h2_guard_frame(&g, &l, 1, CONT, 0, 100), H2G_CONTINUATION);
}

/* Builds a check from "name", "value" pairs ending in NULL; @return h2_req_field's
 * first failure or the validation result. */
static int req(int *status, ...)
{
    struct h2_req_check r;
    memset(&r, 0, sizeof(r));
    va_list ap;
    va_start(ap, status);
    const char *n;
    int rc = 0;
    while ((n = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (h2_req_field(&r, n, strlen(n), v, strlen(v)) < 0)
            rc = -1;
    }
    va_end(ap);
    *status = 0;
    const char *why = NULL;
    int v = h2_req_validate(&r, status, &why);
    if (rc < 0 || v < 0)
        assert_non_null(why); /* the log says why */
    return rc < 0 ? -1 : v;
}

static void test_history_states(void **state)
{
    (void)state;
    struct h2_history h;
    h2_history_init(&h);
    assert_int_equal(h2_history_get(&h, 1), H2_SID_UNUSED); /* idle */
    h2_history_open(&h, 1);
    h2_history_open(&h, 5);
    assert_int_equal(h.last, 5);
    assert_int_equal(h2_history_get(&h, 1), H2_SID_OPEN);
    assert_int_equal(h2_history_get(&h, 3), H2_SID_UNUSED);    /* skipped: implicitly closed */
    assert_int_equal(h2_history_get(&h, 2), H2_SID_FORGOTTEN); /* not a client id */
    h2_history_set(&h, 1, H2_SID_DONE);
    assert_int_equal(h2_history_get(&h, 1), H2_SID_DONE);
    h2_history_open(&h, 3); /* below the last: not an opening */
    assert_int_equal(h2_history_get(&h, 3), H2_SID_UNUSED);
    /* the window slides: the oldest ids are forgotten, the recent ones kept */
    int32_t top = 5 + 2 * (H2_HISTORY - 1);
    h2_history_open(&h, top);
    assert_int_equal(h2_history_get(&h, 5), H2_SID_OPEN);
    assert_int_equal(h2_history_get(&h, 1), H2_SID_FORGOTTEN);
    h2_history_set(&h, 1, H2_SID_DONE); /* no effect */
    h2_history_open(&h, 0x7fffffff);
    assert_int_equal(h2_history_get(&h, top), H2_SID_FORGOTTEN);
    assert_int_equal(h2_history_get(&h, 0x7fffffff), H2_SID_OPEN);
    assert_int_equal(h2_history_get(&h, 0x7fffffff - 2), H2_SID_UNUSED);
}

static enum h2_verdict verdict(const struct h2_history *h, uint8_t type, int32_t id, int32_t dep,
                               bool live, uint32_t *code)
{
    struct h2_frame_hd hd = {.length = 4, .type = type, .id = id, .dep = dep};
    const char *why = NULL;
    enum h2_verdict v = h2_frame_verdict(h, &hd, live, code, &why);
    if (v != H2_PASS)
        assert_non_null(why);
    return v;
}

static void test_frame_verdicts(void **state)
{
    (void)state;
    struct h2_history h;
    uint32_t code = 0;
    h2_history_init(&h);
    for (int32_t id = 1; id <= 9; id += 2)
        if (id != 3)
            h2_history_open(&h, id);
    h2_history_set(&h, 1, H2_SID_DONE);
    h2_history_set(&h, 5, H2_SID_CLIENT_RESET);
    h2_history_set(&h, 7, H2_SID_SERVER_RESET);
    /* after END_STREAM both ways: connection error STREAM_CLOSED */
    assert_int_equal(verdict(&h, DATA, 1, -1, false, &code), H2_CONN_ERROR);
    assert_int_equal(code, 0x5);
    assert_int_equal(verdict(&h, HEADERS, 1, -1, false, &code), H2_CONN_ERROR);
    assert_int_equal(code, 0x5);
    /* never opened, below the last: HEADERS is a bad new id, DATA a closed stream */
    assert_int_equal(verdict(&h, HEADERS, 3, -1, false, &code), H2_CONN_ERROR);
    assert_int_equal(code, 0x1);
    assert_int_equal(verdict(&h, DATA, 3, -1, false, &code), H2_CONN_ERROR);
    assert_int_equal(code, 0x5);
    /* after the client's reset: stream error STREAM_CLOSED */
    assert_int_equal(verdict(&h, DATA, 5, -1, false, &code), H2_STREAM_ERROR);
    assert_int_equal(code, 0x5);
    assert_int_equal(verdict(&h, HEADERS, 5, -1, false, &code), H2_STREAM_ERROR);
    /* after our reset, on a live stream, above the last, WINDOW_UPDATE/RST: nghttp2's */
    assert_int_equal(verdict(&h, DATA, 7, -1, false, &code), H2_PASS);
    assert_int_equal(verdict(&h, DATA, 9, -1, true, &code), H2_PASS);
    assert_int_equal(verdict(&h, DATA, 11, -1, false, &code), H2_PASS);
    assert_int_equal(verdict(&h, WU, 1, -1, false, &code), H2_PASS);
    assert_int_equal(verdict(&h, RST, 1, -1, false, &code), H2_PASS);
    assert_int_equal(verdict(&h, DATA, 0, -1, false, &code), H2_PASS);
    /* PRIORITY: stream 0, and a stream depending on itself (live: stream error) */
    assert_int_equal(verdict(&h, PRIORITY, 0, 3, false, &code), H2_CONN_ERROR);
    assert_int_equal(code, 0x1);
    assert_int_equal(verdict(&h, PRIORITY, 9, 9, true, &code), H2_STREAM_ERROR);
    assert_int_equal(code, 0x1);
    assert_int_equal(verdict(&h, PRIORITY, 13, 13, false, &code), H2_CONN_ERROR);
    assert_int_equal(verdict(&h, PRIORITY, 1, 9, false, &code), H2_PASS);
}

static void test_frame_header(void **state)
{
    (void)state;
    static const uint8_t prio[] = {0, 0, 5, PRIORITY, 0, 0x80, 0, 0, 3, 0x80, 0, 0, 3, 15};
    static const uint8_t data[] = {1, 2, 3, DATA, 1, 0, 0, 0, 5};
    static const uint8_t prio6[] = {0, 0, 6, PRIORITY, 0, 0, 0, 0, 3};
    struct h2_frame_hd hd;
    assert_int_equal(h2_frame_hd_need(prio), 14);
    h2_frame_hd_parse(prio, &hd);
    assert_int_equal(hd.id, 3);  /* the reserved bit is ignored */
    assert_int_equal(hd.dep, 3); /* and the exclusive bit */
    assert_int_equal(h2_frame_hd_need(data), 9);
    h2_frame_hd_parse(data, &hd);
    assert_int_equal(hd.length, 0x010203);
    assert_int_equal(hd.type, DATA);
    assert_int_equal(hd.flags, 1);
    assert_int_equal(hd.id, 5);
    assert_int_equal(hd.dep, -1);
    assert_int_equal(h2_frame_hd_need(prio6), 9); /* a bad length is nghttp2's to refuse */
}

static void test_request_pseudo_headers(void **state)
{
    (void)state;
    int st;
    assert_int_equal(req(&st, ":method", "GET", ":scheme", "https", ":path", "/a?b", ":authority",
                         "example.com", "accept", "*/*", NULL),
                     0);
    /* Host instead of :authority, or both equal */
    assert_int_equal(req(&st, ":method", "GET", ":scheme", "http", ":path", "/", "host", "h", NULL),
                     0);
    assert_int_equal(req(&st, ":method", "GET", ":scheme", "http", ":path", "/", ":authority",
                         "H:1", "host", "h:1", NULL),
                     0);
    /* missing pieces */
    assert_int_equal(req(&st, ":scheme", "http", ":path", "/", ":authority", "h", NULL), -1);
    assert_int_equal(req(&st, ":method", "GET", ":path", "/", ":authority", "h", NULL), -1);
    assert_int_equal(req(&st, ":method", "GET", ":scheme", "http", ":authority", "h", NULL), -1);
    assert_int_equal(req(&st, ":method", "GET", ":scheme", "http", ":path", "/", NULL), -1);
    assert_int_equal(
        req(&st, ":method", "GET", ":scheme", "http", ":path", "", ":authority", "h", NULL), -1);
    /* duplicates, unknown or response pseudo-headers, order */
    assert_int_equal(req(&st, ":method", "GET", ":method", "GET", ":scheme", "http", ":path", "/",
                         ":authority", "h", NULL),
                     -1);
    assert_int_equal(req(&st, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "h",
                         ":status", "200", NULL),
                     -1);
    assert_int_equal(req(&st, ":method", "GET", ":scheme", "http", "accept", "x", ":path", "/",
                         ":authority", "h", NULL),
                     -1);
    /* connection-specific fields; TE only "trailers" */
    const char *bad[] = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                         "upgrade"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(req(&st, ":method", "GET", ":scheme", "http", ":path", "/", ":authority",
                             "h", bad[i], "x", NULL),
                         -1);
    assert_int_equal(req(&st, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "h",
                         "te", "trailers", NULL),
                     0);
    assert_int_equal(req(&st, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "h",
                         "te", "gzip", NULL),
                     -1);
    /* bad values */
    assert_int_equal(
        req(&st, ":method", "G T", ":scheme", "http", ":path", "/", ":authority", "h", NULL), -1);
    assert_int_equal(
        req(&st, ":method", "GET", ":scheme", "ftp", ":path", "/", ":authority", "h", NULL), -1);
    assert_int_equal(
        req(&st, ":method", "GET", ":scheme", "http", ":path", "a", ":authority", "h", NULL), -1);
    assert_int_equal(
        req(&st, ":method", "GET", ":scheme", "http", ":path", "/a b", ":authority", "h", NULL),
        -1);
    assert_int_equal(
        req(&st, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "u@h", NULL), -1);
    assert_int_equal(req(&st, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a",
                         "host", "b", NULL),
                     -1);
    /* "*" only for OPTIONS */
    assert_int_equal(
        req(&st, ":method", "OPTIONS", ":scheme", "http", ":path", "*", ":authority", "h", NULL),
        0);
    assert_int_equal(
        req(&st, ":method", "GET", ":scheme", "http", ":path", "*", ":authority", "h", NULL), -1);
    /* CONNECT: well-formed but refused */
    assert_int_equal(req(&st, ":method", "CONNECT", ":authority", "h:443", NULL), 1);
    assert_int_equal(st, 405);
    assert_int_equal(req(&st, ":method", "CONNECT", ":authority", "h:443", ":path", "/", NULL), -1);
    /* Extended CONNECT (RFC 8441): a request like any other, with a :protocol token */
    assert_int_equal(req(&st, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http",
                         ":path", "/chat", ":authority", "h", NULL),
                     0);
    assert_int_equal(req(&st, ":method", "GET", ":protocol", "websocket", ":scheme", "http",
                         ":path", "/chat", ":authority", "h", NULL),
                     -1);
    assert_int_equal(req(&st, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http",
                         ":path", "/chat", NULL),
                     -1);
    assert_int_equal(req(&st, ":method", "CONNECT", ":protocol", "web socket", ":scheme", "http",
                         ":path", "/chat", ":authority", "h", NULL),
                     -1);
    assert_int_equal(req(&st, ":method", "CONNECT", ":protocol", "websocket", ":protocol", "x",
                         ":scheme", "http", ":path", "/chat", ":authority", "h", NULL),
                     -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preface),        cmocka_unit_test(test_guard_rst_flood),
        cmocka_unit_test(test_guard_kinds),    cmocka_unit_test(test_guard_continuation),
        cmocka_unit_test(test_history_states), cmocka_unit_test(test_frame_verdicts),
        cmocka_unit_test(test_frame_header),   cmocka_unit_test(test_request_pseudo_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
