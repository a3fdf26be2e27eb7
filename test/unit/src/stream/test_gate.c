/*
 * test_gate.c - the request gate (src/stream/gate.c): request buffering (the head waits
 * for a body that fits the buffer; longer bodies stream), re-framing of a held body with
 * its real length, and the framing rule once the head went out (a body that contradicts
 * the declared length resets both sides, nothing past the length is forwarded).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "stream/stream.h"

/* ---- a recording fake of both sides ---- */

static char trace[1024];
static struct evbuffer *up_got;
static int64_t cl_at_head; /* req_content_length when the head reached the upstream */
static int aborts, resets;
static bool reply_on_head; /* the upstream side answers locally (e.g. no route) */

static void note(const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(trace);
    va_start(ap, fmt);
    vsnprintf(trace + n, sizeof(trace) - n, fmt, ap);
    va_end(ap);
    strncat(trace, " ", sizeof(trace) - strlen(trace) - 1);
}

static void up_headers(struct stream *s, bool eos)
{
    note("UP-H%s", eos ? "!" : "");
    cl_at_head = s->req_content_length;
    if (reply_on_head)
        stream_local_reply(s, 404, "text/plain", "no route\n", 9);
}
static void up_body(struct stream *s, struct evbuffer *b, bool eos)
{
    note("UP-B%zu%s", evbuffer_get_length(b), eos ? "!" : "");
    evbuffer_add_buffer(up_got, b);
}
static void up_trailers(struct stream *s)
{
    note("UP-T");
}
static void up_abort(struct stream *s)
{
    aborts++;
}
static const struct stream_upstream_ops fake_up = {
    .request_headers = up_headers,
    .request_body = up_body,
    .request_trailers = up_trailers,
    .abort = up_abort,
};

/* An upstream side that routes at once: everything is answered locally. */
static bool answer_all(struct stream *s)
{
    note("LOCAL");
    stream_local_reply(s, 404, "text/plain", "no route\n", 9);
    return true;
}
static const struct stream_upstream_ops local_up = {
    .request_headers = up_headers,
    .request_body = up_body,
    .request_trailers = up_trailers,
    .abort = up_abort,
    .answer_locally = answer_all,
};

static void down_headers(struct stream *s, bool eos)
{
    note("DOWN-H%d", s->status);
}
static void down_body(struct stream *s, struct evbuffer *b, bool eos)
{
    evbuffer_drain(b, evbuffer_get_length(b));
}
static void down_reset(struct stream *s)
{
    resets++;
}
static size_t down_backlog(struct stream *s)
{
    return 0;
}
static const struct stream_downstream_ops fake_down = {
    .response_headers = down_headers,
    .response_body = down_body,
    .reset = down_reset,
    .backlog = down_backlog,
};

/* A filter that appends "+" to every request body piece (a plugin changing the body). */
static enum stream_action grow_body(struct stream *s, struct stream_filter *f, struct evbuffer *b,
                                    bool eos)
{
    evbuffer_add(b, "+", 1);
    return STREAM_CONTINUE;
}
static const struct stream_filter_ops grow_ops = {.name = "grow", .request_body = grow_body};

static struct event_base *base;
static const struct stream_filter_ops *ops_grow[1] = {&grow_ops};
static void *conf_none[1];
static struct stream_chain no_filters = {.n = 0};
static struct stream_chain one_grower = {.n = 1, .ops = ops_grow, .conf = conf_none};

static struct stream *make(const struct stream_chain *c, uint64_t buffer, int64_t cl)
{
    static struct stream_limits limits;
    limits = (struct stream_limits){.hold_max = 1 << 20, .request_buffer = buffer};
    struct stream *s = stream_create(base, c, &limits);
    assert_non_null(s);
    s->up = &fake_up;
    s->down = &fake_down;
    s->req_content_length = cl;
    return s;
}

static void body(struct stream *s, const char *text, bool eos)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    stream_request_body(s, b, eos);
    assert_int_equal(evbuffer_get_length(b), 0);
    evbuffer_free(b);
}

static int setup(void **state)
{
    trace[0] = '\0';
    up_got = evbuffer_new();
    cl_at_head = -2;
    aborts = resets = 0;
    reply_on_head = false;
    base = event_base_new();
    return 0;
}

