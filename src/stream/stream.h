/*
 * stream.h - the protocol-independent HTTP stream and its filter chain.
 *
 * A stream is one request/response exchange. A downstream codec (HTTP/1.1 now, HTTP/2
 * later) creates it and feeds request headers, body pieces and trailers in; they flow
 * through the listener's filter chain in order and then to the upstream side (the
 * router); the response flows back through the chain in reverse order to the codec.
 * Filters have one hook per proxy-wasm stream callback and return CONTINUE, PAUSE (the
 * filter resumes the stream later with stream_resume(), from the event loop) or STOP
 * (it answered with stream_local_reply(), or reset the stream). The chain runner, never
 * a filter, calls the next filter. A body piece that a filter paused on is held for it
 * (bounded by stream_limits.hold_max: beyond it 413 for requests, 500 for responses; or
 * with back-pressure on the source, as the pause says: see enum stream_action) and,
 * in the buffering pauses, the filter is called again with everything it holds.
 *
 * Body holds. Each filter that pauses on a body piece holds its own bytes, in its own
 * mode (enum stream_action); several filters of a direction may hold at once. Bytes held
 * at a later position are older than those held at an earlier one (they went past every
 * filter before it), so a direction's body is, in stream order: what the sink got, the
 * hold nearest the sink, ..., the hold nearest the source, then what is still to come.
 * A filter is only ever called with bytes that have not gone past it: its own hold (the
 * buffering pauses) and the piece that reaches it. When it lets the body go on (a later
 * call answers CONTINUE, or its stream_continue / stream_resume), its hold moves on to the
 * filters after it, never back through those before it; a later filter that still holds
 * takes those bytes behind its own, as any new piece. The end of the body reaches a
 * filter only once no filter before it holds, and so do trailers (from the source, or
 * added by a filter at the end of the body): they reach a filter that holds, and its hold
 * goes on ahead of them when it lets them through. hold_max bounds what a direction holds
 * without back-pressure, all together: the buffering and no-buffer holds, and the body
 * behind headers paused with PAUSE_BUFFER. Watermark holds and the body behind headers
 * paused otherwise are held with back-pressure instead (the source stops past 256 KiB)
 * and never meet hold_max; a local reply or a reset drops every hold.
 * Memory: a direction's first hold takes the direction's own buffer, the others buffers
 * from a per-thread free list; a filter keeps its buffer until the stream ends.
 *
 * Between the chain and the upstream side sits the request gate (gate.c): request
 * buffering and the framing rule. The request head waits there until the body is
 * complete, so that the upstream sees the request only once its length is known to be
 * right; bodies longer than stream_limits.request_buffer stream through after the head.
 * Bytes that leave the chain must add up to the length the head declared upstream: a
 * body still held is re-framed with its real length (a filter may have changed it), a
 * mismatch after the head went out resets the stream on both sides (the upstream
 * connection is closed, never pooled). Codecs reject a client's own framing errors
 * before the chain; the gate is where any body change by a filter (a plugin) meets the
 * same rule without the filter doing anything.
 *
 * Memory: a stream has an arena for header strings, freed in one go when the stream
 * ends; stream objects are recycled through a per-thread free list. One thread only.
 */
#ifndef WASP_STREAM_STREAM_H
#define WASP_STREAM_STREAM_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct stream;
struct log_access_buf;

/*
 * What a hook answers. The pauses hold the direction at the filter until it calls
 * stream_resume() / stream_continue() (from the event loop); for a body hook they differ
 * in what happens to the piece and to the next one (Envoy's FilterHeadersStatus and
 * FilterDataStatus, which plugins return):
 *   PAUSE            headers: hold everything behind the headers, with back-pressure on
 *                    the source past 256 KiB held, whatever hold_max is
 *                    (StopAllIterationAndWatermark).
 *                    body: hold the piece; the filter is called again with everything it
 *                    holds when more reaches it (StopIterationAndBuffer); the source keeps
 *                    being read, up to stream_limits.hold_max (then 413 / 500).
 *   PAUSE_BUFFER     headers: hold everything, reading the source up to hold_max (then
 *                    413 / 500), no back-pressure (StopAllIterationAndBuffer).
 *                    body: as PAUSE.
 *   PAUSE_WATERMARK  body: hold the piece; the filter is called with the next piece alone,
 *                    and what it held goes on ahead of a piece it lets through (or at
 *                    resume); back-pressure on the source while the direction's watermark
 *                    holds reach 256 KiB, whatever hold_max is (StopIterationAndWatermark).
 *                    headers: as PAUSE.
 *   PAUSE_NO_BUFFER  body: the filter took the bytes it was given (the runner drops them);
 *                    it is called with the next piece alone (StopIterationNoBuffer).
 *                    headers: as PAUSE.
 * Trailer hooks: every pause is a pause.
 */
