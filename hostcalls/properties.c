/*
 * properties.c - proxy_get_property / proxy_set_property with Envoy's names and binary
 * encodings (ABI.md §5.2-5.3, HOSTS.md §C): strings raw, integers 8 bytes LE, bools 1
 * byte, timestamps/durations int64 ns, maps in the pairs encoding.
 *
 * A path is segments joined by NUL (a trailing NUL is tolerated). Lookup order: the
 * well-known names below (plugin_*, request.*, response.*, source.*, destination.*,
 * connection.*, upstream.*), then values the plugin stored with proxy_set_property on
 * the effective stream or its root, then the host's get_property. Unknown: NOT_FOUND.
 *
 * The well-known names (stream contexts only, except plugin_*):
 *   plugin_name, plugin_root_id, plugin_vm_id                          string
 *   request.path, .url_path (no query), .query, .host, .scheme, .method, .id,
 *     .referer, .useragent, .protocol                                   string
 *   request.time (ns since the epoch), .duration (ns, once complete), .size (body),
 *     .total_size (body + header and trailer bytes), .headers_bytes     int64 LE
 *   request.headers / response.headers / response.trailers             pairs map
 *   request.headers.<name> (also response.*): the values joined by ","  string
 *   response.code, .size, .total_size, .headers_bytes                   int64 LE
 *   response.code_details                                              string
 *   source.address, destination.address, upstream.address ("ip:port")  string
 *   source.port, destination.port, upstream.port, connection.id         int64 LE
 *   connection.mtls                                                    bool (1 byte)
 *   connection.tls_version (only with TLS), .requested_server_name      string
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Splits path at its first two NULs: up to 3 segments (the third is the rest, e.g. a
 * header name). Returns the count. */
static int pw_path_split(const char *path, size_t len, const char *seg[3], size_t seglen[3])
{
    int n = 0;
    size_t start = 0;

    for (size_t i = 0; i < len && n < 2; i++) {
        if (path[i] == '\0') {
            seg[n] = path + start;
            seglen[n++] = i - start;
            start = i + 1;
        }
    }
    seg[n] = path + start;
    seglen[n++] = len - start;
    return n;
}

static bool pw_seg_is(const char *seg, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(seg, name, len) == 0;
}

static enum pw_status pw_prop_str(struct pw_buf *out, const char *s)
{
    if (s == NULL)
        return PW_NOT_FOUND;
    return pw_buf_set(out, s, strlen(s)) == 0 ? PW_OK : PW_INTERNAL_FAILURE;
}

static enum pw_status pw_prop_int(struct pw_buf *out, uint64_t v)
{
    uint8_t b[8];

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return pw_buf_set(out, b, 8) == 0 ? PW_OK : PW_INTERNAL_FAILURE;
}

static enum pw_status pw_prop_bool(struct pw_buf *out, bool v)
{
    uint8_t b = v;
    return pw_buf_set(out, &b, 1) == 0 ? PW_OK : PW_INTERNAL_FAILURE;
}

static enum pw_status pw_prop_bytes(struct pw_buf *out, const char *s, size_t len)
{
    if (s == NULL)
        return PW_NOT_FOUND;
    return pw_buf_set(out, s, len) == 0 ? PW_OK : PW_INTERNAL_FAILURE;
}

/* A stream map for a property (maps 0-3), or NULL when it does not exist now. */
struct pw_prop_map {
    struct pw_map_ref ref;
    bool exists;
};

static void pw_stream_map_of(struct pw_vm *vm, struct pw_ctx *ctx, enum pw_map_type t,
                             struct pw_prop_map *m)
{
    bool w;

    m->exists = ctx->kind == PW_CTX_STREAM && pw_find_map(vm, ctx, t, &m->ref, &w);
}

static enum pw_status pw_prop_map(struct pw_buf *out, const struct pw_prop_map *m)
{
    if (!m->exists)
        return PW_NOT_FOUND;
    size_t n = pw_mapref_serialized_size(&m->ref);
    uint8_t *tmp = malloc(n);
    if (tmp == NULL)
        return PW_INTERNAL_FAILURE;
    pw_mapref_serialize(&m->ref, tmp);
    int rc = pw_buf_set(out, tmp, n);
    free(tmp);
    return rc == 0 ? PW_OK : PW_INTERNAL_FAILURE;
}

/* The bytes of a header map's keys and values (0 when it does not exist). */
static uint64_t pw_map_bytes(const struct pw_prop_map *m)
{
    return m->exists ? pw_mapref_bytes(&m->ref) : 0;
}

