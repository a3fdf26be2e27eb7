/*
 * h1.h - the public API of wasp's HTTP/1.1 codec (src/http1/).
 *
 * A strict, incremental, zero-copy HTTP/1.x codec that works on byte buffers (no libevent,
 * no allocation): it parses request heads (server side), response heads (upstream side),
 * message bodies (Content-Length, chunked with trailers, read-until-close), and writes
 * request/response heads and chunk framing. Parsed text is returned as offset/length
 * slices into the caller's buffer, never copied.
 *
 * Return convention of every parser (STYLE.md): bytes consumed (> 0, or >= 0 for bodies),
 * H1_AGAIN (need more bytes: call again with the same bytes plus more) or H1_ERROR (the
 * parser's `status` holds the HTTP status to answer with and `reason` a static string
 * for the log; the connection must be closed after answering).
 *
 * Strictness choices (RFC 9110/9112; see each function for details):
 *  - Lines end with CRLF. A bare LF as line terminator is rejected (400), as is a bare CR
 *    anywhere, a NUL or any other control character (except HTAB) in a field value.
 *  - obs-fold (a header line starting with SP/HTAB) is rejected (400); whitespace between
 *    a field name and the colon is rejected (400).
 *  - Content-Length: 1*DIGIT, no sign, no list, at most 2^62; ANY second Content-Length
 *    field (even with an identical value, even as "5, 5") is rejected (400): an identical
 *    list is allowed by RFC 9110 §8.6 but other hops may disagree about it (smuggling).
 *  - Transfer-Encoding: the only transfer coding implemented is "chunked", which must be
 *    the last and only coding. In requests: chunked not last → 400; another coding
 *    (gzip, deflate, compress, unknown) before chunked → 501; empty list elements → 400;
 *    Transfer-Encoding in an HTTP/1.0 request → 400; Content-Length together with
 *    Transfer-Encoding → 400 (rejected, not "TE wins").
 *  - Versions: HTTP/1.1 and HTTP/1.0 only; a well-formed other version → 505, anything
 *    else → 400. Host is required in 1.1 (missing → 400) and must appear at most once.
 *  - Methods: any RFC 9110 token is accepted (extension methods are proxied); the common
 *    methods are recognised as enum h1_method. A non-token method → 400.
 *  - request-target: origin-form ("/..."), absolute-form ("scheme://..."), authority-form
 *    (only and always with CONNECT), asterisk-form ("*", only with OPTIONS); characters
 *    allowed are visible ASCII 0x21-0x7E (no obs-text, no controls) → else 400; a
 *    fragment ('#') or userinfo ('@' in the authority) → 400; an absolute-form scheme
 *    other than http or https (any case) → 400. Host values are limited to
 *    reg-name/IP-literal characters and ':' → else 400.
 *  - Expect: "100-continue" sets H1_F_EXPECT_CONTINUE (HTTP/1.1 only; ignored in 1.0);
 *    any other expectation → 417.
 *  - Chunked bodies: chunk-size is 1*HEXDIG (overflow past 2^62 → 400), whitespace only
 *    as BWS around chunk extensions, extensions validated (token[=token/quoted-string])
 *    and bounded by limits.max_chunk_line; the data must be followed by exactly CRLF.
 *    Trailer fields follow the header rules; Content-Length, Transfer-Encoding and Host
 *    in trailers → 400.
 *  - Limits (struct h1_limits, per listener): request line → 414, header bytes/count
 *    → 431, body size → 413 (Content-Length at head time, chunked while decoding).
 *  - Up to H1_MAX_LEADING_CRLF empty lines (CRLF) before a request line are skipped
 *    (RFC 9112 §2.2); they count in the bytes consumed.
 *
 * Typical use on a connection (evbuffer `in`; nothing is drained until it is consumed):
 *
 *     h1_parser_init(&p, &listener_limits);          // once per request
 *     req.headers = hdrs; req.headers_cap = N;
 *     on read: n = h1_parse_request(&p, evbuffer_pullup(in, -1), evbuffer_get_length(in),
 *                                   &req);
 *       AGAIN -> wait for more bytes (timeouts are the caller's);
 *       ERROR -> answer p.status ("Connection: close") and close;
 *       n > 0 -> use req (slices into the pulled-up bytes, valid until they are drained),
 *                evbuffer_drain(in, n) when done with the head, then
 *                h1_body_init(&body, req.body_kind, req.content_length, &limits, tr, M);
 *     body:  k = h1_body_parse(&body, bytes, len, &span); forward span; drain k; repeat
 *            while k > 0 and !body.done; the bytes after the body are the next request
 *            (pipelining): h1_parser_init() again and parse them.
 *
 * Routing: for an absolute-form target use req.authority, not Host (RFC 9112 §3.2.2).
 * Forwarding: drop headers with H1_HF_HOP_BY_HOP; Content-Length/Transfer-Encoding are
 * re-generated for the outgoing framing.
 *
 * Thread safety: no global mutable state; a parser object is used by one thread.
 */
