/*
 * h2_check.c - the HTTP/2 checks that need no session: the client preface, the flood
 * counters and the request pseudo-header rules (see h2.h). nghttp2's own HTTP
 * messaging checks run first; these are the proxy's policy on top and are unit tested.
 */
#include "http2/h2.h"

#include <event2/buffer.h>
#include <string.h>
#include <strings.h>

int h2_preface_match(struct evbuffer *buf)
{
    size_t len = evbuffer_get_length(buf);
    size_t n = len < H2_PREFACE_LINE_LEN ? len : H2_PREFACE_LINE_LEN;
    char tmp[H2_PREFACE_LINE_LEN];
    if (n == 0)
        return 0;
    if (evbuffer_copyout(buf, tmp, n) != (ev_ssize_t)n)
        return -1;
    if (memcmp(tmp, H2_PREFACE, n) != 0)
        return -1;
    return n == H2_PREFACE_LINE_LEN ? 1 : 0;
}

/* ---- flood guard ---- */

#define H2_FRAME_DATA 0x0
#define H2_FRAME_HEADERS 0x1
#define H2_FRAME_PRIORITY 0x2
#define H2_FRAME_RST_STREAM 0x3
#define H2_FRAME_SETTINGS 0x4
#define H2_FRAME_PING 0x6
#define H2_FRAME_WINDOW_UPDATE 0x8
#define H2_FRAME_CONTINUATION 0x9
#define H2_FLAG_END_STREAM 0x1
#define H2_FLAG_END_HEADERS 0x4
#define H2_FLAG_ACK 0x1

void h2_guard_limits_default(struct h2_guard_limits *l)
{
    memset(l, 0, sizeof(*l));
    l->per_sec[H2G_RST_STREAM] = 200;
    l->per_sec[H2G_SETTINGS] = 50;
    l->per_sec[H2G_PING] = 50;
    l->per_sec[H2G_EMPTY_DATA] = 200;
    l->per_sec[H2G_PRIORITY] = 1000;
    l->per_sec[H2G_WINDOW_UPDATE] = 100000; /* fast downloads with small windows */
    l->per_sec[H2G_CONTINUATION] = 8;       /* below nghttp2's own max_continuations */
}

int h2_guard_frame(struct h2_guard *g, const struct h2_guard_limits *l, uint64_t now_ms,
                   uint8_t type, uint8_t flags, size_t length)
{
    if (now_ms < g->window_start_ms || now_ms - g->window_start_ms >= 1000) {
        g->window_start_ms = now_ms;
        for (int i = 0; i < H2G_N; i++)
            if (i != H2G_CONTINUATION)
                g->count[i] = 0;
    }
    int kind = -1;
    switch (type) {
    case H2_FRAME_DATA:
        if (length == 0 && !(flags & H2_FLAG_END_STREAM))
            kind = H2G_EMPTY_DATA;
        break;
    case H2_FRAME_HEADERS:
        g->continuations = 0;
        break;
    case H2_FRAME_PRIORITY:
        kind = H2G_PRIORITY;
        break;
    case H2_FRAME_RST_STREAM:
        kind = H2G_RST_STREAM;
        break;
    case H2_FRAME_SETTINGS:
        if (!(flags & H2_FLAG_ACK))
            kind = H2G_SETTINGS;
        break;
    case H2_FRAME_PING:
        if (!(flags & H2_FLAG_ACK))
            kind = H2G_PING;
        break;
    case H2_FRAME_WINDOW_UPDATE:
        kind = H2G_WINDOW_UPDATE;
        break;
    case H2_FRAME_CONTINUATION:
        g->continuations++;
        if (l->per_sec[H2G_CONTINUATION] && g->continuations > l->per_sec[H2G_CONTINUATION])
            return H2G_CONTINUATION;
        return -1;
    default:
        break;
    }
    if (kind < 0)
        return -1;
    g->count[kind]++;
    if (l->per_sec[kind] && g->count[kind] > l->per_sec[kind])
        return kind;
    return -1;
}

/* ---- client stream history ---- */

void h2_history_init(struct h2_history *h)
{
    memset(h, 0, sizeof(*h));
    h->base = 1;
}

static int64_t history_index(const struct h2_history *h, int32_t id)
{
    if (id <= 0 || (id & 1) == 0 || id < h->base)
        return -1;
    int64_t i = ((int64_t)id - h->base) / 2;
    return i < H2_HISTORY ? i : -1;
}