/* One header as a property: its values joined with "," when it occurs several times
 * (Envoy's CEL header lookup); NOT_FOUND when absent. */
static enum pw_status pw_prop_header(struct pw_buf *out, const struct pw_prop_map *m,
                                     const char *key, size_t key_len)
{
    bool found = false;
    uint32_t n = m->exists ? m->ref.ops->count(m->ref.map) : 0;

    out->len = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct pw_field f;
        m->ref.ops->field(m->ref.map, i, &f);
        if (f.key_len != key_len || strncasecmp(f.key, key, key_len) != 0)
            continue;
        if ((found && pw_buf_append(out, ",", 1) != 0) ||
            pw_buf_append(out, f.value, f.value_len) != 0)
            return PW_INTERNAL_FAILURE;
        found = true;
    }
    if (found && out->data == NULL && pw_buf_set(out, "", 0) != 0)
        return PW_INTERNAL_FAILURE;
    return found ? PW_OK : PW_NOT_FOUND;
}

/* The first value of key in m, or NULL; *len gets its length. */
static const char *pw_header_of(const struct pw_prop_map *m, const char *key, size_t *len)
{
    *len = 0;
    return m->exists ? m->ref.ops->get(m->ref.map, key, strlen(key), len) : NULL;
}

static enum pw_status pw_prop_header_value(struct pw_buf *out, const struct pw_prop_map *m,
                                           const char *key)
{
    size_t len;
    const char *v = pw_header_of(m, key, &len);

    return pw_prop_bytes(out, v, len);
}

/* request.* */
static enum pw_status pw_prop_request(struct pw_vm *vm, struct pw_ctx *ctx,
                                      const struct pw_stream_info *info, const char *name,
                                      size_t len, const char *sub, size_t sublen, int nseg,
                                      struct pw_buf *out)
{
    struct pw_prop_map h, t;
    size_t plen;

    pw_stream_map_of(vm, ctx, PW_MAP_REQUEST_HEADERS, &h);
    const char *path = pw_header_of(&h, ":path", &plen);
    if (pw_seg_is(name, len, "headers")) {
        if (nseg == 3)
            return pw_prop_header(out, &h, sub, sublen);
        return pw_prop_map(out, &h);
    }
    if (pw_seg_is(name, len, "path"))
        return pw_prop_bytes(out, path, plen);
    if (pw_seg_is(name, len, "headers_bytes"))
        return h.exists ? pw_prop_int(out, pw_map_bytes(&h)) : PW_NOT_FOUND;
    if (pw_seg_is(name, len, "url_path") || pw_seg_is(name, len, "query")) {
        if (path == NULL)
            return PW_NOT_FOUND;
        const char *q = memchr(path, '?', plen);
        if (pw_seg_is(name, len, "query"))
            return q != NULL ? pw_prop_bytes(out, q + 1, plen - (size_t)(q + 1 - path))
                             : pw_prop_bytes(out, "", 0);
        return pw_prop_bytes(out, path, q != NULL ? (size_t)(q - path) : plen);
    }
    if (pw_seg_is(name, len, "host")) {
        size_t alen;
        if (pw_header_of(&h, ":authority", &alen) != NULL)
            return pw_prop_header_value(out, &h, ":authority");
        return pw_prop_header_value(out, &h, "host");
    }
    if (pw_seg_is(name, len, "scheme"))
        return pw_prop_header_value(out, &h, ":scheme");
    if (pw_seg_is(name, len, "method"))
        return pw_prop_header_value(out, &h, ":method");
    if (pw_seg_is(name, len, "referer"))
        return pw_prop_header_value(out, &h, "referer");
    if (pw_seg_is(name, len, "useragent"))
        return pw_prop_header_value(out, &h, "user-agent");
    if (pw_seg_is(name, len, "id")) {
        if (info != NULL && info->request_id != NULL)
            return pw_prop_str(out, info->request_id);
        return pw_prop_header_value(out, &h, "x-request-id");
    }
    if (info == NULL)
        return PW_NOT_FOUND;
    if (pw_seg_is(name, len, "protocol"))
        return pw_prop_str(out, info->protocol);
    if (pw_seg_is(name, len, "time"))
        return pw_prop_int(out, info->request_time_ns);
    if (pw_seg_is(name, len, "duration"))
        return info->has_request_duration ? pw_prop_int(out, info->request_duration_ns)
                                          : PW_NOT_FOUND;
    if (pw_seg_is(name, len, "size"))
        return pw_prop_int(out, info->request_size);
    if (pw_seg_is(name, len, "total_size")) {
        pw_stream_map_of(vm, ctx, PW_MAP_REQUEST_TRAILERS, &t);
        return pw_prop_int(out, info->request_size + pw_map_bytes(&h) + pw_map_bytes(&t));
    }
    return PW_NOT_FOUND;
}

