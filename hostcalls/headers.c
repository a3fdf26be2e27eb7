/*
 * headers.c - header maps: struct pw_map, its pairs encoding (ABI.md §5.1), and the
 * header-map hostcalls.
 *
 * Which map a hostcall sees: maps 0-3 are the effective stream's, asked of the host
 * (NULL when that map does not exist yet); maps 6/7 are the callout response during
 * proxy_on_http_call_response; 4/5 (gRPC) never exist. Phase rules, chosen so that no
 * SDK panics (the Rust SDK accepts only OK and NOT_FOUND for reads, only OK for writes):
 * reading a map that does not exist gives an empty map (pairs, size) or NOT_FOUND (one
 * value); a stream's write to a map 0-3 that does not exist in the phase, or already went
 * out, or in on_done/on_log/on_delete, is answered OK and ignored, with a warning in the
 * plugin's log (pw_write_ignored); a root context's write to maps 0-3 and any write to
 * maps 4-7 give NOT_FOUND. Keys are lower-cased on insertion and compared
 * case-insensitively.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* ---- struct pw_map ------------------------------------------------------------------ */

void pw_map_clear(struct pw_map *m)
{
    for (uint32_t i = 0; i < m->count; i++) {
        free(m->items[i].key);
        free(m->items[i].value);
    }
    m->count = 0;
}

void pw_map_free(struct pw_map *m)
{
    pw_map_clear(m);
    free(m->items);
    m->items = NULL;
    m->cap = 0;
}

static char *pw_dup_bytes(const char *s, size_t len, bool lower)
{
    char *d = malloc(len + 1);

    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        d[i] = lower && s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
    d[len] = '\0';
    return d;
}

int pw_map_add(struct pw_map *m, const char *key, size_t key_len, const char *value,
               size_t value_len)
{
    if (key_len > UINT32_MAX || value_len > UINT32_MAX)
        return -1;
    if (m->count == m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 8;
        struct pw_header *items = realloc(m->items, cap * sizeof(*items));
        if (items == NULL)
            return -1;
        m->items = items;
        m->cap = cap;
    }
    struct pw_header *h = &m->items[m->count];
    h->key = pw_dup_bytes(key, key_len, true);
    h->value = pw_dup_bytes(value, value_len, false);
    if (h->key == NULL || h->value == NULL) {
        free(h->key);
        free(h->value);
        return -1;
    }
    h->key_len = (uint32_t)key_len;
    h->value_len = (uint32_t)value_len;
    m->count++;
    return 0;
}

static bool pw_key_eq(const struct pw_header *h, const char *key, size_t key_len)
{
    return h->key_len == key_len && strncasecmp(h->key, key, key_len) == 0;
}

const struct pw_header *pw_map_get(const struct pw_map *m, const char *key, size_t key_len)
{
    for (uint32_t i = 0; i < m->count; i++)
        if (pw_key_eq(&m->items[i], key, key_len))
            return &m->items[i];
    return NULL;
}

const char *pw_map_value(const struct pw_map *m, const char *key)
{
    const struct pw_header *h = pw_map_get(m, key, strlen(key));

    return h != NULL ? h->value : NULL;
}

uint32_t pw_map_remove(struct pw_map *m, const char *key, size_t key_len)
{
    uint32_t out = 0, removed = 0;

    for (uint32_t i = 0; i < m->count; i++) {
        if (pw_key_eq(&m->items[i], key, key_len)) {
            free(m->items[i].key);
            free(m->items[i].value);
            removed++;
        } else {
            m->items[out++] = m->items[i];
        }
    }
    m->count = out;
    return removed;
}

