/*
 * parse.c - HTTP/1.x head parsers: requests (h1_parse_request) and upstream responses
 * (h1_parse_response), plus the header lookup helpers.
 *
 * The parser is incremental at line granularity: memchr() finds the next LF, then the
 * complete line is validated in one table-driven pass whose loops stop on the line's CR
 * (a sentinel, so no per-byte bounds check). A line is parsed exactly once; an
 * incomplete line is only searched for its LF again. Limits are checked before a line is
 * parsed, so a given input gives the same answer however it is split.
 */
#include <string.h>

#include "h1_int.h"

/* GNU range designators keep the tables readable; ranges never overlap. */
const uint8_t h1_tchar[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1,
    ['%'] = 1,         ['&'] = 1,         ['\''] = 1,        ['*'] = 1, ['+'] = 1, ['-'] = 1,
    ['.'] = 1,         ['^'] = 1,         ['_'] = 1,         ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

const uint8_t h1_vchar[256] = {
    ['\t'] = 1,
    [0x20 ... 0x7e] = 1,
    [0x80 ... 0xff] = 1,
};

/* request-target: visible ASCII only (no SP, controls, DEL or obs-text). */
static const uint8_t target_char[256] = {
    [0x21 ... 0x7e] = 1,
};

/* Host field value: reg-name / IPv4 / IP-literal characters and ':' port. */
static const uint8_t host_char[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['-'] = 1, ['.'] = 1, ['_'] = 1,
    ['~'] = 1,         ['%'] = 1,         ['!'] = 1,         ['$'] = 1, ['&'] = 1, ['\''] = 1,
    ['('] = 1,         [')'] = 1,         ['*'] = 1,         ['+'] = 1, [','] = 1, [';'] = 1,
    ['='] = 1,         [':'] = 1,         ['['] = 1,         [']'] = 1,
};

/* clang-format off */
#define L8(b) (b), (b) + 1, (b) + 2, (b) + 3, (b) + 4, (b) + 5, (b) + 6, (b) + 7
#define L32(b) L8(b), L8((b) + 8), L8((b) + 16), L8((b) + 24)
const uint8_t h1_lower[256] = {
    L32(0x00), L32(0x20),
    0x40, L8('a'), L8('a' + 8), L8('a' + 16), 'y', 'z', 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
    L32(0x60), L32(0x80), L32(0xa0), L32(0xc0), L32(0xe0),
};
/* clang-format on */

#define U(c) ((uint8_t)(c))

static inline bool is_digit(unsigned c)
{
    return c - '0' < 10u;
}

static inline bool is_alpha(unsigned c)
{
    return (c | 0x20) - 'a' < 26u;
}

/* parser phases */
enum { PH_FIRST = 0, PH_FIELDS };

/* h1_parser.te_flags: what the Transfer-Encoding list(s) contained, in order */
#define TE_LAST_CHUNKED 0x01  /* the last element so far is "chunked" */
#define TE_CHUNKED_EARLY 0x02 /* "chunked" was followed by another element */
#define TE_OTHER 0x04         /* a coding other than chunked (known or not) */
#define TE_BAD 0x08           /* syntax: empty element, parameters on chunked, ... */

/* per-head Connection tokens, kept in te_flags' upper bits */
#define CONN_CLOSE 0x100
#define CONN_KEEP_ALIVE 0x200
#define CONN_UPGRADE 0x400
#define CONN_OTHER 0x800
#define HAS_UPGRADE 0x1000
#define HAS_EXPECT_CONTINUE 0x2000
#define HAS_TRAILER 0x4000

void h1_limits_default(struct h1_limits *l)
{
    l->max_request_line = 8192;
    l->max_head_bytes = 65536;
    l->max_headers = 100;
    l->max_chunk_line = 4096;
    l->max_trailer_bytes = 16384;
    l->max_body = UINT64_C(1) << 30;
}

void h1_parser_init(struct h1_parser *p, const struct h1_limits *limits)
{
    memset(p, 0, sizeof(*p));
    p->limits = limits;
}

bool h1_name_eq(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (h1_lower[U(a[i])] != h1_lower[U(b[i])])
            return false;
    }
    return true;
}

