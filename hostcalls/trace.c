/*
 * trace.c - tracing of the proxy_* hostcalls (pw_vm_config.trace, `wasp replay --trace`).
 *
 * With tracing on, vm.c links every import that has a decoding (struct pw_import.trace)
 * to pw_hc_trace instead of its function, so a VM without tracing pays nothing. The shim
 * decodes the parameters from the slots and guest memory before the call (what the plugin
 * passed), runs the hostcall, decodes its out-values after a successful call, and reports
 * the call once through pw_host_ops.trace (or a TRACE log line). Every guest access goes
 * through pw_guest_ptr(); strings and maps are escaped and cut to a bounded length.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define PW_TRACE_STR_MAX 96  /* bytes shown of one string */
#define PW_TRACE_PAIRS_MAX 8 /* pairs shown of one map */

const char *pw_status_name(enum pw_status st)
{
    switch (st) {
    case PW_OK:
        return "OK";
    case PW_NOT_FOUND:
        return "NOT_FOUND";
    case PW_BAD_ARGUMENT:
        return "BAD_ARGUMENT";
    case PW_SERIALIZATION_FAILURE:
        return "SERIALIZATION_FAILURE";
    case PW_PARSE_FAILURE:
        return "PARSE_FAILURE";
    case PW_INVALID_MEMORY_ACCESS:
        return "INVALID_MEMORY_ACCESS";
    case PW_EMPTY:
        return "EMPTY";
    case PW_CAS_MISMATCH:
        return "CAS_MISMATCH";
    case PW_INTERNAL_FAILURE:
        return "INTERNAL_FAILURE";
    case PW_BROKEN_CONNECTION:
        return "BROKEN_CONNECTION";
    case PW_UNIMPLEMENTED:
        return "UNIMPLEMENTED";
    }
    return "UNKNOWN";
}

/* ---- Bounded text ------------------------------------------------------------------ */

/* A fixed buffer that keeps what fits and ends with "..." when something did not. */
struct pw_text {
    char *buf;
    size_t cap; /* > 4 */
    size_t len;
    bool cut;
};

