/*
 * test_stream.c - the filter-chain runner (src/stream/stream.c): filter order in both
 * directions, pause and resume from the event loop (including from a timer), body held
 * for a pausing filter, local replies, the hold limit, and header helpers; and what
 * plugins need of it: a continue that resumes only its own filter, exact lengths for
 * bodies a filter may edit, trailers added at the end of a body, replies a filter built;
 * the body pauses of Envoy's FilterDataStatus (buffer, watermark, no buffer) and
 * back-pressure; several filters holding body at once, each its own bytes (every order of
 * pausing and continuing, the end of the body, trailers, the hold limit, local replies).
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

struct rec {
    char log[2048]; /* events in order, space separated */
    struct evbuffer *up_body;
    struct evbuffer *down_body;
    int up_eos, down_eos;
    int aborts, resets;
};

static struct rec rec;

static void note(const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(rec.log);
    va_start(ap, fmt);
    vsnprintf(rec.log + n, sizeof(rec.log) - n, fmt, ap);
    va_end(ap);
    n = strlen(rec.log);
    if (n + 1 < sizeof(rec.log)) {
        rec.log[n] = ' ';
        rec.log[n + 1] = '\0';
    }
}

static void up_headers(struct stream *s, bool eos)
{
    note("UP-H%s", eos ? "!" : "");
}
static void up_body(struct stream *s, struct evbuffer *b, bool eos)
{
    note("UP-B%zu%s", evbuffer_get_length(b), eos ? "!" : "");
    evbuffer_add_buffer(rec.up_body, b);
    rec.up_eos += eos;
}
static void up_trailers(struct stream *s)
{
    note("UP-T");
}
static void up_abort(struct stream *s)
{
    rec.aborts++;
}
static size_t up_backlog(struct stream *s)
{
    return 0;
}
static const struct stream_upstream_ops fake_up = {
    .request_headers = up_headers,
    .request_body = up_body,
    .request_trailers = up_trailers,
    .abort = up_abort,
    .backlog = up_backlog,
};

static void down_headers(struct stream *s, bool eos)
{
    note("DOWN-H%d%s", s->status, eos ? "!" : "");
}
static void down_body(struct stream *s, struct evbuffer *b, bool eos)
{
    note("DOWN-B%zu%s", evbuffer_get_length(b), eos ? "!" : "");
    evbuffer_add_buffer(rec.down_body, b);
    rec.down_eos += eos;
}
static void down_trailers(struct stream *s)
{
    note("DOWN-T");
}
static void down_reset(struct stream *s)
{
    rec.resets++;
}
static size_t down_backlog(struct stream *s)
{
    return 0;
}
static const struct stream_downstream_ops fake_down = {
    .response_headers = down_headers,
    .response_body = down_body,
    .response_trailers = down_trailers,
    .reset = down_reset,
    .backlog = down_backlog,
};

/* ---- test filters: each records its calls; behaviour from its configuration ---- */

struct tconf {
    const char *name;
    enum stream_action req_headers; /* what request_headers returns */
    enum stream_action req_body;    /* what request_body returns until eos */
    bool reply;                     /* answer locally from request_headers */
};

static enum stream_action t_req_headers(struct stream *s, struct stream_filter *f, bool eos)
{
    const struct tconf *c = f->conf;
    note("%s-h", c->name);
    if (c->reply) {
        stream_local_reply(s, 403, "text/plain", "denied", 6);
        return STREAM_STOP;
    }
    return c->req_headers;
}

static enum stream_action t_req_body(struct stream *s, struct stream_filter *f, struct evbuffer *b,
                                     bool eos)
{
    const struct tconf *c = f->conf;
    note("%s-b%zu%s", c->name, evbuffer_get_length(b), eos ? "!" : "");
    return eos ? STREAM_CONTINUE : c->req_body;
}

static enum stream_action t_resp_headers(struct stream *s, struct stream_filter *f, bool eos)
{
    const struct tconf *c = f->conf;
    note("%s-rh", c->name);
    return STREAM_CONTINUE;
}

static enum stream_action t_resp_body(struct stream *s, struct stream_filter *f, struct evbuffer *b,
                                      bool eos)
{
    const struct tconf *c = f->conf;
    note("%s-rb%zu%s", c->name, evbuffer_get_length(b), eos ? "!" : "");
    return STREAM_CONTINUE;
}

static int done_calls;
static void t_done(struct stream *s, struct stream_filter *f)
{
    done_calls++;
}

static const struct stream_filter_ops tops = {
    .name = "t",
    .request_headers = t_req_headers,
    .request_body = t_req_body,
    .response_headers = t_resp_headers,
    .response_body = t_resp_body,
    .done = t_done,
};

static struct event_base *base;
static const struct stream_filter_ops *chain_ops[4];
static void *chain_conf[4];
static struct stream_chain chain = {.ops = chain_ops, .conf = chain_conf};
static struct stream_limits limits = {.hold_max = 1024};

static struct stream *make_stream(unsigned n, struct tconf *confs)
{
    chain.n = n;
    for (unsigned i = 0; i < n; i++) {
        chain_ops[i] = &tops;
        chain_conf[i] = &confs[i];
    }
    struct stream *s = stream_create(base, &chain, &limits);
    assert_non_null(s);
    s->up = &fake_up;
    s->down = &fake_down;
    s->req_content_length = -1; /* the bodies sent have no declared length (chunked) */
    return s;
}

static void run_loop(void)
{
    event_base_loop(base, EVLOOP_NONBLOCK);
}

static int setup(void **state)
{
    memset(rec.log, 0, sizeof(rec.log));
    rec.up_body = evbuffer_new();
    rec.down_body = evbuffer_new();
    rec.up_eos = rec.down_eos = rec.aborts = rec.resets = 0;
    done_calls = 0;
    base = event_base_new();
    return 0;
}

static int teardown(void **state)
{
    evbuffer_free(rec.up_body);
    evbuffer_free(rec.down_body);
    event_base_free(base);
    stream_free_cache();
    return 0;
}

static void add_str(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, s, strlen(s));
}

/* ---- tests ---- */

static void test_request_in_order_response_in_reverse(void **state)
{
    struct tconf c[3] = {{.name = "A"}, {.name = "B"}, {.name = "C"}};
    struct stream *s = make_stream(3, c);
    stream_request_headers(s, true);
    s->status = 200;
    stream_response_headers(s, false);
    struct evbuffer *b = evbuffer_new();
    add_str(b, "hello");
    stream_response_body(s, b, true);
    assert_string_equal(rec.log, "A-h B-h C-h UP-H! C-rh B-rh A-rh DOWN-H200 "
                                 "C-rb5! B-rb5! A-rb5! DOWN-B5! ");
    assert_int_equal(evbuffer_get_length(b), 0);
    stream_destroy(s);
    assert_int_equal(done_calls, 3);
    evbuffer_free(b);
}

static void test_pause_in_headers_holds_body_until_resume(void **state)
{
    struct tconf c[3] = {{.name = "A"}, {.name = "B", .req_headers = STREAM_PAUSE}, {.name = "C"}};
    struct stream *s = make_stream(3, c);
    stream_request_headers(s, false);
    struct evbuffer *b = evbuffer_new();
    add_str(b, "abc");
    stream_request_body(s, b, false);
    add_str(b, "de");
    stream_request_body(s, b, true);
    /* Nothing past B, and no body went anywhere while B holds the headers. */
    assert_string_equal(rec.log, "A-h B-h ");
    assert_int_equal(evbuffer_get_length(rec.up_body), 0);
    c[1].req_headers = STREAM_CONTINUE;
    stream_resume(s);
    assert_string_equal(rec.log, "A-h B-h "); /* deferred to the event loop */
    run_loop();
    /* C runs, then the sink, then the held body in one piece with its end. */
    assert_string_equal(rec.log, "A-h B-h C-h UP-H A-b5! B-b5! C-b5! UP-B5! ");
    assert_int_equal(rec.up_eos, 1);
    stream_destroy(s);
    evbuffer_free(b);
}

