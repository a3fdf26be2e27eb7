/*
 * test_parse.c - unit tests of src/http1/parse.c: request heads (syntax, framing,
 * smuggling cases, limits, HTTP/1.0, Expect, pipelining, every-byte splits), response
 * heads (framing, no-body statuses, read-until-close, 1xx) and the lookup helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "h1.h"

#define NHDR 64

static struct h1_limits lim;
static struct h1_header hdrs[NHDR];
static struct h1_request req;
static struct h1_parser parser;

static int setup(void **state)
{
    h1_limits_default(&lim);
    return 0;
}

/* Parse the whole string as one request head. */
static ssize_t parse(const char *s)
{
    h1_parser_init(&parser, &lim);
    memset(&req, 0xa5, sizeof(req));
    req.headers = hdrs;
    req.headers_cap = NHDR;
    return h1_parse_request(&parser, s, strlen(s), &req);
}

/* Assert that the request is rejected with `status`. */
#define REJECT(s, st)                                                                              \
    do {                                                                                           \
        assert_int_equal(parse(s), H1_ERROR);                                                      \
        assert_int_equal(parser.status, (st));                                                     \
        assert_non_null(parser.reason);                                                            \
    } while (0)

static bool slice_is(const char *buf, struct h1_slice s, const char *want)
{
    return s.len == strlen(want) && memcmp(buf + s.off, want, s.len) == 0;
}

static const char *header(const char *buf, const char *name)
{
    static char v[256];
    int i = h1_header_find(buf, req.headers, req.nheaders, name, strlen(name), 0);
    if (i < 0)
        return NULL;
    snprintf(v, sizeof(v), "%.*s", (int)hdrs[i].value.len, buf + hdrs[i].value.off);
    return v;
}

static void simple_get(void **state)
{
    const char *s = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
                    "User-Agent: t\r\nAccept:  */*  \r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_int_equal(req.head_len, strlen(s));
    assert_int_equal(req.method_id, H1_METHOD_GET);
    assert_true(slice_is(s, req.method, "GET"));
    assert_true(slice_is(s, req.target, "/index.html?q=1"));
    assert_true(slice_is(s, req.path, "/index.html?q=1"));
    assert_int_equal(req.target_form, H1_TARGET_ORIGIN);
    assert_int_equal(req.version_minor, 1);
    assert_int_equal(req.nheaders, 3);
    assert_true(slice_is(s, req.host, "example.com"));
    assert_string_equal(header(s, "accept"), "*/*");
    assert_string_equal(header(s, "USER-AGENT"), "t");
    assert_int_equal(hdrs[0].id, H1_HDR_HOST);
    assert_int_equal(req.body_kind, H1_BODY_NONE);
    assert_true(req.flags & H1_F_KEEP_ALIVE);
    assert_false(req.flags & H1_F_EXPECT_CONTINUE);
}

static void content_length_body(void **state)
{
    const char *s = "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    assert_int_equal(parse(s), strlen(s) - 5);
    assert_int_equal(req.body_kind, H1_BODY_LENGTH);
    assert_int_equal(req.content_length, 5);
    assert_int_equal(req.method_id, H1_METHOD_POST);
}

static void chunked_request(void **state)
{
    const char *s = "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_int_equal(req.body_kind, H1_BODY_CHUNKED);
    assert_true(hdrs[1].flags & H1_HF_HOP_BY_HOP);
    /* list split over two fields, case-insensitive */
    const char *t = "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n";
    assert_int_equal(parse(t), strlen(t));
    assert_int_equal(req.body_kind, H1_BODY_CHUNKED);
}

