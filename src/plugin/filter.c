/*
 * filter.c - the wasm stream filter: one plugin's stream context on one stream, and the
 * proxy-wasm host interface (hostcalls/host.h) over struct stream.
 *
 * Headers: plugins see Envoy's view whatever the client spoke. The request map is
 * :authority, :path, :method, :scheme, the stream's header list, and content-length when
 * the body's length is known; the response map is :status, the list and content-length.
 * These are views of the stream's own fields and lists (no copy per callback): a change
 * to a pseudo-header changes the stream (a :path rewrite is what the upstream gets, an
 * :authority change its Host, a :status change what the client gets); removing a
 * pseudo-header is ignored (a request cannot do without one); content-length edits set
 * the framing (removed: the length becomes unknown, chunked on HTTP/1.1).
 *
 * Bodies: during a body callback, buffer 0/1 is the piece the runner hands the filter
 * (everything this filter holds after a Pause); while this filter holds body (paused in
 * a body phase, e.g. during a callout), it is the body it holds, never bytes another
 * plugin of the chain holds; its end of stream is whether the end of the body is in it.
 *
 * Which map exists when (stream_map): request headers always; request trailers once they
 * arrived, and at the end of a request body that has none, that is in this filter's
 * end-of-body callback or while it is paused there (a plugin may create them then: they
 * are sent after the body, as with Envoy's addDecodedTrailers); response headers once a
 * response (upstream or local) is there; response trailers as request trailers. A map is
 * writable until it went to the sink (upstream or client); a write the map does not
 * take then is OK and ignored, with a warning (hostcalls/headers.c).
 * Bodies (stream_buffer): the piece of the current body callback, or the body this filter
 * holds (paused in a body phase, e.g. during a callout; or in its trailers callback when
 * trailers came while it held the body, as Envoy's buffered body); none otherwise.
 */
#include "plugin/internal.h"

#include "config/config.h"
#include "http1/h1.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum plugin_view { VIEW_REQ_HEADERS, VIEW_REQ_TRAILERS, VIEW_RESP_HEADERS, VIEW_RESP_TRAILERS };

struct plugin_fconf {
    struct plugin_set *set;
    size_t index;
};

struct plugin_fstate;

/* The handle of a map view (stable address for pw_map_ref.map), with room for the
 * fields it formats (:status, content-length). */
struct plugin_view_ref {
    struct stream *s;
    enum plugin_view kind;
    char status[4];
    char clen[24];
};

struct plugin_fstate {
    struct stream *s;
    struct stream_filter *f;
    const struct plugin_fconf *conf;
    struct plugin_instances *inst; /* a reference, once attached */
    struct plugin_vm *pvm;         /* the VM our context lives on (counted in streams) */
    struct pw_stream *ctx;
    bool attached;
    bool bypass;  /* fail_open after a failure: the stream goes on without the plugin */
    bool failed;  /* failed closed: later hooks let the 503 through */
    bool in_cb;   /* one of this filter's callbacks is running */
    bool stopped; /* a local reply / close was requested during the current callback */
    int cb_dir;   /* direction of the body callback running, or -1 */
    struct evbuffer *body;
    bool body_eos;
    struct plugin_view_ref views[4];
};

/* ---- evbuffers behind struct pw_buffer_ops ------------------------------------------- */

static size_t evb_length(void *buf)
{
    return evbuffer_get_length(buf);
}

static size_t evb_copy(void *buf, size_t start, size_t len, void *dst)
{
    struct evbuffer *b = buf;
    size_t blen = evbuffer_get_length(b);
    if (start >= blen)
        return 0;
    if (len > blen - start)
        len = blen - start;
    struct evbuffer_ptr p;
    if (evbuffer_ptr_set(b, &p, start, EVBUFFER_PTR_SET) < 0)
        return 0;
    ev_ssize_t n = evbuffer_copyout_from(b, &p, dst, len);
    return n > 0 ? (size_t)n : 0;
}

static int evb_splice(void *buf, size_t start, size_t size, const void *data, size_t len)
{
    struct evbuffer *b = buf;
    size_t blen = evbuffer_get_length(b);
    if (start > blen)
        start = blen;
    if (size > blen - start)
        size = blen - start;
    if (start == 0 && size == 0)
        return evbuffer_prepend(b, data, len);
    if (start == blen)
        return evbuffer_add(b, data, len);
    if (start == 0 && size == blen) {
        evbuffer_drain(b, blen);
        return evbuffer_add(b, data, len);
    }
    /* head | replaced | tail -> head | data | tail, moving the pieces, not copying them */
    struct evbuffer *head = evbuffer_new();
    if (head == NULL)
        return -1;
    int rc = evbuffer_remove_buffer(b, head, start) == (int)start ? 0 : -1;
    if (rc == 0)
        evbuffer_drain(b, size);
    if (rc == 0 && len > 0)
        rc = evbuffer_add(head, data, len);
    if (evbuffer_prepend_buffer(b, head) < 0)
        rc = -1;
    evbuffer_free(head);
    return rc;
}