#ifndef WASP_SRC_HTTP1_H1_H
#define WASP_SRC_HTTP1_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Status vocabulary (negative so that "bytes consumed" can share the return value). */
#define H1_OK 0
#define H1_ERROR (-1)
#define H1_AGAIN (-2)

#define H1_MAX_LEADING_CRLF 8
/* Largest Content-Length / chunk size accepted (2^62): keeps every sum in range. */
#define H1_MAX_LENGTH (UINT64_C(1) << 62)

/* Per-listener (or per-cluster, for responses) limits; fill with h1_limits_default(). */
struct h1_limits {
    uint32_t max_request_line;  /* request/status line incl. CRLF; over → 414 (502 resp.) */
    uint32_t max_head_bytes;    /* whole head incl. request line and final CRLF; → 431 */
    uint32_t max_headers;       /* number of header fields; over → 431 */
    uint32_t max_chunk_line;    /* chunk-size line incl. extensions and CRLF; over → 400 */
    uint32_t max_trailer_bytes; /* trailer section incl. final CRLF; over → 431 */
    uint64_t max_body;          /* body bytes (after de-chunking); 0 = unlimited; → 413 */
};

/* Defaults: 8 KiB request line, 64 KiB head, 100 headers, 4 KiB chunk line, 16 KiB
 * trailers, 1 GiB body. */
void h1_limits_default(struct h1_limits *l);

/* A piece of the caller's buffer: buf + off, len bytes. Not NUL-terminated. */
struct h1_slice {
    uint32_t off;
    uint32_t len;
};

/* Header fields the codec recognises (others are H1_HDR_OTHER). */
enum h1_header_id {
    H1_HDR_OTHER = 0,
    H1_HDR_HOST,
    H1_HDR_CONTENT_LENGTH,
    H1_HDR_TRANSFER_ENCODING,
    H1_HDR_CONNECTION,
    H1_HDR_KEEP_ALIVE,
    H1_HDR_PROXY_CONNECTION,
    H1_HDR_TE,
    H1_HDR_TRAILER,
    H1_HDR_UPGRADE,
    H1_HDR_EXPECT,
};

/* h1_header.flags */
#define H1_HF_HOP_BY_HOP 0x01 /* hop-by-hop: the fixed set or named in Connection */

/* One field line: name and value (OWS trimmed) as slices into the parsed buffer. */
struct h1_header {
    struct h1_slice name;
    struct h1_slice value;
    uint8_t id;    /* enum h1_header_id */
    uint8_t flags; /* H1_HF_* */
};

enum h1_method {
    H1_METHOD_OTHER = 0, /* a valid extension token: see the method slice */
    H1_METHOD_GET,
    H1_METHOD_HEAD,
    H1_METHOD_POST,
    H1_METHOD_PUT,
    H1_METHOD_DELETE,
    H1_METHOD_CONNECT,
    H1_METHOD_OPTIONS,
    H1_METHOD_TRACE,
    H1_METHOD_PATCH,
};

