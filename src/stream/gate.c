/*
 * gate.c - the request gate between the filter chain and the upstream side: request
 * buffering and the framing rule (the model is in stream.h).
 *
 * A request with a body has its head held here while the body arrives, up to
 * stream_limits.request_buffer bytes (as nginx's proxy_request_buffering and Envoy's
 * buffer filter do): a request the codec resets meanwhile (an HTTP/2 DATA length that
 * contradicts content-length, an HTTP/1.1 body cut short) never reaches an upstream.
 * A body complete within the buffer goes upstream with its real length (chunked
 * becomes Content-Length); a longer one streams after the head, and its bytes are
 * checked against the length the head declared as they go.
 *
 * A request asking for a protocol upgrade goes at once, without a body; what its client
 * sends after the head is tunnel data, held here until the upstream accepts the switch
 * (stream_upgraded) and then passed on unframed: bytes sent ahead of a switch the
 * upstream may refuse must never reach it, where they would read as the next request.
 */
#include "stream/stream_int.h"

#include "log/log.h"

#include <event2/buffer.h>
#include <inttypes.h>

static bool gate_stopped(const struct stream *s)
{
    return s->reset || s->local_reply;
}

/* The bytes leaving the chain contradict the length the upstream was told: the request
 * cannot be completed correctly, so neither side may go on (the upstream connection is
 * dropped with the stream, never pooled). */
static void gate_framing_error(struct stream *s, uint64_t total, const char *how)
{
    log_warn("%s %.*s %.*s: request body %s (%" PRIu64 " bytes, length %" PRId64 "): stream reset",
             s->client, (int)s->method_len, s->method ? s->method : "-", (int)s->path_len,
             s->path ? s->path : "-", how, total, s->req_content_length);
    stream_reset(s);
}

/* Forwards body bytes after the head went out, holding them to the declared length. */
static void gate_forward(struct stream *s, struct evbuffer *chunk, bool eos)
{
    uint64_t total = s->req_passed + evbuffer_get_length(chunk);
    int64_t cl = s->req_content_length;
    if (cl >= 0 && total > (uint64_t)cl) {
        evbuffer_drain(chunk, evbuffer_get_length(chunk));
        gate_framing_error(s, total, "longer than its length");
        return;
    }
    if (cl >= 0 && eos && total != (uint64_t)cl) {
        evbuffer_drain(chunk, evbuffer_get_length(chunk));
        gate_framing_error(s, total, "shorter than its length");
        return;
    }
    s->req_passed = total;
    s->up->request_body(s, chunk, eos);
}

/*
 * Lets the held head go, then what the gate holds. complete: the held bytes are the
 * whole body (its end, or trailers, came), so their count is the length to declare.
 * eos: the body ends with them (no trailers follow).
 */
static void gate_release(struct stream *s, bool complete, bool eos)
{
    struct evbuffer *held = s->req_buffer;
    uint64_t n = evbuffer_get_length(held);
    s->req_head_held = false;
    if (complete && !(s->req_content_length < 0 && !eos)) {
        /* Known now, whatever the client declared or a filter made of the body;
         * a chunked body with trailers stays chunked so the trailers can follow. */
        s->req_content_length = (int64_t)n;
    }
    bool head_eos = eos && n == 0;
    s->up->request_headers(s, head_eos);
    if (head_eos || gate_stopped(s)) {
        evbuffer_drain(held, n);
        return;
    }
    s->req_passed = 0;
    if (n > 0 || eos)
        gate_forward(s, held, eos);
}

void stream_gate_headers(struct stream *s, bool eos)
{
    uint64_t limit = s->limits != NULL ? s->limits->request_buffer : 0;
    int64_t cl = s->req_content_length;
    s->req_passed = 0;
    if (eos || limit == 0 || s->upgrade != NULL || (cl > 0 && (uint64_t)cl > limit)) {
        s->up->request_headers(s, eos);
        return;
    }
    if (s->up->answer_locally != NULL && s->up->answer_locally(s))
        return;
    s->req_head_held = true;
}

void stream_gate_body(struct stream *s, struct evbuffer *chunk, bool eos)
{
    if (s->upgrade != NULL) {
        if (s->upgraded) {
            s->req_passed += evbuffer_get_length(chunk);
            s->up->request_body(s, chunk, eos);
        } else {
            evbuffer_add_buffer(s->req_buffer, chunk);
            s->req_tunnel_eos |= eos;
        }
        return;
    }
    if (!s->req_head_held) {
        gate_forward(s, chunk, eos);
        return;
    }
    evbuffer_add_buffer(s->req_buffer, chunk);
    if (eos) {
        gate_release(s, true, true);
        return;
    }
    uint64_t limit = s->limits != NULL ? s->limits->request_buffer : 0;
    if (evbuffer_get_length(s->req_buffer) > limit)
        gate_release(s, false, false);
}

void stream_gate_trailers(struct stream *s)
{
    if (s->req_head_held) {
        gate_release(s, true, false);
        if (gate_stopped(s))
            return;
    } else if (s->req_content_length >= 0 && s->req_passed != (uint64_t)s->req_content_length) {
        gate_framing_error(s, s->req_passed, "shorter than its length");
        return;
    }
    s->up->request_trailers(s);
}

void stream_upgraded(struct stream *s)
{
    s->upgraded = true;
    struct evbuffer *held = s->req_buffer;
    if (s->reset || s->local_reply || s->up == NULL ||
        (evbuffer_get_length(held) == 0 && !s->req_tunnel_eos))
        return;
    s->req_passed += evbuffer_get_length(held);
    s->up->request_body(s, held, s->req_tunnel_eos);
}
