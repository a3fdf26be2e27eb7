/*
 * fuzz_h1.c - libFuzzer targets for the HTTP/1 codec (src/http1/), built three times:
 * fuzz_h1_request (FUZZ_H1_PART 1: request head + its body), fuzz_h1_response (2: response
 * head + its body) and fuzz_h1_chunked (3: a chunked body with trailers).
 *
 * The first input byte picks small or default limits (and, for responses, the request
 * method); the rest is the message. Besides the sanitizers' checks, it asserts the codec's
 * contracts: every slice lies inside the input, consumed counts never exceed what was
 * given, and every way of splitting the bytes gives exactly the whole-buffer result: one
 * byte at a time, and two pieces split at every offset (every offset for short inputs, 48
 * of them spread over longer ones), since the parsers are resumable and a real socket
 * can cut a message anywhere.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1.h"

#define NHDR 32
/* Inputs up to this long are split at every offset; longer ones at SPLITS offsets. */
#define ALL_SPLITS_MAX 512
#define SPLITS 48

#ifndef FUZZ_H1_PART
#error "FUZZ_H1_PART must be 1 (request), 2 (response) or 3 (chunked)"
#endif

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

#if FUZZ_H1_PART != 3
static bool same_headers(const struct h1_header *a, const struct h1_header *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (a[i].name.off != b[i].name.off || a[i].name.len != b[i].name.len ||
            a[i].value.off != b[i].value.off || a[i].value.len != b[i].value.len ||
            a[i].id != b[i].id || a[i].flags != b[i].flags)
            return false;
    }
    return true;
}
#endif

static void check_slice(struct h1_slice s, size_t len)
{
    CHECK((size_t)s.off + s.len <= len);
}

static void check_headers(const struct h1_header *h, uint32_t n, size_t len)
{
    for (uint32_t i = 0; i < n; i++) {
        check_slice(h[i].name, len);
        check_slice(h[i].value, len);
        CHECK(h[i].name.len > 0);
    }
}

/* Body bytes and trailer count from decoding `in` in one go or one byte at a time. */
struct body_result {
    int rc;
    uint16_t status;
    uint64_t total;
    size_t consumed;
    uint32_t ntrailers;
};

/*
 * Decodes `in` fed as a socket would deliver it: the first `first` bytes (all of them if
 * first == len), then, whenever the decoder needs more, `step` more bytes (0: the rest).
 */
static void decode_body(const struct h1_limits *lim, enum h1_body_kind kind, uint64_t cl,
                        const uint8_t *in, size_t len, size_t first, size_t step,
                        struct body_result *r)
{
    struct h1_header tr[NHDR];
    struct h1_body b;
    size_t have = first, off = 0;

    h1_body_init(&b, kind, cl, lim, tr, NHDR);
    memset(r, 0, sizeof(*r));
    r->rc = H1_AGAIN;
    for (;;) {
        struct h1_span d;
        ssize_t n = h1_body_parse(&b, (const char *)in + off, have - off, &d);
        if (n == H1_ERROR) {
            r->rc = H1_ERROR;
            r->status = b.status;
            break;
        }
        if (n > 0) {
            CHECK((size_t)n <= have - off);
            CHECK(d.off + d.len <= (size_t)n);
            if (b.done) {
                r->ntrailers = b.ntrailers;
                check_headers(tr, b.ntrailers, have - off);
            }
            off += (size_t)n;
        }
        if (b.done) {
            r->rc = H1_OK;
            break;
        }
        if (n > 0)
            continue;
        if (have == len)
            break;
        have = step == 0 || len - have < step ? len : have + step;
    }
    r->total = b.total;
    r->consumed = off;
}

static bool same_body(const struct body_result *a, const struct body_result *b)
{
    return a->rc == b->rc && a->status == b->status && a->total == b->total &&
           a->ntrailers == b->ntrailers && (a->rc != H1_OK || a->consumed == b->consumed);
}

/* The split offsets to try for an input of len bytes: every one, or SPLITS spread out. */
static size_t split_count(size_t len)
{
    return len <= ALL_SPLITS_MAX ? len : SPLITS;
}

static size_t split_at(size_t len, size_t i)
{
    return len <= ALL_SPLITS_MAX ? i : 1 + i * (len - 1) / SPLITS;
}

