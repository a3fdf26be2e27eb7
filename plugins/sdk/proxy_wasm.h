/*
 * proxy_wasm.h - wasp's C SDK for writing proxy-wasm plugins (ABI 0.2.1).
 *
 * Header-only. Include it in exactly one translation unit of a plugin and build with
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -o plugin.wasm plugin.c
 * (Debian: clang, lld, wasi-libc), or without any libc:
 *   clang --target=wasm32 -nostdlib -Wl,--no-entry -O2 -o plugin.wasm plugin.c
 * in which case (no __wasi__) the header itself provides the little libc it needs: malloc,
 * free, calloc, realloc (a first-fit free list over memory.grow), memcpy, memmove,
 * memset, memcmp, strlen, and snprintf/vsnprintf for %d %i %u %x %c %s %% with the l, ll,
 * z and .* modifiers. The module then imports nothing but the hostcalls it uses.
 * The header declares every hostcall of the ABI with its
 * exact Wasm signature, the enums, the ABI marker and the guest allocator export, plus
 * small helpers (prefix wasp_) that hide the pointer/size plumbing: data the host returns
 * lands in memory from malloc() and is owned by the plugin (free it with wasp_bytes_free).
 *
 * A plugin exports the callbacks it implements under their ABI names with WASP_EXPORT;
 * the host treats a missing callback as "continue". Define WASP_SDK_NO_ALLOCATOR to
 * provide your own proxy_on_memory_allocate.
 */
#ifndef WASP_PLUGIN_SDK_PROXY_WASM_H
#define WASP_PLUGIN_SDK_PROXY_WASM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifdef __wasi__
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#else
/* ---- Freestanding build (no libc): the few libc functions the SDK needs ----------- */

#define WASP_SDK_FREESTANDING 1
/* Keeps clang from turning these loops into calls to themselves. */
#define WASP_NO_BUILTIN __attribute__((no_builtin))

WASP_NO_BUILTIN void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

WASP_NO_BUILTIN void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
    return dst;
}

WASP_NO_BUILTIN void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

WASP_NO_BUILTIN int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] - y[i];
    return 0;
}

WASP_NO_BUILTIN size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/*
 * The allocator: blocks of 8-byte granules with an 8-byte header (the block size);
 * freed blocks go to a first-fit list (split when much larger); new memory comes from
 * memory.grow after __heap_base. Not thread-safe (a plugin instance is single-threaded).
 */
extern unsigned char __heap_base;
struct wasp_block {
    size_t size; /* bytes after the header */
    struct wasp_block *next; /* in the free list (free blocks only) */
};
static struct wasp_block *wasp_free_list;
static uintptr_t wasp_heap_top;

void *malloc(size_t n)
{
    if (n > 0x7fff0000u)
        return NULL;
    n = (n + 7) & ~(size_t)7;
    if (n < sizeof(void *))
        n = 8;
    for (struct wasp_block **pp = &wasp_free_list; *pp != NULL; pp = &(*pp)->next) {
        struct wasp_block *b = *pp;
        if (b->size < n)
            continue;
        if (b->size >= n + 64) { /* split: the tail stays free */
            struct wasp_block *rest = (struct wasp_block *)((unsigned char *)b + 8 + n);
            rest->size = b->size - n - 8;
            rest->next = b->next;
            b->size = n;
            *pp = rest;
        } else {
            *pp = b->next;
        }
        return (unsigned char *)b + 8;
    }
    if (wasp_heap_top == 0)
        wasp_heap_top = ((uintptr_t)&__heap_base + 7) & ~(uintptr_t)7;
    uintptr_t end = wasp_heap_top + 8 + n;
    uintptr_t have = __builtin_wasm_memory_size(0) * 65536u;
    if (end > have) {
        size_t pages = (end - have + 65535) / 65536;
        if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1)
            return NULL;
    }
    struct wasp_block *b = (struct wasp_block *)wasp_heap_top;
    b->size = n;
    wasp_heap_top = end;
    return (unsigned char *)b + 8;
}