/* Equal to the lower-case literal `lit` (len bytes) ignoring case in `s`. */
static bool eq_lit(const char *s, const char *lit, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (h1_lower[U(s[i])] != U(lit[i]))
            return false;
    }
    return true;
}

#define EQ(s, n, lit) ((n) == sizeof(lit) - 1 && eq_lit((s), (lit), sizeof(lit) - 1))

static uint8_t header_id(const char *n, uint32_t len)
{
    switch (len) {
    case 2:
        return EQ(n, len, "te") ? H1_HDR_TE : H1_HDR_OTHER;
    case 4:
        return EQ(n, len, "host") ? H1_HDR_HOST : H1_HDR_OTHER;
    case 6:
        return EQ(n, len, "expect") ? H1_HDR_EXPECT : H1_HDR_OTHER;
    case 7:
        if (EQ(n, len, "trailer"))
            return H1_HDR_TRAILER;
        return EQ(n, len, "upgrade") ? H1_HDR_UPGRADE : H1_HDR_OTHER;
    case 10:
        if (EQ(n, len, "connection"))
            return H1_HDR_CONNECTION;
        return EQ(n, len, "keep-alive") ? H1_HDR_KEEP_ALIVE : H1_HDR_OTHER;
    case 14:
        return EQ(n, len, "content-length") ? H1_HDR_CONTENT_LENGTH : H1_HDR_OTHER;
    case 16:
        return EQ(n, len, "proxy-connection") ? H1_HDR_PROXY_CONNECTION : H1_HDR_OTHER;
    case 17:
        return EQ(n, len, "transfer-encoding") ? H1_HDR_TRANSFER_ENCODING : H1_HDR_OTHER;
    default:
        return H1_HDR_OTHER;
    }
}

/*
 * Index of the first byte in b[i, e] that is not a field-value octet (b[e] is the line's
 * CR, so at most e). Eight bytes at a time: a word with no byte < 0x20 and no DEL is all
 * valid (obs-text >= 0x80 is valid too); a word that has one, e.g. an HTAB, is finished
 * bytewise.
 */
static uint32_t value_scan(const unsigned char *b, uint32_t i, uint32_t e)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (e - i >= 8) {
        uint64_t x, del;
        memcpy(&x, b + i, 8);
        del = x ^ (ones * 0x7f);
        if (((x - ones * 0x20) & ~x & highs) | ((del - ones) & ~del & highs))
            break;
        i += 8;
    }
    while (h1_vchar[b[i]])
        i++;
    return i;
}

int h1_field_line_parse(const char *buf, uint32_t s, uint32_t e, struct h1_header *h,
                        const char **reason)
{
    const unsigned char *b = (const unsigned char *)buf;
    uint32_t i = s;

    if (b[i] == ' ' || b[i] == '\t') {
        *reason = "obsolete line folding";
        return -1;
    }
    while (h1_tchar[b[i]])
        i++;
    if (b[i] != ':') {
        if (b[i] == ' ' || b[i] == '\t')
            *reason = "whitespace before colon";
        else
            *reason = "invalid character in field name";
        return -1;
    }
    if (i == s) {
        *reason = "empty field name";
        return -1;
    }
    h->name.off = s;
    h->name.len = i - s;
    i++;
    while (b[i] == ' ' || b[i] == '\t')
        i++;
    uint32_t vs = i;
    i = value_scan(b, i, e);
    if (i != e) {
        *reason = b[i] == '\r' ? "bare CR in field value" : "control character in field value";
        return -1;
    }
    while (i > vs && (b[i - 1] == ' ' || b[i - 1] == '\t'))
        i--;
    h->value.off = vs;
    h->value.len = i - vs;
    h->id = header_id(buf + s, h->name.len);
    h->flags = 0;
    return 0;
}

/* Everything that makes a request and a response head differ, for the shared loop. */
struct head {
    bool is_request;
    struct h1_header *headers;
    uint32_t headers_cap;
    uint32_t *nheaders;
    uint8_t version_minor;
    struct h1_request *req;
    struct h1_response *resp;
};

static ssize_t fail(struct h1_parser *p, uint16_t status, const char *reason)
{
    p->status = status;
    p->reason = reason;
    return H1_ERROR;
}

