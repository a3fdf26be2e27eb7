/*
 * test_stream.c - the codec over a whole connection byte stream: pipelined requests with
 * Content-Length and chunked bodies (extensions, trailers), parsed head -> body -> next
 * head the way the daemon does. The stream is fed in one piece, split in two at every
 * byte boundary, and one byte at a time: the sequence of parsed events must be the same.
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

#define NHDR 16

struct conn {
    struct h1_limits lim;
    struct h1_parser p;
    struct h1_request req;
    struct h1_body body;
    struct h1_header hdrs[NHDR];
    struct h1_header tr[NHDR];
    bool in_body;
    bool failed;
    char log[8192];
    size_t loglen;
};

static void logf_(struct conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->log + c->loglen, sizeof(c->log) - c->loglen, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(c->log) - c->loglen);
    c->loglen += (size_t)n;
}

static void start_head(struct conn *c)
{
    h1_parser_init(&c->p, &c->lim);
    c->req.headers = c->hdrs;
    c->req.headers_cap = NHDR;
    c->in_body = false;
}

static void log_fields(struct conn *c, const char *buf, const struct h1_header *h, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        logf_(c, " %.*s=%.*s", (int)h[i].name.len, buf + h[i].name.off, (int)h[i].value.len,
              buf + h[i].value.off);
}

/* Process buf[*off, have): as much as the codec can. */
static void feed(struct conn *c, const char *buf, size_t have, size_t *off)
{
    while (!c->failed) {
        if (!c->in_body) {
            ssize_t n = h1_parse_request(&c->p, buf + *off, have - *off, &c->req);
            if (n == H1_AGAIN)
                return;
            if (n == H1_ERROR) {
                logf_(c, "[error %u]", c->p.status);
                c->failed = true;
                return;
            }
            const char *b = buf + *off;
            logf_(c, "[%.*s %.*s 1.%u kind=%u flags=%x", (int)c->req.method.len,
                  b + c->req.method.off, (int)c->req.target.len, b + c->req.target.off,
                  c->req.version_minor, c->req.body_kind, c->req.flags);
            log_fields(c, b, c->hdrs, c->req.nheaders);
            logf_(c, "] ");
            *off += (size_t)n;
            h1_body_init(&c->body, c->req.body_kind, c->req.content_length, &c->lim, c->tr, NHDR);
            c->in_body = true;
        }
        struct h1_span d;
        ssize_t k = h1_body_parse(&c->body, buf + *off, have - *off, &d);
        if (k == H1_ERROR) {
            logf_(c, "[body error %u]", c->body.status);
            c->failed = true;
            return;
        }
        if (k == H1_AGAIN)
            return;
        logf_(c, "%.*s", (int)d.len, buf + *off + d.off);
        if (c->body.done) {
            logf_(c, " [end");
            log_fields(c, buf + *off, c->tr, c->body.ntrailers);
            logf_(c, "] ");
            *off += (size_t)k;
            start_head(c);
            continue;
        }
        *off += (size_t)k;
        if (k == 0)
            return;
    }
}

/* Run the stream arriving in pieces: first `split` bytes (0 = all), or bytewise. */
static void run(struct conn *c, const char *s, size_t split, bool bytewise)
{
    size_t len = strlen(s), have = 0, off = 0;
    memset(c, 0, sizeof(*c));
    h1_limits_default(&c->lim);
    start_head(c);
    while (have < len && !c->failed) {
        if (bytewise)
            have++;
        else if (split && have < split)
            have = split;
        else
            have = len;
        feed(c, s, have, &off);
    }
    logf_(c, "(%zu left)", len - off);
}

static const char stream_ok[] =
    "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"
    "\r\nPUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: T\r\n\r\n"
    "3;x=\"y z\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: sum \r\nU:v\r\n\r\n"
    "GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    "DELETE /e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    "GET /partial HTTP/1.1\r\nHo";

static const char stream_ok_log[] =
    "[GET /a 1.1 kind=0 flags=1 Host=h]  [end] "
    "[POST /b 1.1 kind=1 flags=3 Host=h Content-Length=5 Expect=100-continue] hello [end] "
    "[PUT /c 1.1 kind=2 flags=11 Host=h Transfer-Encoding=chunked Trailer=T] "
    "abc0123456789abcdef [end T=sum U=v] "
    "[GET /d 1.0 kind=0 flags=1 Connection=keep-alive]  [end] "
    "[DELETE /e 1.1 kind=2 flags=1 Host=h Transfer-Encoding=chunked]  [end] "
    "(25 left)";

/* The third request smuggles a second Content-Length: everything before it is served. */
static const char stream_bad[] =
    "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    "POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    "POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 30\r\n\r\n"
    "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";

static const char stream_bad_log[] =
    "[GET /a 1.1 kind=0 flags=1 Host=h]  [end] "
    "[POST /b 1.1 kind=2 flags=1 Host=h Transfer-Encoding=chunked] ok [end] "
    "[error 400](";

/* A chunk body that breaks its framing in the middle. */
static const char stream_bad_chunk[] =
    "POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nxyzw\r\n"
    "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";

static const char stream_bad_chunk_log[] =
    "[POST /b 1.1 kind=2 flags=1 Host=h Transfer-Encoding=chunked] abcdxyz[body error 400](";

static void check_stream(const char *s, const char *want, bool prefix)
{
    static struct conn whole, part;
    run(&whole, s, 0, false);
    if (prefix)
        assert_memory_equal(whole.log, want, strlen(want));
    else
        assert_string_equal(whole.log, want);
    for (size_t k = 1; k < strlen(s); k++) {
        run(&part, s, k, false);
        assert_string_equal(part.log, whole.log);
    }
    run(&part, s, 0, true);
    assert_string_equal(part.log, whole.log);
}

static void pipelined_stream_every_split(void **state)
{
    check_stream(stream_ok, stream_ok_log, false);
}

static void smuggled_request_never_parsed(void **state)
{
    check_stream(stream_bad, stream_bad_log, true);
    check_stream(stream_bad_chunk, stream_bad_chunk_log, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pipelined_stream_every_split),
        cmocka_unit_test(smuggled_request_never_parsed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