static void test_pause_in_body_buffers_and_recalls_cumulatively(void **state)
{
    struct tconf c[2] = {{.name = "A"}, {.name = "B", .req_body = STREAM_PAUSE}};
    struct stream *s = make_stream(2, c);
    stream_request_headers(s, false);
    struct evbuffer *b = evbuffer_new();
    add_str(b, "1234");
    stream_request_body(s, b, false);
    add_str(b, "56");
    stream_request_body(s, b, false);
    add_str(b, "789");
    stream_request_body(s, b, true);
    /* A sees each piece once; B sees what is held so far each time; the sink gets all
     * nine bytes at once when B continues at the end of the body. */
    assert_string_equal(rec.log, "A-h B-h UP-H A-b4 B-b4 A-b2 B-b6 A-b3! B-b9! UP-B9! ");
    char out[16] = {0};
    evbuffer_remove(rec.up_body, out, sizeof(out) - 1);
    assert_string_equal(out, "123456789");
    stream_destroy(s);
    evbuffer_free(b);
}

static void test_local_reply_skips_upstream_and_runs_response_chain(void **state)
{
    struct tconf c[3] = {{.name = "A"}, {.name = "B", .reply = true}, {.name = "C"}};
    struct stream *s = make_stream(3, c);
    stream_request_headers(s, true);
    assert_string_equal(rec.log, "A-h B-h ");
    run_loop();
    /* The upstream never saw the request; the reply goes back through every filter. */
    assert_string_equal(rec.log, "A-h B-h C-rh B-rh A-rh DOWN-H403 C-rb6! B-rb6! A-rb6! "
                                 "DOWN-B6! ");
    char out[16] = {0};
    evbuffer_remove(rec.down_body, out, sizeof(out) - 1);
    assert_string_equal(out, "denied");
    uint32_t len = 0;
    const char *ct = stream_headers_get(&s->resp_headers, "Content-Type", 12, &len);
    assert_non_null(ct);
    assert_int_equal(len, 10);
    stream_destroy(s);
}

static void test_local_reply_after_response_started_resets(void **state)
{
    struct tconf c[1] = {{.name = "A"}};
    struct stream *s = make_stream(1, c);
    stream_request_headers(s, true);
    s->status = 200;
    stream_response_headers(s, false);
    stream_local_reply(s, 500, NULL, NULL, 0);
    assert_int_equal(rec.resets, 1);
    assert_true(s->reset);
    stream_destroy(s);
}

static enum stream_action reset_headers(struct stream *s, struct stream_filter *f, bool eos)
{
    note("R-h");
    stream_reset(s);
    return STREAM_STOP;
}

static const struct stream_filter_ops reset_ops = {.name = "reset",
                                                   .request_headers = reset_headers};

static void test_reset_stops_everything(void **state)
{
    struct tconf c[2] = {{.name = "A"}, {.name = "C"}};
    chain.n = 3;
    chain_ops[0] = &tops;
    chain_conf[0] = &c[0];
    chain_ops[1] = &reset_ops;
    chain_conf[1] = NULL;
    chain_ops[2] = &tops;
    chain_conf[2] = &c[1];
    struct stream *s = stream_create(base, &chain, &limits);
    s->up = &fake_up;
    s->down = &fake_down;
    stream_request_headers(s, false);
    struct evbuffer *b = evbuffer_new();
    add_str(b, "late");
    stream_request_body(s, b, true);
    run_loop();
    /* C and the upstream never see anything; the codec was told to close. */
    assert_string_equal(rec.log, "A-h R-h ");
    assert_int_equal(rec.resets, 1);
    assert_true(s->reset);
    stream_reset(s); /* idempotent */
    assert_int_equal(rec.resets, 1);
    stream_destroy(s);
    evbuffer_free(b);
}

static void test_hold_over_limit_answers_413(void **state)
{
    struct tconf c[1] = {{.name = "A", .req_body = STREAM_PAUSE}};
    struct stream *s = make_stream(1, c);
    stream_request_headers(s, false);
    struct evbuffer *b = evbuffer_new();
    char big[600];
    memset(big, 'x', sizeof(big));
    evbuffer_add(b, big, sizeof(big));
    stream_request_body(s, b, false);
    assert_false(s->local_reply);
    evbuffer_add(b, big, sizeof(big));
    stream_request_body(s, b, false); /* 1200 held > hold_max 1024 */
    assert_true(s->local_reply);
    run_loop();
    assert_non_null(strstr(rec.log, "DOWN-H413"));
    assert_int_equal(evbuffer_get_length(rec.up_body), 0);
    stream_destroy(s);
    evbuffer_free(b);
}

static void test_pause_filter_resumes_from_timer(void **state)
{
    struct stream_chain *c = stream_chain_new();
    char err[128];
    assert_int_equal(stream_chain_add(c, "pause", "30", err, sizeof(err)), 0);
    struct stream *s = stream_create(base, c, &limits);
    s->up = &fake_up;
    s->down = &fake_down;
    struct timeval t0, t1;
    evutil_gettimeofday(&t0, NULL);
    stream_request_headers(s, true);
    assert_string_equal(rec.log, "");
    while (strstr(rec.log, "UP-H") == NULL)
        event_base_loop(base, EVLOOP_ONCE);
    evutil_gettimeofday(&t1, NULL);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    assert_true(ms >= 29);
    /* The response headers pause too, then reach the client. */
    s->status = 204;
    stream_response_headers(s, true);
    assert_null(strstr(rec.log, "DOWN-H"));
    while (strstr(rec.log, "DOWN-H") == NULL)
        event_base_loop(base, EVLOOP_ONCE);
    assert_string_equal(rec.log, "UP-H! DOWN-H204! ");
    stream_destroy(s);
    stream_chain_free(c);
}