/*
 * Parse "HTTP/1.x" at b[i..i+8). @return 0 or 1 (minor), -2 if well-formed but not
 * 1.0/1.1, -1 if malformed.
 */
static int parse_version(const unsigned char *b, uint32_t i)
{
    if (memcmp(b + i, "HTTP/", 5) != 0)
        return -1;
    if (!is_digit(b[i + 5]) || b[i + 6] != '.' || !is_digit(b[i + 7]))
        return -1;
    if (b[i + 5] == '1' && (b[i + 7] == '0' || b[i + 7] == '1'))
        return b[i + 7] - '0';
    return -2;
}

static uint8_t method_id(const char *m, uint32_t len)
{
    switch (len) {
    case 3:
        if (memcmp(m, "GET", 3) == 0)
            return H1_METHOD_GET;
        return memcmp(m, "PUT", 3) == 0 ? H1_METHOD_PUT : H1_METHOD_OTHER;
    case 4:
        if (memcmp(m, "POST", 4) == 0)
            return H1_METHOD_POST;
        return memcmp(m, "HEAD", 4) == 0 ? H1_METHOD_HEAD : H1_METHOD_OTHER;
    case 5:
        if (memcmp(m, "PATCH", 5) == 0)
            return H1_METHOD_PATCH;
        return memcmp(m, "TRACE", 5) == 0 ? H1_METHOD_TRACE : H1_METHOD_OTHER;
    case 6:
        return memcmp(m, "DELETE", 6) == 0 ? H1_METHOD_DELETE : H1_METHOD_OTHER;
    case 7:
        if (memcmp(m, "OPTIONS", 7) == 0)
            return H1_METHOD_OPTIONS;
        return memcmp(m, "CONNECT", 7) == 0 ? H1_METHOD_CONNECT : H1_METHOD_OTHER;
    default:
        return H1_METHOD_OTHER;
    }
}

static const char *const method_names[] = {
    [H1_METHOD_GET] = "GET",         [H1_METHOD_HEAD] = "HEAD",     [H1_METHOD_POST] = "POST",
    [H1_METHOD_PUT] = "PUT",         [H1_METHOD_DELETE] = "DELETE", [H1_METHOD_CONNECT] = "CONNECT",
    [H1_METHOD_OPTIONS] = "OPTIONS", [H1_METHOD_TRACE] = "TRACE",   [H1_METHOD_PATCH] = "PATCH",
};

const char *h1_method_name(enum h1_method m)
{
    if ((unsigned)m >= sizeof(method_names) / sizeof(method_names[0]))
        return NULL;
    return method_names[m];
}

enum h1_method h1_method_id(const char *name, size_t len)
{
    for (size_t i = 1; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
        const char *n = method_names[i];
        if (n != NULL && strlen(n) == len && memcmp(n, name, len) == 0)
            return (enum h1_method)i;
    }
    return H1_METHOD_OTHER;
}

/* authority-form for CONNECT: host ":" port, host non-empty, port 1*DIGIT. */
static bool authority_form_ok(const unsigned char *b, uint32_t s, uint32_t len)
{
    uint32_t colon = len;
    for (uint32_t i = 0; i < len; i++) {
        if (!host_char[b[s + i]])
            return false;
        if (b[s + i] == ':')
            colon = i;
    }
    if (colon == 0 || colon + 1 >= len)
        return false;
    for (uint32_t i = colon + 1; i < len; i++) {
        if (!is_digit(b[s + i]))
            return false;
    }
    return true;
}