int pw_map_replace(struct pw_map *m, const char *key, size_t key_len, const char *value,
                   size_t value_len)
{
    uint32_t first = m->count, out = 0;

    for (uint32_t i = 0; i < m->count; i++) {
        if (pw_key_eq(&m->items[i], key, key_len)) {
            first = i;
            break;
        }
    }
    if (first == m->count)
        return pw_map_add(m, key, key_len, value, value_len);
    char *v = pw_dup_bytes(value, value_len, false);
    if (v == NULL)
        return -1;
    free(m->items[first].value);
    m->items[first].value = v;
    m->items[first].value_len = (uint32_t)value_len;
    /* Drop the later duplicates so the map holds exactly one value for key. */
    for (uint32_t i = 0; i < m->count; i++) {
        if (i > first && pw_key_eq(&m->items[i], key, key_len)) {
            free(m->items[i].key);
            free(m->items[i].value);
        } else {
            m->items[out++] = m->items[i];
        }
    }
    m->count = out;
    return 0;
}

int pw_map_copy(struct pw_map *dst, const struct pw_map *src)
{
    pw_map_clear(dst);
    for (uint32_t i = 0; i < src->count; i++) {
        const struct pw_header *h = &src->items[i];
        if (pw_map_add(dst, h->key, h->key_len, h->value, h->value_len) != 0)
            return -1;
    }
    return 0;
}

size_t pw_map_serialized_size(const struct pw_map *m)
{
    struct pw_map_ref r = {&pw_map_plain_ops, (void *)m};
    return pw_mapref_serialized_size(&r);
}

static void pw_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t pw_get_le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

void pw_map_serialize(const struct pw_map *m, uint8_t *out)
{
    struct pw_map_ref r = {&pw_map_plain_ops, (void *)m};
    pw_mapref_serialize(&r, out);
}

/* ---- Maps behind struct pw_map_ops ----------------------------------------------------- */

static uint32_t plain_count(void *map)
{
    return ((struct pw_map *)map)->count;
}

static void plain_field(void *map, uint32_t i, struct pw_field *f)
{
    const struct pw_header *h = &((struct pw_map *)map)->items[i];

    *f = (struct pw_field){h->key, h->value, h->key_len, h->value_len};
}

static const char *plain_get(void *map, const char *key, size_t key_len, size_t *value_len)
{
    const struct pw_header *h = pw_map_get(map, key, key_len);

    if (h == NULL)
        return NULL;
    *value_len = h->value_len;
    return h->value;
}

static void plain_remove(void *map, const char *key, size_t key_len)
{
    pw_map_remove(map, key, key_len);
}

static void plain_clear(void *map)
{
    pw_map_clear(map);
}

const struct pw_map_ops pw_map_plain_ops = {
    .count = plain_count,
    .field = plain_field,
    .get = plain_get,
    .add = (int (*)(void *, const char *, size_t, const char *, size_t))pw_map_add,
    .replace = (int (*)(void *, const char *, size_t, const char *, size_t))pw_map_replace,
    .remove = plain_remove,
    .clear = plain_clear,
};

size_t pw_mapref_serialized_size(const struct pw_map_ref *r)
{
    uint32_t n = r->ops->count(r->map);
    size_t size = 4;

    for (uint32_t i = 0; i < n; i++) {
        struct pw_field f;
        r->ops->field(r->map, i, &f);
        size += 8 + f.key_len + 1 + f.value_len + 1;
    }
    return size;
}

void pw_mapref_serialize(const struct pw_map_ref *r, uint8_t *out)
{
    uint32_t n = r->ops->count(r->map);
    uint8_t *sizes = out + 4, *data = out + 4 + 8 * (size_t)n;

    pw_put_le32(out, n);
    for (uint32_t i = 0; i < n; i++) {
        struct pw_field f;
        r->ops->field(r->map, i, &f);
        pw_put_le32(sizes + 8 * (size_t)i, (uint32_t)f.key_len);
        pw_put_le32(sizes + 8 * (size_t)i + 4, (uint32_t)f.value_len);
        memcpy(data, f.key, f.key_len);
        data += f.key_len;
        *data++ = 0;
        memcpy(data, f.value, f.value_len);
        data += f.value_len;
        *data++ = 0;
    }
}

uint64_t pw_mapref_bytes(const struct pw_map_ref *r)
{
    uint64_t total = 0;
    uint32_t n = r->ops->count(r->map);

    for (uint32_t i = 0; i < n; i++) {
        struct pw_field f;
        r->ops->field(r->map, i, &f);
        total += f.key_len + f.value_len;
    }
    return total;
}