enum h1_target_form {
    H1_TARGET_ORIGIN = 0, /* "/path?query" */
    H1_TARGET_ABSOLUTE,   /* "http://host:port/path": see h1_request.authority */
    H1_TARGET_AUTHORITY,  /* "host:port" (CONNECT) */
    H1_TARGET_ASTERISK,   /* "*" (OPTIONS) */
};

/* How the message body is delimited (RFC 9112 §6.3). */
enum h1_body_kind {
    H1_BODY_NONE = 0,    /* no body (or Content-Length: 0) */
    H1_BODY_LENGTH,      /* content_length bytes */
    H1_BODY_CHUNKED,     /* chunked transfer coding, possibly with trailers */
    H1_BODY_UNTIL_CLOSE, /* responses only: the body ends when the connection closes */
};

/* h1_request.flags / h1_response.flags */
#define H1_F_KEEP_ALIVE 0x01      /* the connection may be reused after this message */
#define H1_F_EXPECT_CONTINUE 0x02 /* request: "Expect: 100-continue" (HTTP/1.1 only) */
#define H1_F_UPGRADE 0x04         /* "Connection: upgrade" with an Upgrade field */
#define H1_F_CONN_CLOSE 0x08      /* "Connection: close" was sent */
#define H1_F_HAS_TRAILER_HDR 0x10 /* a Trailer field announced trailers */

/*
 * A parsed request head. The caller sets `headers` and `headers_cap` (the array the
 * parser fills) before the first call; every slice is relative to the buffer passed to
 * h1_parse_request(). Valid once h1_parse_request() returned > 0.
 */
struct h1_request {
    struct h1_header *headers; /* caller-owned array ... */
    uint32_t headers_cap;      /* ... of this many entries */
    uint32_t nheaders;

    struct h1_slice method;
    struct h1_slice target;    /* as sent */
    struct h1_slice path;      /* origin-form: = target; absolute-form: the path part
                                  ("/" is not synthesised: len 0 if absent) */
    struct h1_slice authority; /* absolute-form: its authority; authority-form: target;
                                  else len 0 */
    struct h1_slice host;      /* value of the Host field (len 0 if none) */
    uint8_t method_id;         /* enum h1_method */
    uint8_t target_form;       /* enum h1_target_form */
    uint8_t version_minor;     /* 0 or 1 (major is always 1) */
    uint8_t body_kind;         /* enum h1_body_kind: NONE, LENGTH or CHUNKED */
    uint32_t flags;            /* H1_F_* */
    uint64_t content_length;   /* for H1_BODY_LENGTH */
    uint32_t head_len;         /* bytes of the head incl. leading CRLFs (= the return) */
};

/* A parsed response head; same conventions as struct h1_request. */
struct h1_response {
    struct h1_header *headers;
    uint32_t headers_cap;
    uint32_t nheaders;

    struct h1_slice reason;
    uint16_t status;         /* 100..999 */
    uint8_t version_minor;   /* 0 or 1 */
    uint8_t body_kind;       /* enum h1_body_kind */
    uint32_t flags;          /* H1_F_* */
    uint64_t content_length; /* for H1_BODY_LENGTH */
    uint32_t head_len;
};

/*
 * Head parser state, shared by requests and responses. Initialise with h1_parser_init()
 * and re-initialise (h1_parser_init again) before each message: a parser holds the
 * progress of ONE head. The limits are borrowed and must outlive the parser.
 * On H1_ERROR, `status` (400, 413, 414, 417, 431, 501, 505; 502 for responses) and
 * `reason` tell why. 417: an Expect other than 100-continue in an HTTP/1.1 request.
 */
struct h1_parser {
    const struct h1_limits *limits;
    uint32_t pos;     /* start of the first line not yet parsed */
    uint32_t scanned; /* bytes already searched for LF (>= pos) */
    uint8_t phase;    /* internal */
    uint8_t leading;  /* leading CRLFs skipped */
    uint16_t status;
    const char *reason;
    /* internal: per-head accumulation */
    uint32_t head_start;
    uint32_t ncl, nte, nhost;
    uint32_t te_flags;
};

