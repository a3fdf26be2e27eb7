/*
 * test_chunked.c - unit tests of src/http1/chunked.c, the body decoder: Content-Length,
 * chunked (sizes, extensions, CRLFs, trailers, every error), read-until-close, limits,
 * pipelined bytes after a body, and every-byte-boundary splits of the input.
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

#define NTRAILER 8

static struct h1_limits lim;

static int setup(void **state)
{
    h1_limits_default(&lim);
    return 0;
}

/* What a decode run produced. */
struct result {
    ssize_t rc;      /* H1_OK when done, else the error (H1_AGAIN: input ran out) */
    uint16_t status; /* on error */
    char body[4096]; /* payload delivered, concatenated */
    size_t body_len;
    size_t consumed;     /* input bytes consumed in total */
    char trailers[1024]; /* "name=value;" for each trailer */
};

/*
 * Decode `in` as a body of `kind` the way a connection would: the input arrives in pieces
 * (first `split` bytes, then the rest; split 0 = all at once; split SIZE_MAX = one byte at
 * a time), unconsumed bytes stay in front of the next piece.
 */
static void decode(const char *in, size_t len, enum h1_body_kind kind, uint64_t cl, size_t split,
                   struct result *r)
{
    struct h1_header tr[NTRAILER];
    struct h1_body b;
    size_t have = 0, off = 0; /* bytes received; bytes consumed */

    memset(r, 0, sizeof(*r));
    h1_body_init(&b, kind, cl, &lim, tr, NTRAILER);
    r->rc = H1_AGAIN;
    while (!b.done) {
        if (have < len) {
            if (split == SIZE_MAX)
                have++;
            else if (split && have < split)
                have = split < len ? split : len;
            else
                have = len;
        }
        for (;;) {
            struct h1_span d;
            ssize_t n = h1_body_parse(&b, in + off, have - off, &d);
            if (n == H1_ERROR) {
                r->rc = H1_ERROR;
                r->status = b.status;
                assert_non_null(b.reason);
                r->consumed = off;
                return;
            }
            if (n == H1_AGAIN || n == 0)
                break;
            assert_true((size_t)n <= have - off);
            assert_true(d.off + d.len <= (size_t)n);
            assert_true(r->body_len + d.len <= sizeof(r->body));
            memcpy(r->body + r->body_len, in + off + d.off, d.len);
            r->body_len += d.len;
            if (b.done) {
                for (uint32_t i = 0; i < b.ntrailers; i++) {
                    size_t tl = strlen(r->trailers);
                    snprintf(r->trailers + tl, sizeof(r->trailers) - tl, "%.*s=%.*s;",
                             (int)tr[i].name.len, in + off + tr[i].name.off, (int)tr[i].value.len,
                             in + off + tr[i].value.off);
                }
            }
            off += (size_t)n;
            if (b.done)
                break;
        }
        if (have == len && !b.done)
            break;
    }
    if (b.done)
        r->rc = H1_OK;
    r->consumed = off;
}

static void expect_body(const char *in, enum h1_body_kind kind, uint64_t cl, const char *body,
                        const char *trailers, size_t consumed)
{
    struct result r;
    decode(in, strlen(in), kind, cl, 0, &r);
    assert_int_equal(r.rc, H1_OK);
    assert_int_equal(r.body_len, strlen(body));
    assert_memory_equal(r.body, body, r.body_len);
    assert_string_equal(r.trailers, trailers);
    assert_int_equal(r.consumed, consumed);
}

static void expect_error(const char *in, uint16_t status)
{
    struct result r;
    decode(in, strlen(in), H1_BODY_CHUNKED, 0, 0, &r);
    assert_int_equal(r.rc, H1_ERROR);
    assert_int_equal(r.status, status);
}