enum pw_status pw_map_parse(const uint8_t *data, size_t size, struct pw_map *out)
{
    pw_map_clear(out);
    if (size == 0 || (size == 1 && data[0] == 0))
        return PW_OK;
    if (size < 4 || size > PW_MAP_MAX_BYTES)
        return PW_BAD_ARGUMENT;
    uint32_t n = pw_get_le32(data);
    if (n > PW_MAP_MAX_PAIRS || 4 + 8 * (size_t)n > size)
        return PW_BAD_ARGUMENT;
    size_t pos = 4 + 8 * (size_t)n;
    for (uint32_t i = 0; i < n; i++) {
        size_t klen = pw_get_le32(data + 4 + 8 * (size_t)i);
        size_t vlen = pw_get_le32(data + 8 + 8 * (size_t)i);
        if (klen + 1 > size - pos || data[pos + klen] != 0)
            goto bad;
        const char *key = (const char *)data + pos;
        pos += klen + 1;
        if (vlen + 1 > size - pos || data[pos + vlen] != 0)
            goto bad;
        if (pw_map_add(out, key, klen, (const char *)data + pos, vlen) != 0)
            goto bad;
        pos += vlen + 1;
    }
    if (pos != size)
        goto bad;
    return PW_OK;
bad:
    pw_map_free(out); /* its storage too: callers drop a map that failed to parse */
    return PW_BAD_ARGUMENT;
}

/* ---- The map a hostcall addresses ----------------------------------------------------- */

bool pw_find_map(struct pw_vm *vm, struct pw_ctx *ctx, uint32_t type, struct pw_map_ref *out,
                 bool *writable)
{
    *writable = false;
    if (type == PW_MAP_HTTP_CALL_RESPONSE_HEADERS || type == PW_MAP_HTTP_CALL_RESPONSE_TRAILERS) {
        if (!vm->in_call_response || vm->call_response == NULL)
            return false;
        out->ops = &pw_map_plain_ops;
        out->map =
            (void *)(type == PW_MAP_HTTP_CALL_RESPONSE_HEADERS ? &vm->call_response->headers
                                                               : &vm->call_response->trailers);
        return true;
    }
    if (type > PW_MAP_RESPONSE_TRAILERS || ctx == NULL || ctx->kind != PW_CTX_STREAM ||
        ctx->host_stream == NULL || vm->ops == NULL || vm->ops->stream_map == NULL)
        return false;
    *writable = true;
    if (!vm->ops->stream_map(vm->host, ctx->host_stream, type, out, writable)) {
        *writable = false;
        return false;
    }
    if (ctx->ending)
        *writable = false;
    return true;
}

bool pw_write_ignored(struct pw_vm *vm, const char *hostcall, bool is_buffer, uint32_t type,
                      bool exists)
{
    struct pw_ctx *ctx = vm->effective;

    if (ctx == NULL || ctx->kind != PW_CTX_STREAM || type > 3)
        return false;
    uint8_t bit = (uint8_t)(1u << (type + (is_buffer ? 4 : 0)));
    if (!(ctx->write_warned & bit)) {
        char msg[256];
        ctx->write_warned |= bit;
        snprintf(msg, sizeof(msg), "%s(%s): %s; the change is ignored", hostcall,
                 is_buffer ? pw_buffer_type_name(type) : pw_map_type_name(type),
                 !exists            ? "it does not exist in this phase"
                 : ctx->ending      ? "the stream has ended, it is read-only"
                 : ctx->host_stream ? "it is read-only now (it went on)"
                                    : "the stream has ended");
        pw_vm_log(vm, ctx, PW_LOG_WARN, msg, SIZE_MAX);
    }
    return true;
}

/* The status of a write that cannot apply (see pw_write_ignored). */
static int pw_ret_ignored(struct pw_vm *vm, uint64_t *slots, const char *hostcall, uint32_t type,
                          bool exists)
{
    return pw_ret(slots,
                  pw_write_ignored(vm, hostcall, false, type, exists) ? PW_OK : PW_NOT_FOUND);
}