/* Classify the request-target req->target; fill path and authority. */
static ssize_t parse_target(struct h1_parser *p, const unsigned char *b, struct h1_request *req)
{
    uint32_t s = req->target.off, len = req->target.len;

    if (memchr(b + s, '#', len))
        return fail(p, 400, "fragment in request-target");
    if (req->method_id == H1_METHOD_CONNECT) {
        if (!authority_form_ok(b, s, len))
            return fail(p, 400, "CONNECT needs an authority-form target");
        req->target_form = H1_TARGET_AUTHORITY;
        req->authority = req->target;
        return 0;
    }
    if (b[s] == '/') {
        req->target_form = H1_TARGET_ORIGIN;
        req->path = req->target;
        return 0;
    }
    if (len == 1 && b[s] == '*') {
        if (req->method_id != H1_METHOD_OPTIONS)
            return fail(p, 400, "asterisk-form target needs OPTIONS");
        req->target_form = H1_TARGET_ASTERISK;
        return 0;
    }
    /* absolute-form: scheme "://" authority [path-abempty] ["?" query] */
    uint32_t i = 0;
    if (!is_alpha(b[s]))
        return fail(p, 400, "invalid request-target");
    while (i < len && (is_alpha(b[s + i]) || is_digit(b[s + i]) || b[s + i] == '+' ||
                       b[s + i] == '-' || b[s + i] == '.'))
        i++;
    if (len - i < 3 || memcmp(b + s + i, "://", 3) != 0)
        return fail(p, 400, "invalid request-target");
    /* A proxy for http and https only (RFC 9112 §3.2.2). */
    if (!EQ((const char *)b + s, i, "http") && !EQ((const char *)b + s, i, "https"))
        return fail(p, 400, "request-target scheme is not http or https");
    i += 3;
    uint32_t a = i;
    while (i < len && b[s + i] != '/' && b[s + i] != '?')
        i++;
    if (memchr(b + s + a, '@', i - a))
        return fail(p, 400, "userinfo in request-target");
    for (uint32_t k = a; k < i; k++) {
        if (!host_char[b[s + k]])
            return fail(p, 400, "invalid authority in request-target");
    }
    if (i == a)
        return fail(p, 400, "empty authority in request-target");
    req->target_form = H1_TARGET_ABSOLUTE;
    req->authority.off = s + a;
    req->authority.len = i - a;
    req->path.off = s + i;
    req->path.len = len - i;
    return 0;
}

/*
 * Index of the first byte in b[i, e] that is not a request-target character (b[e] is the
 * line's CR). Eight bytes at a time like value_scan(): a word with no byte <= 0x20, no
 * DEL and no byte >= 0x80 is all valid.
 */
static uint32_t target_scan(const unsigned char *b, uint32_t i, uint32_t e)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (e - i >= 8) {
        uint64_t x, del;
        memcpy(&x, b + i, 8);
        del = x ^ (ones * 0x7f);
        if (((x - ones * 0x21) & ~x & highs) | ((del - ones) & ~del & highs) | (x & highs))
            break;
        i += 8;
    }
    while (target_char[b[i]])
        i++;
    return i;
}

/* Request line b[s, e), b[e] == '\r'. */
static ssize_t parse_request_line(struct h1_parser *p, const unsigned char *b, uint32_t s,
                                  uint32_t e, struct h1_request *req)
{
    uint32_t i = s;

    while (h1_tchar[b[i]])
        i++;
    if (i == s || b[i] != ' ')
        return fail(p, 400, "invalid method");
    req->method.off = s;
    req->method.len = i - s;
    req->method_id = method_id((const char *)b + s, i - s);

    uint32_t t = ++i;
    i = target_scan(b, i, e);
    if (i == t || b[i] != ' ')
        return fail(p, 400,
                    i == t         ? "invalid request-target"
                    : b[i] == '\r' ? "missing HTTP version"
                                   : "invalid character in request-target");
    req->target.off = t;
    req->target.len = i - t;
    i++;
    if (e - i != 8)
        return fail(p, 400, "invalid HTTP version");
    int v = parse_version(b, i);
    if (v == -1)
        return fail(p, 400, "invalid HTTP version");
    if (v == -2)
        return fail(p, 505, "HTTP version not supported");
    req->version_minor = (uint8_t)v;
    return parse_target(p, b, req);
}

