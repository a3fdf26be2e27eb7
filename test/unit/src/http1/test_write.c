/*
 * test_write.c - unit tests of src/http1/write.c: request/response heads and chunk
 * framing are written exactly, round-trip through the parsers, refuse header injection,
 * and never write past the caller's capacity.
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

#define F(n, v)                                                                                    \
    {                                                                                              \
        (n), sizeof(n) - 1, (v), sizeof(v) - 1                                                     \
    }

static void request_head_exact(void **state)
{
    const struct h1_field f[] = {F("Host", "example.com"), F("X-Forwarded-For", "10.0.0.1")};
    char out[256];
    const char *want = "GET /a?b HTTP/1.1\r\nHost: example.com\r\n"
                       "X-Forwarded-For: 10.0.0.1\r\n\r\n";
    ssize_t n = h1_write_request_head(out, sizeof(out), "GET", 3, "/a?b", 4, 1, f, 2);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, (size_t)n);

    /* round trip: the parser reads back what was written */
    struct h1_limits lim;
    struct h1_parser p;
    struct h1_header h[8];
    struct h1_request req = {.headers = h, .headers_cap = 8};
    h1_limits_default(&lim);
    h1_parser_init(&p, &lim);
    assert_int_equal(h1_parse_request(&p, out, (size_t)n, &req), n);
    assert_int_equal(req.nheaders, 2);
    assert_int_equal(req.method_id, H1_METHOD_GET);
}

static void response_head_exact(void **state)
{
    const struct h1_field f[] = {F("Content-Length", "5"), F("Via", "1.1 wasp")};
    char out[256];
    const char *want = "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nVia: 1.1 wasp\r\n\r\n";
    ssize_t n = h1_write_response_head(out, sizeof(out), 404, NULL, 1, f, 2);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, (size_t)n);

    want = "HTTP/1.0 200 Fine\r\n\r\n";
    n = h1_write_response_head(out, sizeof(out), 200, "Fine", 0, NULL, 0);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, (size_t)n);

    struct h1_limits lim;
    struct h1_parser p;
    struct h1_header h[8];
    struct h1_response resp = {.headers = h, .headers_cap = 8};
    h1_limits_default(&lim);
    h1_parser_init(&p, &lim);
    n = h1_write_response_head(out, sizeof(out), 502, NULL, 1, f, 1);
    assert_int_equal(h1_parse_response(&p, out, (size_t)n, H1_METHOD_GET, &resp), n);
    assert_int_equal(resp.status, 502);
    assert_int_equal(resp.body_kind, H1_BODY_LENGTH);
    assert_int_equal(resp.content_length, 5);
}