/* Fetches a key argument; NULL when out of range. */
static const char *pw_key_arg(struct pw_vm *vm, const uint64_t *slots, int i)
{
    return pw_guest_ptr(vm, pw_arg(slots, i), pw_arg(slots, i + 1));
}

/* The map argument of a header-map hostcall: false with *st set when the type is not a
 * header map type (BAD_ARGUMENT). */
static bool pw_map_arg(struct pw_vm *vm, uint32_t type, struct pw_map_ref *r, bool *exists,
                       bool *writable, enum pw_status *st)
{
    if (type > PW_MAP_HTTP_CALL_RESPONSE_TRAILERS) {
        *st = PW_BAD_ARGUMENT;
        return false;
    }
    *exists = pw_find_map(vm, vm->effective, type, r, writable);
    return true;
}

/* proxy_get_header_map_size(map, return_size*) */
PW_HOSTCALL(get_header_map_size)
{
    struct pw_vm *vm = pw_vm_of(inst);
    struct pw_map_ref r;
    bool exists, w;
    enum pw_status st;

    if (!pw_map_arg(vm, pw_arg(slots, 0), &r, &exists, &w, &st))
        return pw_ret(slots, st);
    size_t size = exists && r.ops->count(r.map) > 0 ? pw_mapref_serialized_size(&r) : 0;
    return pw_ret(slots, pw_guest_put_u32(vm, pw_arg(slots, 1), (uint32_t)size));
}

static void pw_fill_map(void *arg, void *dst, size_t len)
{
    pw_mapref_serialize(arg, dst);
}

/* proxy_get_header_map_pairs(map, return_data**, return_size*): serialized straight into
 * the guest's block. */
PW_HOSTCALL(get_header_map_pairs)
{
    struct pw_vm *vm = pw_vm_of(inst);
    struct pw_map_ref r;
    bool exists, w, trapped;
    enum pw_status st;

    if (!pw_map_arg(vm, pw_arg(slots, 0), &r, &exists, &w, &st))
        return pw_ret(slots, st);
    size_t size = exists && r.ops->count(r.map) > 0 ? pw_mapref_serialized_size(&r) : 0;
    st = pw_guest_out(vm, size, pw_arg(slots, 1), pw_arg(slots, 2), pw_fill_map, &r, &trapped);
    if (trapped)
        return pw_trap_from_alloc(vm);
    return pw_ret(slots, st);
}

/* The status of a host map edit: 0 OK, -2 refused value, else out of memory. */
static enum pw_status pw_edit_status(int rc)
{
    return rc == 0 ? PW_OK : rc == -2 ? PW_BAD_ARGUMENT : PW_INTERNAL_FAILURE;
}