/* Status line b[s, e): "HTTP/1.x" SP 3DIGIT [SP reason]. */
static ssize_t parse_status_line(struct h1_parser *p, const unsigned char *b, uint32_t s,
                                 uint32_t e, struct h1_response *resp)
{
    if (e - s < 12 || b[s + 8] != ' ')
        return fail(p, 502, "invalid status line");
    int v = parse_version(b, s);
    if (v < 0)
        return fail(p, 502, "invalid HTTP version in status line");
    resp->version_minor = (uint8_t)v;
    unsigned d0 = b[s + 9] - '0', d1 = b[s + 10] - '0', d2 = b[s + 11] - '0';
    if (d0 > 9 || d1 > 9 || d2 > 9 || d0 < 1 || d0 > 5)
        return fail(p, 502, "invalid status code");
    resp->status = (uint16_t)(d0 * 100 + d1 * 10 + d2);
    uint32_t i = s + 12;
    resp->reason.off = i;
    resp->reason.len = 0;
    if (i == e)
        return 0;
    if (b[i] != ' ')
        return fail(p, 502, "invalid status line");
    i++;
    resp->reason.off = i;
    while (h1_vchar[b[i]])
        i++;
    if (i != e)
        return fail(p, 502, "control character in reason phrase");
    resp->reason.len = e - resp->reason.off;
    return 0;
}