static const struct pw_buffer_ops plugin_evbuffer_ops = {
    .length = evb_length,
    .copy = evb_copy,
    .splice = evb_splice,
};

/* ---- header views ------------------------------------------------------------------------- */

#define REQ_PSEUDO 4

static bool view_is_request(enum plugin_view v)
{
    return v == VIEW_REQ_HEADERS || v == VIEW_REQ_TRAILERS;
}

static struct stream_headers *view_list(struct stream *s, enum plugin_view v)
{
    switch (v) {
    case VIEW_REQ_HEADERS:
        return &s->req_headers;
    case VIEW_REQ_TRAILERS:
        return &s->req_trailers;
    case VIEW_RESP_HEADERS:
        return &s->resp_headers;
    default:
        return &s->resp_trailers;
    }
}

static int64_t *view_length(struct stream *s, enum plugin_view v)
{
    return view_is_request(v) ? &s->req_content_length : &s->resp_content_length;
}

/* Whether the view shows a content-length field: a request's when it has a body of known
 * length, a response's when its length is known and the status allows a body. */
static bool view_has_length(struct stream *s, enum plugin_view v)
{
    if (v == VIEW_REQ_HEADERS)
        return s->req_content_length > 0;
    if (v == VIEW_RESP_HEADERS)
        return s->resp_content_length >= 0 && s->status >= 200 && s->status != 204 &&
               s->status != 304;
    return false;
}

static uint32_t view_pseudo(enum plugin_view v)
{
    return v == VIEW_REQ_HEADERS ? REQ_PSEUDO : v == VIEW_RESP_HEADERS ? 1 : 0;
}

static uint32_t view_count(void *map)
{
    struct plugin_view_ref *r = map;
    struct stream *s = r->s;
    return view_pseudo(r->kind) + view_list(s, r->kind)->n + (view_has_length(s, r->kind) ? 1 : 0);
}

static const char *cstr_or_empty(const char *p)
{
    return p != NULL ? p : "";
}

/* Pseudo-header i of a view. */
static void view_pseudo_field(struct plugin_view_ref *r, uint32_t i, struct pw_field *f)
{
    struct stream *s = r->s;
    if (r->kind == VIEW_RESP_HEADERS) {
        int st = s->status > 0 && s->status < 1000 ? s->status : 0;
        snprintf(r->status, sizeof(r->status), "%03d", st);
        *f = (struct pw_field){":status", r->status, 7, 3};
        return;
    }
    switch (i) {
    case 0:
        *f = (struct pw_field){":authority", cstr_or_empty(s->authority), 10,
                               s->authority ? s->authority_len : 0};
        break;
    case 1:
        *f = (struct pw_field){":path", cstr_or_empty(s->path), 5, s->path ? s->path_len : 0};
        break;
    case 2:
        *f = (struct pw_field){":method", cstr_or_empty(s->method), 7,
                               s->method ? s->method_len : 0};
        break;
    default:
        *f = (struct pw_field){":scheme", cstr_or_empty(s->scheme), 7,
                               strlen(cstr_or_empty(s->scheme))};
        break;
    }
}

static void view_field(void *map, uint32_t i, struct pw_field *f)
{
    struct plugin_view_ref *r = map;
    struct stream *s = r->s;
    uint32_t np = view_pseudo(r->kind);
    if (i < np) {
        view_pseudo_field(r, i, f);
        return;
    }
    i -= np;
    struct stream_headers *h = view_list(s, r->kind);
    if (i < h->n) {
        const struct stream_header *e = &h->v[i];
        *f = (struct pw_field){e->name, e->value, e->name_len, e->value_len};
        return;
    }
    int n = snprintf(r->clen, sizeof(r->clen), "%lld", (long long)*view_length(s, r->kind));
    *f = (struct pw_field){"content-length", r->clen, 14, (size_t)n};
}

/* Index of the pseudo-header / virtual field named key in view r, or -1. The virtual
 * content-length is REQ_PSEUDO + 1 (a marker, not a position). */
#define VIEW_CONTENT_LENGTH 100