static void chunked_basic(void **state)
{
    const char *s = "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
    expect_body(s, H1_BODY_CHUNKED, 0, "hello, world", "", strlen(s));
    /* hex sizes in both cases, leading zeros */
    s = "A\r\n0123456789\r\n00b\r\nabcdefghijk\r\n0000\r\n\r\n";
    expect_body(s, H1_BODY_CHUNKED, 0, "0123456789abcdefghijk", "", strlen(s));
    /* empty body */
    expect_body("0\r\n\r\n", H1_BODY_CHUNKED, 0, "", "", 5);
}

static void chunked_extensions(void **state)
{
    const char *s = "5;name=value\r\nhello\r\n3 ; a ; b = \"q \\\" d\"\r\nabc\r\n0;last\r\n\r\n";
    expect_body(s, H1_BODY_CHUNKED, 0, "helloabc", "", strlen(s));
    expect_error("5;\r\nhello\r\n0\r\n\r\n", 400);
    expect_error("5;=x\r\nhello\r\n0\r\n\r\n", 400);
    expect_error("5;a=\r\nhello\r\n0\r\n\r\n", 400);
    expect_error("5;a=\"x\r\nhello\r\n0\r\n\r\n", 400);
    expect_error("5;a\x01\r\nhello\r\n0\r\n\r\n", 400);
    /* bounded length: an endless extension is cut off */
    lim.max_chunk_line = 32;
    expect_error("5;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=b\r\nhello\r\n0\r\n\r\n", 400);
    struct result r;
    const char *open = "5;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    decode(open, strlen(open), H1_BODY_CHUNKED, 0, 0, &r);
    assert_int_equal(r.rc, H1_ERROR);
    assert_int_equal(r.status, 400);
}