void h2_history_open(struct h2_history *h, int32_t id)
{
    if (id <= h->last || (id & 1) == 0)
        return;
    int64_t i = ((int64_t)id - h->base) / 2;
    if (i >= H2_HISTORY) {
        /* Slide the window so that id is its last slot. */
        int64_t shift = i - (H2_HISTORY - 1);
        if (shift >= H2_HISTORY) {
            memset(h->state, H2_SID_UNUSED, sizeof(h->state));
        } else {
            memmove(h->state, h->state + shift, (size_t)(H2_HISTORY - shift));
            memset(h->state + (H2_HISTORY - shift), H2_SID_UNUSED, (size_t)shift);
        }
        h->base = (int32_t)(h->base + 2 * shift);
        i = H2_HISTORY - 1;
    }
    h->state[i] = H2_SID_OPEN;
    h->last = id;
}

int h2_history_get(const struct h2_history *h, int32_t id)
{
    if (id > h->last)
        return id > 0 && (id & 1) ? H2_SID_UNUSED : H2_SID_FORGOTTEN;
    int64_t i = history_index(h, id);
    return i < 0 ? H2_SID_FORGOTTEN : h->state[i];
}

void h2_history_set(struct h2_history *h, int32_t id, int state)
{
    int64_t i = id <= h->last ? history_index(h, id) : -1;
    if (i >= 0)
        h->state[i] = (uint8_t)state;
}

size_t h2_frame_hd_need(const uint8_t *p)
{
    return p[3] == H2_FRAME_PRIORITY && p[0] == 0 && p[1] == 0 && p[2] == 5 ? 14 : 9;
}

static int32_t stream_id_at(const uint8_t *p)
{
    return (int32_t)((((uint32_t)p[0] & 0x7f) << 24) | ((uint32_t)p[1] << 16) |
                     ((uint32_t)p[2] << 8) | p[3]);
}

void h2_frame_hd_parse(const uint8_t *p, struct h2_frame_hd *hd)
{
    hd->length = ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
    hd->type = p[3];
    hd->flags = p[4];
    hd->id = stream_id_at(p + 5);
    hd->dep = h2_frame_hd_need(p) == 14 ? stream_id_at(p + 9) : -1;
}

enum h2_verdict h2_frame_verdict(const struct h2_history *h, const struct h2_frame_hd *hd,
                                 bool live, uint32_t *code, const char **why)
{
    int32_t id = hd->id;
    if (hd->type == H2_FRAME_PRIORITY) {
        *code = 0x1; /* PROTOCOL_ERROR */
        if (id == 0) {
            *why = "PRIORITY on stream 0";
            return H2_CONN_ERROR;
        }
        if (hd->dep == id) {
            *why = "PRIORITY: a stream that depends on itself";
            return live ? H2_STREAM_ERROR : H2_CONN_ERROR;
        }
        return H2_PASS;
    }
    if ((hd->type != H2_FRAME_DATA && hd->type != H2_FRAME_HEADERS) || id <= 0 || id > h->last ||
        (id & 1) == 0 || live)
        return H2_PASS;
    bool headers = hd->type == H2_FRAME_HEADERS;
    switch (h2_history_get(h, id)) {
    case H2_SID_UNUSED:
        *code = headers ? 0x1 /* PROTOCOL_ERROR */ : 0x5 /* STREAM_CLOSED */;
        *why = headers ? "new stream id below a previous one" : "DATA on a stream never opened";
        return H2_CONN_ERROR;
    case H2_SID_DONE:
        *code = 0x5; /* STREAM_CLOSED */
        *why = headers ? "HEADERS on a closed stream" : "DATA on a closed stream";
        return H2_CONN_ERROR;
    case H2_SID_CLIENT_RESET:
        *code = 0x5;
        *why = headers ? "HEADERS after the client's RST_STREAM"
                       : "DATA after the client's RST_STREAM";
        return H2_STREAM_ERROR;
    default:
        return H2_PASS;
    }
}

/* ---- request pseudo-headers ---- */

static bool name_is(const char *n, size_t len, const char *lit)
{
    size_t l = strlen(lit);
    return len == l && memcmp(n, lit, l) == 0;
}

/* Sets *slot unless it is set already (a duplicate). */
static int set_pseudo(struct h2_req_check *r, const char **slot, size_t *slot_len, const char *v,
                      size_t vlen)
{
    if (*slot != NULL) {
        r->dup = true;
        r->why = "a pseudo-header field twice";
        return -1;
    }
    *slot = v;
    *slot_len = vlen;
    return 0;
}