void h1_parser_init(struct h1_parser *p, const struct h1_limits *limits);

/*
 * Parse (part of) a request head. `buf` must start at the first byte of the request
 * (after any previously consumed message) and hold every byte received so far; on
 * H1_AGAIN call again with the same parser, the same `req` and the same bytes plus more
 * (the buffer may move: nothing points into it). Already-parsed lines are not re-read.
 * Passing fewer bytes than in an earlier call is a caller bug: H1_ERROR, status 500.
 *
 * @return head length in bytes (> 0) when the head is complete: req is filled and the
 *         body (req->body_kind) starts at buf + return; H1_AGAIN; or H1_ERROR with
 *         p->status / p->reason set.
 */
ssize_t h1_parse_request(struct h1_parser *p, const char *buf, size_t len, struct h1_request *req);

/*
 * Parse (part of) an upstream response head; same calling convention as
 * h1_parse_request(). `req_method` is the method of the request it answers (HEAD and
 * CONNECT change the framing). A 1xx interim response (100 Continue, 103) returns its
 * head length with body_kind NONE: the caller handles it and parses the next head after
 * it with a freshly initialised parser. 101 keeps body_kind NONE: the connection then
 * switches protocols (101 without an Upgrade field is an error). Framing: no body for
 * HEAD, 1xx, 204, 304 and 2xx to CONNECT; chunked if Transfer-Encoding is exactly
 * "chunked"; read-until-close (never keep-alive) if neither Transfer-Encoding nor
 * Content-Length is present. Errors (p->status always 502): the request-side syntax
 * rules and limits, CL+TE, duplicate/bad CL, any other transfer coding (we could not
 * re-frame it for the client), a status outside 100..599, leading empty lines.
 */
ssize_t h1_parse_response(struct h1_parser *p, const char *buf, size_t len,
                          enum h1_method req_method, struct h1_response *resp);

/* A body piece: buf + off, len bytes (relative to the buffer of the same call). */
struct h1_span {
    size_t off;
    size_t len;
};

/*
 * Body decoder state (Content-Length, chunked incl. trailers, until-close).
 * Trailers, if any, are stored in the caller's array `trailers` (capacity trailers_cap,
 * may be 0: then any trailer field → 431) as slices relative to the buffer of the
 * h1_body_parse() call that returned with `done` set.
 */
struct h1_body {
    const struct h1_limits *limits;
    uint8_t kind;  /* enum h1_body_kind */
    uint8_t state; /* internal */
    bool done;     /* the whole body (and trailers) has been consumed */
    uint16_t status;
    const char *reason;
    uint64_t remaining; /* LENGTH: bytes left; CHUNKED: bytes left in this chunk */
    uint64_t total;     /* body bytes delivered so far */
    struct h1_header *trailers;
    uint32_t trailers_cap;
    uint32_t ntrailers;
    uint32_t scanned; /* internal: trailer section bytes already searched */
    uint32_t tpos;    /* internal: trailer lines already parsed */
};

/*
 * Start decoding a body of `kind` (content_length used for H1_BODY_LENGTH). For
 * H1_BODY_NONE (or LENGTH with 0) the body is done at once.
 */
void h1_body_init(struct h1_body *b, enum h1_body_kind kind, uint64_t content_length,
                  const struct h1_limits *limits, struct h1_header *trailers,
                  uint32_t trailers_cap);

/*
 * Consume body bytes from `buf`. Returns the number of bytes consumed (>= 0, 0 only when
 * the body is already done or len is 0) and sets *data to the piece of payload inside
 * them (len 0 if the call only consumed framing); call again with the rest. Returns
 * H1_AGAIN when a syntactic unit (chunk-size line, CRLF after data, trailer section) is
 * incomplete: nothing is consumed; call again with those bytes plus more. Returns
 * H1_ERROR with b->status (400 bad framing, 413 over limits.max_body, 431 trailers too
 * large) and b->reason; an error met after payload was delivered in the same call is
 * returned by the next call instead, so the payload before it is always delivered and the
 * outcome never depends on how the input was split. Bytes after the end of the body are
 * never consumed (pipelining).
 */