enum stream_action {
    STREAM_CONTINUE = 0, /* go on with the next filter */
    STREAM_PAUSE = 1,
    STREAM_STOP = 2, /* the filter replied locally or reset the stream */
    STREAM_PAUSE_BUFFER = 3,
    STREAM_PAUSE_WATERMARK = 4,
    STREAM_PAUSE_NO_BUFFER = 5,
};

/* A header field; name and value live in the stream arena (or static storage). */
struct stream_header {
    const char *name;
    const char *value;
    uint32_t name_len;
    uint32_t value_len;
};

struct stream_headers {
    struct stream_header *v;
    uint32_t n, cap;
};

struct stream_filter;

/*
 * A filter kind: a static table of hooks (any may be NULL = continue). conf_create parses
 * the filter's argument at configuration load (main thread) and returns an immutable
 * configuration shared by all workers, or NULL with a message in err.
 * state_size bytes of per-stream state, zeroed, are given to the hooks in f->state.
 */
struct stream_filter_ops {
    const char *name;
    size_t state_size;
    void *(*conf_create)(const char *arg, char *err, size_t errlen);
    void (*conf_free)(void *conf);
    enum stream_action (*request_headers)(struct stream *s, struct stream_filter *f, bool eos);
    enum stream_action (*request_body)(struct stream *s, struct stream_filter *f,
                                       struct evbuffer *body, bool eos);
    enum stream_action (*request_trailers)(struct stream *s, struct stream_filter *f);
    enum stream_action (*response_headers)(struct stream *s, struct stream_filter *f, bool eos);
    enum stream_action (*response_body)(struct stream *s, struct stream_filter *f,
                                        struct evbuffer *body, bool eos);
    enum stream_action (*response_trailers)(struct stream *s, struct stream_filter *f);
    /* The stream ended (completed or reset): release per-stream resources (on_done/on_log). */
    void (*done)(struct stream *s, struct stream_filter *f);
    /*
     * Whether filters of this configuration may change the length of a body in direction
     * dir (0 request, 1 response). When any filter of a chain may, the runner holds the
     * message head at the sink until the body's first piece has passed every filter: a
     * body that ends in that piece gets its exact Content-Length, a longer one goes on
     * with an unknown length (chunked on HTTP/1.1, no content-length on HTTP/2). NULL: no.
     */
    bool (*edits_body)(const void *conf, int dir);
};

/* The body a filter holds in one direction (runner state, stream.c; see "Body holds"). */
struct stream_hold {
    struct evbuffer *buf; /* taken at the filter's first hold, kept until the stream ends */
    uint8_t mode;         /* how the filter paused (stream.c's HOLD_*); 0: it holds nothing */
    bool release;         /* its continue was taken: it goes on in this event-loop round */
};

/* One filter of a stream: its kind, shared configuration and per-stream state. */
struct stream_filter {
    const struct stream_filter_ops *ops;
    void *conf;
    void *state;
    bool continue_pending[2]; /* stream_continue() was called for that direction */
    struct stream_hold hold[2];
};

/* A listener's chain: built once per configuration generation, immutable, shared. */
struct stream_chain {
    unsigned n;
    const struct stream_filter_ops **ops;
    void **conf;
    bool edits_body[2]; /* some filter may change a body's length (see edits_body) */
};

/* Facts about a stream's client connection (plugins read them as properties). */
struct stream_conn_info {
    char local[64];          /* the address the client connected to, "ip:port" */
    uint64_t id;             /* unique per connection in the process */
    const char *tls_version; /* "TLSv1.3", or NULL: not TLS */
    const char *sni;         /* the TLS server name the client asked for, or NULL */
    bool mtls;               /* the client presented a certificate */
};

/* Where the router sends a stream (names live as long as the stream's configuration). */
struct stream_route_info {
    const char *listener;
    const char *route;   /* NULL: the listener's default */
    const char *cluster; /* NULL: a local response */
};

/* The downstream codec's side, called by the runner once the response passed the chain. */
struct stream_downstream_ops {
    void (*response_headers)(struct stream *s, bool eos);
    void (*response_body)(struct stream *s, struct evbuffer *body, bool eos);
    void (*response_trailers)(struct stream *s);
    /* The upstream side drained its request backlog: read more request body. */
    void (*resume_request)(struct stream *s);
    /* The stream cannot go on (e.g. upstream broke mid-response): close abruptly. */
    void (*reset)(struct stream *s);
    /* Bytes of response the codec holds unsent (back-pressure). */
    size_t (*backlog)(struct stream *s);
    /* The connection's facts, filled on demand (NULL: unknown). */
    void (*conn_info)(struct stream *s, struct stream_conn_info *out);
};