/* response.* */
static enum pw_status pw_prop_response(struct pw_vm *vm, struct pw_ctx *ctx,
                                       const struct pw_stream_info *info, const char *name,
                                       size_t len, const char *sub, size_t sublen, int nseg,
                                       struct pw_buf *out)
{
    struct pw_prop_map h, t;

    pw_stream_map_of(vm, ctx, PW_MAP_RESPONSE_HEADERS, &h);
    if (pw_seg_is(name, len, "headers") || pw_seg_is(name, len, "trailers")) {
        if (pw_seg_is(name, len, "trailers"))
            pw_stream_map_of(vm, ctx, PW_MAP_RESPONSE_TRAILERS, &h);
        if (nseg == 3)
            return pw_prop_header(out, &h, sub, sublen);
        return pw_prop_map(out, &h);
    }
    if (pw_seg_is(name, len, "headers_bytes"))
        return h.exists ? pw_prop_int(out, pw_map_bytes(&h)) : PW_NOT_FOUND;
    if (pw_seg_is(name, len, "code")) {
        size_t slen;
        const char *s = pw_header_of(&h, ":status", &slen);
        uint64_t code = 0;
        if (s == NULL)
            return PW_NOT_FOUND;
        for (size_t i = 0; i < slen && s[i] >= '0' && s[i] <= '9'; i++)
            code = code * 10 + (uint64_t)(s[i] - '0');
        return pw_prop_int(out, code);
    }
    if (info == NULL)
        return PW_NOT_FOUND;
    if (pw_seg_is(name, len, "code_details"))
        return pw_prop_str(out, info->response_code_details);
    if (pw_seg_is(name, len, "size"))
        return pw_prop_int(out, info->response_size);
    if (pw_seg_is(name, len, "total_size")) {
        pw_stream_map_of(vm, ctx, PW_MAP_RESPONSE_TRAILERS, &t);
        return pw_prop_int(out, info->response_size + pw_map_bytes(&h) + pw_map_bytes(&t));
    }
    return PW_NOT_FOUND;
}

/* source.*, destination.*, connection.*, upstream.* */
static enum pw_status pw_prop_connection(const struct pw_stream_info *info, const char *top,
                                         size_t tlen, const char *name, size_t len,
                                         struct pw_buf *out)
{
    if (info == NULL)
        return PW_NOT_FOUND;
    if (pw_seg_is(top, tlen, "source")) {
        if (pw_seg_is(name, len, "address"))
            return pw_prop_str(out, info->source_address);
        if (pw_seg_is(name, len, "port"))
            return pw_prop_int(out, info->source_port);
    } else if (pw_seg_is(top, tlen, "destination")) {
        if (pw_seg_is(name, len, "address"))
            return pw_prop_str(out, info->destination_address);
        if (pw_seg_is(name, len, "port"))
            return pw_prop_int(out, info->destination_port);
    } else if (pw_seg_is(top, tlen, "upstream")) {
        if (pw_seg_is(name, len, "address"))
            return pw_prop_str(out, info->upstream_address);
        if (pw_seg_is(name, len, "port") && info->upstream_address != NULL)
            return pw_prop_int(out, info->upstream_port);
    } else if (pw_seg_is(top, tlen, "connection")) {
        if (pw_seg_is(name, len, "id"))
            return pw_prop_int(out, info->connection_id);
        if (pw_seg_is(name, len, "mtls"))
            return pw_prop_bool(out, info->mtls);
        if (pw_seg_is(name, len, "tls_version"))
            return info->tls ? pw_prop_str(out, info->tls_version) : PW_NOT_FOUND;
        if (pw_seg_is(name, len, "requested_server_name"))
            return pw_prop_str(out, info->requested_server_name);
    }
    return PW_NOT_FOUND;
}