int h2_req_field(struct h2_req_check *r, const char *name, size_t name_len, const char *value,
                 size_t value_len)
{
    if (name_len > 0 && name[0] == ':') {
        if (r->seen_regular) {
            r->late_pseudo = true;
            r->why = "a pseudo-header field after a regular one";
            return -1;
        }
        if (name_is(name, name_len, ":method"))
            return set_pseudo(r, &r->method, &r->method_len, value, value_len);
        if (name_is(name, name_len, ":scheme"))
            return set_pseudo(r, &r->scheme, &r->scheme_len, value, value_len);
        if (name_is(name, name_len, ":path"))
            return set_pseudo(r, &r->path, &r->path_len, value, value_len);
        if (name_is(name, name_len, ":authority"))
            return set_pseudo(r, &r->authority, &r->authority_len, value, value_len);
        if (name_is(name, name_len, ":protocol"))
            return set_pseudo(r, &r->protocol, &r->protocol_len, value, value_len);
        r->unknown = true;
        r->why = "an unknown or response pseudo-header field";
        return -1;
    }
    r->seen_regular = true;
    if (name_is(name, name_len, "connection") || name_is(name, name_len, "keep-alive") ||
        name_is(name, name_len, "proxy-connection") ||
        name_is(name, name_len, "transfer-encoding") || name_is(name, name_len, "upgrade")) {
        r->bad_field = true;
        r->why = "a connection-specific field";
        return -1;
    }
    if (name_is(name, name_len, "te") &&
        !(value_len == 8 && strncasecmp(value, "trailers", 8) == 0)) {
        r->bad_field = true;
        r->why = "TE other than \"trailers\"";
        return -1;
    }
    if (name_is(name, name_len, "host") && r->host == NULL) {
        r->host = value;
        r->host_len = value_len;
    }
    return 0;
}

static bool tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Host/authority: no userinfo, no controls, spaces or slashes. */
static bool authority_ok(const char *a, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= 0x20 || c >= 0x7f || c == '@' || c == '/' || c == '?' || c == '#' || c == '\\')
            return false;
    }
    return true;
}

int h2_req_validate(const struct h2_req_check *r, int *status, const char **why)
{
    *status = 400;
    *why = r->why != NULL ? r->why : "a malformed header block";
    if (r->dup || r->unknown || r->late_pseudo || r->bad_field)
        return -1;
    *why = "no :method, or not a token";
    if (r->method == NULL || r->method_len == 0)
        return -1;
    for (size_t i = 0; i < r->method_len; i++)
        if (!tchar((unsigned char)r->method[i]))
            return -1;
    bool connect = name_is(r->method, r->method_len, "CONNECT");
    if (r->protocol != NULL) {
        /* Extended CONNECT (RFC 8441 §4): a request for a tunnel speaking :protocol. */
        *why = ":protocol without CONNECT or :authority, or not a token";
        if (!connect || r->protocol_len == 0 || r->authority == NULL)
            return -1;
        for (size_t i = 0; i < r->protocol_len; i++)
            if (!tchar((unsigned char)r->protocol[i]))
                return -1;
    } else if (connect) {
        *why = "CONNECT with :scheme or :path, or without :authority";
        if (r->scheme != NULL || r->path != NULL || r->authority == NULL)
            return -1;
        *status = 405; /* as HTTP/1.1 answers CONNECT */
        return 1;
    }
    *why = "no :scheme, or no or an empty :path";
    if (r->scheme == NULL || r->path == NULL || r->path_len == 0)
        return -1;
    *why = ":scheme neither http nor https";
    if (!(name_is(r->scheme, r->scheme_len, "http") || name_is(r->scheme, r->scheme_len, "https")))
        return -1;
    *why = ":path neither origin-form nor \"*\" for OPTIONS";
    if (r->path[0] != '/') {
        if (!(r->path_len == 1 && r->path[0] == '*' &&
              name_is(r->method, r->method_len, "OPTIONS")))
            return -1;
    }
    for (size_t i = 0; i < r->path_len; i++) {
        unsigned char c = (unsigned char)r->path[i];
        if (c <= 0x20 || c == 0x7f)
            return -1;
    }
    *why = "a bad :authority or Host";
    if (r->authority != NULL && !authority_ok(r->authority, r->authority_len))
        return -1;
    if (r->host != NULL && !authority_ok(r->host, r->host_len))
        return -1;
    *why = "neither :authority nor Host";
    if (r->authority == NULL && r->host == NULL)
        return -1;
    *why = ":authority and Host differ";
    if (r->authority != NULL && r->host != NULL &&
        (r->authority_len != r->host_len || strncasecmp(r->authority, r->host, r->host_len) != 0))
        return -1;
    *why = NULL;
    return 0;
}