static int teardown(void **state)
{
    evbuffer_free(up_got);
    event_base_free(base);
    stream_free_cache();
    return 0;
}

/* ---- tests ---- */

static void test_head_waits_for_a_body_that_fits(void **state)
{
    struct stream *s = make(&no_filters, 64, 7);
    stream_request_headers(s, false);
    body(s, "abc", false);
    assert_string_equal(trace, ""); /* nothing upstream yet */
    assert_true(s->req_head_held);
    body(s, "defg", true);
    assert_string_equal(trace, "UP-H UP-B7! ");
    assert_int_equal(cl_at_head, 7);
    stream_destroy(s);
}

static void test_chunked_body_within_buffer_goes_with_its_length(void **state)
{
    struct stream *s = make(&no_filters, 64, -1);
    stream_request_headers(s, false);
    body(s, "hello", false);
    body(s, "", true);
    assert_string_equal(trace, "UP-H UP-B5! ");
    assert_int_equal(cl_at_head, 5);
    stream_destroy(s);
}

static void test_empty_body_end_sends_a_bodyless_head(void **state)
{
    struct stream *s = make(&no_filters, 64, -1);
    stream_request_headers(s, false);
    body(s, "", true);
    assert_string_equal(trace, "UP-H! ");
    assert_int_equal(cl_at_head, 0);
    stream_destroy(s);
}

static void test_reset_while_held_never_reaches_upstream(void **state)
{
    /* What a codec does when the client's framing turns out wrong mid-body. */
    struct stream *s = make(&no_filters, 64, 10);
    stream_request_headers(s, false);
    body(s, "abc", false);
    stream_reset(s);
    body(s, "defghij", true);
    stream_destroy(s);
    assert_string_equal(trace, "");
    assert_int_equal(evbuffer_get_length(up_got), 0);
}

static void test_body_over_the_buffer_streams_after_the_head(void **state)
{
    struct stream *s = make(&no_filters, 4, -1);
    stream_request_headers(s, false);
    body(s, "abc", false);
    assert_string_equal(trace, "");
    body(s, "de", false); /* 5 > 4: the head goes, with what was held */
    assert_string_equal(trace, "UP-H UP-B5 ");
    assert_int_equal(cl_at_head, -1);
    body(s, "fg", true);
    assert_string_equal(trace, "UP-H UP-B5 UP-B2! ");
    stream_destroy(s);
}

static void test_declared_length_over_the_buffer_forwards_the_head_at_once(void **state)
{
    struct stream *s = make(&no_filters, 4, 6);
    stream_request_headers(s, false);
    assert_string_equal(trace, "UP-H ");
    body(s, "abcdef", true);
    assert_string_equal(trace, "UP-H UP-B6! ");
    stream_destroy(s);
}

static void test_buffering_off_forwards_the_head_at_once(void **state)
{
    struct stream *s = make(&no_filters, 0, 3);
    stream_request_headers(s, false);
    assert_string_equal(trace, "UP-H ");
    body(s, "abc", true);
    assert_string_equal(trace, "UP-H UP-B3! ");
    stream_destroy(s);
}

static void test_held_body_changed_by_a_filter_is_reframed(void **state)
{
    struct stream *s = make(&one_grower, 64, 4);
    stream_request_headers(s, false);
    body(s, "ab", false);
    body(s, "cd", true);
    /* The filter made 4 bytes into 6: the upstream is told 6, not the client's 4. */
    assert_string_equal(trace, "UP-H UP-B6! ");
    assert_int_equal(cl_at_head, 6);
    assert_int_equal(resets, 0);
    stream_destroy(s);
}

static void test_streamed_body_longer_than_declared_resets_both_sides(void **state)
{
    struct stream *s = make(&one_grower, 0, 4);
    stream_request_headers(s, false);
    body(s, "a", false); /* "a+": 2 of 4 */
    body(s, "b", false); /* "b+": 4 of 4 */
    body(s, "c", true);  /* "c+": 6 > 4: not forwarded */
    assert_string_equal(trace, "UP-H UP-B2 UP-B2 ");
    assert_int_equal(evbuffer_get_length(up_got), 4);
    assert_true(s->reset);
    assert_int_equal(resets, 1);
    assert_int_equal(aborts, 1);
    stream_destroy(s);
}