/* proxy_set_header_map_pairs(map, data, size) */
PW_HOSTCALL(set_header_map_pairs)
{
    struct pw_vm *vm = pw_vm_of(inst);
    const uint8_t *data = pw_guest_ptr(vm, pw_arg(slots, 1), pw_arg(slots, 2));
    struct pw_map parsed = {0};
    struct pw_map_ref r;
    bool exists, w;
    enum pw_status st;

    if (data == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if (!pw_map_arg(vm, pw_arg(slots, 0), &r, &exists, &w, &st))
        return pw_ret(slots, st);
    if (!exists || !w)
        return pw_ret_ignored(vm, slots, "proxy_set_header_map_pairs", pw_arg(slots, 0), exists);
    st = pw_map_parse(data, pw_arg(slots, 2), &parsed);
    if (st != PW_OK)
        return pw_ret(slots, st); /* malformed: the map is left as it was */
    r.ops->clear(r.map);
    st = PW_OK;
    for (uint32_t i = 0; i < parsed.count && st == PW_OK; i++) {
        const struct pw_header *h = &parsed.items[i];
        st = pw_edit_status(r.ops->add(r.map, h->key, h->key_len, h->value, h->value_len));
    }
    pw_map_free(&parsed);
    return pw_ret(slots, st);
}

/* proxy_get_header_map_value(map, key, key_len, return_value**, return_len*) */
PW_HOSTCALL(get_header_map_value)
{
    struct pw_vm *vm = pw_vm_of(inst);
    const char *key = pw_key_arg(vm, slots, 1);
    struct pw_map_ref r;
    bool exists, w, trapped;
    enum pw_status st;

    if (key == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if (!pw_map_arg(vm, pw_arg(slots, 0), &r, &exists, &w, &st))
        return pw_ret(slots, st);
    size_t vlen = 0;
    const char *v = exists ? r.ops->get(r.map, key, pw_arg(slots, 2), &vlen) : NULL;
    if (v == NULL) {
        if (vm->module->abi != PW_ABI_0_1_0)
            return pw_ret(slots, PW_NOT_FOUND);
        /* 0.1.0: a missing key is OK with an empty value. */
        st = pw_guest_copy_out(vm, NULL, 0, pw_arg(slots, 3), pw_arg(slots, 4), &trapped);
        return pw_ret(slots, st);
    }
    /* v stays valid across the allocator call: the guest cannot reach host maps. */
    st = pw_guest_copy_out(vm, v, vlen, pw_arg(slots, 3), pw_arg(slots, 4), &trapped);
    if (trapped)
        return pw_trap_from_alloc(vm);
    return pw_ret(slots, st);
}

enum pw_map_edit { PW_MAP_ADD, PW_MAP_REPLACE, PW_MAP_REMOVE };

/* Keys reach the host lower case, as Envoy's header maps hold them. */
#define PW_KEY_MAX 8192

static int pw_map_edit(wasm_instance_t *inst, uint64_t *slots, enum pw_map_edit op)
{
    struct pw_vm *vm = pw_vm_of(inst);
    const char *key = pw_key_arg(vm, slots, 1);
    const char *value = op == PW_MAP_REMOVE ? "" : pw_key_arg(vm, slots, 3);
    uint32_t klen = pw_arg(slots, 2), vlen = op == PW_MAP_REMOVE ? 0 : pw_arg(slots, 4);
    struct pw_map_ref r;
    bool exists, w;
    enum pw_status st;
    char lower[256], *k = lower;
    int rc = 0;

    if (key == NULL || value == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if (!pw_map_arg(vm, pw_arg(slots, 0), &r, &exists, &w, &st))
        return pw_ret(slots, st);
    if (!exists || !w) {
        static const char *const names[] = {"proxy_add_header_map_value",
                                            "proxy_replace_header_map_value",
                                            "proxy_remove_header_map_value"};
        return pw_ret_ignored(vm, slots, names[op], pw_arg(slots, 0), exists);
    }
    if (klen == 0 || klen > PW_KEY_MAX || memchr(key, 0, klen) != NULL ||
        memchr(value, 0, vlen) != NULL)
        return pw_ret(slots, PW_BAD_ARGUMENT);
    if (klen > sizeof(lower) && (k = malloc(klen)) == NULL)
        return pw_ret(slots, PW_INTERNAL_FAILURE);
    for (uint32_t i = 0; i < klen; i++)
        k[i] = key[i] >= 'A' && key[i] <= 'Z' ? (char)(key[i] + 32) : key[i];
    if (op == PW_MAP_ADD)
        rc = r.ops->add(r.map, k, klen, value, vlen);
    else if (op == PW_MAP_REPLACE)
        rc = r.ops->replace(r.map, k, klen, value, vlen);
    else
        r.ops->remove(r.map, k, klen);
    if (k != lower)
        free(k);
    return pw_ret(slots, pw_edit_status(rc));
}

PW_HOSTCALL(add_header_map_value)
{
    return pw_map_edit(inst, slots, PW_MAP_ADD);
}

PW_HOSTCALL(replace_header_map_value)
{
    return pw_map_edit(inst, slots, PW_MAP_REPLACE);
}

PW_HOSTCALL(remove_header_map_value)
{
    return pw_map_edit(inst, slots, PW_MAP_REMOVE);
}