static void body_every_split(const struct h1_limits *lim, enum h1_body_kind kind, uint64_t cl,
                             const uint8_t *in, size_t len)
{
    struct body_result whole, other;
    decode_body(lim, kind, cl, in, len, len, 0, &whole);
    decode_body(lim, kind, cl, in, len, 0, 1, &other);
    CHECK(same_body(&whole, &other));
    for (size_t i = 0; i < split_count(len); i++) {
        decode_body(lim, kind, cl, in, len, split_at(len, i), 0, &other);
        CHECK(same_body(&whole, &other));
    }
}

#if FUZZ_H1_PART == 1
/*
 * Write the parsed request back with h1_write_request_head() and parse the output: the
 * writer must accept what the parser accepted, and the second parse must see the same
 * method, target, fields and framing.
 */
static void rewrite(const struct h1_limits *lim, const char *in, const struct h1_request *r)
{
    static char out[16384];
    struct h1_field f[NHDR];
    struct h1_header h[NHDR];
    struct h1_request r2 = {.headers = h, .headers_cap = NHDR};
    struct h1_parser p;

    for (uint32_t i = 0; i < r->nheaders; i++)
        f[i] = (struct h1_field){in + r->headers[i].name.off, r->headers[i].name.len,
                                 in + r->headers[i].value.off, r->headers[i].value.len};
    ssize_t n =
        h1_write_request_head(out, sizeof(out), in + r->method.off, r->method.len,
                              in + r->target.off, r->target.len, r->version_minor, f, r->nheaders);
    CHECK(n > 0);
    if ((size_t)n > sizeof(out))
        return;
    h1_parser_init(&p, lim);
    ssize_t m = h1_parse_request(&p, out, (size_t)n, &r2);
    if (m == H1_ERROR) {
        /* only a limit can differ: the value's OWS is gone, the request line is the same */
        CHECK(p.status == 431 || p.status == 414);
        return;
    }
    CHECK(m == n);
    CHECK(r2.nheaders == r->nheaders && r2.body_kind == r->body_kind);
    CHECK(r2.flags == r->flags && r2.content_length == r->content_length);
    CHECK(r2.method.len == r->method.len && r2.target.len == r->target.len);
    CHECK(memcmp(out + r2.target.off, in + r->target.off, r->target.len) == 0);
    for (uint32_t i = 0; i < r->nheaders; i++) {
        CHECK(h[i].value.len == r->headers[i].value.len && h[i].id == r->headers[i].id);
        CHECK(memcmp(out + h[i].value.off, in + r->headers[i].value.off, h[i].value.len) == 0);
    }
}

/* Parses a request head fed as first bytes then the rest (first == 0: one byte at a time).
 * @return the parser's result; *p and *r hold its state. */
static ssize_t parse_request_split(const struct h1_limits *lim, const uint8_t *in, size_t len,
                                   size_t first, struct h1_parser *p, struct h1_request *r)
{
    ssize_t n = H1_AGAIN;
    h1_parser_init(p, lim);
    r->nheaders = 0;
    if (first == 0) {
        for (size_t k = 0; k <= len && n == H1_AGAIN; k++)
            n = h1_parse_request(p, (const char *)in, k, r);
        return n;
    }
    n = h1_parse_request(p, (const char *)in, first, r);
    if (n == H1_AGAIN && first < len)
        n = h1_parse_request(p, (const char *)in, len, r);
    return n;
}

static void same_request(ssize_t n1, const struct h1_parser *p1, const struct h1_request *r1,
                         ssize_t n2, const struct h1_parser *p2, const struct h1_request *r2)
{
    CHECK(n1 == n2);
    if (n1 == H1_ERROR) {
        CHECK(p1->status == p2->status && p1->reason);
        return;
    }
    if (n1 == H1_AGAIN)
        return;
    CHECK(r1->nheaders == r2->nheaders && same_headers(r1->headers, r2->headers, r1->nheaders));
    CHECK(r1->body_kind == r2->body_kind && r1->flags == r2->flags);
    CHECK(r1->content_length == r2->content_length && r1->head_len == r2->head_len);
    CHECK(r1->target.off == r2->target.off && r1->target.len == r2->target.len);
}