static int view_special(enum plugin_view v, const char *key, size_t len)
{
    static const char *const req[REQ_PSEUDO] = {":authority", ":path", ":method", ":scheme"};
    if (v == VIEW_REQ_HEADERS) {
        for (int i = 0; i < REQ_PSEUDO; i++)
            if (strlen(req[i]) == len && memcmp(req[i], key, len) == 0)
                return i;
        if (len == 4 && strncasecmp(key, "host", 4) == 0)
            return 0; /* Host is :authority, as in Envoy */
    }
    if (v == VIEW_RESP_HEADERS && len == 7 && memcmp(key, ":status", 7) == 0)
        return 0;
    if ((v == VIEW_REQ_HEADERS || v == VIEW_RESP_HEADERS) && len == 14 &&
        strncasecmp(key, "content-length", 14) == 0)
        return VIEW_CONTENT_LENGTH;
    return -1;
}

static const char *view_get(void *map, const char *key, size_t key_len, size_t *value_len)
{
    struct plugin_view_ref *r = map;
    struct stream *s = r->s;
    int sp = view_special(r->kind, key, key_len);
    struct pw_field f;
    if (sp == VIEW_CONTENT_LENGTH) {
        if (!view_has_length(s, r->kind))
            return NULL;
        view_field(map, view_count(map) - 1, &f);
    } else if (sp >= 0) {
        if (r->kind == VIEW_REQ_HEADERS && key[0] != ':' && s->authority == NULL)
            return NULL;
        view_pseudo_field(r, (uint32_t)sp, &f);
    } else {
        uint32_t len;
        const char *v = stream_headers_get(view_list(s, r->kind), key, key_len, &len);
        if (v != NULL)
            *value_len = len;
        return v;
    }
    *value_len = f.value_len;
    return f.value;
}

/* A value for a request-line part: no control characters, no spaces (they would break
 * the request line or smuggle a second one). */