static void pw_text_put(struct pw_text *t, const char *s, size_t n)
{
    size_t room = t->cap - 4 - t->len; /* 3 for "..." and the NUL */

    if (t->cut)
        return;
    if (n > room) {
        n = room;
        t->cut = true;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void pw_text_str(struct pw_text *t, const char *s)
{
    pw_text_put(t, s, strlen(s));
}

static __attribute__((format(printf, 2, 3))) void pw_text_printf(struct pw_text *t, const char *fmt,
                                                                 ...)
{
    char tmp[128];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        pw_text_put(t, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void pw_text_end(struct pw_text *t)
{
    if (t->cut)
        memcpy(t->buf + t->len, "...", 4);
}

/* n bytes as a quoted, escaped string; at most max of them, then the full size. */
static void pw_text_bytes(struct pw_text *t, const uint8_t *p, size_t n, size_t max)
{
    pw_text_put(t, "\"", 1);
    for (size_t i = 0; i < n && i < max; i++) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            pw_text_put(t, e, 2);
        } else if (c >= 0x20 && c < 0x7f) {
            pw_text_put(t, (const char *)&c, 1);
        } else if (c == '\n') {
            pw_text_put(t, "\\n", 2);
        } else if (c == '\r') {
            pw_text_put(t, "\\r", 2);
        } else if (c == '\t') {
            pw_text_put(t, "\\t", 2);
        } else if (c == 0) {
            pw_text_put(t, "\\0", 2);
        } else {
            pw_text_printf(t, "\\x%02x", c);
        }
    }
    pw_text_put(t, "\"", 1);
    if (n > max)
        pw_text_printf(t, "...(%zu bytes)", n);
}

static uint32_t pw_le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * A serialized map (ABI.md §5.1) as {"key": "value", ...}: the first PW_TRACE_PAIRS_MAX
 * pairs, then how many there are. Checked as pw_map_parse() checks it; a map it would
 * refuse is shown as <malformed pairs, N bytes>.
 */
static void pw_text_pairs(struct pw_text *t, const uint8_t *p, size_t size)
{
    if (size == 0 || (size == 1 && p[0] == 0)) {
        pw_text_str(t, "{}");
        return;
    }
    uint32_t n = size >= 4 ? pw_le32(p) : 0;
    bool ok =
        size >= 4 && size <= PW_MAP_MAX_BYTES && n <= PW_MAP_MAX_PAIRS && 4 + 8 * (size_t)n <= size;
    size_t pos = 4 + 8 * (size_t)n;
    for (uint32_t i = 0; ok && i < n; i++) {
        size_t kl = pw_le32(p + 4 + 8 * (size_t)i), vl = pw_le32(p + 8 + 8 * (size_t)i);
        ok = kl + 1 <= size - pos && p[pos + kl] == 0;
        ok = ok && vl + 1 <= size - pos - kl - 1 && p[pos + kl + 1 + vl] == 0;
        pos += kl + vl + 2;
    }
    if (!ok || pos != size) {
        pw_text_printf(t, "<malformed pairs, %zu bytes>", size);
        return;
    }
    pw_text_str(t, "{");
    pos = 4 + 8 * (size_t)n;
    for (uint32_t i = 0; i < n && i < PW_TRACE_PAIRS_MAX; i++) {
        size_t kl = pw_le32(p + 4 + 8 * (size_t)i), vl = pw_le32(p + 8 + 8 * (size_t)i);
        pw_text_str(t, i ? ", " : "");
        pw_text_bytes(t, p + pos, kl, PW_TRACE_STR_MAX);
        pw_text_str(t, ": ");
        pw_text_bytes(t, p + pos + kl + 1, vl, PW_TRACE_STR_MAX);
        pos += kl + vl + 2;
    }
    if (n > PW_TRACE_PAIRS_MAX)
        pw_text_printf(t, ", ...(%" PRIu32 " pairs)", n);
    pw_text_str(t, "}");
}

/* ---- Decoding -------------------------------------------------------------------- */

static const char *const pw_map_names[] = {
    "request_headers",
    "request_trailers",
    "response_headers",
    "response_trailers",
    "grpc_initial_metadata",
    "grpc_trailing_metadata",
    "http_call_response_headers",
    "http_call_response_trailers",
};
static const char *const pw_buffer_names[] = {
    "request_body",     "response_body",           "downstream_data",
    "upstream_data",    "http_call_response_body", "grpc_receive_buffer",
    "vm_configuration", "plugin_configuration",    "foreign_function_arguments",
};
const char *pw_map_type_name(uint32_t type)
{
    return type < sizeof(pw_map_names) / sizeof(pw_map_names[0]) ? pw_map_names[type] : "?";
}

const char *pw_buffer_type_name(uint32_t type)
{
    return type < sizeof(pw_buffer_names) / sizeof(pw_buffer_names[0]) ? pw_buffer_names[type]
                                                                       : "?";
}

static const char *const pw_stream_names[] = {"request", "response", "downstream", "upstream"};
static const char *const pw_metric_names[] = {"counter", "gauge", "histogram"};
static const char *const pw_level_names[] = {"trace", "debug", "info", "warn", "error", "critical"};

/* An enum value by name, or its number when it has none. */
static void pw_text_enum(struct pw_text *t, char kind, uint32_t v)
{
    const char *const *names = NULL;
    size_t count = 0;

#define PW_NAMES(a) (names = (a), count = sizeof(a) / sizeof((a)[0]))
    switch (kind) {
    case 'M':
        PW_NAMES(pw_map_names);
        break;
    case 'B':
        PW_NAMES(pw_buffer_names);
        break;
    case 'S':
        PW_NAMES(pw_stream_names);
        break;
    case 'T':
        PW_NAMES(pw_metric_names);
        break;
    default:
        PW_NAMES(pw_level_names);
        break;
    }
#undef PW_NAMES
    if (v < count)
        pw_text_str(t, names[v]);
    else
        pw_text_printf(t, "%" PRIu32, v);
}

/* Guest bytes [ptr, ptr+len) as a string (pairs when as_pairs), or <invalid PTR+LEN>. */
static void pw_text_guest(struct pw_text *t, struct pw_vm *vm, uint32_t ptr, uint32_t len,
                          bool as_pairs)
{
    const uint8_t *p = pw_guest_ptr(vm, ptr, len);

    if (p == NULL)
        pw_text_printf(t, "<invalid 0x%" PRIx32 "+%" PRIu32 ">", ptr, len);
    else if (as_pairs)
        pw_text_pairs(t, p, len);
    else
        pw_text_bytes(t, p, len, PW_TRACE_STR_MAX);
}

/* How many slots a parameter of that kind takes. */
static int pw_trace_width(char kind)
{
    return kind == 's' || kind == 'p' || kind == 'O' || kind == 'Q' ? 2 : 1;
}

/*
 * Walks the decoding words of imp ("kind:name ..."): the inputs (outputs false) or the
 * out-values (outputs true), from the parameter slots in[].
 */
static void pw_trace_decode(struct pw_vm *vm, const char *desc, const uint64_t *in, bool outputs,
                            struct pw_text *t)
{
    int slot = 0;
    bool first = true;

    for (const char *w = desc; *w != '\0';) {
        char kind = w[0];
        const char *name = w + 2, *end = strchr(name, ' ');
        size_t name_len = end != NULL ? (size_t)(end - name) : strlen(name);
        bool is_out = kind == 'o' || kind == 'w' || kind == 'O' || kind == 'Q';
        uint32_t a = (uint32_t)in[slot], b = (uint32_t)in[slot + 1];

        if (is_out == outputs) {
            const uint8_t *p;
            pw_text_str(t, first ? "" : ", ");
            pw_text_put(t, name, name_len);
            pw_text_str(t, "=");
            first = false;
            switch (kind) {
            case 'u':
                pw_text_printf(t, "%" PRIu32, a);
                break;
            case 'i':
                pw_text_printf(t, "%" PRId32, (int32_t)a);
                break;
            case 'U':
                pw_text_printf(t, "%" PRIu64, in[slot]);
                break;
            case 'I':
                pw_text_printf(t, "%" PRId64, (int64_t)in[slot]);
                break;
            case 's':
            case 'p':
                pw_text_guest(t, vm, a, b, kind == 'p');
                break;
            case 'o':
                p = pw_guest_ptr(vm, a, 4);
                if (p != NULL)
                    pw_text_printf(t, "%" PRIu32, pw_le32(p));
                break;
            case 'w':
                p = pw_guest_ptr(vm, a, 8);
                if (p != NULL)
                    pw_text_printf(t, "%" PRIu64, pw_le32(p) | (uint64_t)pw_le32(p + 4) << 32);
                break;
            case 'O':
            case 'Q': {
                const uint8_t *pp = pw_guest_ptr(vm, a, 4), *sp = pw_guest_ptr(vm, b, 4);
                if (pp != NULL && sp != NULL)
                    pw_text_guest(t, vm, pw_le32(pp), pw_le32(sp), kind == 'Q');
                break;
            }
            default:
                pw_text_enum(t, kind, a);
                break;
            }
        }
        slot += pw_trace_width(kind);
        w = end != NULL ? end + 1 : name + name_len;
    }
}

/* The number of parameters of an import signature such as "(iiI)i". */
static size_t pw_sig_params(const char *sig)
{
    const char *close = strchr(sig, ')');
    return close != NULL ? (size_t)(close - sig - 1) : 0;
}

int pw_hc_trace(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    const struct pw_import *imp = env;
    struct pw_vm *vm = pw_vm_of(inst);
    struct pw_ctx *ctx = vm->effective;
    uint64_t in[16] = {0};
    char args_buf[2048], results_buf[1024];
    struct pw_text args = {args_buf, sizeof(args_buf), 0, false};
    struct pw_text results = {results_buf, sizeof(results_buf), 0, false};
    size_t n = pw_sig_params(imp->sig);

    args_buf[0] = results_buf[0] = '\0';
    memcpy(in, slots, (n < 16 ? n : 16) * sizeof(uint64_t));
    pw_trace_decode(vm, imp->trace, in, false, &args);
    pw_text_end(&args);

    int rc = imp->fn(inst, slots, NULL);
    enum pw_status st = (enum pw_status)(uint32_t)slots[0];
    if (rc == WASM_OK && st == PW_OK)
        pw_trace_decode(vm, imp->trace, in, true, &results);
    pw_text_end(&results);

    struct pw_trace t = {
        .plugin = ctx != NULL ? ctx->root->name : vm->name,
        .context_id = ctx != NULL ? ctx->id : 0,
        .stream = ctx != NULL && ctx->kind == PW_CTX_STREAM ? ctx->host_stream : NULL,
        .hostcall = imp->name,
        .args = args_buf,
        .results = results_buf,
        .status = st,
        .trapped = rc != WASM_OK,
    };
    if (vm->ops != NULL && vm->ops->trace != NULL) {
        vm->ops->trace(vm->host, &t);
    } else {
        char line[3200];
        snprintf(line, sizeof(line), "hostcall %s(%s) -> %s%s%s", imp->name, args_buf,
                 t.trapped ? "trap" : pw_status_name(st), *results_buf ? " " : "", results_buf);
        pw_vm_log(vm, ctx, PW_LOG_TRACE, line, SIZE_MAX);
    }
    return rc;
}