/* The request smuggling cases: each must be rejected with the given status. */
static void smuggling_rejected(void **state)
{
    /* CL + TE and TE + CL */
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
           400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
           "Content-Length: 4\r\n\r\n",
           400);
    /* duplicate Content-Length, even identical, and as a list */
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\n", 400);
    /* bad Content-Length */
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4x\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4 4\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
    /* Transfer-Encoding with chunked not last, twice, or with junk */
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
           "Transfer-Encoding: identity\r\n\r\n",
           400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;a=b\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400);
    /* a transfer coding we do not implement before chunked */
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501);
    /* Transfer-Encoding in HTTP/1.0 */
    REJECT("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    /* obs-fold, space before colon */
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n", 400);
    /* bare CR, bare LF */
    REJECT("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\n\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: b\nc\r\n\r\n", 400);
    /* empty or bad field names */
    REJECT("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nNo colon\r\n\r\n", 400);
    /* controls in values */
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01"
           "b\r\n\r\n",
           400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400);
    /* invalid methods and versions */
    REJECT("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GE\x80T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    REJECT("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /\r\n\r\n", 400);
    REJECT("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    REJECT("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);
    REJECT("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
    /* Host: missing in 1.1, repeated, bad */
    REJECT("GET / HTTP/1.1\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400);
}

/* NUL cannot be written in a C string literal test: build those by hand. */
static void nul_rejected(void **state)
{
    static const char *cases[] = {
        "GET / HTTP/1.1\r\nHost: a\r\nX: a@b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX@: ab\r\n\r\n",
        "GET /@ HTTP/1.1\r\nHost: a\r\n\r\n",
        "G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[128];
        size_t n = strlen(cases[i]);
        memcpy(buf, cases[i], n);
        /* the last '@' in each case becomes NUL */
        for (size_t k = n; k-- > 0;) {
            if (buf[k] == '@') {
                buf[k] = '\0';
                break;
            }
        }
        h1_parser_init(&parser, &lim);
        req.headers = hdrs;
        req.headers_cap = NHDR;
        assert_int_equal(h1_parse_request(&parser, buf, n, &req), H1_ERROR);
        assert_int_equal(parser.status, 400);
    }
}

/* Every position of a field value is checked (the scan goes 8 bytes at a time). */
static void value_bytes_at_every_position(void **state)
{
    static const unsigned char bad[] = {0x00, 0x01, 0x0b, 0x1f, 0x7f, '\r', '\n'};
    static const unsigned char good[] = {'\t', ' ', 0x21, 0x7e, 0x80, 0xff};
    char buf[128];
    for (size_t vlen = 1; vlen <= 24; vlen++) {
        for (size_t pos = 0; pos < vlen; pos++) {
            for (size_t k = 0; k < sizeof(bad) + sizeof(good); k++) {
                bool is_bad = k < sizeof(bad);
                unsigned char c = is_bad ? bad[k] : good[k - sizeof(bad)];
                int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
                memset(buf + n, 'v', vlen);
                buf[n + (int)pos] = (char)c;
                memcpy(buf + n + vlen, "\r\n\r\n", 5);
                size_t len = (size_t)n + vlen + 4;
                h1_parser_init(&parser, &lim);
                req.headers = hdrs;
                req.headers_cap = NHDR;
                ssize_t r = h1_parse_request(&parser, buf, len, &req);
                if (is_bad) {
                    assert_int_equal(r, H1_ERROR);
                    assert_int_equal(parser.status, 400);
                } else {
                    assert_int_equal(r, (ssize_t)len);
                }
            }
        }
    }
}

/* Every position of a request-target is checked (the scan goes 8 bytes at a time). */
static void target_bytes_at_every_position(void **state)
{
    static const unsigned char bad[] = {0x00, 0x01, '\t', ' ', 0x7f, 0x80, 0xff, '\r'};
    static const unsigned char good[] = {'!', '~', '%', '/', '?'};
    char buf[128];
    for (size_t tlen = 2; tlen <= 26; tlen++) {
        for (size_t pos = 1; pos < tlen; pos++) {
            for (size_t k = 0; k < sizeof(bad) + sizeof(good); k++) {
                bool is_bad = k < sizeof(bad);
                unsigned char c = is_bad ? bad[k] : good[k - sizeof(bad)];
                memcpy(buf, "GET /", 5);
                memset(buf + 5, 't', tlen - 1);
                buf[4 + pos] = (char)c;
                const char *rest = " HTTP/1.1\r\nHost: a\r\n\r\n";
                memcpy(buf + 4 + tlen, rest, strlen(rest));
                size_t len = 4 + tlen + strlen(rest);
                h1_parser_init(&parser, &lim);
                req.headers = hdrs;
                req.headers_cap = NHDR;
                ssize_t r = h1_parse_request(&parser, buf, len, &req);
                if (is_bad) {
                    assert_int_equal(r, H1_ERROR);
                    assert_int_equal(parser.status, 400);
                } else {
                    assert_int_equal(r, (ssize_t)len);
                    assert_int_equal(req.target.len, tlen);
                }
            }
        }
    }
}

static void target_forms(void **state)
{
    const char *s = "GET http://example.com:8080/a/b?c HTTP/1.1\r\nHost: example.com\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_int_equal(req.target_form, H1_TARGET_ABSOLUTE);
    assert_true(slice_is(s, req.authority, "example.com:8080"));
    assert_true(slice_is(s, req.path, "/a/b?c"));

    s = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_int_equal(req.target_form, H1_TARGET_AUTHORITY);
    assert_int_equal(req.method_id, H1_METHOD_CONNECT);
    assert_true(slice_is(s, req.authority, "example.com:443"));

    s = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_int_equal(req.target_form, H1_TARGET_ASTERISK);

    REJECT("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET example.com/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    /* absolute-form: http and https only (any case), never userinfo */
    s = "GET HTTPS://a.test HTTP/1.1\r\nHost: b\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_true(slice_is(s, req.authority, "a.test"));
    assert_int_equal(req.path.len, 0);
    REJECT("GET ftp://a.test/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_string_equal(parser.reason, "request-target scheme is not http or https");
    REJECT("GET httpx://a.test/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET ws://a.test/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET http://user@a.test/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_string_equal(parser.reason, "userinfo in request-target");
    REJECT("GET http://u:p@a.test/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void extension_method(void **state)
{
    const char *s = "PROPFIND /d HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_int_equal(req.method_id, H1_METHOD_OTHER);
    assert_true(slice_is(s, req.method, "PROPFIND"));
    /* methods are case-sensitive: "get" is an extension token, not GET */
    s = "get / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_int_equal(req.method_id, H1_METHOD_OTHER);
}

static void http10(void **state)
{
    const char *s = "GET / HTTP/1.0\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_int_equal(req.version_minor, 0);
    assert_false(req.flags & H1_F_KEEP_ALIVE);
    s = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_true(req.flags & H1_F_KEEP_ALIVE);
    /* Expect is ignored in HTTP/1.0 (RFC 9110 §10.1.1) */
    s = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_false(req.flags & H1_F_EXPECT_CONTINUE);
    s = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_false(req.flags & H1_F_KEEP_ALIVE);
    assert_true(req.flags & H1_F_CONN_CLOSE);
}

static void expect_continue(void **state)
{
    const char *s = "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
                    "Content-Length: 10\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_true(req.flags & H1_F_EXPECT_CONTINUE);
    REJECT("PUT /f HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417);
}

static void connection_options_are_hop_by_hop(void **state)
{
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Foo, keep-alive\r\n"
                    "X-Foo: 1\r\nX-Bar: 2\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
                    "Upgrade: websocket\r\nProxy-Connection: close\r\nTrailer: X\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    const char *hop[] = {"connection",       "x-foo",  "keep-alive", "te", "upgrade",
                         "proxy-connection", "trailer"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++) {
        int k = h1_header_find(s, hdrs, req.nheaders, hop[i], strlen(hop[i]), 0);
        assert_true(k >= 0);
        assert_true(hdrs[k].flags & H1_HF_HOP_BY_HOP);
        assert_true(h1_is_hop_by_hop(s, hdrs, req.nheaders, hop[i], strlen(hop[i])));
    }
    int k = h1_header_find(s, hdrs, req.nheaders, "x-bar", 5, 0);
    assert_false(hdrs[k].flags & H1_HF_HOP_BY_HOP);
    assert_false(hdrs[0].flags & H1_HF_HOP_BY_HOP);
    assert_false(h1_is_hop_by_hop(s, hdrs, req.nheaders, "X-Bar", 5));
    assert_true(h1_is_hop_by_hop(s, hdrs, req.nheaders, "Transfer-Encoding", 17));
    assert_true(req.flags & H1_F_HAS_TRAILER_HDR);
    assert_false(req.flags & H1_F_UPGRADE); /* Upgrade not named in Connection */
    s = "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_true(req.flags & H1_F_UPGRADE);
}

static void limits(void **state)
{
    char big[20000];
    lim.max_request_line = 64;
    /* 414: request line too long, complete or not */
    snprintf(big, sizeof(big), "GET /%0100d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    REJECT(big, 414);
    snprintf(big, sizeof(big), "GET /%0100d", 0);
    REJECT(big, 414);
    /* exactly at the limit: accepted (64 bytes incl. CRLF) */
    snprintf(big, sizeof(big), "GET /%0*d HTTP/1.1\r\nHost: a\r\n\r\n", 64 - 16, 0);
    assert_int_equal(parse(big), strlen(big));
    snprintf(big, sizeof(big), "GET /%0*d HTTP/1.1\r\nHost: a\r\n\r\n", 64 - 15, 0);
    REJECT(big, 414);
    h1_limits_default(&lim);

    /* 431: too many headers, too many bytes */
    lim.max_headers = 3;
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431);
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    h1_limits_default(&lim);
    lim.max_head_bytes = 100;
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: %0100d\r\n\r\n", 0);
    REJECT(big, 431);
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: %0100d", 0);
    REJECT(big, 431);
    h1_limits_default(&lim);

    /* 413: declared body over the limit */
    lim.max_body = 10;
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", 413);
    s = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    h1_limits_default(&lim);
}

static void incomplete_is_again(void **state)
{
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r";
    assert_int_equal(parse(s), H1_AGAIN);
    assert_int_equal(parse(""), H1_AGAIN);
    /* the buffer must not shrink between calls (a caller bug, never an over-read) */
    h1_parser_init(&parser, &lim);
    assert_int_equal(h1_parse_request(&parser, s, strlen(s), &req), H1_AGAIN);
    assert_int_equal(h1_parse_request(&parser, s, 3, &req), H1_ERROR);
    assert_int_equal(parser.status, 500);
    /* errors are reported as soon as the offending line is complete */
    assert_int_equal(parse("G(T / HTTP/1.1\r\n"), H1_ERROR);
}

static void pipelined(void **state)
{
    const char *s = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                    "POST /2 HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabc"
                    "GET /3 HTTP/1.1\r\nHost: c\r\n\r\n";
    size_t len = strlen(s), off = 0;
    const char *paths[] = {"/1", "/2", "/3"};
    for (int i = 0; i < 3; i++) {
        h1_parser_init(&parser, &lim);
        req.headers = hdrs;
        req.headers_cap = NHDR;
        ssize_t n = h1_parse_request(&parser, s + off, len - off, &req);
        assert_true(n > 0);
        assert_true(slice_is(s + off, req.target, paths[i]));
        off += (size_t)n;
        if (req.body_kind == H1_BODY_LENGTH)
            off += req.content_length;
    }
    assert_int_equal(off, len);
}

static void leading_empty_lines(void **state)
{
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse(s), strlen(s));
    assert_true(slice_is(s, req.target, "/"));
    REJECT("\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    /* at most H1_MAX_LEADING_CRLF of them */
    char buf[256] = "";
    for (int i = 0; i < H1_MAX_LEADING_CRLF; i++)
        strcat(buf, "\r\n");
    strcat(buf, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(parse(buf), strlen(buf));
    memmove(buf + 2, buf, strlen(buf) + 1);
    memcpy(buf, "\r\n", 2);
    REJECT(buf, 400);
}

/*
 * Every-byte-boundary split: feed each request as prefix [0,k) (expecting H1_AGAIN unless
 * the whole-buffer answer is an error that the prefix already shows) then the whole
 * buffer; the result and the parsed request must equal the whole-buffer parse.
 */
static const char *split_cases[] = {
    "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n"
    "Accept: */*\r\nConnection: X-A, close\r\nX-A: 1\r\n\r\n",
    "\r\nPOST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
    "Trailer-A: x\r\n\r\n",
    "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
    "GET / HTTP/3.0\r\nHost: a\r\n\r\n",
};

static void every_split_gives_same_result(void **state)
{
    static struct h1_header h2[NHDR];
    for (size_t c = 0; c < sizeof(split_cases) / sizeof(split_cases[0]); c++) {
        const char *s = split_cases[c];
        size_t len = strlen(s);
        ssize_t whole = parse(s);
        struct h1_request want = req;
        uint16_t want_status = parser.status;
        for (size_t k = 0; k < len; k++) {
            struct h1_request r;
            struct h1_parser p;
            memset(&r, 0x5a, sizeof(r));
            r.headers = h2;
            r.headers_cap = NHDR;
            h1_parser_init(&p, &lim);
            ssize_t n = h1_parse_request(&p, s, k, &r);
            if (n == H1_AGAIN)
                n = h1_parse_request(&p, s, len, &r);
            else if (whole > 0)
                assert_true(n == whole && (size_t)n <= k); /* head complete in the prefix */
            assert_int_equal(n, whole);
            if (whole < 0) {
                assert_int_equal(p.status, want_status);
                continue;
            }
            assert_int_equal(r.nheaders, want.nheaders);
            for (uint32_t i = 0; i < want.nheaders; i++) {
                assert_memory_equal(&h2[i].name, &hdrs[i].name, sizeof(h2[i].name));
                assert_memory_equal(&h2[i].value, &hdrs[i].value, sizeof(h2[i].value));
                assert_int_equal(h2[i].id, hdrs[i].id);
                assert_int_equal(h2[i].flags, hdrs[i].flags);
            }
            assert_memory_equal(&r.method, &want.method, sizeof(r.method));
            assert_memory_equal(&r.target, &want.target, sizeof(r.target));
            assert_int_equal(r.body_kind, want.body_kind);
            assert_int_equal(r.flags, want.flags);
            assert_int_equal(r.content_length, want.content_length);
            assert_int_equal(r.version_minor, want.version_minor);
        }
    }
}

/* ---- responses ---- */

static struct h1_response resp;

static ssize_t parse_resp(const char *s, enum h1_method m)
{
    h1_parser_init(&parser, &lim);
    memset(&resp, 0xa5, sizeof(resp));
    resp.headers = hdrs;
    resp.headers_cap = NHDR;
    return h1_parse_response(&parser, s, strlen(s), m, &resp);
}

static void response_framing(void **state)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n";
    assert_int_equal(parse_resp(s, H1_METHOD_GET), strlen(s));
    assert_int_equal(resp.status, 200);
    assert_true(slice_is(s, resp.reason, "OK"));
    assert_int_equal(resp.body_kind, H1_BODY_LENGTH);
    assert_int_equal(resp.content_length, 12);
    assert_true(resp.flags & H1_F_KEEP_ALIVE);

    s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n";
    assert_int_equal(parse_resp(s, H1_METHOD_GET), strlen(s));
    assert_int_equal(resp.body_kind, H1_BODY_CHUNKED);
    assert_true(resp.flags & H1_F_HAS_TRAILER_HDR);
    assert_true(hdrs[0].flags & H1_HF_HOP_BY_HOP);

    /* read until close: no framing, and never keep-alive */
    s = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n";
    assert_int_equal(parse_resp(s, H1_METHOD_GET), strlen(s));
    assert_int_equal(resp.body_kind, H1_BODY_UNTIL_CLOSE);
    assert_false(resp.flags & H1_F_KEEP_ALIVE);
    s = "HTTP/1.0 200 OK\r\n\r\n";
    assert_int_equal(parse_resp(s, H1_METHOD_GET), strlen(s));
    assert_int_equal(resp.body_kind, H1_BODY_UNTIL_CLOSE);
    assert_int_equal(resp.version_minor, 0);

    /* no reason phrase */
    s = "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(parse_resp(s, H1_METHOD_GET), strlen(s));
    assert_int_equal(resp.status, 404);
    assert_int_equal(resp.reason.len, 0);
    assert_int_equal(resp.body_kind, H1_BODY_NONE);
}

static void response_no_body(void **state)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n";
    assert_int_equal(parse_resp(s, H1_METHOD_HEAD), strlen(s));
    assert_int_equal(resp.body_kind, H1_BODY_NONE);
    s = "HTTP/1.1 204 No Content\r\n\r\n";
    assert_int_equal(parse_resp(s, H1_METHOD_GET), strlen(s));
    assert_int_equal(resp.body_kind, H1_BODY_NONE);
    assert_true(resp.flags & H1_F_KEEP_ALIVE);
    s = "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n";
    assert_int_equal(parse_resp(s, H1_METHOD_GET), strlen(s));
    assert_int_equal(resp.body_kind, H1_BODY_NONE);
    s = "HTTP/1.1 200 Connection established\r\n\r\n";
    assert_int_equal(parse_resp(s, H1_METHOD_CONNECT), strlen(s));
    assert_int_equal(resp.body_kind, H1_BODY_NONE);
}

static void response_interim(void **state)
{
    const char *s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    ssize_t n = parse_resp(s, H1_METHOD_POST);
    assert_int_equal(n, strlen("HTTP/1.1 100 Continue\r\n\r\n"));
    assert_int_equal(resp.status, 100);
    assert_int_equal(resp.body_kind, H1_BODY_NONE);
    h1_parser_init(&parser, &lim);
    ssize_t m = h1_parse_response(&parser, s + n, strlen(s) - (size_t)n, H1_METHOD_POST, &resp);
    assert_int_equal(m, strlen(s) - (size_t)n - 2);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body_kind, H1_BODY_LENGTH);

    s = "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert_int_equal(parse_resp(s, H1_METHOD_GET), strlen(s));
    assert_true(resp.flags & H1_F_UPGRADE);
    assert_int_equal(resp.body_kind, H1_BODY_NONE);
}

static void response_rejected(void **state)
{
    static const char *bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 099 OK\r\n\r\n",
        "HTTP/1.1 600 OK\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n",
        "HTTP/1.1 200 OK\nServer: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX : y\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "\r\nHTTP/1.1 200 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_resp(bad[i], H1_METHOD_GET), H1_ERROR);
        assert_int_equal(parser.status, 502);
    }
    /* limits answer 502 too: an upstream cannot make us send 431 to the client */
    lim.max_headers = 1;
    assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", H1_METHOD_GET),
                     H1_ERROR);
    assert_int_equal(parser.status, 502);
    h1_limits_default(&lim);
    lim.max_request_line = 16;
    assert_int_equal(parse_resp("HTTP/1.1 200 Very Long Reason\r\n\r\n", H1_METHOD_GET), H1_ERROR);
    assert_int_equal(parser.status, 502);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(simple_get, setup),
        cmocka_unit_test_setup(content_length_body, setup),
        cmocka_unit_test_setup(chunked_request, setup),
        cmocka_unit_test_setup(smuggling_rejected, setup),
        cmocka_unit_test_setup(nul_rejected, setup),
        cmocka_unit_test_setup(value_bytes_at_every_position, setup),
        cmocka_unit_test_setup(target_bytes_at_every_position, setup),
        cmocka_unit_test_setup(target_forms, setup),
        cmocka_unit_test_setup(extension_method, setup),
        cmocka_unit_test_setup(http10, setup),
        cmocka_unit_test_setup(expect_continue, setup),
        cmocka_unit_test_setup(connection_options_are_hop_by_hop, setup),
        cmocka_unit_test_setup(limits, setup),
        cmocka_unit_test_setup(incomplete_is_again, setup),
        cmocka_unit_test_setup(pipelined, setup),
        cmocka_unit_test_setup(leading_empty_lines, setup),
        cmocka_unit_test_setup(every_split_gives_same_result, setup),
        cmocka_unit_test_setup(response_framing, setup),
        cmocka_unit_test_setup(response_no_body, setup),
        cmocka_unit_test_setup(response_interim, setup),
        cmocka_unit_test_setup(response_rejected, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