/* The upstream side (the router): called once the request passed the chain. */
struct stream_upstream_ops {
    void (*request_headers)(struct stream *s, bool eos);
    void (*request_body)(struct stream *s, struct evbuffer *body, bool eos);
    void (*request_trailers)(struct stream *s);
    /* The codec drained its response backlog: read more response body. */
    void (*resume_response)(struct stream *s);
    /* Drop the upstream exchange (local reply or reset). Idempotent. */
    void (*abort)(struct stream *s);
    /* Bytes of request the upstream side holds unsent (back-pressure). */
    size_t (*backlog)(struct stream *s);
    /* Where the request goes, as routing stands now (NULL: unknown). */
    void (*route_info)(struct stream *s, struct stream_route_info *out);
    /* Optional, called by the request gate before it holds a request head for its body:
     * answers now (stream_local_reply) a request that will not go upstream (no route,
     * a local response), so that the answer does not wait for a body nobody reads.
     * @return true if it answered. */
    bool (*answer_locally)(struct stream *s);
};

struct stream_limits {
    size_t hold_max; /* body bytes held for a pausing filter */
    /* Request body bytes read whole before the head goes upstream (the gate): 0 = off
     * (the head goes at once, the body streams), UINT64_MAX = every body (the codec
     * bounds it: max_body_size). A body longer than this streams after the head. */
    uint64_t request_buffer;
};

/* Per direction runner state (internal to stream.c, public for the struct's size). */
struct stream_dir {
    int paused;        /* headers or trailers phase a filter paused in, or 0 (body pauses
                        * are holds: stream_filter.hold) */
    int pause_idx;     /* the paused filter's position in this direction */
    int holds;         /* how many filters hold body */
    bool no_body;      /* the headers ended the message */
    bool headers_done; /* headers went past every filter */
    bool eos_in;       /* the source delivered the end of the body */
    bool eos_out;      /* the sink got the end of the body */
    bool trailers_in;  /* trailers arrived (and end the body) */
    bool trailers_out;
    bool sink_held;    /* headers passed the filters; the sink waits for the body */
    bool backpressure; /* paused headers stop the source past the high-water mark */
    int trailers_idx;  /* trailers a filter added at the end of the body start here */
    /* From here on, kept by a local reply (which drops the holds first). */
    struct evbuffer *hold; /* body behind headers not through yet; then the first hold's */
    bool hold_lent;        /* hold is a filter's stream_hold.buf until the stream ends */
};

#define STREAM_ARENA_INLINE 4096

struct stream_arena_chunk {
    struct stream_arena_chunk *next;
    size_t size, used;
    char data[];
};

struct stream {
    struct event_base *base;
    const struct stream_chain *chain;
    const struct stream_limits *limits;
    struct stream_filter *filters; /* chain->n entries, in the arena */

    /* request (what the codec parsed; filters may change headers) */
    const char *method;
    uint32_t method_len;
    int method_id;    /* enum h1_method */
    const char *path; /* target (origin-form) as forwarded */
    uint32_t path_len;
    const char *authority; /* Host */
    uint32_t authority_len;
    const char *scheme; /* "http" / "https" */
    int http_minor;
    int http_major; /* 2 for HTTP/2 streams (the access log); 0 or 1: HTTP/1.x */
    struct stream_headers req_headers;
    struct stream_headers req_trailers;
    int64_t req_content_length; /* -1: unknown (chunked), 0: no body */

    /* response */
    int status;
    struct stream_headers resp_headers;
    struct stream_headers resp_trailers;
    int64_t resp_content_length; /* -1: unknown */
    bool resp_no_body;           /* HEAD or 1xx/204/304: headers only */

    /* the two sides */
    const struct stream_downstream_ops *down;
    void *down_ctx;
    const struct stream_upstream_ops *up;
    void *up_ctx;
    const void *route_ctx; /* what the router needs (the listener) */
    void *worker;          /* the thread's context, for the two sides */

    /* runner */
    struct stream_dir dir[2]; /* [0] request, [1] response */
    uint64_t req_passed;      /* request body bytes that left the chain (gate.c) */
    bool req_head_held;       /* the gate holds the request head (and req_buffer) */
    bool req_tunnel_eos;      /* the client's half-close, held with req_buffer until the
                               * upgrade is accepted */