static void capacity_is_respected(void **state)
{
    const struct h1_field f[] = {F("Host", "a")};
    char out[64];
    memset(out, '#', sizeof(out));
    ssize_t need = h1_write_request_head(out, 10, "GET", 3, "/", 1, 1, f, 1);
    assert_int_equal(need, strlen("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    for (size_t i = 0; i < sizeof(out); i++)
        assert_int_equal(out[i], '#');
    assert_int_equal(h1_write_request_head(out, (size_t)need, "GET", 3, "/", 1, 1, f, 1), need);
    assert_int_equal(out[need], '#');
    need = h1_write_last_chunk(out, 4, f, 1);
    assert_int_equal(need, strlen("0\r\nHost: a\r\n\r\n"));
    assert_int_equal(out[0], 'G');
}

static void injection_refused(void **state)
{
    char out[256];
    const struct h1_field crlf[] = {F("X", "a\r\nSet-Cookie: evil")};
    const struct h1_field lf[] = {F("X", "a\nb")};
    const struct h1_field nul[] = {{"X", 1, "a\0b", 3}};
    const struct h1_field badname[] = {F("X Y", "v")};
    const struct h1_field colon[] = {F("X:", "v")};
    const struct h1_field empty[] = {F("", "v")};
    const struct h1_field *bad[] = {crlf, lf, nul, badname, colon, empty};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(h1_write_request_head(out, sizeof(out), "GET", 3, "/", 1, 1, bad[i], 1),
                         H1_ERROR);
        assert_int_equal(h1_write_response_head(out, sizeof(out), 200, NULL, 1, bad[i], 1),
                         H1_ERROR);
        assert_int_equal(h1_write_last_chunk(out, sizeof(out), bad[i], 1), H1_ERROR);
    }
    assert_int_equal(h1_write_request_head(out, sizeof(out), "G T", 3, "/", 1, 1, NULL, 0),
                     H1_ERROR);
    assert_int_equal(h1_write_request_head(out, sizeof(out), "GET", 3, "/ x", 3, 1, NULL, 0),
                     H1_ERROR);
    assert_int_equal(h1_write_request_head(out, sizeof(out), "GET", 3, "/\r\n", 3, 1, NULL, 0),
                     H1_ERROR);
    assert_int_equal(h1_write_response_head(out, sizeof(out), 200, "O\r\nK", 1, NULL, 0), H1_ERROR);
    assert_int_equal(h1_write_response_head(out, sizeof(out), 99, NULL, 1, NULL, 0), H1_ERROR);
    assert_int_equal(h1_write_response_head(out, sizeof(out), 200, NULL, 2, NULL, 0), H1_ERROR);
}

static void chunk_framing_round_trip(void **state)
{
    char out[64];
    assert_int_equal(h1_write_chunk_header(out, 1), 3);
    assert_memory_equal(out, "1\r\n", 3);
    assert_int_equal(h1_write_chunk_header(out, 0xabc), 5);
    assert_memory_equal(out, "abc\r\n", 5);
    assert_int_equal(h1_write_chunk_header(out, UINT64_MAX), H1_CHUNK_HEADER_MAX);
    assert_memory_equal(out, "ffffffffffffffff\r\n", H1_CHUNK_HEADER_MAX);

    /* encode "hello world" as two chunks + trailer, decode it back */
    char msg[256];
    size_t n = h1_write_chunk_header(msg, 5);
    memcpy(msg + n, "hello\r\n", 7);
    n += 7;
    n += h1_write_chunk_header(msg + n, 6);
    memcpy(msg + n, " world\r\n", 8);
    n += 8;
    const struct h1_field t[] = {F("X-Sum", "42")};
    ssize_t l = h1_write_last_chunk(msg + n, sizeof(msg) - n, t, 1);
    assert_int_equal(l, strlen("0\r\nX-Sum: 42\r\n\r\n"));
    n += (size_t)l;

    struct h1_limits lim;
    struct h1_body b;
    struct h1_header tr[4];
    char body[64];
    size_t bl = 0, off = 0;
    h1_limits_default(&lim);
    h1_body_init(&b, H1_BODY_CHUNKED, 0, &lim, tr, 4);
    while (!b.done) {
        struct h1_span d;
        ssize_t r = h1_body_parse(&b, msg + off, n - off, &d);
        assert_true(r > 0);
        memcpy(body + bl, msg + off + d.off, d.len);
        bl += d.len;
        if (b.done) {
            assert_int_equal(b.ntrailers, 1);
            assert_memory_equal(msg + off + tr[0].value.off, "42", 2);
        }
        off += (size_t)r;
    }
    assert_int_equal(off, n);
    assert_int_equal(bl, 11);
    assert_memory_equal(body, "hello world", 11);
}

static void names_and_reasons(void **state)
{
    assert_string_equal(h1_status_reason(200), "OK");
    assert_string_equal(h1_status_reason(431), "Request Header Fields Too Large");
    assert_string_equal(h1_status_reason(799), "Unknown");
    assert_string_equal(h1_method_name(H1_METHOD_PATCH), "PATCH");
    assert_null(h1_method_name(H1_METHOD_OTHER));
    assert_true(h1_name_eq("Content-Length", "content-LENGTH", 14));
    assert_false(h1_name_eq("Content-Length", "Content-Lengtx", 14));
    assert_true(h1_list_has_token("a, Keep-Alive ,b", 16, "keep-alive", 10));
    assert_false(h1_list_has_token("a, keep-alivex", 14, "keep-alive", 10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_head_exact),       cmocka_unit_test(response_head_exact),
        cmocka_unit_test(capacity_is_respected),    cmocka_unit_test(injection_refused),
        cmocka_unit_test(chunk_framing_round_trip), cmocka_unit_test(names_and_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