static bool view_token_ok(const char *v, size_t len, bool allow_empty)
{
    if (len == 0)
        return allow_empty;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static int view_set_length(struct stream *s, enum plugin_view v, const char *val, size_t len)
{
    int64_t n = 0;
    if (len == 0 || len > 18)
        return -2;
    for (size_t i = 0; i < len; i++) {
        if (val[i] < '0' || val[i] > '9')
            return -2;
        n = n * 10 + (val[i] - '0');
    }
    if (v == VIEW_REQ_HEADERS && n == 0 && s->req_content_length != 0)
        n = -1; /* a body announced as empty that still has bytes: keep it framed */
    *view_length(s, v) = n;
    return 0;
}

/* Sets pseudo-header sp of view r to value. @return 0, -1 out of memory, -2 refused. */
static int view_set_special(struct plugin_view_ref *r, int sp, const char *val, size_t len)
{
    struct stream *s = r->s;
    if (sp == VIEW_CONTENT_LENGTH)
        return view_set_length(s, r->kind, val, len);
    if (r->kind == VIEW_RESP_HEADERS) {
        int st = 0;
        if (len != 3)
            return -2;
        for (int i = 0; i < 3; i++) {
            if (val[i] < '0' || val[i] > '9')
                return -2;
            st = st * 10 + (val[i] - '0');
        }
        if (st < 100 || st > 599)
            return -2;
        s->status = st;
        return 0;
    }
    if (!view_token_ok(val, len, sp == 0))
        return -2;
    char *copy = stream_strdup(s, val, len);
    if (copy == NULL)
        return -1;
    switch (sp) {
    case 0:
        s->authority = copy;
        s->authority_len = (uint32_t)len;
        stream_headers_remove(&s->req_headers, "host", 4);
        break;
    case 1:
        s->path = copy;
        s->path_len = (uint32_t)len;
        break;
    case 2:
        s->method = copy;
        s->method_len = (uint32_t)len;
        s->method_id = h1_method_id(copy, len);
        break;
    default:
        s->scheme = copy;
        break;
    }
    return 0;
}

static int view_add(void *map, const char *key, size_t key_len, const char *value, size_t value_len)
{
    struct plugin_view_ref *r = map;
    int sp = view_special(r->kind, key, key_len);
    if (sp >= 0)
        return view_set_special(r, sp, value, value_len);
    if (key[0] == ':')
        return -2; /* an unknown pseudo-header cannot be forwarded */
    return stream_headers_add(r->s, view_list(r->s, r->kind), key, key_len, value, value_len);
}

static int view_replace(void *map, const char *key, size_t key_len, const char *value,
                        size_t value_len)
{
    struct plugin_view_ref *r = map;
    int sp = view_special(r->kind, key, key_len);
    if (sp >= 0)
        return view_set_special(r, sp, value, value_len);
    if (key[0] == ':')
        return -2;
    struct stream *s = r->s;
    struct stream_headers *h = view_list(s, r->kind);
    for (uint32_t i = 0; i < h->n; i++) {
        struct stream_header *e = &h->v[i];
        if (e->name_len != key_len || strncasecmp(e->name, key, key_len) != 0)
            continue;
        char *v = stream_strdup(s, value, value_len);
        if (v == NULL)
            return -1;
        e->value = v;
        e->value_len = (uint32_t)value_len;
        /* Drop the later duplicates: the map holds exactly one value for key. */
        uint32_t out = i + 1;
        for (uint32_t j = i + 1; j < h->n; j++)
            if (h->v[j].name_len != key_len || strncasecmp(h->v[j].name, key, key_len) != 0)
                h->v[out++] = h->v[j];
        h->n = out;
        return 0;
    }
    return stream_headers_add(s, h, key, key_len, value, value_len);
}

static void view_remove(void *map, const char *key, size_t key_len)
{
    struct plugin_view_ref *r = map;
    struct stream *s = r->s;
    int sp = view_special(r->kind, key, key_len);
    if (sp == VIEW_CONTENT_LENGTH) {
        if (*view_length(s, r->kind) > 0 || r->kind == VIEW_RESP_HEADERS)
            *view_length(s, r->kind) = -1;
        return;
    }
    if (sp >= 0)
        return;
    stream_headers_remove(view_list(s, r->kind), key, key_len);
}

static void view_clear(void *map)
{
    struct plugin_view_ref *r = map;
    struct stream *s = r->s;
    view_list(s, r->kind)->n = 0;
    if (view_has_length(s, r->kind))
        view_remove(map, "content-length", 14);
}

static const struct pw_map_ops plugin_view_ops = {
    .count = view_count,
    .field = view_field,
    .get = view_get,
    .add = view_add,
    .replace = view_replace,
    .remove = view_remove,
    .clear = view_clear,
};

/* ---- host operations of streams -------------------------------------------------------- */

/*
 * Whether this filter is at the end of direction d's body with no trailers yet: in its
 * end-of-body callback, or paused holding the end (e.g. waiting for a callout; not while
 * a filter before it holds a newer part of the body). Trailers may be created then
 * (Envoy's addDecodedTrailers / addEncodedTrailers); the runner sends them after the
 * body, to the filters after this one and to the sink.
 */
static bool filter_at_body_end(const struct plugin_fstate *fs, int d)
{
    const struct stream *s = fs->s;
    if (s->dir[d].trailers_in || s->dir[d].trailers_out)
        return false;
    if (fs->cb_dir == d)
        return fs->body_eos;
    return stream_held_body_ends(fs->s, fs->f, d);
}

bool plugin_host_stream_map(void *host, void *stream, enum pw_map_type type, struct pw_map_ref *out,
                            bool *writable)
{
    struct plugin_fstate *fs = stream;
    struct stream *s = fs->s;
    bool exists;
    switch (type) {
    case PW_MAP_REQUEST_HEADERS:
        exists = true;
        *writable = !stream_headers_sent(s, 0);
        break;
    case PW_MAP_REQUEST_TRAILERS:
        exists = s->dir[0].trailers_in || filter_at_body_end(fs, 0);
        *writable = !stream_trailers_sent(s, 0);
        break;
    case PW_MAP_RESPONSE_HEADERS:
        exists = s->status != 0; /* an upstream response or a local reply is there */
        *writable = !s->resp_started;
        break;
    case PW_MAP_RESPONSE_TRAILERS:
        exists = s->dir[1].trailers_in || filter_at_body_end(fs, 1);
        *writable = !stream_trailers_sent(s, 1);
        break;
    default:
        return false;
    }
    if (!exists)
        return false;
    fs->views[type] = (struct plugin_view_ref){.s = s, .kind = (enum plugin_view)type};
    *out = (struct pw_map_ref){&plugin_view_ops, &fs->views[type]};
    return true;
}

bool plugin_host_stream_buffer(void *host, void *stream, enum pw_buffer_type type,
                               struct pw_buffer_ref *out, bool *eos, bool *writable)
{
    struct plugin_fstate *fs = stream;
    if (type > PW_BUFFER_RESPONSE_BODY)
        return false;
    int d = type == PW_BUFFER_REQUEST_BODY ? 0 : 1;
    struct evbuffer *b = NULL;
    if (fs->cb_dir == d && fs->body != NULL) {
        b = fs->body;
        *eos = fs->body_eos;
    } else if ((b = stream_held_body(fs->s, fs->f, d)) != NULL) {
        *eos = stream_held_body_ends(fs->s, fs->f, d);
    }
    if (b == NULL)
        return false;
    *writable = !fs->s->dir[d].eos_out;
    *out = (struct pw_buffer_ref){&plugin_evbuffer_ops, b};
    return true;
}

void plugin_host_continue_stream(void *host, void *stream, enum pw_stream_type type)
{
    struct plugin_fstate *fs = stream;
    if (type > PW_STREAM_RESPONSE)
        return;
    plugin_emit(host, &(struct plugin_event){.kind = PLUGIN_EV_CONTINUE,
                                             .plugin = plugin_name(fs->conf->set, fs->conf->index),
                                             .stream = fs->s,
                                             .dir = (int)type});
    stream_continue(fs->s, fs->f, (int)type);
}

void plugin_host_close_stream(void *host, void *stream, enum pw_stream_type type)
{
    struct plugin_fstate *fs = stream;
    plugin_emit(host, &(struct plugin_event){.kind = PLUGIN_EV_CLOSE,
                                             .plugin = plugin_name(fs->conf->set, fs->conf->index),
                                             .stream = fs->s,
                                             .dir = (int)type});
    fs->stopped = fs->in_cb;
    stream_reset(fs->s);
}

void plugin_host_send_local_response(void *host, void *stream, const struct pw_local_response *r)
{
    struct plugin_fstate *fs = stream;
    struct stream *s = fs->s;
    char details[256];
    snprintf(details, sizeof(details), "%.*s", (int)r->details_len,
             r->details != NULL ? r->details : "");
    plugin_emit(host, &(struct plugin_event){.kind = PLUGIN_EV_LOCAL_REPLY,
                                             .plugin = plugin_name(fs->conf->set, fs->conf->index),
                                             .stream = s,
                                             .status = r->status_code,
                                             .text = details,
                                             .grpc_status = r->grpc_status,
                                             .body = r->body,
                                             .body_len = r->body_len,
                                             .headers = r->headers});
    fs->stopped = fs->in_cb;
    uint32_t n = r->headers != NULL ? r->headers->count : 0;
    struct stream_header stack[32], *h = n + 1 <= 32 ? stack : malloc((n + 1) * sizeof(*h));
    if (h == NULL) {
        stream_reset(s);
        return;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct pw_header *e = &r->headers->items[i];
        if (e->key[0] == ':')
            continue;
        h[k++] = (struct stream_header){e->key, e->value, e->key_len, e->value_len};
    }
    char grpc[16];
    if (r->grpc_status >= 0) {
        int gl = snprintf(grpc, sizeof(grpc), "%d", r->grpc_status);
        h[k++] = (struct stream_header){"grpc-status", grpc, 11, (uint32_t)gl};
    }
    int status = r->status_code >= 100 && r->status_code <= 599 ? (int)r->status_code : 500;
    stream_local_reply_headers(s, status, h, k, (const char *)r->body, r->body_len,
                               details[0] ? details : "wasm_local_reply");
    if (h != stack)
        free(h);
}

/* The connection facts and the stream's figures, as properties read them. Valid until the
 * next call on this thread. */
const struct pw_stream_info *plugin_host_stream_info(void *host, void *stream)
{
    static __thread struct pw_stream_info info;
    static __thread struct stream_conn_info conn;
    struct plugin_fstate *fs = stream;
    struct stream *s = fs->s;
    struct plugin_worker *w = host;

    memset(&info, 0, sizeof(info));
    memset(&conn, 0, sizeof(conn));
    if (s->down != NULL && s->down->conn_info != NULL)
        s->down->conn_info(s, &conn);
    info.source_address = s->client[0] ? s->client : NULL;
    const char *colon = strrchr(s->client, ':');
    info.source_port = colon != NULL ? (uint32_t)strtoul(colon + 1, NULL, 10) : 0;
    if (conn.local[0]) {
        info.destination_address = conn.local;
        colon = strrchr(conn.local, ':');
        info.destination_port = colon != NULL ? (uint32_t)strtoul(colon + 1, NULL, 10) : 0;
    }
    info.connection_id = conn.id;
    info.tls = conn.tls_version != NULL;
    info.tls_version = conn.tls_version;
    info.requested_server_name = conn.sni;
    info.mtls = conn.mtls;
    info.protocol = s->http_major == 2 ? "HTTP/2" : s->http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
    info.request_time_ns = s->start_usec * 1000u;
    /* Known once the request left the chain whole. */
    info.has_request_duration = s->dir[0].eos_out;
    if (info.has_request_duration) {
        uint64_t now = plugin_host_clock_ns(w, false);
        info.request_duration_ns = now > info.request_time_ns ? now - info.request_time_ns : 0;
    }
    info.request_size = s->body_bytes[0];
    info.response_size = s->body_bytes[1];
    info.response_code_details = s->status != 0 ? s->details : NULL;
    if (s->upstream_addr[0]) {
        info.upstream_address = s->upstream_addr;
        colon = strrchr(s->upstream_addr, ':');
        info.upstream_port = colon != NULL ? (uint32_t)strtoul(colon + 1, NULL, 10) : 0;
    }
    return &info;
}

/* Whether path is name (name_len bytes: segments joined by NUL). */
static bool prop_is(const char *path, size_t len, const char *name, size_t name_len)
{
    return name_len == len && memcmp(path, name, len) == 0;
}

struct stream *plugin_fstate_stream(void *fstate)
{
    return fstate != NULL ? ((struct plugin_fstate *)fstate)->s : NULL;
}

/* Where the router sends the stream (Envoy's route_name, cluster_name and their xds.*
 * forms; xds.listener_name is wasp's, as Envoy has no listener name property). */
static enum pw_status stream_route_property(struct plugin_fstate *fs, const char *path,
                                            size_t path_len, struct pw_buf *out)
{
    if (fs->s->up == NULL || fs->s->up->route_info == NULL)
        return PW_NOT_FOUND;
    struct stream_route_info ri = {0};
    fs->s->up->route_info(fs->s, &ri);
    const char *v = NULL;
    static const char route[] = "xds\0route_name", cluster[] = "xds\0cluster_name",
                      listener[] = "xds\0listener_name";
    if (prop_is(path, path_len, route, sizeof(route) - 1) ||
        prop_is(path, path_len, route + 4, sizeof(route) - 5))
        v = ri.route;
    else if (prop_is(path, path_len, cluster, sizeof(cluster) - 1) ||
             prop_is(path, path_len, cluster + 4, sizeof(cluster) - 5))
        v = ri.cluster;
    else if (prop_is(path, path_len, listener, sizeof(listener) - 1))
        v = ri.listener;
    if (v == NULL)
        return PW_NOT_FOUND;
    return pw_buf_set(out, v, strlen(v)) == 0 ? PW_OK : PW_INTERNAL_FAILURE;
}

/* Properties hostcalls/ does not know itself: the live stream's route, then what the
 * plugin's set was given (wasp replay --property), for streams and roots alike. */
enum pw_status plugin_host_get_property(void *host, struct pw_vm *vm, void *stream,
                                        const char *path, size_t path_len, struct pw_buf *out)
{
    struct plugin_fstate *fs = stream;
    if (fs != NULL) {
        enum pw_status st = stream_route_property(fs, path, path_len, out);
        if (st != PW_NOT_FOUND)
            return st;
    }
    struct plugin_vm *pvm = pw_vm_userdata(vm);
    if (pvm == NULL || pvm->slot == NULL)
        return PW_NOT_FOUND; /* the language runtime's initialisation: no plugin yet */
    const struct plugin_properties *p = &pvm->slot->inst->set->properties;
    return p->get != NULL ? p->get(p->arg, path, path_len, out) : PW_NOT_FOUND;
}

/* ---- the filter -------------------------------------------------------------------------- */

void plugin_stream_fields(struct stream *s, enum pw_map_type type,
                          void (*fn)(void *arg, const struct pw_field *f), void *arg)
{
    if (type > PW_MAP_RESPONSE_TRAILERS)
        return;
    struct plugin_view_ref r = {.s = s, .kind = (enum plugin_view)type};
    uint32_t n = view_count(&r);
    for (uint32_t i = 0; i < n; i++) {
        struct pw_field f;
        view_field(&r, i, &f);
        fn(arg, &f);
    }
}

static bool filter_edits_body(const void *conf, int dir)
{
    const struct plugin_fconf *c = conf;
    return plugin_set_edits_body(c->set, c->index, dir);
}

static void filter_conf_free(void *conf)
{
    struct plugin_fconf *c = conf;
    if (c == NULL)
        return;
    plugin_set_unref(c->set);
    free(c);
}

void *plugin_filter_conf(struct plugin_set *set, size_t index)
{
    struct plugin_fconf *c = malloc(sizeof(*c));
    if (c == NULL)
        return NULL;
    c->set = plugin_set_ref(set);
    c->index = index;
    return c;
}

static const char *fs_name(const struct plugin_fstate *fs)
{
    return plugin_name(fs->conf->set, fs->conf->index);
}

static enum cfg_failure_policy fs_policy(const struct plugin_fstate *fs)
{
    return fs->conf->set->plugins[fs->conf->index].cfg->failure_policy;
}

/*
 * The plugin cannot run for this stream (its VM failed, or none could be made): fail
 * open (go on without it) or closed (503 naming the plugin; reload fails closed while it
 * backs off).
 */
static enum stream_action filter_failed(struct plugin_fstate *fs)
{
    struct plugin_worker *w = plugin_current_worker();
    if (fs_policy(fs) == CFG_FAIL_OPEN) {
        fs->bypass = true;
        plugin_emit(w, &(struct plugin_event){
                           .kind = PLUGIN_EV_FAIL_OPEN, .plugin = fs_name(fs), .stream = fs->s});
        return STREAM_CONTINUE;
    }
    if (fs->failed || fs->s->local_reply)
        return STREAM_CONTINUE; /* already failing closed: let the answer through */
    fs->failed = true;
    plugin_emit(w, &(struct plugin_event){
                       .kind = PLUGIN_EV_FAIL_CLOSED, .plugin = fs_name(fs), .stream = fs->s});
    char body[160];
    int n = snprintf(body, sizeof(body), "plugin %s failed\n", fs_name(fs));
    stream_local_reply_headers(fs->s, 503, NULL, 0, body, (size_t)n, "wasm_fail_stream");
    return STREAM_STOP;
}

/* Creates the stream context on first use. @return false when the plugin cannot run. */
static bool filter_attach(struct stream *s, struct stream_filter *f, struct plugin_fstate *fs)
{
    fs->attached = true;
    fs->s = s;
    fs->f = f;
    fs->conf = f->conf;
    fs->cb_dir = -1;
    struct plugin_worker *w = plugin_current_worker();
    if (w == NULL)
        return false;
    fs->inst = plugin_instances_get(w, fs->conf->set);
    if (fs->inst == NULL)
        return false;
    plugin_instances_ref(fs->inst);
    struct plugin_vm *pvm = plugin_vm_for_stream(fs->inst, fs->conf->index);
    if (pvm == NULL)
        return false;
    size_t member = fs->conf->set->plugins[fs->conf->index].member;
    struct pw_root *root = pvm->roots[member].root;
    if (root == NULL)
        return false;
    fs->ctx = pw_stream_new(root, fs);
    if (fs->ctx == NULL)
        return false;
    fs->pvm = pvm;
    pvm->streams++;
    return true;
}

/* The plugin's answer as observers show it. */
static const char *action_name(enum pw_action a)
{
    switch (a) {
    case PW_ACTION_CONTINUE:
        return "continue";
    case PW_ACTION_PAUSE:
        return "pause";
    case PW_ACTION_PAUSE_BUFFER:
        return "pause_buffer";
    case PW_ACTION_PAUSE_WATERMARK:
        return "pause_watermark";
    case PW_ACTION_PAUSE_NO_BUFFER:
        return "pause_no_buffer";
    default:
        return "failed";
    }
}

/* The plugin's pause as the runner's (the two enums say the same thing). */
static enum stream_action stream_action_of(enum pw_action a)
{
    switch (a) {
    case PW_ACTION_PAUSE_BUFFER:
        return STREAM_PAUSE_BUFFER;
    case PW_ACTION_PAUSE_WATERMARK:
        return STREAM_PAUSE_WATERMARK;
    case PW_ACTION_PAUSE_NO_BUFFER:
        return STREAM_PAUSE_NO_BUFFER;
    case PW_ACTION_PAUSE:
        return STREAM_PAUSE;
    default:
        return STREAM_CONTINUE;
    }
}

/* The plugin's answer as the runner's. */
static enum stream_action filter_result(struct plugin_fstate *fs, enum pw_action a,
                                        const char *callback, int dir)
{
    struct plugin_worker *w = plugin_current_worker();
    plugin_emit(w, &(struct plugin_event){.kind = PLUGIN_EV_CALLBACK,
                                          .plugin = fs_name(fs),
                                          .stream = fs->s,
                                          .dir = dir,
                                          .callback = callback,
                                          .result = action_name(a),
                                          .chunk = fs->body,
                                          .end_of_stream = fs->body_eos});
    bool stopped = fs->stopped;
    fs->stopped = false;
    fs->in_cb = false;
    w->cur_stream = NULL;
    if (a == PW_ACTION_FAILED)
        return filter_failed(fs);
    if (stopped)
        return STREAM_STOP;
    return stream_action_of(a);
}

/* Whether the hook should run the plugin: attached (or attaching now) and healthy. When
 * true, the worker's current stream is s until filter_result(). */
static bool filter_ready(struct stream *s, struct stream_filter *f, enum stream_action *out)
{
    struct plugin_fstate *fs = f->state;
    struct plugin_worker *w = plugin_current_worker(); /* a plugin filter runs on one */
    *out = STREAM_CONTINUE;
    w->cur_stream = s;
    if (!fs->attached && !filter_attach(s, f, fs)) {
        w->cur_stream = NULL;
        *out = filter_failed(fs);
        return false;
    }
    if (fs->bypass || fs->failed || fs->ctx == NULL) {
        w->cur_stream = NULL;
        if (!fs->bypass && !fs->failed)
            *out = filter_failed(fs);
        return false;
    }
    fs->in_cb = true;
    return true;
}

static uint32_t headers_count(struct plugin_fstate *fs, enum plugin_view v)
{
    fs->views[v] = (struct plugin_view_ref){.s = fs->s, .kind = v};
    return view_count(&fs->views[v]);
}

static enum stream_action filter_request_headers(struct stream *s, struct stream_filter *f,
                                                 bool eos)
{
    enum stream_action r;
    struct plugin_fstate *fs = f->state;
    if (!filter_ready(s, f, &r))
        return r;
    enum pw_action a = pw_stream_request_headers(fs->ctx, headers_count(fs, VIEW_REQ_HEADERS), eos);
    return filter_result(fs, a, "proxy_on_request_headers", 0);
}

static enum stream_action filter_body(struct stream *s, struct stream_filter *f,
                                      struct evbuffer *body, bool eos, int d)
{
    enum stream_action r;
    struct plugin_fstate *fs = f->state;
    if (!filter_ready(s, f, &r))
        return r;
    fs->cb_dir = d;
    fs->body = body;
    fs->body_eos = eos;
    size_t len = evbuffer_get_length(body);
    enum pw_action a = d == 0 ? pw_stream_request_body(fs->ctx, len, eos)
                              : pw_stream_response_body(fs->ctx, len, eos);
    r = filter_result(fs, a, d == 0 ? "proxy_on_request_body" : "proxy_on_response_body", d);
    fs->cb_dir = -1;
    fs->body = NULL;
    fs->body_eos = false;
    return r;
}

static enum stream_action filter_request_body(struct stream *s, struct stream_filter *f,
                                              struct evbuffer *body, bool eos)
{
    return filter_body(s, f, body, eos, 0);
}

static enum stream_action filter_request_trailers(struct stream *s, struct stream_filter *f)
{
    enum stream_action r;
    struct plugin_fstate *fs = f->state;
    if (!filter_ready(s, f, &r))
        return r;
    enum pw_action a = pw_stream_request_trailers(fs->ctx, s->req_trailers.n);
    return filter_result(fs, a, "proxy_on_request_trailers", 0);
}

static enum stream_action filter_response_headers(struct stream *s, struct stream_filter *f,
                                                  bool eos)
{
    enum stream_action r;
    struct plugin_fstate *fs = f->state;
    if (!filter_ready(s, f, &r))
        return r;
    enum pw_action a =
        pw_stream_response_headers(fs->ctx, headers_count(fs, VIEW_RESP_HEADERS), eos);
    return filter_result(fs, a, "proxy_on_response_headers", 1);
}

static enum stream_action filter_response_body(struct stream *s, struct stream_filter *f,
                                               struct evbuffer *body, bool eos)
{
    return filter_body(s, f, body, eos, 1);
}

static enum stream_action filter_response_trailers(struct stream *s, struct stream_filter *f)
{
    enum stream_action r;
    struct plugin_fstate *fs = f->state;
    if (!filter_ready(s, f, &r))
        return r;
    enum pw_action a = pw_stream_response_trailers(fs->ctx, s->resp_trailers.n);
    return filter_result(fs, a, "proxy_on_response_trailers", 1);
}

/* The stream is over (completed, reset, or the client went away): on_done, on_log,
 * on_delete, with what is known. */
static void filter_done(struct stream *s, struct stream_filter *f)
{
    struct plugin_fstate *fs = f->state;
    if (!fs->attached)
        return;
    if (fs->ctx != NULL) {
        struct plugin_worker *w = plugin_current_worker();
        w->cur_stream = s;
        pw_stream_end(fs->ctx);
        w->cur_stream = NULL;
        fs->ctx = NULL;
    }
    if (fs->pvm != NULL) {
        plugin_vm_stream_done(fs->pvm);
        fs->pvm = NULL;
    }
    if (fs->inst != NULL) {
        plugin_instances_unref(fs->inst);
        fs->inst = NULL;
    }
}

const struct stream_filter_ops plugin_filter_ops = {
    .name = "wasm",
    .state_size = sizeof(struct plugin_fstate),
    .conf_free = filter_conf_free,
    .request_headers = filter_request_headers,
    .request_body = filter_request_body,
    .request_trailers = filter_request_trailers,
    .response_headers = filter_response_headers,
    .response_body = filter_response_body,
    .response_trailers = filter_response_trailers,
    .done = filter_done,
    .edits_body = filter_edits_body,
};