    /* Protocol upgrade (HTTP/1.1 Upgrade, HTTP/2 extended CONNECT): the protocols the
     * client asked for (an Upgrade field value, h2c left out; "websocket" for extended
     * CONNECT), after a 101 the one the upstream switched to; NULL: none. The codec
     * starts such a request with eos false and req_content_length 0: once upgraded,
     * the request and response bodies are the tunnel's bytes, each ending with that
     * side's half-close. */
    const char *upgrade;
    uint32_t upgrade_len;
    bool upgraded;
    int in_filter; /* nesting depth of filter calls */
    bool resume_pending[2];
    bool local_reply; /* a local reply was queued or sent */
    bool local_reply_pending;
    bool resp_started; /* response headers went to the codec */
    bool reset;
    const char *details;    /* response.code_details: "via_upstream", a local reply's */
    uint64_t body_bytes[2]; /* body bytes that entered the stream, per direction */
    struct evbuffer *local_body;
    struct event deferred; /* resume / local reply, run from the event loop */

    /* access log */
    struct log_access_buf *alog;
    char client[64];
    char upstream_addr[64];
    uint64_t start_usec;
    uint64_t upstream_start_usec;
    int64_t upstream_usec;
    uint64_t bytes_sent;

    /* arena; from here on fields live as long as the object (kept when recycled) */
    struct stream_arena_chunk *arena;
    struct stream *free_next;
    struct evbuffer *req_buffer; /* request body held by the gate */
    union {
        struct stream_arena_chunk first;
        char first_bytes[sizeof(struct stream_arena_chunk) + STREAM_ARENA_INLINE];
    } arena0;
};

/* ---- lifecycle ---- */

/*
 * Takes a stream from the thread's free list (or allocates one) and starts it on chain.
 * @return the stream or NULL (out of memory).
 */
struct stream *stream_create(struct event_base *base, const struct stream_chain *chain,
                             const struct stream_limits *limits);

/* Ends the stream: calls every filter's done hook, writes the access log line, aborts the
 * upstream side if still attached and recycles the object. The codec calls this. */
void stream_destroy(struct stream *s);

/* The event loop's cached wall clock in microseconds (no system call per request). */
uint64_t stream_loop_usec(struct event_base *base);

/*
 * A timeval for event_add() of ms milliseconds on base, as a libevent "common timeout"
 * (O(1) queues instead of the timer heap) for the few durations a worker uses.
 * @return NULL for 0 (no timeout). Valid as long as base.
 */
const struct timeval *stream_timeout(struct event_base *base, uint64_t ms);

/* Frees this thread's free list (worker exit). */
void stream_free_cache(void);

/* Arena allocation, 8-byte aligned, freed with the stream. NULL if out of memory. */
void *stream_alloc(struct stream *s, size_t size);
/* Copies len bytes into the arena, NUL-terminated. */
char *stream_strdup(struct stream *s, const char *p, size_t len);

/* ---- headers (names compared ASCII case-insensitively) ---- */

/* @return the first value of name or NULL; *len gets its length. */
const char *stream_headers_get(const struct stream_headers *h, const char *name, size_t name_len,
                               uint32_t *len);
/* Lower-cases a header name in place (codecs do it once, so every filter and plugin
 * sees names as HTTP/2 and Envoy have them). */
void stream_header_name_lower(char *name, size_t len);
/* Appends a field, copying both strings into the arena (the name lower-cased).
 * @return 0 or -1 (no memory). */
int stream_headers_add(struct stream *s, struct stream_headers *h, const char *name,
                       size_t name_len, const char *value, size_t value_len);
/* Appends a field whose strings outlive the stream (no copy). */
int stream_headers_add_ref(struct stream *s, struct stream_headers *h, const char *name,
                           size_t name_len, const char *value, size_t value_len);
/* Removes every field called name. @return how many were removed. */
unsigned stream_headers_remove(struct stream_headers *h, const char *name, size_t name_len);

/* ---- the runner: codec and upstream side push events in ---- */

void stream_request_headers(struct stream *s, bool eos);
/* body is drained (moved on or held) by the call. */
void stream_request_body(struct stream *s, struct evbuffer *body, bool eos);
void stream_request_trailers(struct stream *s);
void stream_response_headers(struct stream *s, bool eos);
void stream_response_body(struct stream *s, struct evbuffer *body, bool eos);
void stream_response_trailers(struct stream *s);