static void request(const struct h1_limits *lim, const uint8_t *in, size_t len)
{
    struct h1_header h1[NHDR], h2[NHDR];
    struct h1_request r1 = {.headers = h1, .headers_cap = NHDR};
    struct h1_request r2 = {.headers = h2, .headers_cap = NHDR};
    struct h1_parser p1, p2;

    ssize_t n1 = parse_request_split(lim, in, len, len, &p1, &r1);
    ssize_t n2 = parse_request_split(lim, in, len, 0, &p2, &r2);
    same_request(n1, &p1, &r1, n2, &p2, &r2);
    for (size_t i = 0; i < split_count(len); i++) {
        size_t k = split_at(len, i);
        if (k == 0)
            continue;
        n2 = parse_request_split(lim, in, len, k, &p2, &r2);
        same_request(n1, &p1, &r1, n2, &p2, &r2);
    }
    if (n1 == H1_ERROR || n1 == H1_AGAIN)
        return;
    CHECK((size_t)n1 <= len && r1.head_len == (uint32_t)n1);
    check_headers(h1, r1.nheaders, len);
    check_slice(r1.method, len);
    check_slice(r1.target, len);
    check_slice(r1.path, len);
    check_slice(r1.authority, len);
    check_slice(r1.host, len);
    CHECK(r1.body_kind != H1_BODY_UNTIL_CLOSE);
    rewrite(lim, (const char *)in, &r1);
    body_every_split(lim, r1.body_kind, r1.content_length, in + n1, len - (size_t)n1);
}

#endif

#if FUZZ_H1_PART == 2
static ssize_t parse_response_split(const struct h1_limits *lim, enum h1_method m,
                                    const uint8_t *in, size_t len, size_t first,
                                    struct h1_parser *p, struct h1_response *r)
{
    ssize_t n = H1_AGAIN;
    h1_parser_init(p, lim);
    r->nheaders = 0;
    if (first == 0) {
        for (size_t k = 0; k <= len && n == H1_AGAIN; k++)
            n = h1_parse_response(p, (const char *)in, k, m, r);
        return n;
    }
    n = h1_parse_response(p, (const char *)in, first, m, r);
    if (n == H1_AGAIN && first < len)
        n = h1_parse_response(p, (const char *)in, len, m, r);
    return n;
}

static void response(const struct h1_limits *lim, enum h1_method m, const uint8_t *in, size_t len)
{
    struct h1_header h1[NHDR], h2[NHDR];
    struct h1_response r1 = {.headers = h1, .headers_cap = NHDR};
    struct h1_response r2 = {.headers = h2, .headers_cap = NHDR};
    struct h1_parser p1, p2;

    ssize_t n1 = parse_response_split(lim, m, in, len, len, &p1, &r1);
    for (size_t i = 0; i <= split_count(len); i++) {
        /* i == split_count: one byte at a time */
        size_t k = i < split_count(len) ? split_at(len, i) : 0;
        if (k == 0 && i < split_count(len))
            continue;
        ssize_t n2 = parse_response_split(lim, m, in, len, k, &p2, &r2);
        CHECK(n1 == n2);
        if (n1 == H1_ERROR) {
            CHECK(p1.status == 502 && p2.status == 502);
            continue;
        }
        if (n1 == H1_AGAIN)
            continue;
        CHECK(r1.nheaders == r2.nheaders && same_headers(h1, h2, r1.nheaders));
        CHECK(r1.status == r2.status && r1.body_kind == r2.body_kind);
        CHECK(r1.content_length == r2.content_length);
    }
    if (n1 == H1_ERROR || n1 == H1_AGAIN)
        return;
    CHECK(r1.status >= 100 && r1.status <= 599);
    check_headers(h1, r1.nheaders, len);
    check_slice(r1.reason, len);
    body_every_split(lim, r1.body_kind, r1.content_length, in + n1, len - (size_t)n1);
}

#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct h1_limits lim;
    if (size < 1 || size > 4096)
        return 0;
    h1_limits_default(&lim);
    if (data[0] & 1) {
        lim.max_request_line = 64;
        lim.max_head_bytes = 256;
        lim.max_headers = 4;
        lim.max_chunk_line = 16;
        lim.max_trailer_bytes = 32;
        lim.max_body = 100;
    }
    enum h1_method m = (enum h1_method)((data[0] >> 1) % (H1_METHOD_PATCH + 1));
    data++;
    size--;
#if FUZZ_H1_PART == 1
    (void)m;
    request(&lim, data, size);
#elif FUZZ_H1_PART == 2
    response(&lim, m, data, size);
#else
    (void)m;
    body_every_split(&lim, H1_BODY_CHUNKED, 0, data, size);
#endif
    return 0;
}