static void test_streamed_body_shorter_than_declared_resets_both_sides(void **state)
{
    struct stream *s = make(&no_filters, 2, 10);
    stream_request_headers(s, false);
    body(s, "abcd", false);
    body(s, "ef", true); /* 6 of 10, and the body says it ended */
    assert_string_equal(trace, "UP-H UP-B4 ");
    assert_true(s->reset);
    assert_int_equal(resets, 1);
    assert_int_equal(aborts, 1);
    stream_destroy(s);
}

static void test_trailers_release_a_held_chunked_body_unchanged(void **state)
{
    struct stream *s = make(&no_filters, 64, -1);
    stream_request_headers(s, false);
    body(s, "xyz", false);
    stream_request_trailers(s);
    /* Chunked stays chunked, so the trailers can follow the body. */
    assert_string_equal(trace, "UP-H UP-B3 UP-T ");
    assert_int_equal(cl_at_head, -1);
    stream_destroy(s);
}

static void test_local_reply_at_release_drops_the_held_body(void **state)
{
    reply_on_head = true;
    struct stream *s = make(&no_filters, 64, 3);
    stream_request_headers(s, false);
    body(s, "abc", true);
    assert_string_equal(trace, "UP-H ");
    assert_int_equal(evbuffer_get_length(up_got), 0);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_string_equal(trace, "UP-H DOWN-H404 ");
    stream_destroy(s);
}

static void test_local_answer_does_not_wait_for_the_body(void **state)
{
    struct stream *s = make(&no_filters, 64, 10);
    s->up = &local_up;
    stream_request_headers(s, false);
    assert_true(s->local_reply);
    assert_false(s->req_head_held);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_string_equal(trace, "LOCAL DOWN-H404 ");
    body(s, "0123456789", true); /* read and dropped by the codec */
    assert_string_equal(trace, "LOCAL DOWN-H404 ");
    stream_destroy(s);
}

static void test_upgrade_head_goes_at_once_and_tunnel_bytes_wait_for_the_switch(void **state)
{
    struct stream *s = make(&no_filters, 64, 0);
    s->upgrade = "websocket";
    s->upgrade_len = 9;
    stream_request_headers(s, false);
    assert_string_equal(trace, "UP-H ");
    /* Bytes ahead of the 101 must not reach an upstream that may still refuse. */
    body(s, "early", false);
    body(s, "", true);
    assert_string_equal(trace, "UP-H ");
    stream_upgraded(s);
    assert_string_equal(trace, "UP-H UP-B5! ");
    assert_int_equal(resets, 0);
    stream_destroy(s);
}

static void test_upgraded_tunnel_bytes_pass_unframed(void **state)
{
    struct stream *s = make(&no_filters, 64, 0);
    s->upgrade = "x-count";
    s->upgrade_len = 7;
    stream_request_headers(s, false);
    stream_upgraded(s);
    body(s, "abc", false); /* far past the declared length 0: a tunnel has none */
    body(s, "defg", true);
    assert_string_equal(trace, "UP-H UP-B3 UP-B4! ");
    assert_int_equal(resets, 0);
    stream_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_head_waits_for_a_body_that_fits),
        T(test_chunked_body_within_buffer_goes_with_its_length),
        T(test_empty_body_end_sends_a_bodyless_head),
        T(test_reset_while_held_never_reaches_upstream),
        T(test_body_over_the_buffer_streams_after_the_head),
        T(test_declared_length_over_the_buffer_forwards_the_head_at_once),
        T(test_buffering_off_forwards_the_head_at_once),
        T(test_held_body_changed_by_a_filter_is_reframed),
        T(test_streamed_body_longer_than_declared_resets_both_sides),
        T(test_streamed_body_shorter_than_declared_resets_both_sides),
        T(test_trailers_release_a_held_chunked_body_unchanged),
        T(test_local_reply_at_release_drops_the_held_body),
        T(test_local_answer_does_not_wait_for_the_body),
        T(test_upgrade_head_goes_at_once_and_tunnel_bytes_wait_for_the_switch),
        T(test_upgraded_tunnel_bytes_pass_unframed),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