/*
 * A paused filter lets the stream go on: in each direction, the filter paused in headers
 * or trailers, or else every filter holding body (the hold nearest the sink first).
 * Takes effect from the event loop after the current callback returns (safe to call
 * inside a hook).
 */
void stream_resume(struct stream *s);

/*
 * Filter f lets direction d (0 request, 1 response) go on if that direction is paused at
 * f (proxy_continue_stream): its headers or trailers pause, or the body it holds, which
 * moves on to the filters after it. From the event loop, after the current callback
 * returns; a continue for a direction not paused at f is dropped. Safe inside a hook,
 * including the hook that is about to return STREAM_PAUSE.
 */
void stream_continue(struct stream *s, struct stream_filter *f, int d);

/*
 * The body of direction d that filter f holds itself (a body pause; or its trailer hook
 * while it still holds the body), what a plugin reads and edits from a callout answer or
 * in its trailers callback; never bytes another filter holds. NULL when f holds none.
 */
struct evbuffer *stream_held_body(struct stream *s, struct stream_filter *f, int d);

/*
 * Whether the body f holds in direction d ends the body: its end came from the source
 * (no trailers) and no filter before f holds a newer part, so nothing more of the body
 * will reach f. False when f holds none.
 */
bool stream_held_body_ends(const struct stream *s, const struct stream_filter *f, int d);

/*
 * Where direction d (0 request, 1 response) waits for a filter to continue it: that
 * filter's position in the chain (chain order, whatever the direction) and the phase it
 * paused in ("headers", "body", "trailers"); of several filters holding body, the one
 * nearest the source (the rest of the body, and its end, wait there first). @return the
 * position, or -1 when d does not wait for any filter.
 */
int stream_paused_at(const struct stream *s, int d, const char **phase);

/* Whether direction d's headers / trailers already went to the sink (no more edits). */
bool stream_headers_sent(const struct stream *s, int d);
bool stream_trailers_sent(const struct stream *s, int d);

/*
 * Answer the request locally with status, a Content-Type and body (copied). Aborts the
 * upstream exchange. From a hook: return STREAM_STOP after calling it. Deferred to the
 * event loop. If the response already started, the stream is reset instead.
 */
void stream_local_reply(struct stream *s, int status, const char *content_type, const char *body,
                        size_t body_len);

/*
 * As stream_local_reply, for a reply a filter built: headers (n fields, copied; a
 * content-type among them replaces the default text/plain of a non-empty body) and
 * details (response.code_details, copied; NULL: "local_reply").
 */
void stream_local_reply_headers(struct stream *s, int status, const struct stream_header *headers,
                                uint32_t n, const char *body, size_t body_len, const char *details);

/*
 * Ends the stream abruptly (proxy_close_stream): the upstream exchange is dropped and the
 * codec closes the client connection (HTTP/1) or resets the stream (HTTP/2). From a hook,
 * return STREAM_STOP after calling it. Idempotent.
 */
void stream_reset(struct stream *s);

/*
 * The upstream side accepted the stream's upgrade (an HTTP/1.1 101): both bodies are the
 * tunnel's bytes from now on (no framing rule, no Content-Length); tunnel bytes the
 * client sent before (held by the gate, never forwarded ahead of the switch) go to the
 * upstream side now. Call before stream_response_headers() for the 101, outside hooks.
 */
void stream_upgraded(struct stream *s);

/* True if the request-direction sink may take more body now (back-pressure). */
bool stream_request_writable(struct stream *s);
/* True if the chain may take more response body now: false while a filter holds it with
 * back-pressure (the upstream side stops reading until
 * stream_upstream_ops.resume_response). */
bool stream_response_writable(struct stream *s);

/* Called by the upstream side when its request backlog drained (low watermark). */
void stream_request_drained(struct stream *s);
/* Called by the codec when its response backlog drained. */
void stream_response_drained(struct stream *s);

/* ---- chains and built-in filters ---- */

/* Looks a built-in filter kind up by name ("respond", "add_request_header", ...). */
const struct stream_filter_ops *stream_filter_find(const char *name);

/* Builds a chain; entries are appended with stream_chain_add. */
struct stream_chain *stream_chain_new(void);
/* Appends filter `name` with `arg`. @return 0, or -1 with a message in err. */
int stream_chain_add(struct stream_chain *c, const char *name, const char *arg, char *err,
                     size_t errlen);
/* Appends a filter of kind ops with a configuration its module built (the chain owns conf
 * from now on, also on failure). @return 0 or -1 (out of memory). */
int stream_chain_add_conf(struct stream_chain *c, const struct stream_filter_ops *ops, void *conf);
void stream_chain_free(struct stream_chain *c);

#endif
