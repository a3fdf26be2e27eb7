/*
 * test_filters.c - the built-in filters and the chain builder (src/stream/filters.c):
 * argument parsing with clear errors, the responder, header add/remove.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "stream/stream.h"

static struct event_base *base;
static struct stream_limits limits = {.hold_max = 4096};
static int up_headers_calls;
static int down_status;
static char got_body[256];

static void up_headers(struct stream *s, bool eos)
{
    up_headers_calls++;
}
static void up_body(struct stream *s, struct evbuffer *b, bool eos)
{
    evbuffer_drain(b, evbuffer_get_length(b));
}
static void up_abort(struct stream *s)
{
}
static const struct stream_upstream_ops fake_up = {
    .request_headers = up_headers, .request_body = up_body, .abort = up_abort};

static void down_headers(struct stream *s, bool eos)
{
    down_status = s->status;
}
static void down_body(struct stream *s, struct evbuffer *b, bool eos)
{
    size_t n = evbuffer_get_length(b);
    if (n >= sizeof(got_body))
        n = sizeof(got_body) - 1;
    evbuffer_remove(b, got_body, n);
    got_body[n] = '\0';
}
static void down_reset(struct stream *s)
{
}
static const struct stream_downstream_ops fake_down = {
    .response_headers = down_headers, .response_body = down_body, .reset = down_reset};

static int setup(void **state)
{
    base = event_base_new();
    up_headers_calls = 0;
    down_status = 0;
    got_body[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    event_base_free(base);
    stream_free_cache();
    return 0;
}

static struct stream *start(struct stream_chain *c)
{
    struct stream *s = stream_create(base, c, &limits);
    assert_non_null(s);
    s->up = &fake_up;
    s->down = &fake_down;
    return s;
}

static void test_bad_arguments_are_rejected_with_a_message(void **state)
{
    struct stream_chain *c = stream_chain_new();
    char err[160];
    static const char *const bad[][2] = {
        {"respond", "abc"},
        {"respond", "99 \"too low\""},
        {"respond", "200 \"unterminated"},
        {"add_request_header", "NoColon"},
        {"add_request_header", "Bad Name: v"},
        {"add_response_header", "X-A: line\nbreak"},
        {"remove_request_header", "X-A: value"},
        {"pause", "-5"},
        {"pause", "10ms"},
        {"no_such_filter", ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(stream_chain_add(c, bad[i][0], bad[i][1], err, sizeof(err)), -1);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(c->n, 0);
    stream_chain_free(c);
}

static void test_respond_answers_locally_without_upstream(void **state)
{
    struct stream_chain *c = stream_chain_new();
    char err[160];
    assert_int_equal(stream_chain_add(c, "respond", "201 \"made it\"", err, sizeof(err)), 0);
    struct stream *s = start(c);
    stream_request_headers(s, true);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(up_headers_calls, 0);
    assert_int_equal(down_status, 201);
    assert_string_equal(got_body, "made it\n");
    stream_destroy(s);
    stream_chain_free(c);
}

static void test_request_header_filters_edit_before_upstream(void **state)
{
    struct stream_chain *c = stream_chain_new();
    char err[160];
    assert_int_equal(stream_chain_add(c, "remove_request_header", "X-Secret", err, sizeof(err)), 0);
    assert_int_equal(stream_chain_add(c, "add_request_header", "X-Added:  yes ", err, sizeof(err)),
                     0);
    struct stream *s = start(c);
    stream_headers_add(s, &s->req_headers, "x-secret", 8, "1", 1);
    stream_headers_add(s, &s->req_headers, "X-SECRET", 8, "2", 1);
    stream_request_headers(s, true);
    assert_int_equal(up_headers_calls, 1);
    assert_null(stream_headers_get(&s->req_headers, "x-secret", 8, NULL));
    uint32_t len;
    const char *v = stream_headers_get(&s->req_headers, "X-Added", 7, &len);
    assert_non_null(v);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "yes", 3);
    stream_destroy(s);
    stream_chain_free(c);
}

static void test_response_header_filters_edit_before_client(void **state)
{
    struct stream_chain *c = stream_chain_new();
    char err[160];
    assert_int_equal(stream_chain_add(c, "add_response_header", "X-Via: wasp", err, sizeof(err)),
                     0);
    assert_int_equal(stream_chain_add(c, "remove_response_header", "Server", err, sizeof(err)), 0);
    struct stream *s = start(c);
    stream_request_headers(s, true);
    s->status = 200;
    stream_headers_add(s, &s->resp_headers, "Server", 6, "nginx", 5);
    stream_response_headers(s, true);
    assert_int_equal(down_status, 200);
    assert_null(stream_headers_get(&s->resp_headers, "server", 6, NULL));
    assert_non_null(stream_headers_get(&s->resp_headers, "x-via", 5, NULL));
    stream_destroy(s);
    stream_chain_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_arguments_are_rejected_with_a_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_respond_answers_locally_without_upstream, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_request_header_filters_edit_before_upstream, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_response_header_filters_edit_before_client, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
