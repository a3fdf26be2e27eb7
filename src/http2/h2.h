/*
 * h2.h - the HTTP/2 server connection (nghttp2): frames from the transport -> nghttp2
 * session -> one stream (stream/) per HTTP/2 stream, through the same filter chain and
 * upstream side as HTTP/1.1; responses go back as HEADERS/DATA/trailers.
 *
 * Flow control follows back-pressure: request DATA is acknowledged (WINDOW_UPDATE) only
 * as the upstream side takes it, response DATA is produced by a deferred data provider
 * fed from the upstream and the upstream is told to stop reading while a stream's
 * unsent response exceeds a bound. Floods (rapid reset, SETTINGS, PING, empty DATA,
 * PRIORITY, CONTINUATION) end the connection with GOAWAY ENHANCE_YOUR_CALM.
 *
 * WebSocket over HTTP/2 (RFC 8441): when the listener allows upgrades, SETTINGS offer
 * extended CONNECT; such a request goes upstream as an HTTP/1.1 Upgrade (GET with the
 * WebSocket handshake fields) and the upstream's 101 becomes a 200 and a tunnel.
 *
 * Cleartext connections come from the HTTP/1.1 server: with prior knowledge (the
 * preface's first line where a request line was expected; a broken rest of the preface
 * gets GOAWAY PROTOCOL_ERROR) or by "Upgrade: h2c"; TLS ones from the handshake when
 * ALPN picked h2.
 *
 * Conformance (RFC 9113): nghttp2 checks framing, flow control, SETTINGS, HPACK and HTTP
 * messaging; waspd adds what nghttp2 leaves out, judging each client frame before
 * nghttp2 sees it: frames on streams already closed (STREAM_CLOSED as §5.1 says, however
 * the bytes arrived), new stream ids below an old one (§5.1.1), PRIORITY on stream 0 and
 * self-dependencies (§5.3.1, §6.3). test/integration/h2conf.py checks all of it.
 *
 * Connections live on one worker thread; the list of a worker's HTTP/2 connections is
 * thread-local.
 */
#ifndef WASP_HTTP2_H2_H
#define WASP_HTTP2_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct worker;
struct daemon_gen;
struct srv_io_ops;

/* The client connection preface of RFC 9113 §3.4 (24 bytes). */
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

/* The preface's first line: a client that sends it speaks HTTP/2 (a broken rest of the
 * preface is nghttp2's to reject, with GOAWAY PROTOCOL_ERROR, not HTTP/1.1's). */
#define H2_PREFACE_LINE_LEN 16

/*
 * Tells an HTTP/2 client (prior knowledge) from an HTTP/1.1 one by the start of buf.
 * @return 1 it starts with the preface's first line "PRI * HTTP/2.0\r\n" (HTTP/2, even
 *         if the rest of the preface turns out wrong), 0 buf is a strict prefix of that
 *         line (wait for more; also for an empty buf), -1 it is not HTTP/2.
 */
int h2_preface_match(struct evbuffer *buf);

/*
 * Takes over fd (with transport io/io_ctx, NULL for the plain socket) serving listener
 * listener_index of gen (a reference is taken) with bytes already read in pre (moved,
 * may be NULL). Closes fd and frees io_ctx on failure.
 */
void h2_conn_new(struct worker *w, int fd, const char *client, struct daemon_gen *gen,
                 size_t listener_index, const struct srv_io_ops *io, void *io_ctx,
                 struct evbuffer *pre);

struct h1_request;

/*
 * Upgrade: h2c (RFC 7540 §3.2): true if the parsed HTTP/1.1 request r (fields in buf)
 * may switch: HTTP/1.1, no body, "h2c" in Upgrade, one valid HTTP2-Settings.
 */
bool h2_upgrade_wanted(const char *buf, const struct h1_request *r);

/*
 * Takes over cleartext fd: answers 101, and the request (buf, r; r->head_len bytes at
 * the start of `in`) becomes stream 1; the bytes after it in `in` (moved) are the
 * client's HTTP/2 preface and frames. Closes fd on failure.
 */
void h2_conn_upgrade(struct worker *w, int fd, const char *client, struct daemon_gen *gen,
                     size_t listener_index, const char *buf, const struct h1_request *r,
                     struct evbuffer *in);

/* Graceful drain: GOAWAY, in-flight streams finish, then the connections close. */
void h2_drain_all(struct worker *w);
/* The worker switched generations: connections whose listener is gone get GOAWAY
 * (their streams finish, then they close); the others serve new streams with the new
 * generation. */
void h2_gen_changed(struct worker *w);
/* Closes every HTTP/2 connection of this worker now. */
void h2_close_all(struct worker *w);

/* ---- separable checks (h2_check.c), unit tested ---- */

/* Per-connection flood accounting over a sliding one-second window. */
enum h2_guard_kind {
    H2G_RST_STREAM,
    H2G_SETTINGS,
    H2G_PING,
    H2G_EMPTY_DATA,
    H2G_PRIORITY,
    H2G_WINDOW_UPDATE,
    H2G_CONTINUATION, /* per header block, not per window */
    H2G_N
};

struct h2_guard_limits {
    uint32_t per_sec[H2G_N]; /* 0 = unlimited */
};

struct h2_guard {
    uint64_t window_start_ms;
    uint32_t count[H2G_N];
    uint32_t continuations; /* CONTINUATION frames in the current header block */
};

/* The defaults (generous for real clients, tight for floods). */
void h2_guard_limits_default(struct h2_guard_limits *l);