static void chunked_trailers(void **state)
{
    const char *s = "5\r\nhello\r\n0\r\nX-Checksum: abc \r\nX-Other:1\r\n\r\n";
    expect_body(s, H1_BODY_CHUNKED, 0, "hello", "X-Checksum=abc;X-Other=1;", strlen(s));
    /* trailers follow the header rules */
    expect_error("0\r\nX : y\r\n\r\n", 400);
    expect_error("0\r\nX: y\r\n z\r\n\r\n", 400);
    expect_error("0\r\nX: y\nZ: 1\r\n\r\n", 400);
    expect_error("0\r\nX: a\rb\r\n\r\n", 400);
    expect_error("0\r\n\n", 400);
    /* framing fields are not allowed in trailers */
    expect_error("0\r\nContent-Length: 5\r\n\r\n", 400);
    expect_error("0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    /* limits: count and size */
    expect_error(
        "0\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\nH: 1\r\nI: 1\r\n\r\n", 431);
    lim.max_trailer_bytes = 16;
    expect_error("0\r\nX-Long: 0123456789\r\n\r\n", 431);
    expect_error("0\r\nX-Long: 0123456789", 431);
}

static void chunked_bad_framing(void **state)
{
    expect_error("x\r\nhello\r\n0\r\n\r\n", 400);   /* not hex */
    expect_error("\r\nhello\r\n0\r\n\r\n", 400);    /* empty size */
    expect_error("-5\r\nhello\r\n0\r\n\r\n", 400);  /* sign */
    expect_error("0x5\r\nhello\r\n0\r\n\r\n", 400); /* 0x prefix */
    expect_error(" 5\r\nhello\r\n0\r\n\r\n", 400);  /* leading space */
    expect_error("5 \r\nhello\r\n0\r\n\r\n", 400);  /* trailing space, no ext */
    expect_error("5\nhello\r\n0\r\n\r\n", 400);     /* bare LF after size */
    expect_error("5\rhello\r\n0\r\n\r\n", 400);     /* bare CR after size */
    expect_error("5\r\nhelloX\r\n0\r\n\r\n", 400);  /* data longer than size */
    expect_error("5\r\nhello\n0\r\n\r\n", 400);     /* bare LF after data */
    expect_error("5\r\nhello\r0\r\n\r\n", 400);     /* bare CR after data */
    expect_error("5\r\nhello0\r\n\r\n", 400);       /* missing CRLF after data */
    expect_error("5\r\nhel\r\n0\r\n\r\n", 400);     /* shorter data, CRLF inside */
    /* size overflow: 2^64 and far beyond, and just over our 2^62 cap */
    expect_error("10000000000000000\r\n", 400);
    expect_error("fffffffffffffffffffffffffffffff\r\n", 400);
    expect_error("4000000000000001\r\n", 400);
    /* an endless size line */
    lim.max_chunk_line = 16;
    expect_error("00000000000000000000000000000005\r\nhello\r\n0\r\n\r\n", 400);
}

static void body_limit(void **state)
{
    lim.max_body = 8;
    expect_error("5\r\nhello\r\n4\r\nabcd\r\n0\r\n\r\n", 413);
    expect_body("5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n", H1_BODY_CHUNKED, 0, "helloabc", "", 23);
    /* a huge size is refused at the size line, before any data */
    struct result r;
    const char *s = "ffffffff\r\nabc";
    decode(s, strlen(s), H1_BODY_CHUNKED, 0, 0, &r);
    assert_int_equal(r.rc, H1_ERROR);
    assert_int_equal(r.status, 413);
    assert_int_equal(r.body_len, 0);
    /* read-until-close: the limit is delivered, the byte beyond it is the error */
    decode("0123456789", 10, H1_BODY_UNTIL_CLOSE, 0, 0, &r);
    assert_int_equal(r.rc, H1_ERROR);
    assert_int_equal(r.status, 413);
    assert_int_equal(r.body_len, 8);
    decode("0123456789", 10, H1_BODY_UNTIL_CLOSE, 0, SIZE_MAX, &r);
    assert_int_equal(r.rc, H1_ERROR);
    assert_int_equal(r.body_len, 8);
}

static void content_length_and_pipelining(void **state)
{
    /* bytes after the body belong to the next message and are not consumed */
    const char *s = "helloGET / HTTP/1.1\r\n";
    expect_body(s, H1_BODY_LENGTH, 5, "hello", "", 5);
    s = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    expect_body(s, H1_BODY_CHUNKED, 0, "abc", "", 13);
    s = "3\r\nabc\r\n0\r\nT: 1\r\n\r\nPOST";
    expect_body(s, H1_BODY_CHUNKED, 0, "abc", "T=1;", strlen(s) - 4);

    /* a body of length 0 or NONE is done at once */
    struct h1_body b;
    struct h1_span d;
    h1_body_init(&b, H1_BODY_LENGTH, 0, &lim, NULL, 0);
    assert_true(b.done);
    assert_int_equal(h1_body_parse(&b, "x", 1, &d), 0);
    h1_body_init(&b, H1_BODY_NONE, 0, &lim, NULL, 0);
    assert_true(b.done);
}

static void eof_handling(void **state)
{
    struct h1_body b;
    struct h1_span d;
    /* read-until-close: everything is body; EOF ends it */
    h1_body_init(&b, H1_BODY_UNTIL_CLOSE, 0, &lim, NULL, 0);
    assert_int_equal(h1_body_parse(&b, "abc", 3, &d), 3);
    assert_int_equal(d.len, 3);
    assert_false(b.done);
    assert_int_equal(h1_body_eof(&b), H1_OK);
    assert_true(b.done);
    /* truncated Content-Length and chunked bodies are errors at EOF */
    h1_body_init(&b, H1_BODY_LENGTH, 10, &lim, NULL, 0);
    assert_int_equal(h1_body_parse(&b, "abc", 3, &d), 3);
    assert_int_equal(h1_body_eof(&b), H1_ERROR);
    assert_int_equal(b.status, 400);
    h1_body_init(&b, H1_BODY_CHUNKED, 0, &lim, NULL, 0);
    assert_int_equal(h1_body_parse(&b, "5\r\nab", 5, &d), 5);
    assert_int_equal(h1_body_eof(&b), H1_ERROR);
    /* a complete chunked body is fine at EOF */
    h1_body_init(&b, H1_BODY_CHUNKED, 0, &lim, NULL, 0);
    assert_int_equal(h1_body_parse(&b, "0\r\n", 3, &d), 3);
    assert_int_equal(h1_body_parse(&b, "\r\n", 2, &d), 2);
    assert_true(b.done);
    assert_int_equal(h1_body_eof(&b), H1_OK);
}

static void incomplete_units_are_again(void **state)
{
    struct h1_body b;
    struct h1_span d;
    h1_body_init(&b, H1_BODY_CHUNKED, 0, &lim, NULL, 0);
    assert_int_equal(h1_body_parse(&b, "5", 1, &d), H1_AGAIN);
    assert_int_equal(h1_body_parse(&b, "5\r", 2, &d), H1_AGAIN);
    /* the size line is consumed with the data that is there */
    assert_int_equal(h1_body_parse(&b, "5\r\nhe", 5, &d), 5);
    assert_int_equal(d.off, 3);
    assert_int_equal(d.len, 2);
    assert_int_equal(h1_body_parse(&b, "llo", 3, &d), 3);
    assert_int_equal(d.len, 3);
    assert_int_equal(h1_body_parse(&b, "\r", 1, &d), H1_AGAIN);
    assert_int_equal(h1_body_parse(&b, "x", 1, &d), H1_ERROR);
}

/* Every split point, and one byte at a time, gives the whole-input result. */
static const char *split_cases[] = {
    "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
    "5;ext=\"v;\\\"\"\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nA: 1\r\nB-2:  x y "
    "\r\n\r\n"
    "GET /next HTTP/1.1\r\n",
    "3\r\nabc\r\n0\r\n\r\n3\r\nxyz\r\n",
    "3\r\nabc\r\n0\r\nA: 1\r\n b\r\n\r\n",
    "3\r\nabcX\r\n0\r\n\r\n",
    "fffffffffffffffffffff\r\n",
    "3\r\nabc\r\n0\r\nA: 1\n\r\n",
};

static void same_result(const struct result *a, const struct result *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->body_len, b->body_len);
    assert_memory_equal(a->body, b->body, a->body_len);
    assert_string_equal(a->trailers, b->trailers);
    if (a->rc == H1_OK)
        assert_int_equal(a->consumed, b->consumed);
}