static enum pw_status pw_prop_lookup(struct pw_vm *vm, struct pw_ctx *ctx, const char *path,
                                     size_t plen, struct pw_buf *out)
{
    const char *seg[3] = {0};
    size_t sl[3] = {0};
    int n = pw_path_split(path, plen, seg, sl);
    struct pw_root *root = ctx->root;
    const struct pw_stream_info *info = NULL;

    if (n == 1 && pw_seg_is(seg[0], sl[0], "plugin_name"))
        return pw_prop_str(out, root->name);
    if (n == 1 && pw_seg_is(seg[0], sl[0], "plugin_root_id"))
        return pw_prop_str(out, root->root_id);
    if (n == 1 && pw_seg_is(seg[0], sl[0], "plugin_vm_id"))
        return pw_prop_str(out, vm->vm_id);
    bool gone = ctx->kind == PW_CTX_STREAM && ctx->host_stream == NULL; /* after on_done */
    if (ctx->kind == PW_CTX_STREAM && !gone && vm->ops != NULL && vm->ops->stream_info != NULL)
        info = vm->ops->stream_info(vm->host, ctx->host_stream);
    if (n >= 2 && ctx->kind == PW_CTX_STREAM) {
        enum pw_status st = PW_NOT_FOUND;
        if (pw_seg_is(seg[0], sl[0], "request"))
            st = pw_prop_request(vm, ctx, info, seg[1], sl[1], seg[2], sl[2], n, out);
        else if (pw_seg_is(seg[0], sl[0], "response"))
            st = pw_prop_response(vm, ctx, info, seg[1], sl[1], seg[2], sl[2], n, out);
        else if (n == 2)
            st = pw_prop_connection(info, seg[0], sl[0], seg[1], sl[1], out);
        if (st != PW_NOT_FOUND)
            return st;
    }
    /* Values the plugin stored: the stream's first, then its root's. */
    for (struct pw_ctx *c = ctx; c != NULL; c = c == &root->ctx ? NULL : &root->ctx) {
        for (struct pw_prop *p = c->props; p != NULL; p = p->next)
            if (p->path_len == plen && memcmp(p->path, path, plen) == 0)
                return pw_buf_set(out, p->value.data, p->value.len) == 0 ? PW_OK
                                                                         : PW_INTERNAL_FAILURE;
    }
    if (!gone && vm->ops != NULL && vm->ops->get_property != NULL)
        return vm->ops->get_property(
            vm->host, vm, ctx->kind == PW_CTX_STREAM ? ctx->host_stream : NULL, path, plen, out);
    return PW_NOT_FOUND;
}

/* proxy_get_property(path, path_len, return_value**, return_value_len*) */
PW_HOSTCALL(get_property)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t plen = pw_arg(slots, 1);
    const char *path = pw_guest_ptr(vm, pw_arg(slots, 0), plen);
    struct pw_buf out = {0};
    bool trapped;

    if (path == NULL || pw_guest_ptr(vm, pw_arg(slots, 2), 4) == NULL ||
        pw_guest_ptr(vm, pw_arg(slots, 3), 4) == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if (plen > 0 && path[plen - 1] == '\0')
        plen--;
    if (vm->effective == NULL)
        return pw_ret(slots, PW_NOT_FOUND);
    enum pw_status st = pw_prop_lookup(vm, vm->effective, path, plen, &out);
    if (st == PW_OK)
        st = pw_guest_copy_out(vm, out.data, out.len, pw_arg(slots, 2), pw_arg(slots, 3), &trapped);
    else
        trapped = false;
    pw_buf_free(&out);
    if (trapped)
        return pw_trap_from_alloc(vm);
    return pw_ret(slots, st);
}

/* proxy_set_property(path, path_len, value, value_len): stored on the effective
 * context, readable back with proxy_get_property (Envoy's filter state "wasm.<path>"). */
PW_HOSTCALL(set_property)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t plen = pw_arg(slots, 1), vlen = pw_arg(slots, 3);
    const char *path = pw_guest_ptr(vm, pw_arg(slots, 0), plen);
    const uint8_t *value = pw_guest_ptr(vm, pw_arg(slots, 2), vlen);
    struct pw_ctx *ctx = vm->effective;

    if (path == NULL || value == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if (plen > 0 && path[plen - 1] == '\0')
        plen--;
    if (ctx == NULL || plen == 0)
        return pw_ret(slots, PW_BAD_ARGUMENT);
    struct pw_prop *p;
    for (p = ctx->props; p != NULL; p = p->next)
        if (p->path_len == plen && memcmp(p->path, path, plen) == 0)
            break;
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL || (p->path = malloc(plen)) == NULL) {
            free(p);
            return pw_ret(slots, PW_INTERNAL_FAILURE);
        }
        memcpy(p->path, path, plen);
        p->path_len = plen;
        p->next = ctx->props;
        ctx->props = p;
    }
    if (pw_buf_set(&p->value, value, vlen) != 0)
        return pw_ret(slots, PW_INTERNAL_FAILURE);
    return pw_ret(slots, PW_OK);
}