/* Content-Length value: 1*DIGIT, at most H1_MAX_LENGTH. */
static bool parse_length(const unsigned char *v, uint32_t len, uint64_t *out)
{
    uint64_t n = 0;
    if (len == 0)
        return false;
    for (uint32_t i = 0; i < len; i++) {
        unsigned d = v[i] - '0';
        if (d > 9 || n > (H1_MAX_LENGTH - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

bool h1_list_walk(const unsigned char *v, uint32_t len, h1_list_cb cb, void *ctx)
{
    uint32_t i = 0;
    for (;;) {
        while (i < len && (v[i] == ' ' || v[i] == '\t'))
            i++;
        uint32_t s = i;
        while (i < len && v[i] != ',')
            i++;
        uint32_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (!cb(ctx, v + s, e - s))
            return false;
        if (i >= len)
            return true;
        i++;
    }
}

static bool te_element(void *ctx, const unsigned char *el, uint32_t len)
{
    uint32_t *f = ctx;
    if (*f & TE_LAST_CHUNKED)
        *f = (*f & ~TE_LAST_CHUNKED) | TE_CHUNKED_EARLY;
    if (len == 0) {
        *f |= TE_BAD;
        return true;
    }
    uint32_t n = 0;
    while (n < len && h1_tchar[el[n]])
        n++;
    if (n == 0)
        *f |= TE_BAD;
    else if (EQ((const char *)el, n, "chunked"))
        *f |= n == len ? TE_LAST_CHUNKED : TE_BAD; /* chunked takes no parameters */
    else
        *f |= TE_OTHER;
    return true;
}

static bool conn_element(void *ctx, const unsigned char *el, uint32_t len)
{
    uint32_t *f = ctx;
    const char *s = (const char *)el;
    if (EQ(s, len, "close"))
        *f |= CONN_CLOSE;
    else if (EQ(s, len, "keep-alive"))
        *f |= CONN_KEEP_ALIVE;
    else if (EQ(s, len, "upgrade"))
        *f |= CONN_UPGRADE;
    else if (len)
        *f |= CONN_OTHER;
    return true;
}

/* Apply what one recognised field means for framing and connection management. */
static ssize_t field_semantics(struct h1_parser *p, const unsigned char *b, struct head *h,
                               struct h1_header *f)
{
    const unsigned char *v = b + f->value.off;
    uint32_t vl = f->value.len;
    uint64_t cl;

    switch (f->id) {
    case H1_HDR_HOST:
        if (!h->is_request)
            break;
        if (++p->nhost > 1)
            return fail(p, 400, "duplicate Host");
        for (uint32_t i = 0; i < vl; i++) {
            if (!host_char[v[i]])
                return fail(p, 400, "invalid Host");
        }
        h->req->host = f->value;
        break;
    case H1_HDR_CONTENT_LENGTH:
        if (++p->ncl > 1)
            return fail(p, 400, "duplicate Content-Length");
        if (!parse_length(v, vl, &cl))
            return fail(p, 400, "invalid Content-Length");
        if (h->is_request)
            h->req->content_length = cl;
        else
            h->resp->content_length = cl;
        break;
    case H1_HDR_TRANSFER_ENCODING:
        p->nte++;
        f->flags |= H1_HF_HOP_BY_HOP;
        h1_list_walk(v, vl, te_element, &p->te_flags);
        break;
    case H1_HDR_CONNECTION:
        f->flags |= H1_HF_HOP_BY_HOP;
        h1_list_walk(v, vl, conn_element, &p->te_flags);
        break;
    case H1_HDR_UPGRADE:
        p->te_flags |= HAS_UPGRADE;
        f->flags |= H1_HF_HOP_BY_HOP;
        break;
    case H1_HDR_EXPECT:
        if (!h->is_request || h->version_minor == 0)
            break; /* RFC 9110 §10.1.1: ignored in HTTP/1.0 */
        if (!EQ((const char *)v, vl, "100-continue"))
            return fail(p, 417, "unsupported expectation");
        p->te_flags |= HAS_EXPECT_CONTINUE;
        break;
    case H1_HDR_TRAILER:
        p->te_flags |= HAS_TRAILER;
        f->flags |= H1_HF_HOP_BY_HOP;
        break;
    case H1_HDR_KEEP_ALIVE:
    case H1_HDR_PROXY_CONNECTION:
    case H1_HDR_TE:
        f->flags |= H1_HF_HOP_BY_HOP;
        break;
    default:
        break;
    }
    return 0;
}

struct mark_ctx {
    const char *buf;
    struct h1_header *hdrs;
    uint32_t n;
};

static bool mark_element(void *ctx, const unsigned char *el, uint32_t len)
{
    struct mark_ctx *m = ctx;
    for (uint32_t i = 0; i < m->n; i++) {
        if (m->hdrs[i].name.len == len &&
            h1_name_eq(m->buf + m->hdrs[i].name.off, (const char *)el, len))
            m->hdrs[i].flags |= H1_HF_HOP_BY_HOP;
    }
    return true;
}

/* Mark the headers named in Connection fields as hop-by-hop. */
static void mark_connection_options(const char *buf, struct h1_header *hdrs, uint32_t n)
{
    struct mark_ctx m = {buf, hdrs, n};
    for (uint32_t i = 0; i < n; i++) {
        if (hdrs[i].id == H1_HDR_CONNECTION)
            h1_list_walk((const unsigned char *)buf + hdrs[i].value.off, hdrs[i].value.len,
                      mark_element, &m);
    }
}

static uint32_t keep_alive_flags(uint32_t tf, uint8_t minor)
{
    uint32_t flags = 0;
    if (tf & CONN_CLOSE)
        flags |= H1_F_CONN_CLOSE;
    else if (minor == 1 || (tf & CONN_KEEP_ALIVE))
        flags |= H1_F_KEEP_ALIVE;
    if ((tf & CONN_UPGRADE) && (tf & HAS_UPGRADE))
        flags |= H1_F_UPGRADE;
    return flags;
}

static ssize_t finish_request(struct h1_parser *p, const char *buf, struct h1_request *req)
{
    uint32_t tf = p->te_flags;

    if (req->version_minor == 1 && p->nhost == 0)
        return fail(p, 400, "missing Host");
    if (p->nte) {
        if (req->version_minor == 0)
            return fail(p, 400, "Transfer-Encoding in HTTP/1.0");
        if (p->ncl)
            return fail(p, 400, "both Content-Length and Transfer-Encoding");
        if ((tf & TE_BAD) || (tf & TE_CHUNKED_EARLY) || !(tf & TE_LAST_CHUNKED))
            return fail(p, 400, "chunked is not the final transfer coding");
        if (tf & TE_OTHER)
            return fail(p, 501, "transfer coding not implemented");
        req->body_kind = H1_BODY_CHUNKED;
    } else if (p->ncl && req->content_length > 0) {
        if (p->limits->max_body && req->content_length > p->limits->max_body)
            return fail(p, 413, "request body too large");
        req->body_kind = H1_BODY_LENGTH;
    } else {
        req->body_kind = H1_BODY_NONE;
    }
    req->flags = keep_alive_flags(tf, req->version_minor);
    if (tf & HAS_EXPECT_CONTINUE)
        req->flags |= H1_F_EXPECT_CONTINUE;
    if (tf & HAS_TRAILER)
        req->flags |= H1_F_HAS_TRAILER_HDR;
    if (tf & CONN_OTHER)
        mark_connection_options(buf, req->headers, req->nheaders);
    return 0;
}

static ssize_t finish_response(struct h1_parser *p, const char *buf, enum h1_method m,
                               struct h1_response *resp)
{
    uint32_t tf = p->te_flags;
    uint16_t st = resp->status;

    if (p->nte && p->ncl)
        return fail(p, 502, "both Content-Length and Transfer-Encoding");
    if (p->nte && resp->version_minor == 0)
        return fail(p, 502, "Transfer-Encoding in HTTP/1.0"); /* RFC 9112 §6.1: faulty */
    resp->flags = keep_alive_flags(tf, resp->version_minor);
    if (st == 101 && !(tf & HAS_UPGRADE))
        return fail(p, 502, "101 without Upgrade");
    if (st < 200 || st == 204 || st == 304 || m == H1_METHOD_HEAD ||
        (m == H1_METHOD_CONNECT && st < 300)) {
        resp->body_kind = H1_BODY_NONE;
    } else if (p->nte) {
        if ((tf & 0xff) != TE_LAST_CHUNKED)
            return fail(p, 502, "unsupported transfer coding in response");
        resp->body_kind = H1_BODY_CHUNKED;
    } else if (p->ncl) {
        resp->body_kind = resp->content_length ? H1_BODY_LENGTH : H1_BODY_NONE;
    } else {
        resp->body_kind = H1_BODY_UNTIL_CLOSE;
        resp->flags &= ~(uint32_t)H1_F_KEEP_ALIVE;
    }
    if (tf & HAS_TRAILER)
        resp->flags |= H1_F_HAS_TRAILER_HDR;
    if (tf & CONN_OTHER)
        mark_connection_options(buf, resp->headers, resp->nheaders);
    return 0;
}

/*
 * The shared line loop. Returns the head length when the empty line is reached (the
 * caller then runs its finish step), H1_AGAIN or H1_ERROR.
 */
static ssize_t parse_lines(struct h1_parser *p, const char *buf, size_t len, struct head *h)
{
    const struct h1_limits *lim = p->limits;
    const unsigned char *b = (const unsigned char *)buf;
    /* Nothing past this can belong to the head: keeps offsets in uint32_t range. */
    size_t cap = (size_t)lim->max_head_bytes + 2 * H1_MAX_LEADING_CRLF + 1;
    uint16_t limit_status = h->is_request ? 0 : 502;

    if (len > cap)
        len = cap;
    if (len < p->scanned)
        return fail(p, 500, "buffer shrank between calls"); /* caller bug: never read past */
    for (;;) {
        const unsigned char *lf = memchr(b + p->scanned, '\n', len - p->scanned);
        if (!lf) {
            p->scanned = (uint32_t)len;
            if (p->phase == PH_FIRST && len - p->pos > lim->max_request_line)
                return fail(p, limit_status ? limit_status : 414, "start line too long");
            if (len - p->head_start > lim->max_head_bytes)
                return fail(p, limit_status ? limit_status : 431, "header section too large");
            return H1_AGAIN;
        }
        uint32_t eol = (uint32_t)(lf - b);
        p->scanned = eol + 1;
        if (p->phase == PH_FIRST && eol + 1 - p->pos > lim->max_request_line)
            return fail(p, limit_status ? limit_status : 414, "start line too long");
        if (eol + 1 - p->head_start > lim->max_head_bytes)
            return fail(p, limit_status ? limit_status : 431, "header section too large");
        if (eol == p->pos || b[eol - 1] != '\r')
            return fail(p, limit_status ? limit_status : 400, "bare LF");
        uint32_t s = p->pos, e = eol - 1;
        ssize_t rc;
        if (p->phase == PH_FIRST) {
            if (s == e) {
                if (!h->is_request || ++p->leading > H1_MAX_LEADING_CRLF)
                    return fail(p, limit_status ? limit_status : 400, "empty line before head");
                p->pos = p->head_start = eol + 1;
                continue;
            }
            if (h->is_request)
                rc = parse_request_line(p, b, s, e, h->req);
            else
                rc = parse_status_line(p, b, s, e, h->resp);
            if (rc < 0)
                return rc;
            h->version_minor = h->is_request ? h->req->version_minor : h->resp->version_minor;
            p->phase = PH_FIELDS;
        } else if (s == e) {
            return eol + 1;
        } else {
            uint32_t n = *h->nheaders;
            uint32_t max = lim->max_headers < h->headers_cap ? lim->max_headers : h->headers_cap;
            if (n >= max)
                return fail(p, limit_status ? limit_status : 431, "too many header fields");
            const char *why;
            if (h1_field_line_parse(buf, s, e, &h->headers[n], &why) < 0)
                return fail(p, limit_status ? limit_status : 400, why);
            *h->nheaders = n + 1;
            if (h->headers[n].id != H1_HDR_OTHER) {
                rc = field_semantics(p, b, h, &h->headers[n]);
                if (rc < 0)
                    return limit_status ? fail(p, 502, p->reason) : rc;
            }
        }
        p->pos = eol + 1;
    }
}

ssize_t h1_parse_request(struct h1_parser *p, const char *buf, size_t len, struct h1_request *req)
{
    struct head h = {
        .is_request = true,
        .headers = req->headers,
        .headers_cap = req->headers_cap,
        .nheaders = &req->nheaders,
        .version_minor = req->version_minor,
        .req = req,
    };

    if (p->phase == PH_FIRST && p->pos == 0 && p->scanned == 0) {
        req->nheaders = 0;
        req->host.off = req->host.len = 0;
        req->path = req->authority = req->host;
        req->content_length = 0;
        req->flags = 0;
    }
    if (p->status)
        return H1_ERROR;
    ssize_t n = parse_lines(p, buf, len, &h);
    if (n < 0)
        return n;
    if (finish_request(p, buf, req) < 0)
        return H1_ERROR;
    req->head_len = (uint32_t)n;
    return n;
}

ssize_t h1_parse_response(struct h1_parser *p, const char *buf, size_t len,
                          enum h1_method req_method, struct h1_response *resp)
{
    struct head h = {
        .is_request = false,
        .headers = resp->headers,
        .headers_cap = resp->headers_cap,
        .nheaders = &resp->nheaders,
        .version_minor = resp->version_minor,
        .resp = resp,
    };

    if (p->phase == PH_FIRST && p->pos == 0 && p->scanned == 0) {
        resp->nheaders = 0;
        resp->content_length = 0;
        resp->flags = 0;
    }
    if (p->status)
        return H1_ERROR;
    ssize_t n = parse_lines(p, buf, len, &h);
    if (n < 0)
        return n;
    if (finish_response(p, buf, req_method, resp) < 0)
        return H1_ERROR;
    resp->head_len = (uint32_t)n;
    return n;
}

int h1_header_find(const char *buf, const struct h1_header *hdrs, uint32_t n, const char *name,
                   size_t name_len, uint32_t from)
{
    for (uint32_t i = from; i < n; i++) {
        if (hdrs[i].name.len == name_len && h1_name_eq(buf + hdrs[i].name.off, name, name_len))
            return (int)i;
    }
    return -1;
}

bool h1_list_has_token(const char *value, size_t len, const char *token, size_t tlen)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t s = i;
        while (i < len && value[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (value[e - 1] == ' ' || value[e - 1] == '\t'))
            e--;
        if (e - s == tlen && h1_name_eq(value + s, token, tlen))
            return true;
    }
    return false;
}

bool h1_is_hop_by_hop(const char *buf, const struct h1_header *hdrs, uint32_t n, const char *name,
                      size_t name_len)
{
    if (name_len < UINT32_MAX) {
        switch (header_id(name, (uint32_t)name_len)) {
        case H1_HDR_CONNECTION:
        case H1_HDR_KEEP_ALIVE:
        case H1_HDR_PROXY_CONNECTION:
        case H1_HDR_TE:
        case H1_HDR_TRAILER:
        case H1_HDR_TRANSFER_ENCODING:
        case H1_HDR_UPGRADE:
            return true;
        default:
            break;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (hdrs[i].id == H1_HDR_CONNECTION &&
            h1_list_has_token(buf + hdrs[i].value.off, hdrs[i].value.len, name, name_len))
            return true;
    }
    return false;
}