static void every_split_gives_same_result(void **state)
{
    static struct result whole, part;
    for (size_t c = 0; c < sizeof(split_cases) / sizeof(split_cases[0]); c++) {
        const char *s = split_cases[c];
        size_t len = strlen(s);
        decode(s, len, H1_BODY_CHUNKED, 0, 0, &whole);
        for (size_t k = 1; k < len; k++) {
            decode(s, len, H1_BODY_CHUNKED, 0, k, &part);
            same_result(&whole, &part);
        }
        decode(s, len, H1_BODY_CHUNKED, 0, SIZE_MAX, &part);
        same_result(&whole, &part);
    }
    /* the expectations of the whole-input runs themselves */
    decode(split_cases[1], strlen(split_cases[1]), H1_BODY_CHUNKED, 0, 0, &whole);
    assert_int_equal(whole.rc, H1_OK);
    assert_string_equal(whole.trailers, "A=1;B-2=x y;");
    assert_int_equal(whole.consumed, strlen(split_cases[1]) - strlen("GET /next HTTP/1.1\r\n"));
    decode(split_cases[4], strlen(split_cases[4]), H1_BODY_CHUNKED, 0, 0, &whole);
    assert_int_equal(whole.rc, H1_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(chunked_basic, setup),
        cmocka_unit_test_setup(chunked_extensions, setup),
        cmocka_unit_test_setup(chunked_trailers, setup),
        cmocka_unit_test_setup(chunked_bad_framing, setup),
        cmocka_unit_test_setup(body_limit, setup),
        cmocka_unit_test_setup(content_length_and_pipelining, setup),
        cmocka_unit_test_setup(eof_handling, setup),
        cmocka_unit_test_setup(incomplete_units_are_again, setup),
        cmocka_unit_test_setup(every_split_gives_same_result, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