ssize_t h1_body_parse(struct h1_body *b, const char *buf, size_t len, struct h1_span *data);

/*
 * The connection reached EOF. @return H1_OK if the body is complete (done, or a
 * read-until-close body, which this marks done), H1_ERROR if it was truncated.
 */
int h1_body_eof(struct h1_body *b);

/* ---- lookups (case-insensitive names, slices relative to `buf`) ---- */

/* True if the `len` bytes at a and b are equal ignoring ASCII case. */
bool h1_name_eq(const char *a, const char *b, size_t len);

/*
 * Index of the first header at or after `from` whose name equals `name` (ASCII
 * case-insensitive), or -1.
 */
int h1_header_find(const char *buf, const struct h1_header *hdrs, uint32_t n, const char *name,
                   size_t name_len, uint32_t from);

/*
 * True if `name` is hop-by-hop for a message with these headers: Connection, Keep-Alive,
 * Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, or a name listed in a
 * Connection field. (The parsers already set H1_HF_HOP_BY_HOP on such headers; use this
 * for names added later, e.g. by a plugin.)
 */
bool h1_is_hop_by_hop(const char *buf, const struct h1_header *hdrs, uint32_t n, const char *name,
                      size_t name_len);

/*
 * Walks a comma-separated list value; for each element calls back with the element's
 * bytes (OWS trimmed; may be empty). The callback returns false to stop.
 * @return false when the callback stopped the walk.
 */
typedef bool (*h1_list_cb)(void *ctx, const unsigned char *el, uint32_t len);
bool h1_list_walk(const unsigned char *v, uint32_t len, h1_list_cb cb, void *ctx);

/* True if the list-valued field value contains `token` (ASCII case-insensitive). */
bool h1_list_has_token(const char *value, size_t len, const char *token, size_t tlen);

/* ---- writers ---- */

/* A field to write; pointers into any memory, not slices. */
struct h1_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/*
 * Serialise "METHOD SP target SP HTTP/1.<minor> CRLF" + fields + CRLF into out[cap].
 * Works like snprintf: returns the full length of the head, and writes it only if it is
 * <= cap (nothing is written otherwise). Returns H1_ERROR (nothing written) if the method
 * is not a token, the target contains SP/controls, a name is not a token or a value
 * contains CR, LF, NUL or another control (header injection by a plugin).
 */
ssize_t h1_write_request_head(char *out, size_t cap, const char *method, size_t method_len,
                              const char *target, size_t target_len, int version_minor,
                              const struct h1_field *fields, size_t nfields);

/*
 * Serialise "HTTP/1.<minor> SP status SP reason CRLF" + fields + CRLF; `reason` NULL
 * means h1_status_reason(status). Same return convention as h1_write_request_head();
 * status must be 100..999.
 */
ssize_t h1_write_response_head(char *out, size_t cap, int status, const char *reason,
                               int version_minor, const struct h1_field *fields, size_t nfields);

/* Room always enough for h1_write_chunk_header(): 16 hex digits + CRLF. */
#define H1_CHUNK_HEADER_MAX 18

/* Write "<hex size>CRLF" (size > 0) into out (>= H1_CHUNK_HEADER_MAX bytes); after the
 * data the caller writes "\r\n". @return bytes written. */
size_t h1_write_chunk_header(char *out, uint64_t size);

/*
 * Write the last chunk "0" CRLF, the trailer fields and the final CRLF. Same return
 * convention as h1_write_request_head().
 */
ssize_t h1_write_last_chunk(char *out, size_t cap, const struct h1_field *trailers,
                            size_t ntrailers);

/* The standard reason phrase of `status` ("Unknown" if none). Static string. */
const char *h1_status_reason(int status);

/* Name of a method id ("GET"...), NULL for H1_METHOD_OTHER. */
const char *h1_method_name(enum h1_method m);
/* The id of a method name (case-sensitive, as methods are); H1_METHOD_OTHER if none. */
enum h1_method h1_method_id(const char *name, size_t len);

#endif