/*
 * Accounts one received frame (the 9-byte frame header: type, flags, payload length)
 * at time now_ms. @return the kind whose limit was passed, or -1 if within limits.
 */
int h2_guard_frame(struct h2_guard *g, const struct h2_guard_limits *l, uint64_t now_ms,
                   uint8_t type, uint8_t flags, size_t length);

/*
 * What became of each stream the client opened, for the frames nghttp2 does not judge
 * once a stream is gone (RFC 9113 §5.1, §5.1.1): a sliding window over the last
 * H2_HISTORY client stream ids; older ones are forgotten (their frames are ignored).
 */
enum h2_sid_state {
    H2_SID_UNUSED,       /* below the last id but never opened (implicitly closed) */
    H2_SID_OPEN,         /* opened; nghttp2 tracks it while it lives */
    H2_SID_DONE,         /* closed after END_STREAM both ways */
    H2_SID_CLIENT_RESET, /* closed by the client's RST_STREAM */
    H2_SID_SERVER_RESET, /* closed by our RST_STREAM (or refused) */
    H2_SID_FORGOTTEN,    /* older than the window (or not a client stream id) */
};

#define H2_HISTORY 256

struct h2_history {
    int32_t base; /* stream id of state[0] (odd) */
    int32_t last; /* highest stream id the client opened, 0 before the first */
    uint8_t state[H2_HISTORY];
};

void h2_history_init(struct h2_history *h);
/* The client opened stream id (odd, above h->last): it becomes the last. */
void h2_history_open(struct h2_history *h, int32_t id);
/* @return the enum h2_sid_state of id (FORGOTTEN for ids out of the window, even or 0). */
int h2_history_get(const struct h2_history *h, int32_t id);
/* Records a new state for id (nothing for a forgotten id). */
void h2_history_set(struct h2_history *h, int32_t id, int state);

/* A client frame's header (and, for a 5-byte PRIORITY frame, its dependency). */
struct h2_frame_hd {
    uint32_t length;
    uint8_t type, flags;
    int32_t id;
    int32_t dep; /* PRIORITY: the stream it depends on; -1 for other frames */
};

/* Bytes needed at p (which holds >= 9) to judge the frame there: 9, or 14 for a PRIORITY
 * frame of length 5 (its dependency too). */
size_t h2_frame_hd_need(const uint8_t *p);
/* Parses h2_frame_hd_need(p) bytes at p. */
void h2_frame_hd_parse(const uint8_t *p, struct h2_frame_hd *hd);

enum h2_verdict { H2_PASS, H2_STREAM_ERROR, H2_CONN_ERROR };

/*
 * waspd's answer to a client frame before nghttp2 processes it, for what nghttp2 lets
 * through (it ignores frames on streams it no longer holds, and skips PRIORITY frames
 * with RFC 7540 priorities off). live: nghttp2 holds the frame's stream open or
 * half-closed (it then judges DATA and HEADERS itself). The caller records a new stream
 * in h (h2_history_open) when a HEADERS frame opens one.
 *   PRIORITY on stream 0: connection error PROTOCOL_ERROR (§6.3); a stream depending on
 *   itself (§5.3.1): stream error PROTOCOL_ERROR if it is live, else a connection error
 *   (no RST_STREAM may go to an idle or closed stream, §5.1);
 *   HEADERS on a client stream id below the last that was never opened: connection
 *   error PROTOCOL_ERROR (§5.1.1); DATA there: connection error STREAM_CLOSED;
 *   DATA or HEADERS after the client's RST_STREAM: stream error STREAM_CLOSED; after
 *   END_STREAM both ways: connection error STREAM_CLOSED (§5.1); after our own
 *   RST_STREAM (the client may not have seen it yet) or for a forgotten id: ignored.
 * @return the verdict; *code and *why say what to send and log for the errors.
 */
enum h2_verdict h2_frame_verdict(const struct h2_history *h, const struct h2_frame_hd *hd,
                                 bool live, uint32_t *code, const char **why);

/* Request pseudo-headers and fields as they arrive, checked once the block ended. */
struct h2_req_check {
    const char *method, *scheme, *path, *authority, *host, *protocol;
    size_t method_len, scheme_len, path_len, authority_len, host_len, protocol_len;
    bool dup;         /* a pseudo-header came twice */
    bool unknown;     /* an unknown pseudo-header, or a response one */
    bool late_pseudo; /* a pseudo-header after a regular field */
    bool seen_regular;
    bool bad_field;  /* connection-specific field or TE other than trailers */
    const char *why; /* h2_req_field's reason for its -1, for the log */
};

/*
 * Accounts one field of a request header block. @return 0, or -1 when the block is
 * malformed for sure (the stream is reset with PROTOCOL_ERROR; r->why says why).
 */
int h2_req_field(struct h2_req_check *r, const char *name, size_t name_len, const char *value,
                 size_t value_len);

/*
 * Checks the complete request head (RFC 9113 §8.3.1): :method, :scheme and :path
 * present (except CONNECT, refused: 1 with *status 405), :path origin-form or "*" for
 * OPTIONS, :authority or Host present and consistent. Extended CONNECT (RFC 8441 §4):
 * :protocol (a token) only with CONNECT, which then needs :scheme, :path and :authority
 * like any request.
 * @return 0 ok, -1 malformed (PROTOCOL_ERROR; *why says why, for the log), 1 well-formed
 *         but refused with *status.
 */
int h2_req_validate(const struct h2_req_check *r, int *status, const char **why);

#endif