void free(void *p)
{
    if (p == NULL)
        return;
    struct wasp_block *b = (struct wasp_block *)((unsigned char *)p - 8);
    b->next = wasp_free_list;
    wasp_free_list = b;
}

void *calloc(size_t n, size_t size)
{
    if (size != 0 && n > (size_t)-1 / size)
        return NULL;
    void *p = malloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void *realloc(void *p, size_t n)
{
    if (p == NULL)
        return malloc(n);
    size_t old = ((struct wasp_block *)((unsigned char *)p - 8))->size;
    if (n <= old)
        return p;
    void *q = malloc(n);
    if (q != NULL) {
        memcpy(q, p, old);
        free(p);
    }
    return q;
}

/* Appends one character to out (size cap) and counts it. */
static inline void wasp_fmt_put(char *out, size_t cap, size_t *n, char c)
{
    if (*n + 1 < cap)
        out[*n] = c;
    (*n)++;
}

static inline void wasp_fmt_uint(char *out, size_t cap, size_t *n, unsigned long long v,
                                 unsigned base, bool negative)
{
    char digits[24];
    int k = 0;
    do {
        digits[k++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    if (negative)
        wasp_fmt_put(out, cap, n, '-');
    while (k > 0)
        wasp_fmt_put(out, cap, n, digits[--k]);
}

int vsnprintf(char *out, size_t cap, const char *fmt, va_list ap)
{
    size_t n = 0;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            wasp_fmt_put(out, cap, &n, *f);
            continue;
        }
        f++;
        int prec = -1, longs = 0;
        bool size_t_arg = false;
        if (f[0] == '.' && f[1] == '*') {
            prec = va_arg(ap, int);
            f += 2;
        }
        while (*f == 'l') {
            longs++;
            f++;
        }
        if (*f == 'z') {
            size_t_arg = true;
            f++;
        }
        switch (*f) {
        case 'd':
        case 'i': {
            long long v = longs >= 2 ? va_arg(ap, long long)
                          : longs == 1 ? va_arg(ap, long)
                          : size_t_arg ? (long long)va_arg(ap, size_t)
                                       : va_arg(ap, int);
            wasp_fmt_uint(out, cap, &n, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v,
                          10, v < 0);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = longs >= 2 ? va_arg(ap, unsigned long long)
                                   : longs == 1 ? va_arg(ap, unsigned long)
                                   : size_t_arg ? va_arg(ap, size_t)
                                                : va_arg(ap, unsigned);
            wasp_fmt_uint(out, cap, &n, v, *f == 'x' ? 16 : 10, false);
            break;
        }
        case 'c':
            wasp_fmt_put(out, cap, &n, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (s == NULL)
                s = "(null)";
            for (int i = 0; (prec < 0 || i < prec) && s[i]; i++)
                wasp_fmt_put(out, cap, &n, s[i]);
            break;
        }
        case '%':
            wasp_fmt_put(out, cap, &n, '%');
            break;
        default: /* unsupported: print it as it is */
            wasp_fmt_put(out, cap, &n, '%');
            if (*f == '\0')
                f--;
            else
                wasp_fmt_put(out, cap, &n, *f);
            break;
        }
    }
    if (cap > 0)
        out[n < cap ? n : cap - 1] = '\0';
    return (int)n;
}

int snprintf(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return n;
}
#endif /* __wasi__ */

#define WASP_EXPORT(name) __attribute__((export_name(#name), used)) name
#define WASP_IMPORT(name) __attribute__((import_module("env"), import_name(#name))) name

/* ---- Enumerations (ABI.md §4) ---------------------------------------------------- */

enum wasp_status {
    WASP_OK = 0,
    WASP_NOT_FOUND = 1,
    WASP_BAD_ARGUMENT = 2,
    WASP_SERIALIZATION_FAILURE = 3,
    WASP_PARSE_FAILURE = 4,
    WASP_INVALID_MEMORY_ACCESS = 6,
    WASP_EMPTY = 7,
    WASP_CAS_MISMATCH = 8,
    WASP_INTERNAL_FAILURE = 10,
    WASP_UNIMPLEMENTED = 12,
};

enum wasp_log_level {
    WASP_LOG_TRACE = 0,
    WASP_LOG_DEBUG = 1,
    WASP_LOG_INFO = 2,
    WASP_LOG_WARN = 3,
    WASP_LOG_ERROR = 4,
    WASP_LOG_CRITICAL = 5,
};

enum wasp_action {
    WASP_CONTINUE = 0,
    WASP_PAUSE = 1,
};

enum wasp_buffer_type {
    WASP_BUFFER_REQUEST_BODY = 0,
    WASP_BUFFER_RESPONSE_BODY = 1,
    WASP_BUFFER_DOWNSTREAM_DATA = 2,
    WASP_BUFFER_UPSTREAM_DATA = 3,
    WASP_BUFFER_HTTP_CALL_RESPONSE_BODY = 4,
    WASP_BUFFER_GRPC_CALL_MESSAGE = 5,
    WASP_BUFFER_VM_CONFIGURATION = 6,
    WASP_BUFFER_PLUGIN_CONFIGURATION = 7,
    WASP_BUFFER_FOREIGN_FUNCTION_ARGUMENTS = 8,
};

enum wasp_map_type {
    WASP_MAP_REQUEST_HEADERS = 0,
    WASP_MAP_REQUEST_TRAILERS = 1,
    WASP_MAP_RESPONSE_HEADERS = 2,
    WASP_MAP_RESPONSE_TRAILERS = 3,
    WASP_MAP_GRPC_INITIAL_METADATA = 4,
    WASP_MAP_GRPC_TRAILING_METADATA = 5,
    WASP_MAP_HTTP_CALL_RESPONSE_HEADERS = 6,
    WASP_MAP_HTTP_CALL_RESPONSE_TRAILERS = 7,
};

enum wasp_stream_type {
    WASP_STREAM_REQUEST = 0,
    WASP_STREAM_RESPONSE = 1,
    WASP_STREAM_DOWNSTREAM = 2,
    WASP_STREAM_UPSTREAM = 3,
};

enum wasp_metric_type {
    WASP_METRIC_COUNTER = 0,
    WASP_METRIC_GAUGE = 1,
    WASP_METRIC_HISTOGRAM = 2,
};

/* ---- Hostcalls (module "env"), exact Wasm signatures (ABI.md §3) ------------------ */

/* Pointers are guest addresses; on wasm32 every one of them is an i32. */
int32_t WASP_IMPORT(proxy_log)(int32_t level, const char *msg, size_t len);
int32_t WASP_IMPORT(proxy_get_log_level)(int32_t *level);
int32_t WASP_IMPORT(proxy_get_current_time_nanoseconds)(uint64_t *nanos);
int32_t WASP_IMPORT(proxy_set_tick_period_milliseconds)(uint32_t period_ms);
int32_t WASP_IMPORT(proxy_get_buffer_bytes)(int32_t type, uint32_t start, uint32_t max_size,
                                            char **data, size_t *size);
int32_t WASP_IMPORT(proxy_set_buffer_bytes)(int32_t type, uint32_t start, uint32_t size,
                                            const char *data, size_t len);
int32_t WASP_IMPORT(proxy_get_buffer_status)(int32_t type, size_t *size, uint32_t *flags);
int32_t WASP_IMPORT(proxy_get_header_map_size)(int32_t map, size_t *size);
int32_t WASP_IMPORT(proxy_get_header_map_pairs)(int32_t map, char **data, size_t *size);
int32_t WASP_IMPORT(proxy_set_header_map_pairs)(int32_t map, const char *data, size_t size);
int32_t WASP_IMPORT(proxy_get_header_map_value)(int32_t map, const char *key, size_t key_len,
                                                char **value, size_t *value_len);
int32_t WASP_IMPORT(proxy_add_header_map_value)(int32_t map, const char *key, size_t key_len,
                                                const char *value, size_t value_len);
int32_t WASP_IMPORT(proxy_replace_header_map_value)(int32_t map, const char *key,
                                                    size_t key_len, const char *value,
                                                    size_t value_len);
int32_t WASP_IMPORT(proxy_remove_header_map_value)(int32_t map, const char *key,
                                                   size_t key_len);
int32_t WASP_IMPORT(proxy_continue_stream)(int32_t stream_type);
int32_t WASP_IMPORT(proxy_close_stream)(int32_t stream_type);
int32_t WASP_IMPORT(proxy_get_status)(uint32_t *code, char **message, size_t *message_len);
int32_t WASP_IMPORT(proxy_send_local_response)(uint32_t status, const char *details,
                                               size_t details_len, const char *body,
                                               size_t body_len, const char *headers,
                                               size_t headers_len, int32_t grpc_status);
int32_t WASP_IMPORT(proxy_http_call)(const char *upstream, size_t upstream_len,
                                     const char *headers, size_t headers_len,
                                     const char *body, size_t body_len, const char *trailers,
                                     size_t trailers_len, uint32_t timeout_ms,
                                     uint32_t *call_id);
int32_t WASP_IMPORT(proxy_set_shared_data)(const char *key, size_t key_len, const char *value,
                                           size_t value_len, uint32_t cas);
int32_t WASP_IMPORT(proxy_get_shared_data)(const char *key, size_t key_len, char **value,
                                           size_t *value_len, uint32_t *cas);
int32_t WASP_IMPORT(proxy_register_shared_queue)(const char *name, size_t name_len,
                                                 uint32_t *queue_id);
int32_t WASP_IMPORT(proxy_resolve_shared_queue)(const char *vm_id, size_t vm_id_len,
                                                const char *name, size_t name_len,
                                                uint32_t *queue_id);
int32_t WASP_IMPORT(proxy_enqueue_shared_queue)(uint32_t queue_id, const char *value,
                                                size_t value_len);
int32_t WASP_IMPORT(proxy_dequeue_shared_queue)(uint32_t queue_id, char **value,
                                                size_t *value_len);
int32_t WASP_IMPORT(proxy_define_metric)(int32_t type, const char *name, size_t name_len,
                                         uint32_t *metric_id);
int32_t WASP_IMPORT(proxy_record_metric)(uint32_t metric_id, uint64_t value);
int32_t WASP_IMPORT(proxy_increment_metric)(uint32_t metric_id, int64_t delta);
int32_t WASP_IMPORT(proxy_get_metric)(uint32_t metric_id, uint64_t *value);
int32_t WASP_IMPORT(proxy_get_property)(const char *path, size_t path_len, char **value,
                                        size_t *value_len);
int32_t WASP_IMPORT(proxy_set_property)(const char *path, size_t path_len, const char *value,
                                        size_t value_len);
int32_t WASP_IMPORT(proxy_set_effective_context)(uint32_t context_id);
int32_t WASP_IMPORT(proxy_done)(void);
int32_t WASP_IMPORT(proxy_call_foreign_function)(const char *name, size_t name_len,
                                                 const char *args, size_t args_len,
                                                 char **results, size_t *results_len);

/* gRPC. wasp has no gRPC client yet: calls and streams fail as on an Envoy that cannot
 * reach the service (PARSE_FAILURE for an unknown upstream, INTERNAL_FAILURE for a known
 * one), and send/cancel/close answer NOT_FOUND. */
int32_t WASP_IMPORT(proxy_grpc_call)(const char *upstream, size_t upstream_len,
                                     const char *service, size_t service_len, const char *method,
                                     size_t method_len, const char *metadata, size_t metadata_len,
                                     const char *message, size_t message_len,
                                     uint32_t timeout_ms, uint32_t *call_id);
int32_t WASP_IMPORT(proxy_grpc_stream)(const char *upstream, size_t upstream_len,
                                       const char *service, size_t service_len,
                                       const char *method, size_t method_len,
                                       const char *metadata, size_t metadata_len,
                                       uint32_t *stream_id);
int32_t WASP_IMPORT(proxy_grpc_send)(uint32_t stream_id, const char *message, size_t message_len,
                                     uint32_t end_stream);
int32_t WASP_IMPORT(proxy_grpc_cancel)(uint32_t call_or_stream_id);
int32_t WASP_IMPORT(proxy_grpc_close)(uint32_t call_or_stream_id);

/* ABI 0.1.0 only (wasp links them for any module; new plugins use buffers 6/7 and
 * proxy_continue_stream instead). */
int32_t WASP_IMPORT(proxy_get_configuration)(char **data, size_t *size);
int32_t WASP_IMPORT(proxy_continue_request)(void);
int32_t WASP_IMPORT(proxy_continue_response)(void);
int32_t WASP_IMPORT(proxy_clear_route_cache)(void);

/* ---- ABI marker and allocator ----------------------------------------------------- */

void WASP_EXPORT(proxy_abi_version_0_2_1)(void)
{
}

#ifndef WASP_SDK_NO_ALLOCATOR
/* The host copies returned data into memory from here; the plugin frees it. */
void *WASP_EXPORT(proxy_on_memory_allocate)(size_t size)
{
    return malloc(size);
}
#endif

/* ---- Helpers ---------------------------------------------------------------------- */

/* Bytes handed over by the host (NULL/0 when empty). Owned by the plugin. */
struct wasp_bytes {
    char *data;
    size_t len;
};

static inline void wasp_bytes_free(struct wasp_bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

/* True when b holds exactly the NUL-less string s. */
static inline bool wasp_bytes_eq(const struct wasp_bytes *b, const char *s)
{
    size_t n = strlen(s);
    return b->len == n && (n == 0 || memcmp(b->data, s, n) == 0);
}

/* Logs a printf-style message at level (truncated at 1 KiB). */
static inline __attribute__((format(printf, 2, 3))) int32_t wasp_log(int32_t level,
                                                                     const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return WASP_BAD_ARGUMENT;
    if ((size_t)n >= sizeof(line))
        n = sizeof(line) - 1;
    return proxy_log(level, line, (size_t)n);
}

/* Reads buffer type (whole when max is 0 with start 0 and size from the callback). */
static inline int32_t wasp_get_buffer(int32_t type, uint32_t start, uint32_t max,
                                      struct wasp_bytes *out)
{
    out->data = NULL;
    out->len = 0;
    return proxy_get_buffer_bytes(type, start, max, &out->data, &out->len);
}

/* The plugin configuration (inside proxy_on_configure) or VM configuration (on_vm_start). */
static inline int32_t wasp_get_configuration(int32_t type, uint32_t size, struct wasp_bytes *out)
{
    return wasp_get_buffer(type, 0, size, out);
}

static inline int32_t wasp_get_header(int32_t map, const char *name, struct wasp_bytes *out)
{
    out->data = NULL;
    out->len = 0;
    return proxy_get_header_map_value(map, name, strlen(name), &out->data, &out->len);
}

static inline int32_t wasp_add_header(int32_t map, const char *name, const char *value)
{
    return proxy_add_header_map_value(map, name, strlen(name), value, strlen(value));
}

static inline int32_t wasp_replace_header(int32_t map, const char *name, const char *value)
{
    return proxy_replace_header_map_value(map, name, strlen(name), value, strlen(value));
}

static inline int32_t wasp_remove_header(int32_t map, const char *name)
{
    return proxy_remove_header_map_value(map, name, strlen(name));
}

/*
 * Serialises n name/value pairs (kv[2i], kv[2i+1]) into the ABI's map encoding:
 * u32 count, then (u32 name_len, u32 value_len) per pair, then each name and value
 * followed by a NUL. Returns a malloc'd buffer in out (free with wasp_bytes_free).
 */
static inline int32_t wasp_pairs_encode(const char *const *kv, size_t n, struct wasp_bytes *out)
{
    size_t size = 4 + 8 * n;
    for (size_t i = 0; i < 2 * n; i++)
        size += strlen(kv[i]) + 1;
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return WASP_INTERNAL_FAILURE;
    uint32_t count = (uint32_t)n;
    memcpy(buf, &count, 4);
    uint8_t *lens = buf + 4, *p = buf + 4 + 8 * n;
    for (size_t i = 0; i < 2 * n; i++) {
        uint32_t len = (uint32_t)strlen(kv[i]);
        memcpy(lens + 4 * i, &len, 4);
        memcpy(p, kv[i], len);
        p[len] = '\0';
        p += len + 1;
    }
    out->data = (char *)buf;
    out->len = size;
    return WASP_OK;
}

/* A cursor over an encoded map returned by proxy_get_header_map_pairs. */
struct wasp_pairs {
    const uint8_t *data;
    size_t len;
    uint32_t count, next;
    size_t cursor; /* offset of the next name */
};

static inline bool wasp_pairs_init(struct wasp_pairs *it, const struct wasp_bytes *b)
{
    memset(it, 0, sizeof(*it));
    if (b->len < 4)
        return b->len == 0;
    it->data = (const uint8_t *)b->data;
    it->len = b->len;
    memcpy(&it->count, it->data, 4);
    if (it->count > (b->len - 4) / 8)
        return false;
    it->cursor = 4 + 8 * (size_t)it->count;
    return true;
}

/* Yields the next pair (not NUL-terminated views); false at the end or on bad data. */
static inline bool wasp_pairs_next(struct wasp_pairs *it, const char **name, size_t *name_len,
                                   const char **value, size_t *value_len)
{
    if (it->next >= it->count)
        return false;
    uint32_t nl, vl;
    memcpy(&nl, it->data + 4 + 8 * (size_t)it->next, 4);
    memcpy(&vl, it->data + 8 + 8 * (size_t)it->next, 4);
    if ((size_t)nl + vl + 2 > it->len - it->cursor)
        return false;
    *name = (const char *)it->data + it->cursor;
    *name_len = nl;
    *value = *name + nl + 1;
    *value_len = vl;
    it->cursor += (size_t)nl + vl + 2;
    it->next++;
    return true;
}

/* Sends a local reply with n extra headers (kv pairs) after the current callback. */
static inline int32_t wasp_send_local_response(uint32_t status, const char *details,
                                               const char *body, size_t body_len,
                                               const char *const *kv, size_t n)
{
    struct wasp_bytes h = {0};
    int32_t rc = wasp_pairs_encode(kv, n, &h);
    if (rc != WASP_OK)
        return rc;
    rc = proxy_send_local_response(status, details, strlen(details), body, body_len, h.data,
                                   h.len, -1);
    wasp_bytes_free(&h);
    return rc;
}

/* Calls upstream (a cluster name) with headers kv (must include :method/:path/:authority). */
static inline int32_t wasp_http_call(const char *upstream, const char *const *kv, size_t n,
                                     const char *body, size_t body_len, uint32_t timeout_ms,
                                     uint32_t *call_id)
{
    struct wasp_bytes h = {0};
    int32_t rc = wasp_pairs_encode(kv, n, &h);
    if (rc != WASP_OK)
        return rc;
    rc = proxy_http_call(upstream, strlen(upstream), h.data, h.len, body, body_len, NULL, 0,
                         timeout_ms, call_id);
    wasp_bytes_free(&h);
    return rc;
}

/*
 * Reads a property by its path segments, e.g. wasp_get_property(&v, "request", "path",
 * NULL). Segments are joined with NUL as the ABI requires.
 */
static inline int32_t wasp_get_property(struct wasp_bytes *out, const char *first, ...)
{
    char path[256];
    size_t len = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *seg = first; seg != NULL; seg = va_arg(ap, const char *)) {
        size_t n = strlen(seg);
        if (len + n + 1 > sizeof(path)) {
            va_end(ap);
            return WASP_BAD_ARGUMENT;
        }
        if (len > 0)
            path[len++] = '\0';
        memcpy(path + len, seg, n);
        len += n;
    }
    va_end(ap);
    out->data = NULL;
    out->len = 0;
    return proxy_get_property(path, len, &out->data, &out->len);
}

static inline int32_t wasp_get_shared_data(const char *key, struct wasp_bytes *out,
                                           uint32_t *cas)
{
    out->data = NULL;
    out->len = 0;
    return proxy_get_shared_data(key, strlen(key), &out->data, &out->len, cas);
}

static inline int32_t wasp_set_shared_data(const char *key, const char *value, size_t len,
                                           uint32_t cas)
{
    return proxy_set_shared_data(key, strlen(key), value, len, cas);
}

static inline int32_t wasp_define_metric(int32_t type, const char *name, uint32_t *id)
{
    return proxy_define_metric(type, name, strlen(name), id);
}

/* ---- Per-context state ------------------------------------------------------------ */

/*
 * A small open-addressing table from context id to a plugin pointer, so stream callbacks
 * can find their state. Ids are never 0 (0 is the VM context).
 */
#ifndef WASP_SDK_MAX_CONTEXTS
#define WASP_SDK_MAX_CONTEXTS 4096
#endif

struct wasp_ctx_slot {
    uint32_t id;
    void *ptr;
};
static struct wasp_ctx_slot wasp_ctx_table[WASP_SDK_MAX_CONTEXTS];

static inline struct wasp_ctx_slot *wasp_ctx_find(uint32_t id, bool insert)
{
    uint32_t h = (id * 2654435761u) % WASP_SDK_MAX_CONTEXTS;
    struct wasp_ctx_slot *tomb = NULL;
    for (uint32_t i = 0; i < WASP_SDK_MAX_CONTEXTS; i++) {
        struct wasp_ctx_slot *s = &wasp_ctx_table[(h + i) % WASP_SDK_MAX_CONTEXTS];
        if (s->id == id)
            return s;
        if (s->id == UINT32_MAX && tomb == NULL)
            tomb = s;
        if (s->id == 0)
            return insert ? (tomb ? tomb : s) : NULL;
    }
    return insert ? tomb : NULL;
}

/* Associates ptr with context id. Returns false when the table is full. */
static inline bool wasp_ctx_set(uint32_t id, void *ptr)
{
    struct wasp_ctx_slot *s = wasp_ctx_find(id, true);
    if (s == NULL)
        return false;
    s->id = id;
    s->ptr = ptr;
    return true;
}

static inline void *wasp_ctx_get(uint32_t id)
{
    struct wasp_ctx_slot *s = wasp_ctx_find(id, false);
    return s ? s->ptr : NULL;
}

/* Forgets id and returns its pointer (for the caller to free). */
static inline void *wasp_ctx_take(uint32_t id)
{
    struct wasp_ctx_slot *s = wasp_ctx_find(id, false);
    if (s == NULL)
        return NULL;
    void *ptr = s->ptr;
    s->id = UINT32_MAX; /* tombstone keeps probe chains intact */
    s->ptr = NULL;
    return ptr;
}

#endif /* WASP_PLUGIN_SDK_PROXY_WASM_H */