static void test_destroy_while_paused_cancels_timer(void **state)
{
    struct stream_chain *c = stream_chain_new();
    char err[128];
    assert_int_equal(stream_chain_add(c, "pause", "10", err, sizeof(err)), 0);
    struct stream *s = stream_create(base, c, &limits);
    s->up = &fake_up;
    s->down = &fake_down;
    stream_request_headers(s, true);
    stream_destroy(s);
    /* Nothing may fire for the dead stream. */
    struct timeval tv = {0, 30000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    assert_string_equal(rec.log, "");
    stream_chain_free(c);
}

static void test_trailers_follow_held_body(void **state)
{
    struct tconf c[2] = {{.name = "A", .req_headers = STREAM_PAUSE}, {.name = "B"}};
    struct stream *s = make_stream(2, c);
    stream_request_headers(s, false);
    struct evbuffer *b = evbuffer_new();
    add_str(b, "xy");
    stream_request_body(s, b, false);
    stream_request_trailers(s);
    assert_string_equal(rec.log, "A-h ");
    c[0].req_headers = STREAM_CONTINUE;
    stream_resume(s);
    run_loop();
    assert_string_equal(rec.log, "A-h B-h UP-H A-b2 B-b2 UP-B2 UP-T ");
    stream_destroy(s);
    evbuffer_free(b);
}

static void test_headers_add_get_remove(void **state)
{
    struct tconf c[1] = {{.name = "A"}};
    struct stream *s = make_stream(1, c);
    for (int i = 0; i < 40; i++) /* grows past the initial capacity */
        assert_int_equal(stream_headers_add(s, &s->req_headers, "X-N", 3, "v", 1), 0);
    assert_int_equal(stream_headers_add(s, &s->req_headers, "Host", 4, "a.test", 6), 0);
    uint32_t len;
    const char *v = stream_headers_get(&s->req_headers, "host", 4, &len);
    assert_non_null(v);
    assert_int_equal(len, 6);
    assert_memory_equal(v, "a.test", 6);
    assert_int_equal(stream_headers_remove(&s->req_headers, "x-n", 3), 40);
    assert_int_equal(s->req_headers.n, 1);
    assert_null(stream_headers_get(&s->req_headers, "x-n", 3, NULL));
    stream_destroy(s);
}

/* ---- plugin-like behaviour: per-filter continue, body edits, trailers, built replies ---- */

static int64_t head_length; /* the length the sink saw with the response head */

static void down_headers_len(struct stream *s, bool eos)
{
    head_length = s->resp_content_length;
    down_headers(s, eos);
}

static const struct stream_downstream_ops len_down = {
    .response_headers = down_headers_len,
    .response_body = down_body,
    .response_trailers = down_trailers,
    .reset = down_reset,
    .backlog = down_backlog,
};

/* E: appends "+++" to the end of each body it sees whole; may edit bodies. */
static enum stream_action e_resp_body(struct stream *s, struct stream_filter *f, struct evbuffer *b,
                                      bool eos)
{
    note("E-rb%zu%s", evbuffer_get_length(b), eos ? "!" : "");
    if (eos)
        evbuffer_add(b, "+++", 3);
    return STREAM_CONTINUE;
}

static bool e_edits_body(const void *conf, int dir)
{
    return dir == 1;
}

static const struct stream_filter_ops edit_ops = {
    .name = "edit", .response_body = e_resp_body, .edits_body = e_edits_body};

static struct stream *make_edit_stream(struct stream_chain *c)
{
    assert_int_equal(stream_chain_add_conf(c, &edit_ops, NULL), 0);
    assert_true(c->edits_body[1]);
    assert_false(c->edits_body[0]);
    struct stream *s = stream_create(base, c, &limits);
    s->up = &fake_up;
    s->down = &len_down;
    stream_request_headers(s, true);
    s->status = 200;
    s->resp_content_length = 5;
    stream_response_headers(s, false);
    return s;
}

static void test_edited_body_in_one_piece_gets_its_exact_length(void **state)
{
    struct stream_chain *c = stream_chain_new();
    struct stream *s = make_edit_stream(c);
    /* The head waits for the body. */
    assert_string_equal(rec.log, "UP-H! ");
    struct evbuffer *b = evbuffer_new();
    add_str(b, "hello");
    stream_response_body(s, b, true);
    assert_string_equal(rec.log, "UP-H! E-rb5! DOWN-H200 DOWN-B8! ");
    assert_int_equal(head_length, 8);
    stream_destroy(s);
    stream_chain_free(c);
    evbuffer_free(b);
}

static void test_edited_body_in_pieces_goes_without_a_length(void **state)
{
    struct stream_chain *c = stream_chain_new();
    struct stream *s = make_edit_stream(c);
    struct evbuffer *b = evbuffer_new();
    add_str(b, "hel");
    stream_response_body(s, b, false);
    add_str(b, "lo");
    stream_response_body(s, b, true);
    assert_string_equal(rec.log, "UP-H! E-rb3 DOWN-H200 DOWN-B3 E-rb2! DOWN-B5! ");
    assert_int_equal(head_length, -1); /* chunked on HTTP/1.1, no content-length on h2 */
    stream_destroy(s);
    stream_chain_free(c);
    evbuffer_free(b);
}

/* K: pauses request headers; its continue (or another filter's) comes later. */
static enum stream_action k_req_headers(struct stream *s, struct stream_filter *f, bool eos)
{
    note("K-h");
    return STREAM_PAUSE;
}

static const struct stream_filter_ops pause_ops_k = {.name = "k", .request_headers = k_req_headers};

static void test_continue_resumes_only_the_filter_that_paused(void **state)
{
    struct tconf c[1] = {{.name = "A"}};
    chain.n = 2;
    chain_ops[0] = &tops;
    chain_conf[0] = &c[0];
    chain_ops[1] = &pause_ops_k;
    chain_conf[1] = NULL;
    struct stream *s = stream_create(base, &chain, &limits);
    s->up = &fake_up;
    s->down = &fake_down;
    stream_request_headers(s, true);
    assert_string_equal(rec.log, "A-h K-h ");
    /* A is not paused: its continue is dropped. */
    stream_continue(s, &s->filters[0], 0);
    run_loop();
    assert_string_equal(rec.log, "A-h K-h ");
    /* K's continue for the response direction does not resume the request either. */
    stream_continue(s, &s->filters[1], 1);
    run_loop();
    assert_string_equal(rec.log, "A-h K-h ");
    stream_continue(s, &s->filters[1], 0);
    run_loop();
    assert_string_equal(rec.log, "A-h K-h UP-H! ");
    stream_destroy(s);
}

/* Q: calls continue for itself inside the callback that returns PAUSE (a plugin whose
 * proxy_continue_stream is deferred until its callback returns). */
static enum stream_action q_req_headers(struct stream *s, struct stream_filter *f, bool eos)
{
    note("Q-h");
    stream_continue(s, f, 0);
    return STREAM_PAUSE;
}

static const struct stream_filter_ops q_ops = {.name = "q", .request_headers = q_req_headers};

static void test_continue_inside_the_pausing_callback_resumes(void **state)
{
    chain.n = 1;
    chain_ops[0] = &q_ops;
    chain_conf[0] = NULL;
    struct stream *s = stream_create(base, &chain, &limits);
    s->up = &fake_up;
    s->down = &fake_down;
    stream_request_headers(s, true);
    assert_string_equal(rec.log, "Q-h ");
    run_loop();
    assert_string_equal(rec.log, "Q-h UP-H! ");
    stream_destroy(s);
}

/* T: adds a trailer at the end of the request body; U records its trailers callback. */
static enum stream_action t2_req_body(struct stream *s, struct stream_filter *f, struct evbuffer *b,
                                      bool eos)
{
    note("T-b%zu%s", evbuffer_get_length(b), eos ? "!" : "");
    if (eos)
        stream_headers_add(s, &s->req_trailers, "x-sum", 5, "7", 1);
    return STREAM_CONTINUE;
}

static enum stream_action t2_req_trailers(struct stream *s, struct stream_filter *f)
{
    note("T-t");
    return STREAM_CONTINUE;
}

static enum stream_action u_req_body(struct stream *s, struct stream_filter *f, struct evbuffer *b,
                                     bool eos)
{
    note("U-b%zu%s", evbuffer_get_length(b), eos ? "!" : "");
    return STREAM_CONTINUE;
}

static enum stream_action u_req_trailers(struct stream *s, struct stream_filter *f)
{
    note("U-t%u", s->req_trailers.n);
    return STREAM_CONTINUE;
}

static const struct stream_filter_ops t2_ops = {
    .name = "t2", .request_body = t2_req_body, .request_trailers = t2_req_trailers};
static const struct stream_filter_ops u_ops = {
    .name = "u", .request_body = u_req_body, .request_trailers = u_req_trailers};

static void test_trailers_added_at_the_end_of_the_body_are_sent(void **state)
{
    chain.n = 2;
    chain_ops[0] = &t2_ops;
    chain_conf[0] = NULL;
    chain_ops[1] = &u_ops;
    chain_conf[1] = NULL;
    struct stream *s = stream_create(base, &chain, &limits);
    s->up = &fake_up;
    s->down = &fake_down;
    s->req_content_length = -1;
    stream_request_headers(s, false);
    struct evbuffer *b = evbuffer_new();
    add_str(b, "payload");
    stream_request_body(s, b, true);
    /* The adder does not get its own trailers; the next filter sees the body without
     * its end, then the trailers; upstream gets the body, then the trailers. */
    assert_string_equal(rec.log, "UP-H T-b7! U-b7 UP-B7 U-t1 UP-T ");
    assert_int_equal(rec.up_eos, 0);
    stream_destroy(s);
    evbuffer_free(b);
}

static void test_built_local_reply_keeps_its_headers_and_details(void **state)
{
    struct tconf c[1] = {{.name = "A"}};
    struct stream *s = make_stream(1, c);
    stream_request_headers(s, true);
    struct stream_header h[2] = {{"x-denied-by", "p", 11, 1},
                                 {"content-type", "application/json", 12, 16}};
    stream_local_reply_headers(s, 401, h, 2, "{}", 2, "denied");
    run_loop();
    assert_non_null(strstr(rec.log, "DOWN-H401"));
    assert_string_equal(s->details, "denied");
    uint32_t len;
    const char *ct = stream_headers_get(&s->resp_headers, "content-type", 12, &len);
    assert_non_null(ct);
    assert_memory_equal(ct, "application/json", 16); /* not replaced by text/plain */
    assert_non_null(stream_headers_get(&s->resp_headers, "x-denied-by", 11, &len));
    stream_destroy(s);
}

/* ---- scripted body filters: the C++ SDK's FilterDataStatus values ---- */

struct sconf {
    const char *name;
    enum stream_action headers;     /* what request_headers returns */
    const enum stream_action *body; /* what request_body returns, call by call */
    int calls;
    bool trailer_at_eos;                /* adds a request trailer in its end-of-body call */
    struct evbuffer *own;               /* a NO_BUFFER filter keeps what it takes here */
    const enum stream_action *trailers; /* what request_trailers returns, call by call */
    int trailer_calls;
    const enum stream_action *resp_body; /* what response_body returns, call by call */
    int resp_calls;
};

static enum stream_action s_req_headers(struct stream *s, struct stream_filter *f, bool eos)
{
    struct sconf *c = f->conf;
    note("%s-h", c->name);
    return c->headers;
}

/* Both body hooks: note what the filter is given, answer with the next step of its script. */
static enum stream_action s_body(struct stream *s, struct stream_filter *f, struct evbuffer *b,
                                 bool eos, int d)
{
    struct sconf *c = f->conf;
    size_t len = evbuffer_get_length(b);
    char text[64] = {0};
    evbuffer_copyout(b, text, len < sizeof(text) - 1 ? len : sizeof(text) - 1);
    note("%s-%s:%s%s", c->name, d == 0 ? "b" : "rb", text, eos ? "!" : "");
    const enum stream_action *script = d == 0 ? c->body : c->resp_body;
    int *calls = d == 0 ? &c->calls : &c->resp_calls;
    enum stream_action r = script != NULL ? script[(*calls)++] : STREAM_CONTINUE;
    if (c->own != NULL && r == STREAM_PAUSE_NO_BUFFER)
        evbuffer_add(c->own, text, len); /* the filter copies what it takes */
    if (c->own != NULL && r == STREAM_CONTINUE) {
        /* ... and gives it back, with the last piece, as one body */
        evbuffer_prepend_buffer(b, c->own);
    }
    if (eos && c->trailer_at_eos)
        stream_headers_add(s, &s->req_trailers, "x-added", 7, c->name, strlen(c->name));
    return r;
}

static enum stream_action s_req_body(struct stream *s, struct stream_filter *f, struct evbuffer *b,
                                     bool eos)
{
    return s_body(s, f, b, eos, 0);
}

static enum stream_action s_resp_body(struct stream *s, struct stream_filter *f, struct evbuffer *b,
                                      bool eos)
{
    return s_body(s, f, b, eos, 1);
}

static enum stream_action s_req_trailers(struct stream *s, struct stream_filter *f)
{
    struct sconf *c = f->conf;
    note("%s-t%u", c->name, s->req_trailers.n);
    return c->trailers != NULL ? c->trailers[c->trailer_calls++] : STREAM_CONTINUE;
}

static const struct stream_filter_ops sops = {
    .name = "s",
    .request_headers = s_req_headers,
    .request_body = s_req_body,
    .request_trailers = s_req_trailers,
    .response_body = s_resp_body,
};

static struct stream *make_scripted(unsigned n, struct sconf *confs,
                                    const struct stream_limits *lim)
{
    chain.n = n;
    for (unsigned i = 0; i < n; i++) {
        chain_ops[i] = &sops;
        chain_conf[i] = &confs[i];
    }
    struct stream *s = stream_create(base, &chain, lim != NULL ? lim : &limits);
    assert_non_null(s);
    s->up = &fake_up;
    s->down = &fake_down;
    s->req_content_length = -1;
    return s;
}

static void send_piece(struct stream *s, const char *text, bool eos)
{
    struct evbuffer *b = evbuffer_new();
    add_str(b, text);
    stream_request_body(s, b, eos);
    assert_int_equal(evbuffer_get_length(b), 0); /* the runner took it */
    evbuffer_free(b);
}

static void assert_upstream_got(const char *want)
{
    char out[64] = {0};
    evbuffer_copyout(rec.up_body, out, sizeof(out) - 1);
    assert_string_equal(out, want);
}

/* StopIterationNoBuffer: the filter took each piece (the runner keeps nothing), the
 * next call shows only the new piece, and a Continue lets through what the filter
 * hands on (here everything it kept, with the last piece). */
static void test_body_no_buffer_gives_each_piece_alone_and_keeps_nothing(void **state)
{
    static const enum stream_action script[] = {STREAM_PAUSE_NO_BUFFER, STREAM_PAUSE_NO_BUFFER,
                                                STREAM_CONTINUE};
    struct evbuffer *own = evbuffer_new();
    struct sconf c[3] = {{.name = "A"}, {.name = "B", .body = script, .own = own}, {.name = "C"}};
    struct stream *s = make_scripted(3, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "1234", false);
    assert_int_equal(evbuffer_get_length(stream_held_body(s, &s->filters[1], 0)), 0);
    send_piece(s, "56", false);
    assert_int_equal(evbuffer_get_length(stream_held_body(s, &s->filters[1], 0)), 0);
    send_piece(s, "789", true);
    assert_string_equal(rec.log, "A-h B-h C-h UP-H A-b:1234 B-b:1234 A-b:56 B-b:56 A-b:789! "
                                 "B-b:789! C-b:123456789! UP-B9! ");
    assert_upstream_got("123456789");
    stream_destroy(s);
    evbuffer_free(own);
}

/* A NO_BUFFER filter that does not hand the bytes back loses them (Envoy's contract):
 * only the piece it lets through goes on. */
static void test_body_no_buffer_drops_what_the_filter_does_not_give_back(void **state)
{
    static const enum stream_action script[] = {STREAM_PAUSE_NO_BUFFER, STREAM_CONTINUE};
    struct sconf c[2] = {{.name = "A"}, {.name = "B", .body = script}};
    struct stream *s = make_scripted(2, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "dropped", false);
    send_piece(s, "kept", true);
    assert_upstream_got("kept");
    assert_int_equal(rec.up_eos, 1);
    stream_destroy(s);
}

/* StopIterationAndWatermark: the runner holds each piece, the filter sees only the new
 * one, and what was held goes on ahead of the piece the filter lets through. */
static void test_body_watermark_holds_pieces_and_shows_each_alone(void **state)
{
    static const enum stream_action script[] = {STREAM_PAUSE_WATERMARK, STREAM_PAUSE_WATERMARK,
                                                STREAM_CONTINUE};
    struct sconf c[3] = {{.name = "A"}, {.name = "B", .body = script}, {.name = "C"}};
    struct stream *s = make_scripted(3, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "1234", false);
    send_piece(s, "56", false);
    assert_int_equal(evbuffer_get_length(stream_held_body(s, &s->filters[1], 0)), 6);
    send_piece(s, "789", true);
    assert_string_equal(rec.log, "A-h B-h C-h UP-H A-b:1234 B-b:1234 A-b:56 B-b:56 A-b:789! "
                                 "B-b:789! C-b:123456789! UP-B9! ");
    assert_upstream_got("123456789");
    stream_destroy(s);
}

/* A watermark hold released by the filter's continue: everything held goes on. */
static void test_body_watermark_hold_goes_on_at_resume(void **state)
{
    static const enum stream_action script[] = {STREAM_PAUSE_WATERMARK, STREAM_PAUSE_WATERMARK};
    struct sconf c[2] = {{.name = "A", .body = script}, {.name = "B"}};
    struct stream *s = make_scripted(2, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", true);
    assert_int_equal(evbuffer_get_length(rec.up_body), 0);
    stream_continue(s, &s->filters[0], 0);
    run_loop();
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab A-b:cd! B-b:abcd! UP-B4! ");
    stream_destroy(s);
}

/* Back-pressure: a watermark hold (and a headers pause) stops the source past the
 * high-water mark; a buffering pause keeps reading, up to hold_max, then 413. */
static void test_watermark_pauses_push_back_and_buffering_pauses_read_to_the_limit(void **state)
{
    static const struct stream_limits big = {.hold_max = 1024 * 1024};
    static const enum stream_action wm[] = {STREAM_PAUSE_WATERMARK, STREAM_PAUSE_WATERMARK};
    static const enum stream_action buf[] = {STREAM_PAUSE, STREAM_PAUSE, STREAM_PAUSE,
                                             STREAM_PAUSE, STREAM_PAUSE, STREAM_PAUSE};
    static char piece[300 * 1024];
    memset(piece, 'x', sizeof(piece) - 1);

    struct sconf c1[1] = {{.name = "W", .body = wm}};
    struct stream *s = make_scripted(1, c1, &big);
    stream_request_headers(s, false);
    assert_true(stream_request_writable(s));
    send_piece(s, piece, false);
    assert_false(stream_request_writable(s)); /* 300 KiB held past 256 KiB */
    stream_destroy(s);

    struct sconf c2[1] = {{.name = "H", .headers = STREAM_PAUSE}};
    s = make_scripted(1, c2, &big);
    stream_request_headers(s, false);
    send_piece(s, piece, false);
    assert_false(stream_request_writable(s));
    assert_false(s->local_reply);
    stream_destroy(s);

    struct sconf c3[1] = {{.name = "HB", .headers = STREAM_PAUSE_BUFFER}};
    s = make_scripted(1, c3, &big);
    stream_request_headers(s, false);
    send_piece(s, piece, false);
    assert_true(stream_request_writable(s)); /* reads on ... */
    send_piece(s, piece, false);
    send_piece(s, piece, false);
    send_piece(s, piece, false); /* 1.2 MB > hold_max */
    assert_true(s->local_reply);
    run_loop();
    assert_non_null(strstr(rec.log, "DOWN-H413"));
    stream_destroy(s);

    memset(rec.log, 0, sizeof(rec.log));
    struct sconf c4[1] = {{.name = "B", .body = buf}};
    s = make_scripted(1, c4, &big);
    stream_request_headers(s, false);
    send_piece(s, piece, false);
    assert_true(stream_request_writable(s)); /* the filter wants the whole body */
    send_piece(s, piece, false);
    send_piece(s, piece, false);
    assert_false(s->local_reply);
    send_piece(s, piece, false);
    assert_true(s->local_reply);
    stream_destroy(s);
}

/* The response side: the upstream side asks stream_response_writable before reading. */
static enum stream_action wm_resp_body(struct stream *s, struct stream_filter *f,
                                       struct evbuffer *b, bool eos)
{
    return STREAM_PAUSE_WATERMARK;
}

static const struct stream_filter_ops wm_resp_ops = {.name = "wm", .response_body = wm_resp_body};

static void test_response_watermark_hold_stops_the_upstream_reads(void **state)
{
    static const struct stream_limits big = {.hold_max = 1024 * 1024};
    static char piece[300 * 1024];
    memset(piece, 'y', sizeof(piece) - 1);
    chain.n = 1;
    chain_ops[0] = &wm_resp_ops;
    chain_conf[0] = NULL;
    struct stream *s = stream_create(base, &chain, &big);
    s->up = &fake_up;
    s->down = &fake_down;
    stream_request_headers(s, true);
    s->status = 200;
    stream_response_headers(s, false);
    assert_true(stream_response_writable(s));
    struct evbuffer *b = evbuffer_new();
    add_str(b, piece);
    stream_response_body(s, b, false);
    assert_false(stream_response_writable(s));
    stream_destroy(s);
    evbuffer_free(b);
}

/* Trailers a filter adds in its end-of-body call (Envoy's addDecodedTrailers) end the
 * message instead of the body: the filters after it get them, those before it do not,
 * and the upstream gets the body without its end, then the trailers. */
static void test_trailers_added_at_end_of_body_go_to_later_filters(void **state)
{
    struct sconf c[3] = {{.name = "A"}, {.name = "B", .trailer_at_eos = true}, {.name = "C"}};
    struct stream *s = make_scripted(3, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "abc", true);
    assert_string_equal(rec.log, "A-h B-h C-h UP-H A-b:abc! B-b:abc! C-b:abc UP-B3 C-t1 UP-T ");
    assert_int_equal(rec.up_eos, 0);
    stream_destroy(s);
}

/* ... also when the filter pauses at the end of the body and adds them before it
 * continues (e.g. from a callout's answer). */
static void test_trailers_added_while_paused_at_end_of_body(void **state)
{
    static const enum stream_action script[] = {STREAM_PAUSE};
    struct sconf c[3] = {{.name = "A"}, {.name = "B", .body = script}, {.name = "C"}};
    struct stream *s = make_scripted(3, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "abc", true);
    stream_headers_add(s, &s->req_trailers, "x-late", 6, "1", 1);
    stream_continue(s, &s->filters[1], 0);
    run_loop();
    assert_string_equal(rec.log, "A-h B-h C-h UP-H A-b:abc! B-b:abc! C-b:abc UP-B3 C-t1 UP-T ");
    stream_destroy(s);
}

/* Trailers that arrive while a filter holds the body waiting for its end reach that
 * filter (as in Envoy): the body is complete, and when the filter lets the trailers
 * through, what it held goes on, then the trailers. */
static void test_trailers_reach_a_filter_holding_the_body(void **state)
{
    static const enum stream_action script[] = {STREAM_PAUSE};
    struct sconf c[3] = {{.name = "A"}, {.name = "B", .body = script}, {.name = "C"}};
    struct stream *s = make_scripted(3, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    stream_headers_add(s, &s->req_trailers, "x-t", 3, "1", 1);
    stream_request_trailers(s);
    assert_string_equal(rec.log,
                        "A-h B-h C-h UP-H A-b:ab B-b:ab A-t1 B-t1 C-b:ab UP-B2 C-t1 UP-T ");
    stream_destroy(s);
}

/* A filter that let its held body through with a Continue is no longer paused: a
 * continue it sends afterwards does not replay the end of the body. */
static void test_continue_after_the_hold_went_on_is_no_resume(void **state)
{
    static const enum stream_action script[] = {STREAM_PAUSE, STREAM_CONTINUE};
    struct sconf c[2] = {{.name = "A", .body = script}, {.name = "B"}};
    struct stream *s = make_scripted(2, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", true);
    stream_continue(s, &s->filters[0], 0);
    run_loop();
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab A-b:abcd! B-b:abcd! UP-B4! ");
    assert_int_equal(rec.up_eos, 1);
    stream_destroy(s);
}

/* ---- several filters holding body at once: each holds its own bytes ---- */

#define C_ STREAM_CONTINUE
#define P_ STREAM_PAUSE
#define WM_ STREAM_PAUSE_WATERMARK
#define NB_ STREAM_PAUSE_NO_BUFFER

static void rec_clear(void)
{
    memset(rec.log, 0, sizeof(rec.log));
    evbuffer_drain(rec.up_body, evbuffer_get_length(rec.up_body));
    evbuffer_drain(rec.down_body, evbuffer_get_length(rec.down_body));
    rec.up_eos = rec.down_eos = rec.aborts = rec.resets = 0;
}

/* What the filter at chain index idx holds in direction d (want NULL: nothing). */
static void assert_held(struct stream *s, unsigned idx, int d, const char *want)
{
    struct evbuffer *b = stream_held_body(s, &s->filters[idx], d);
    if (want == NULL) {
        assert_null(b);
        return;
    }
    assert_non_null(b);
    char out[64] = {0};
    evbuffer_copyout(b, out, sizeof(out) - 1);
    assert_string_equal(out, want);
}

static void continue_and_run(struct stream *s, unsigned idx, int d)
{
    stream_continue(s, &s->filters[idx], d);
    run_loop();
}

/* B holds "ab" when A, before it, pauses on the newer "cd": each keeps its own bytes. A is
 * called again with its own bytes and the new piece only, the filter between them sees
 * every byte once, and B gets its hold with everything that follows it. */
static void test_holds_an_earlier_pause_behind_a_later_hold_keeps_each_filters_bytes(void **state)
{
    static const enum stream_action a[] = {C_, P_, C_};
    static const enum stream_action b[] = {P_, C_};
    struct sconf c[3] = {{.name = "A", .body = a}, {.name = "M"}, {.name = "B", .body = b}};
    struct stream *s = make_scripted(3, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", false);
    assert_held(s, 0, 0, "cd");
    assert_held(s, 1, 0, NULL);
    assert_held(s, 2, 0, "ab");
    const char *phase = NULL;
    assert_int_equal(stream_paused_at(s, 0, &phase), 0); /* the hold nearest the source */
    assert_string_equal(phase, "body");
    send_piece(s, "ef", true);
    assert_string_equal(rec.log, "A-h M-h B-h UP-H A-b:ab M-b:ab B-b:ab A-b:cd A-b:cdef! "
                                 "M-b:cdef! B-b:abcdef! UP-B6! ");
    assert_upstream_got("abcdef");
    assert_int_equal(rec.up_eos, 1);
    assert_int_equal(stream_paused_at(s, 0, &phase), -1);
    stream_destroy(s);
}

/* The later filter continues first: its (older) bytes go to the sink without the end of
 * the body, which the earlier hold keeps back; the earlier filter then gets the end with
 * its own bytes, the later one only what it has not seen. A second continue from the
 * filter that no longer holds is dropped. */
static void test_holds_later_filter_continuing_first_sends_its_bytes_ahead(void **state)
{
    static const enum stream_action a[] = {C_, P_, C_};
    static const enum stream_action b[] = {P_, C_};
    struct sconf c[2] = {{.name = "A", .body = a}, {.name = "B", .body = b}};
    struct stream *s = make_scripted(2, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", false);
    assert_held(s, 0, 0, "cd");
    assert_held(s, 1, 0, "ab");
    continue_and_run(s, 1, 0);
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab B-b:ab A-b:cd UP-B2 ");
    assert_int_equal(rec.up_eos, 0);
    assert_held(s, 0, 0, "cd");
    assert_held(s, 1, 0, NULL);
    continue_and_run(s, 1, 0);
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab B-b:ab A-b:cd UP-B2 ");
    send_piece(s, "ef", true);
    assert_string_equal(rec.log,
                        "A-h B-h UP-H A-b:ab B-b:ab A-b:cd UP-B2 A-b:cdef! B-b:cdef! UP-B4! ");
    assert_upstream_got("abcdef");
    assert_int_equal(rec.up_eos, 1);
    stream_destroy(s);
}

/* The earlier filter continues first: its bytes join the later filter's hold behind that
 * filter's own (it sees its cumulative body and may hold on), and are never shown again
 * to the filter that let them go. */
static void test_holds_earlier_filter_continuing_first_joins_the_later_hold(void **state)
{
    static const enum stream_action a[] = {C_, P_, C_};
    static const enum stream_action b[] = {P_, P_, C_};
    struct sconf c[2] = {{.name = "A", .body = a}, {.name = "B", .body = b}};
    struct stream *s = make_scripted(2, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", false);
    assert_held(s, 0, 0, "cd");
    assert_held(s, 1, 0, "ab");
    continue_and_run(s, 0, 0);
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab B-b:ab A-b:cd B-b:abcd ");
    assert_held(s, 0, 0, NULL);
    assert_held(s, 1, 0, "abcd");
    send_piece(s, "ef", true);
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab B-b:ab A-b:cd B-b:abcd A-b:ef! "
                                 "B-b:abcdef! UP-B6! ");
    assert_upstream_got("abcdef");
    stream_destroy(s);
}

/* Both continue in one event-loop round: the hold nearest the sink goes first, so the
 * bytes keep their order and each filter sees each byte once. */
static void test_holds_continued_together_go_on_in_stream_order(void **state)
{
    static const enum stream_action a[] = {C_, P_, C_};
    static const enum stream_action b[] = {P_, C_, C_};
    struct sconf c[2] = {{.name = "A", .body = a}, {.name = "B", .body = b}};
    struct stream *s = make_scripted(2, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", false);
    stream_continue(s, &s->filters[0], 0);
    stream_continue(s, &s->filters[1], 0);
    run_loop();
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab B-b:ab A-b:cd UP-B2 B-b:cd UP-B2 ");
    send_piece(s, "ef", true);
    assert_upstream_got("abcdef");
    assert_int_equal(rec.up_eos, 1);
    stream_destroy(s);
}

/* stream_resume() lets every hold go on, the one nearest the sink first. */
static void test_resume_releases_every_hold_nearest_the_sink_first(void **state)
{
    static const enum stream_action a[] = {C_, P_, C_};
    static const enum stream_action b[] = {P_, C_, C_};
    struct sconf c[2] = {{.name = "A", .body = a}, {.name = "B", .body = b}};
    struct stream *s = make_scripted(2, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", false);
    stream_resume(s);
    run_loop();
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab B-b:ab A-b:cd UP-B2 B-b:cd UP-B2 ");
    assert_held(s, 0, 0, NULL);
    assert_held(s, 1, 0, NULL);
    stream_destroy(s);
}

/*
 * Three filters, each pausing on one piece, the later ones first: C holds "ab", B "cd",
 * A "ef". They continue one per round in every order (or all in one round, "*"): what
 * each sees, and what the upstream gets, in order and once.
 */
static void test_holds_three_filters_continuing_in_every_order(void **state)
{
    static const struct {
        const char *order;
        const char *releases; /* the log of the continues */
    } cases[] = {
        {"ABC", "B-b:cdef C-b:abcdef UP-B6 "},
        {"ACB", "B-b:cdef C-b:abcdef UP-B6 "},
        {"BAC", "C-b:abcd UP-B4 B-b:ef C-b:ef UP-B2 "},
        {"BCA", "C-b:abcd UP-B4 B-b:ef C-b:ef UP-B2 "},
        {"CAB", "UP-B2 B-b:cdef C-b:cdef UP-B4 "},
        {"CBA", "UP-B2 C-b:cd UP-B2 B-b:ef C-b:ef UP-B2 "},
        {"*", "UP-B2 C-b:cd UP-B2 B-b:ef C-b:ef UP-B2 "},
    };
    static const enum stream_action a[] = {C_, C_, P_, C_, C_, C_, C_, C_};
    static const enum stream_action b[] = {C_, P_, C_, C_, C_, C_, C_, C_};
    static const enum stream_action c3[] = {P_, C_, C_, C_, C_, C_, C_, C_};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        rec_clear();
        struct sconf c[3] = {
            {.name = "A", .body = a}, {.name = "B", .body = b}, {.name = "C", .body = c3}};
        struct stream *s = make_scripted(3, c, NULL);
        stream_request_headers(s, false);
        send_piece(s, "ab", false);
        send_piece(s, "cd", false);
        send_piece(s, "ef", false);
        assert_held(s, 0, 0, "ef");
        assert_held(s, 1, 0, "cd");
        assert_held(s, 2, 0, "ab");
        const char *order = cases[k].order;
        for (const char *o = order; *o != '\0'; o++) {
            if (*o == '*') {
                for (unsigned i = 0; i < 3; i++)
                    stream_continue(s, &s->filters[i], 0);
                run_loop();
            } else {
                continue_and_run(s, (unsigned)(*o - 'A'), 0);
            }
        }
        for (unsigned i = 0; i < 3; i++)
            assert_held(s, i, 0, NULL);
        send_piece(s, "gh", true);
        char want[512];
        snprintf(want, sizeof(want),
                 "A-h B-h C-h UP-H A-b:ab B-b:ab C-b:ab A-b:cd B-b:cd A-b:ef %s"
                 "A-b:gh! B-b:gh! C-b:gh! UP-B2! ",
                 cases[k].releases);
        if (strcmp(rec.log, want) != 0)
            print_error("order %s\n", order);
        assert_string_equal(rec.log, want);
        assert_upstream_got("abcdefgh");
        assert_int_equal(rec.up_eos, 1);
        stream_destroy(s);
    }
}

/* A filter pauses on the end of the body while a later one holds: the end goes on only
 * with the earlier filter's bytes, whichever continues first. */
static void test_holds_end_of_body_goes_with_the_earliest_hold(void **state)
{
    static const enum stream_action a[] = {C_, P_};
    static const enum stream_action b[] = {P_, C_};
    for (int later_first = 0; later_first < 2; later_first++) {
        rec_clear();
        struct sconf c[2] = {{.name = "A", .body = a}, {.name = "B", .body = b}};
        struct stream *s = make_scripted(2, c, NULL);
        stream_request_headers(s, false);
        send_piece(s, "ab", false);
        send_piece(s, "cd", true);
        assert_held(s, 0, 0, "cd");
        assert_held(s, 1, 0, "ab");
        assert_true(stream_held_body_ends(s, &s->filters[0], 0));
        assert_false(stream_held_body_ends(s, &s->filters[1], 0)); /* "cd" is still to come */
        if (later_first) {
            continue_and_run(s, 1, 0);
            assert_int_equal(rec.up_eos, 0);
            continue_and_run(s, 0, 0);
            assert_string_equal(rec.log,
                                "A-h B-h UP-H A-b:ab B-b:ab A-b:cd! UP-B2 B-b:cd! UP-B2! ");
        } else {
            continue_and_run(s, 0, 0);
            assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab B-b:ab A-b:cd! B-b:abcd! UP-B4! ");
        }
        assert_upstream_got("abcd");
        assert_int_equal(rec.up_eos, 1);
        stream_destroy(s);
    }
}

/* Trailers arriving while two filters hold reach each in turn: the earlier one lets them
 * through, its bytes join the later hold (which, still pausing, then gets the trailers
 * too), and the whole body reaches the upstream ahead of them, once. */
static void test_holds_trailers_reach_each_holding_filter_in_turn(void **state)
{
    static const enum stream_action a[] = {C_, P_};
    static const enum stream_action b[] = {P_, P_};
    struct sconf c[3] = {{.name = "A", .body = a}, {.name = "B", .body = b}, {.name = "C"}};
    struct stream *s = make_scripted(3, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", false);
    assert_held(s, 1, 0, "ab");
    stream_headers_add(s, &s->req_trailers, "x-t", 3, "1", 1);
    stream_request_trailers(s);
    assert_string_equal(rec.log, "A-h B-h C-h UP-H A-b:ab B-b:ab A-b:cd A-t1 B-b:abcd B-t1 "
                                 "C-b:abcd UP-B4 C-t1 UP-T ");
    assert_upstream_got("abcd");
    stream_destroy(s);
}

/* A filter in its trailers hook pauses while it still holds body, and a later filter
 * holds too: the later one may go on first; the trailers go on when the earlier one
 * continues, behind its bytes. */
static void test_holds_trailers_paused_at_a_holding_filter(void **state)
{
    static const enum stream_action a[] = {C_, P_};
    static const enum stream_action at[] = {P_};
    static const enum stream_action b[] = {P_, P_};
    struct sconf c[3] = {
        {.name = "A", .body = a, .trailers = at}, {.name = "B", .body = b}, {.name = "C"}};
    struct stream *s = make_scripted(3, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", false);
    stream_headers_add(s, &s->req_trailers, "x-t", 3, "1", 1);
    stream_request_trailers(s);
    const char *phase = NULL;
    assert_int_equal(stream_paused_at(s, 0, &phase), 0);
    assert_string_equal(phase, "trailers");
    assert_held(s, 0, 0, "cd"); /* what its trailers callback reads */
    assert_held(s, 1, 0, "ab");
    continue_and_run(s, 1, 0);
    assert_string_equal(rec.log, "A-h B-h C-h UP-H A-b:ab B-b:ab A-b:cd A-t1 C-b:ab UP-B2 ");
    continue_and_run(s, 0, 0);
    assert_string_equal(rec.log, "A-h B-h C-h UP-H A-b:ab B-b:ab A-b:cd A-t1 C-b:ab UP-B2 "
                                 "B-b:cd B-t1 C-b:cd UP-B2 C-t1 UP-T ");
    assert_upstream_got("abcd");
    stream_destroy(s);
}

/* Trailers a filter adds at the end of the body reach a later filter that holds (which
 * is never told the body ended: the trailers end it); when the adder itself pauses there,
 * they wait behind its bytes. */
static void test_holds_trailers_added_at_the_end_of_the_body_pass_later_holds(void **state)
{
    static const enum stream_action a1[] = {C_, C_};
    static const enum stream_action b1[] = {P_, P_};
    struct sconf c1[3] = {{.name = "A", .body = a1, .trailer_at_eos = true},
                          {.name = "B", .body = b1},
                          {.name = "C"}};
    struct stream *s = make_scripted(3, c1, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", true);
    assert_string_equal(rec.log, "A-h B-h C-h UP-H A-b:ab B-b:ab A-b:cd! B-b:abcd B-t1 "
                                 "C-b:abcd UP-B4 C-t1 UP-T ");
    assert_int_equal(rec.up_eos, 0);
    stream_destroy(s);

    rec_clear();
    static const enum stream_action a2[] = {C_, P_};
    static const enum stream_action b2[] = {P_, C_};
    struct sconf c2[3] = {{.name = "A", .body = a2, .trailer_at_eos = true},
                          {.name = "B", .body = b2},
                          {.name = "C"}};
    s = make_scripted(3, c2, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", true);
    assert_string_equal(rec.log, "A-h B-h C-h UP-H A-b:ab B-b:ab A-b:cd! ");
    assert_held(s, 0, 0, "cd");
    assert_held(s, 1, 0, "ab");
    continue_and_run(s, 0, 0);
    assert_string_equal(rec.log, "A-h B-h C-h UP-H A-b:ab B-b:ab A-b:cd! B-b:abcd C-b:abcd "
                                 "UP-B4 B-t1 C-t1 UP-T ");
    stream_destroy(s);
}

/* Each hold keeps its own mode: a later watermark or no-buffer hold sees only the bytes
 * that reach it, a buffering one its cumulative body, whatever the earlier filter does. */
static void test_holds_keep_each_filters_mode(void **state)
{
    static const enum stream_action whole[] = {C_, P_, C_};
    static const enum stream_action wm[] = {WM_, C_};
    struct sconf c1[2] = {{.name = "A", .body = whole}, {.name = "B", .body = wm}};
    struct stream *s = make_scripted(2, c1, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", false);
    assert_held(s, 0, 0, "cd");
    assert_held(s, 1, 0, "ab");
    send_piece(s, "ef", true);
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab B-b:ab A-b:cd A-b:cdef! B-b:cdef! UP-B6! ");
    assert_upstream_got("abcdef");
    stream_destroy(s);

    rec_clear();
    static const enum stream_action nb[] = {NB_, C_};
    struct evbuffer *own = evbuffer_new();
    struct sconf c2[2] = {{.name = "A", .body = whole}, {.name = "B", .body = nb, .own = own}};
    s = make_scripted(2, c2, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", false);
    assert_held(s, 1, 0, ""); /* paused, the bytes are the filter's own */
    send_piece(s, "ef", true);
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab B-b:ab A-b:cd A-b:cdef! B-b:cdef! UP-B6! ");
    assert_upstream_got("abcdef");
    stream_destroy(s);
    evbuffer_free(own);

    rec_clear();
    static const enum stream_action a_wm[] = {C_, WM_, C_};
    static const enum stream_action b_whole[] = {P_, C_};
    struct sconf c3[2] = {{.name = "A", .body = a_wm}, {.name = "B", .body = b_whole}};
    s = make_scripted(2, c3, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", false);
    assert_held(s, 0, 0, "cd");
    assert_held(s, 1, 0, "ab");
    send_piece(s, "ef", true);
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab B-b:ab A-b:cd A-b:ef! B-b:abcdef! UP-B6! ");
    stream_destroy(s);
}

/* hold_max bounds everything a direction holds: two holds each under the limit but over
 * it together answer 413, and their bytes go nowhere. */
static void test_holds_limit_counts_every_hold_of_the_direction(void **state)
{
    static const enum stream_action a[] = {C_, P_, P_};
    static const enum stream_action b[] = {P_};
    static char x[601], y[301], z[201];
    memset(x, 'x', 600);
    memset(y, 'y', 300);
    memset(z, 'z', 200);
    struct sconf c[2] = {{.name = "A", .body = a}, {.name = "B", .body = b}};
    struct stream *s = make_scripted(2, c, NULL); /* hold_max 1024 */
    stream_request_headers(s, false);
    send_piece(s, x, false);
    send_piece(s, y, false);
    assert_int_equal(evbuffer_get_length(stream_held_body(s, &s->filters[0], 0)), 300);
    assert_int_equal(evbuffer_get_length(stream_held_body(s, &s->filters[1], 0)), 600);
    assert_false(s->local_reply); /* 900 held */
    send_piece(s, z, false);      /* 1100 held */
    assert_true(s->local_reply);
    assert_held(s, 0, 0, NULL);
    assert_held(s, 1, 0, NULL);
    run_loop();
    assert_non_null(strstr(rec.log, "DOWN-H413"));
    assert_int_equal(evbuffer_get_length(rec.up_body), 0);
    stream_destroy(s);
}

/* A local reply (say from a callout's answer) while two filters hold drops both holds:
 * nothing goes upstream, later continues and pieces are dropped. So does a reset. */
static void test_holds_local_reply_or_reset_drops_every_hold(void **state)
{
    static const enum stream_action a[] = {C_, P_};
    static const enum stream_action b[] = {P_};
    struct sconf c[2] = {{.name = "A", .body = a}, {.name = "B", .body = b}};
    struct stream *s = make_scripted(2, c, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", false);
    stream_local_reply(s, 403, "text/plain", "no", 2);
    assert_held(s, 0, 0, NULL);
    assert_held(s, 1, 0, NULL);
    stream_continue(s, &s->filters[0], 0);
    stream_continue(s, &s->filters[1], 0);
    run_loop();
    run_loop();
    send_piece(s, "ef", true);
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab B-b:ab A-b:cd DOWN-H403 B-rb:no! A-rb:no! "
                                 "DOWN-B2! ");
    assert_int_equal(evbuffer_get_length(rec.up_body), 0);
    stream_destroy(s);

    rec_clear();
    struct sconf c2[2] = {{.name = "A", .body = a}, {.name = "B", .body = b}};
    s = make_scripted(2, c2, NULL);
    stream_request_headers(s, false);
    send_piece(s, "ab", false);
    send_piece(s, "cd", false);
    stream_reset(s);
    assert_int_equal(rec.resets, 1);
    assert_held(s, 0, 0, NULL);
    assert_held(s, 1, 0, NULL);
    stream_continue(s, &s->filters[1], 0);
    run_loop();
    assert_string_equal(rec.log, "A-h B-h UP-H A-b:ab B-b:ab A-b:cd ");
    stream_destroy(s);
}

/* Back-pressure follows the watermark holds of the direction, whichever filter paused
 * last: a buffering pause before a watermark hold past the high-water mark does not
 * lift it; the watermark hold going on does. */
static void test_holds_watermark_back_pressure_stays_behind_a_buffering_pause(void **state)
{
    static const struct stream_limits big = {.hold_max = 1024 * 1024};
    static const enum stream_action a[] = {C_, P_, P_};
    static const enum stream_action b[] = {WM_, C_};
    static char piece[300 * 1024];
    memset(piece, 'w', sizeof(piece) - 1);
    struct sconf c[2] = {{.name = "A", .body = a}, {.name = "B", .body = b}};
    struct stream *s = make_scripted(2, c, &big);
    stream_request_headers(s, false);
    send_piece(s, piece, false);
    assert_false(stream_request_writable(s)); /* B holds 300 KiB, watermark */
    send_piece(s, "x", false);                /* A buffers one byte */
    assert_false(stream_request_writable(s));
    continue_and_run(s, 1, 0);
    assert_int_equal(evbuffer_get_length(rec.up_body), sizeof(piece) - 1);
    assert_true(stream_request_writable(s)); /* A buffers: it reads on */
    assert_held(s, 0, 0, "x");
    stream_destroy(s);
}

/* hold_max bounds only the holds without back-pressure: body behind headers paused
 * with PAUSE (an auth callout, say) and watermark holds get back-pressure past the
 * high-water mark, never a 413, even with a hold_max far below it (hold_limit = 4k). The
 * whole body goes on when the filter continues. PAUSE_BUFFER headers still answer 413. */
static void test_holds_back_pressured_holds_are_not_bounded_by_hold_max(void **state)
{
    static char piece[601];
    memset(piece, 'p', sizeof(piece) - 1);

    struct sconf c1[1] = {{.name = "H", .headers = STREAM_PAUSE}};
    struct stream *s = make_scripted(1, c1, NULL); /* hold_max 1024 */
    stream_request_headers(s, false);
    send_piece(s, piece, false);
    send_piece(s, piece, false);
    send_piece(s, piece, true); /* 1800 held > hold_max */
    assert_false(s->local_reply);
    assert_true(stream_request_writable(s)); /* under the high-water mark: reads on */
    c1[0].headers = STREAM_CONTINUE;
    continue_and_run(s, 0, 0);
    assert_null(strstr(rec.log, "DOWN-H"));
    assert_int_equal(evbuffer_get_length(rec.up_body), 3 * (sizeof(piece) - 1));
    assert_int_equal(rec.up_eos, 1);
    stream_destroy(s);

    rec_clear();
    static const enum stream_action wm[] = {WM_, WM_, WM_};
    struct sconf c2[1] = {{.name = "W", .body = wm}};
    s = make_scripted(1, c2, NULL);
    stream_request_headers(s, false);
    send_piece(s, piece, false);
    send_piece(s, piece, false);
    send_piece(s, piece, false); /* 1800 held in a watermark hold > hold_max */
    assert_false(s->local_reply);
    continue_and_run(s, 0, 0);
    assert_int_equal(evbuffer_get_length(rec.up_body), 3 * (sizeof(piece) - 1));
    stream_destroy(s);

    rec_clear();
    struct sconf c3[1] = {{.name = "HB", .headers = STREAM_PAUSE_BUFFER}};
    s = make_scripted(1, c3, NULL);
    stream_request_headers(s, false);
    send_piece(s, piece, false);
    assert_false(s->local_reply);
    send_piece(s, piece, false); /* 1200 held > hold_max */
    assert_true(s->local_reply);
    run_loop();
    assert_non_null(strstr(rec.log, "DOWN-H413"));
    assert_int_equal(evbuffer_get_length(rec.up_body), 0);
    stream_destroy(s);
}

/* The response direction runs the chain in reverse: Y (the last filter) sees the
 * response first. X holds "ab" when Y pauses on "cd"; each holds its own bytes, X's go to
 * the client first. */
static void test_holds_in_the_response_direction(void **state)
{
    static const enum stream_action x[] = {P_, C_};
    static const enum stream_action y[] = {C_, P_, C_};
    struct sconf c[2] = {{.name = "X", .resp_body = x}, {.name = "Y", .resp_body = y}};
    struct stream *s = make_scripted(2, c, NULL);
    stream_request_headers(s, true);
    s->status = 200;
    stream_response_headers(s, false);
    struct evbuffer *b = evbuffer_new();
    add_str(b, "ab");
    stream_response_body(s, b, false);
    add_str(b, "cd");
    stream_response_body(s, b, false);
    assert_held(s, 0, 1, "ab");
    assert_held(s, 1, 1, "cd");
    const char *phase = NULL;
    assert_int_equal(stream_paused_at(s, 1, &phase), 1); /* Y, nearest the upstream */
    continue_and_run(s, 0, 1);
    add_str(b, "ef");
    stream_response_body(s, b, true);
    assert_string_equal(rec.log, "X-h Y-h UP-H! DOWN-H200 Y-rb:ab X-rb:ab Y-rb:cd DOWN-B2 "
                                 "Y-rb:cdef! X-rb:cdef! DOWN-B4! ");
    char out[16] = {0};
    evbuffer_copyout(rec.down_body, out, sizeof(out) - 1);
    assert_string_equal(out, "abcdef");
    stream_destroy(s);
    evbuffer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_in_order_response_in_reverse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_in_headers_holds_body_until_resume, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pause_in_body_buffers_and_recalls_cumulatively, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_local_reply_skips_upstream_and_runs_response_chain,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_reply_after_response_started_resets, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hold_over_limit_answers_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_stops_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_filter_resumes_from_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_while_paused_cancels_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailers_follow_held_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers_add_get_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edited_body_in_one_piece_gets_its_exact_length, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_edited_body_in_pieces_goes_without_a_length, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_continue_resumes_only_the_filter_that_paused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_continue_inside_the_pausing_callback_resumes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trailers_added_at_the_end_of_the_body_are_sent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_built_local_reply_keeps_its_headers_and_details, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_body_no_buffer_gives_each_piece_alone_and_keeps_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_body_no_buffer_drops_what_the_filter_does_not_give_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_watermark_holds_pieces_and_shows_each_alone,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_watermark_hold_goes_on_at_resume, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_watermark_pauses_push_back_and_buffering_pauses_read_to_the_limit, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_response_watermark_hold_stops_the_upstream_reads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailers_added_at_end_of_body_go_to_later_filters,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailers_added_while_paused_at_end_of_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trailers_reach_a_filter_holding_the_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_continue_after_the_hold_went_on_is_no_resume, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_holds_an_earlier_pause_behind_a_later_hold_keeps_each_filters_bytes, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_holds_later_filter_continuing_first_sends_its_bytes_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_holds_earlier_filter_continuing_first_joins_the_later_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_holds_continued_together_go_on_in_stream_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resume_releases_every_hold_nearest_the_sink_first,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_holds_three_filters_continuing_in_every_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_holds_end_of_body_goes_with_the_earliest_hold, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_holds_trailers_reach_each_holding_filter_in_turn,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_holds_trailers_paused_at_a_holding_filter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_holds_trailers_added_at_the_end_of_the_body_pass_later_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_holds_keep_each_filters_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_holds_limit_counts_every_hold_of_the_direction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_holds_local_reply_or_reset_drops_every_hold, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_holds_watermark_back_pressure_stays_behind_a_buffering_pause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_holds_back_pressured_holds_are_not_bounded_by_hold_max,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_holds_in_the_response_direction, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
