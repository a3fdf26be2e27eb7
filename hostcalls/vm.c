/*
 * vm.c - plugin modules and VMs: ABI detection, the import table, instantiation, the
 * start sequence, calling callbacks, the guest allocator, checked guest memory access
 * and failure reports.
 *
 * The import table below is the union of ABI 0.1.0 and 0.2.x (plus the few non-proxy
 * names real SDK outputs import), each with its exact signature; WASI comes from wasi.c
 * under both wasi_snapshot_preview1 and wasi_unstable. An `env` import not in the table
 * is rejected at load with its name, so a plugin never fails later on a missing symbol.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "wasi.h"

/* ---- The import table ------------------------------------------------------------ */

static int pw_hc_notify_memory_growth(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return WASM_OK;
}

static int pw_hc_pthread_equal(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    slots[0] = (uint32_t)slots[0] == (uint32_t)slots[1];
    return WASM_OK;
}

/*
 * AssemblyScript's env.abort(msg, file, line, col) when built without
 * --use abort=abort_proc_exit: the strings are UTF-16 with their byte length stored just
 * before them. Stops the guest with the message.
 */
static void pw_as_string(struct pw_vm *vm, uint32_t ptr, char *out, size_t outlen)
{
    uint8_t *lenp = ptr >= 4 ? pw_guest_ptr(vm, ptr - 4, 4) : NULL;
    size_t n = 0;

    out[0] = '\0';
    if (lenp == NULL)
        return;
    uint32_t bytes = lenp[0] | lenp[1] << 8 | lenp[2] << 16 | (uint32_t)lenp[3] << 24;
    const uint8_t *s = pw_guest_ptr(vm, ptr, bytes);
    if (s == NULL)
        return;
    for (uint32_t i = 0; i + 1 < bytes && n + 1 < outlen; i += 2) {
        uint16_t c = s[i] | s[i + 1] << 8;
        out[n++] = c < 0x80 && c >= 0x20 ? (char)c : '?';
    }
    out[n] = '\0';
}

static int pw_hc_as_abort(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    struct pw_vm *vm = pw_vm_of(inst);
    char msg[256], file[256], text[600];

    pw_as_string(vm, pw_arg(slots, 0), msg, sizeof(msg));
    pw_as_string(vm, pw_arg(slots, 1), file, sizeof(file));
    snprintf(text, sizeof(text), "abort: %s at %s:%u:%u", msg, file, pw_arg(slots, 2),
             pw_arg(slots, 3));
    return wasm_trap_raise(inst, text);
}

static const struct pw_import pw_imports[] = {
    {"proxy_log", "(iii)i", pw_hc_log, "L:level s:message"},
    {"proxy_get_log_level", "(i)i", pw_hc_get_log_level, "o:level"},
    {"proxy_get_current_time_nanoseconds", "(i)i", pw_hc_get_current_time_nanoseconds, "w:time_ns"},
    {"proxy_set_tick_period_milliseconds", "(i)i", pw_hc_set_tick_period_milliseconds,
     "u:period_ms"},
    {"proxy_get_buffer_bytes", "(iiiii)i", pw_hc_get_buffer_bytes,
     "B:buffer u:start u:max_size O:data"},
    {"proxy_set_buffer_bytes", "(iiiii)i", pw_hc_set_buffer_bytes,
     "B:buffer u:start u:size s:data"},
    {"proxy_get_buffer_status", "(iii)i", pw_hc_get_buffer_status, "B:buffer o:size o:flags"},
    {"proxy_get_header_map_size", "(ii)i", pw_hc_get_header_map_size, "M:map o:size"},
    {"proxy_get_header_map_pairs", "(iii)i", pw_hc_get_header_map_pairs, "M:map Q:pairs"},
    {"proxy_set_header_map_pairs", "(iii)i", pw_hc_set_header_map_pairs, "M:map p:pairs"},
    {"proxy_get_header_map_value", "(iiiii)i", pw_hc_get_header_map_value, "M:map s:key O:value"},
    {"proxy_add_header_map_value", "(iiiii)i", pw_hc_add_header_map_value, "M:map s:key s:value"},
    {"proxy_replace_header_map_value", "(iiiii)i", pw_hc_replace_header_map_value,
     "M:map s:key s:value"},
    {"proxy_remove_header_map_value", "(iii)i", pw_hc_remove_header_map_value, "M:map s:key"},
    {"proxy_continue_stream", "(i)i", pw_hc_continue_stream, "S:stream"},
    {"proxy_close_stream", "(i)i", pw_hc_close_stream, "S:stream"},
    {"proxy_get_status", "(iii)i", pw_hc_get_status, "o:code O:message"},
    {"proxy_send_local_response", "(iiiiiiii)i", pw_hc_send_local_response,
     "u:status s:details s:body p:headers i:grpc_status"},
    {"proxy_http_call", "(iiiiiiiiii)i", pw_hc_http_call,
     "s:upstream p:headers s:body p:trailers i:timeout_ms o:token"},
    {"proxy_grpc_call", "(iiiiiiiiiiii)i", pw_hc_grpc_call,
     "s:upstream s:service s:method p:metadata s:message u:timeout_ms o:token"},
    {"proxy_grpc_stream", "(iiiiiiiii)i", pw_hc_grpc_stream,
     "s:upstream s:service s:method p:metadata o:token"},
    {"proxy_grpc_send", "(iiii)i", pw_hc_grpc_send, "u:token s:message u:end_stream"},
    {"proxy_grpc_cancel", "(i)i", pw_hc_grpc_cancel, "u:token"},
    {"proxy_grpc_close", "(i)i", pw_hc_grpc_close, "u:token"},
    {"proxy_set_shared_data", "(iiiii)i", pw_hc_set_shared_data, "s:key s:value u:cas"},
    {"proxy_get_shared_data", "(iiiii)i", pw_hc_get_shared_data, "s:key O:value o:cas"},
    {"proxy_register_shared_queue", "(iii)i", pw_hc_register_shared_queue, "s:name o:queue_id"},
    {"proxy_resolve_shared_queue", "(iiiii)i", pw_hc_resolve_shared_queue,
     "s:vm_id s:name o:queue_id"},
    {"proxy_enqueue_shared_queue", "(iii)i", pw_hc_enqueue_shared_queue, "u:queue_id s:value"},
    {"proxy_dequeue_shared_queue", "(iii)i", pw_hc_dequeue_shared_queue, "u:queue_id O:value"},
    {"proxy_define_metric", "(iiii)i", pw_hc_define_metric, "T:type s:name o:metric_id"},
    {"proxy_record_metric", "(iI)i", pw_hc_record_metric, "u:metric_id U:value"},
    {"proxy_increment_metric", "(iI)i", pw_hc_increment_metric, "u:metric_id I:delta"},
    {"proxy_get_metric", "(ii)i", pw_hc_get_metric, "u:metric_id w:value"},
    {"proxy_get_property", "(iiii)i", pw_hc_get_property, "s:path O:value"},
    {"proxy_set_property", "(iiii)i", pw_hc_set_property, "s:path s:value"},
    {"proxy_set_effective_context", "(i)i", pw_hc_set_effective_context, "u:context_id"},
    {"proxy_done", "()i", pw_hc_done, ""},
    {"proxy_call_foreign_function", "(iiiiii)i", pw_hc_call_foreign_function,
     "s:name s:arguments O:results"},
    /* ABI 0.1.0 only */
    {"proxy_get_configuration", "(ii)i", pw_hc_get_configuration, "O:configuration"},
    {"proxy_continue_request", "()i", pw_hc_continue_request, ""},
    {"proxy_continue_response", "()i", pw_hc_continue_response, ""},
    {"proxy_clear_route_cache", "()i", pw_hc_clear_route_cache, ""},
    /* Not proxy-wasm, but imported by real SDK outputs (ABI.md §2, §6). */
    {"envoy_resolve_dns", "(iii)i", pw_hc_unimplemented, NULL},
    {"emscripten_notify_memory_growth", "(i)", pw_hc_notify_memory_growth, NULL},
    {"pthread_equal", "(ii)i", pw_hc_pthread_equal, NULL},
    {"abort", "(iiii)", pw_hc_as_abort, NULL},
};

#define PW_NIMPORTS (sizeof(pw_imports) / sizeof(pw_imports[0]))

/* ---- Callbacks --------------------------------------------------------------------- */

struct pw_cb_desc {
    const char *name;
    uint32_t nparams; /* the most we pass; an export may take fewer (0.1.0 headers) */
};

static const struct pw_cb_desc pw_cbs[PW_CB_COUNT] = {
    [PW_CB_INITIALIZE] = {"_initialize", 0},
    [PW_CB_MAIN] = {"main", 2},
    [PW_CB_MAIN_VOID] = {"__main_void", 0},
    [PW_CB_START] = {"_start", 0},
    [PW_CB_MEMORY_ALLOCATE] = {"proxy_on_memory_allocate", 1},
    [PW_CB_MALLOC] = {"malloc", 1},
    [PW_CB_CONTEXT_CREATE] = {"proxy_on_context_create", 2},
    [PW_CB_VM_START] = {"proxy_on_vm_start", 2},
    [PW_CB_CONFIGURE] = {"proxy_on_configure", 2},
    [PW_CB_TICK] = {"proxy_on_tick", 1},
    [PW_CB_QUEUE_READY] = {"proxy_on_queue_ready", 2},
    [PW_CB_NEW_CONNECTION] = {"proxy_on_new_connection", 1},
    [PW_CB_DOWNSTREAM_DATA] = {"proxy_on_downstream_data", 3},
    [PW_CB_DOWNSTREAM_CLOSE] = {"proxy_on_downstream_connection_close", 2},
    [PW_CB_UPSTREAM_DATA] = {"proxy_on_upstream_data", 3},
    [PW_CB_UPSTREAM_CLOSE] = {"proxy_on_upstream_connection_close", 2},
    [PW_CB_REQUEST_HEADERS] = {"proxy_on_request_headers", 3},
    [PW_CB_REQUEST_BODY] = {"proxy_on_request_body", 3},
    [PW_CB_REQUEST_TRAILERS] = {"proxy_on_request_trailers", 2},
    [PW_CB_RESPONSE_HEADERS] = {"proxy_on_response_headers", 3},
    [PW_CB_RESPONSE_BODY] = {"proxy_on_response_body", 3},
    [PW_CB_RESPONSE_TRAILERS] = {"proxy_on_response_trailers", 2},
    [PW_CB_HTTP_CALL_RESPONSE] = {"proxy_on_http_call_response", 5},
    [PW_CB_DONE] = {"proxy_on_done", 1},
    [PW_CB_LOG] = {"proxy_on_log", 1},
    [PW_CB_DELETE] = {"proxy_on_delete", 1},
};

const char *pw_cb_name(enum pw_cb cb)
{
    return cb < PW_CB_COUNT ? pw_cbs[cb].name : "(none)";
}

const char *pw_abi_name(enum pw_abi_version v)
{
    switch (v) {
    case PW_ABI_0_1_0:
        return "0.1.0";
    case PW_ABI_0_2_0:
        return "0.2.0";
    case PW_ABI_0_2_1:
        return "0.2.1";
    default:
        return "unknown";
    }
}

/* ---- Modules ----------------------------------------------------------------------- */

const struct pw_import *pw_import_find(const char *name)
{
    for (size_t i = 0; i < PW_NIMPORTS; i++)
        if (strcmp(pw_imports[i].name, name) == 0)
            return &pw_imports[i];
    return NULL;
}

static char pw_valtype_char(uint8_t t)
{
    switch (t) {
    case WASM_I32:
        return 'i';
    case WASM_I64:
        return 'I';
    case WASM_F32:
        return 'f';
    case WASM_F64:
        return 'F';
    default:
        return '?';
    }
}

/* Writes ft as "(params)results" into out (at least 64 bytes). */
static void pw_sig_string(const struct wasm_functype *ft, char *out, size_t outlen)
{
    size_t n = 0;

    out[n++] = '(';
    for (uint32_t i = 0; i < ft->nparams && n + 3 < outlen; i++)
        out[n++] = pw_valtype_char(ft->params[i]);
    out[n++] = ')';
    for (uint32_t i = 0; i < ft->nresults && n + 2 < outlen; i++)
        out[n++] = pw_valtype_char(ft->results[i]);
    out[n] = '\0';
}

/* Checks the imports: every env import is ours with the same signature; other modules
 * are WASI's. Returns 0, or -1 with the reason in err. */
static int pw_check_imports(const wasm_module_t *wm, char *err, size_t errlen)
{
    uint32_t n = wasm_module_import_count(wm);

    for (uint32_t i = 0; i < n; i++) {
        struct wasm_extern_desc d;
        char sig[64];

        if (wasm_module_import(wm, i, &d) != WASM_OK)
            continue;
        if (strcmp(d.module, "wasi_snapshot_preview1") == 0 ||
            strcmp(d.module, "wasi_unstable") == 0)
            continue;
        if (strcmp(d.module, "env") != 0) {
            snprintf(err, errlen, "unknown import %s.%s: no such module on this host", d.module,
                     d.name);
            return -1;
        }
        if (d.kind != WASM_EXTERN_FUNC) {
            snprintf(err, errlen,
                     "unsupported import env.%s: only functions are provided (the plugin "
                     "must define its own memory and tables)",
                     d.name);
            return -1;
        }
        const struct pw_import *imp = pw_import_find(d.name);
        if (imp == NULL) {
            snprintf(err, errlen, "unknown import env.%s: not a proxy-wasm hostcall", d.name);
            return -1;
        }
        pw_sig_string(&d.type.func, sig, sizeof(sig));
        if (strcmp(sig, imp->sig) != 0) {
            snprintf(err, errlen, "import env.%s has type %s, expected %s", d.name, sig, imp->sig);
            return -1;
        }
    }
    return 0;
}

/* The WASI context of the VM an instance belongs to (the modules' dispatch contexts). */
static struct wasi_ctx *pw_vm_wasi_of(wasm_instance_t *inst)
{
    struct pw_vm *vm = wasm_instance_userdata(inst);

    return vm != NULL ? vm->wasi : NULL;
}

/*
 * A linker with every import a plugin may have: the proxy-wasm table (each hostcall
 * through the trace shim when trace) and WASI bound to the dispatch context wasi.
 * Returns NULL with err.
 */
static wasm_linker_t *pw_linker_new(struct wasi_ctx *wasi, bool trace, char *err, size_t errlen)
{
    wasm_linker_t *l = wasm_linker_new();

    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < PW_NIMPORTS; i++) {
        const struct pw_import *imp = &pw_imports[i];
        bool shim = trace && imp->trace != NULL;
        if (wasm_linker_define_func(l, "env", imp->name, imp->sig, shim ? pw_hc_trace : imp->fn,
                                    shim ? (void *)imp : NULL) != WASM_OK) {
            snprintf(err, errlen, "cannot define env.%s", pw_imports[i].name);
            goto free_l;
        }
    }
    if (wasi_define(l, wasi) != WASM_OK) {
        snprintf(err, errlen, "cannot define the WASI functions");
        goto free_l;
    }
    return l;

free_l:
    wasm_linker_free(l);
    return NULL;
}

struct pw_module *pw_module_load(const uint8_t *bytes, size_t len, char *err, size_t errlen)
{
    static const struct {
        const char *marker;
        enum pw_abi_version v;
    } markers[] = {
        {"proxy_abi_version_0_2_1", PW_ABI_0_2_1},
        {"proxy_abi_version_0_2_0", PW_ABI_0_2_0},
        {"proxy_abi_version_0_1_0", PW_ABI_0_1_0},
    };
    enum wasm_status st;
    struct pw_module *m;

    if (wasm_engine_init() != WASM_OK) {
        snprintf(err, errlen, "cannot initialise the Wasm engine");
        return NULL;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->wm = wasm_module_load(bytes, len, &st, err, errlen);
    if (m->wm == NULL)
        goto free_m;
    for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
        if (wasm_module_has_export_func(m->wm, markers[i].marker)) {
            m->abi = markers[i].v;
            break;
        }
    }
    if (m->abi == PW_ABI_UNKNOWN) {
        snprintf(err, errlen,
                 "not a proxy-wasm module: it exports none of the ABI version markers "
                 "proxy_abi_version_0_1_0, proxy_abi_version_0_2_0, "
                 "proxy_abi_version_0_2_1");
        goto free_wm;
    }
    if (pw_check_imports(m->wm, err, errlen) != 0)
        goto free_wm;
    m->wasi_dispatch = wasi_ctx_new_dispatch(pw_vm_wasi_of);
    if (m->wasi_dispatch == NULL) {
        snprintf(err, errlen, "out of memory");
        goto free_wm;
    }
    m->linker = pw_linker_new(m->wasi_dispatch, false, err, errlen);
    if (m->linker == NULL)
        goto free_wasi;
    return m;

free_wasi:
    wasi_ctx_free(m->wasi_dispatch);
free_wm:
    wasm_module_free(m->wm);
free_m:
    free(m);
    return NULL;
}

void pw_module_free(struct pw_module *m)
{
    if (m == NULL)
        return;
    wasm_linker_free(m->linker);
    wasi_ctx_free(m->wasi_dispatch);
    wasm_module_free(m->wm);
    free(m);
}

bool pw_module_has_export(const struct pw_module *m, const char *name)
{
    return wasm_module_has_export_func(m->wm, name);
}

enum pw_abi_version pw_module_abi(const struct pw_module *m)
{
    return m->abi;
}

/* ---- Guest memory ------------------------------------------------------------------ */

void *pw_guest_ptr(struct pw_vm *vm, uint32_t ptr, uint32_t len)
{
    return wasm_memory_ptr(vm->inst, ptr, len);
}

enum pw_status pw_guest_put_u32(struct pw_vm *vm, uint32_t ptr, uint32_t v)
{
    uint8_t *p = pw_guest_ptr(vm, ptr, 4);

    if (p == NULL)
        return PW_INVALID_MEMORY_ACCESS;
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return PW_OK;
}

enum pw_status pw_guest_put_u64(struct pw_vm *vm, uint32_t ptr, uint64_t v)
{
    uint8_t *p = pw_guest_ptr(vm, ptr, 8);

    if (p == NULL)
        return PW_INVALID_MEMORY_ACCESS;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return PW_OK;
}

/* Runs the guest allocator for len bytes. Returns the address or 0 (failure / trap). */
static uint32_t pw_guest_alloc(struct pw_vm *vm, uint32_t len, bool *trapped)
{
    wasm_func_t *f = vm->funcs[PW_CB_MEMORY_ALLOCATE];
    uint64_t slots[2] = {len, 0};

    if (f == NULL)
        f = vm->funcs[PW_CB_MALLOC];
    if (f == NULL)
        return 0;
    if (wasm_call(vm->inst, f, slots) != WASM_OK) {
        *trapped = true;
        return 0;
    }
    return (uint32_t)slots[0];
}

enum pw_status pw_guest_out(struct pw_vm *vm, size_t len, uint32_t ptr_out, uint32_t size_out,
                            void (*fill)(void *arg, void *dst, size_t len), void *arg,
                            bool *trapped)
{
    uint32_t addr = 0;
    void *dst;

    *trapped = false;
    if (pw_guest_ptr(vm, ptr_out, 4) == NULL || pw_guest_ptr(vm, size_out, 4) == NULL)
        return PW_INVALID_MEMORY_ACCESS;
    if (len > UINT32_MAX)
        return PW_INTERNAL_FAILURE;
    if (len > 0) {
        if (vm->funcs[PW_CB_MEMORY_ALLOCATE] == NULL && vm->funcs[PW_CB_MALLOC] == NULL) {
            pw_vm_log(vm, vm->effective, PW_LOG_ERROR,
                      "cannot return data: the module exports neither "
                      "proxy_on_memory_allocate nor malloc",
                      SIZE_MAX);
            return PW_INTERNAL_FAILURE;
        }
        addr = pw_guest_alloc(vm, (uint32_t)len, trapped);
        if (*trapped)
            return PW_INTERNAL_FAILURE;
        if (addr == 0)
            return PW_INTERNAL_FAILURE;
        /* The allocator may have grown memory: every pointer is fetched again. */
        dst = pw_guest_ptr(vm, addr, (uint32_t)len);
        if (dst == NULL)
            return PW_INVALID_MEMORY_ACCESS;
        fill(arg, dst, len);
    }
    if (pw_guest_put_u32(vm, ptr_out, addr) != PW_OK ||
        pw_guest_put_u32(vm, size_out, (uint32_t)len) != PW_OK)
        return PW_INVALID_MEMORY_ACCESS;
    return PW_OK;
}

static void pw_fill_bytes(void *arg, void *dst, size_t len)
{
    memcpy(dst, arg, len);
}

enum pw_status pw_guest_copy_out(struct pw_vm *vm, const void *data, size_t len, uint32_t ptr_out,
                                 uint32_t size_out, bool *trapped)
{
    return pw_guest_out(vm, len, ptr_out, size_out, pw_fill_bytes, (void *)data, trapped);
}

int pw_trap_from_alloc(struct pw_vm *vm)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "guest allocator trapped: %s", wasm_instance_trap_message(vm->inst));
    return wasm_trap_raise(vm->inst, msg);
}

/* ---- Logging, clock ------------------------------------------------------------------ */

void pw_vm_log(struct pw_vm *vm, struct pw_ctx *ctx, enum pw_log_level level, const char *msg,
               size_t len)
{
    char buf[4096];
    int n;

    if (vm->ops == NULL || vm->ops->log == NULL)
        return;
    if (vm->ops->log_level != NULL && level < vm->ops->log_level(vm->host))
        return;
    if (len == SIZE_MAX)
        len = strlen(msg);
    /* Envoy's prefix: "wasm log" then the non-empty of plugin name, root_id, vm_id. */
    const char *plugin = ctx != NULL ? ctx->root->name : vm->name;
    const char *root_id = ctx != NULL ? ctx->root->root_id : "";
    n = snprintf(buf, sizeof(buf), "wasm log%s%s%s%s%s%s: ", *plugin ? " " : "", plugin,
                 *root_id ? " " : "", root_id, *vm->vm_id ? " " : "", vm->vm_id);
    if (n < 0 || (size_t)n >= sizeof(buf))
        n = 0;
    if (len > sizeof(buf) - (size_t)n)
        len = sizeof(buf) - (size_t)n;
    memcpy(buf + n, msg, len);
    vm->ops->log(vm->host, level, buf, (size_t)n + len);
}

uint64_t pw_vm_clock(struct pw_vm *vm, bool monotonic)
{
    struct timespec ts;

    vm->clock_read = true;
    if (vm->ops != NULL && vm->ops->clock_ns != NULL)
        return vm->ops->clock_ns(vm->host, monotonic);
    clock_gettime(monotonic ? CLOCK_MONOTONIC : CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* WASI fd 1/2 output: one plugin log line per text line (stdout info, stderr error). */
static void pw_wasi_output(void *ctx, wasm_instance_t *inst, int fd, const char *data, size_t len)
{
    struct pw_vm *vm = wasm_instance_userdata(inst);
    enum pw_log_level level = fd == 2 ? PW_LOG_ERROR : PW_LOG_INFO;

    if (vm == NULL)
        return;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t line = nl != NULL ? (size_t)(nl - data) : len;

        if (line > 0)
            pw_vm_log(vm, vm->effective, level, data, line);
        if (nl == NULL)
            break;
        data += line + 1;
        len -= line + 1;
    }
}

static int pw_wasi_clock(void *ctx, wasm_instance_t *inst, uint32_t id, uint64_t *ns)
{
    struct pw_vm *vm = wasm_instance_userdata(inst);

    if (id != WASI_CLOCK_REALTIME && id != WASI_CLOCK_MONOTONIC)
        return WASI_ENOTSUP;
    *ns = pw_vm_clock(vm, id == WASI_CLOCK_MONOTONIC);
    return WASI_ESUCCESS;
}

/* ---- Failures ------------------------------------------------------------------------ */

void pw_vm_fail(struct pw_vm *vm, const char *callback, const char *reason, const char *backtrace)
{
    struct pw_ctx *ctx = vm->current;
    const char *plugin = ctx != NULL ? ctx->root->name : vm->name;

    if (vm->failed)
        return;
    vm->failed = true;
    snprintf(vm->failure, sizeof(vm->failure), "plugin %s: %s failed: %s%s%s", plugin, callback,
             reason, *backtrace ? "\n" : "", backtrace);
    if (vm->ops != NULL && vm->ops->log != NULL) {
        /* One log line per line of the report. */
        const char *p = vm->failure;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
            vm->ops->log(vm->host, PW_LOG_CRITICAL, p, n);
            p += n + (nl != NULL);
        }
    }
    if (vm->ops != NULL && vm->ops->vm_failed != NULL)
        vm->ops->vm_failed(vm->host, vm, plugin, callback, reason, backtrace);
}

/* Reports the trap of the last call as a failure of callback. */
static void pw_vm_fail_trap(struct pw_vm *vm, const char *callback)
{
    char reason[512], bt[1536];
    enum wasm_trap trap = wasm_instance_trap(vm->inst);

    if (trap == WASM_TRAP_EXIT)
        snprintf(reason, sizeof(reason), "proc_exit(%d)", wasm_instance_exit_code(vm->inst));
    else
        snprintf(reason, sizeof(reason), "%s", wasm_instance_trap_message(vm->inst));
    bt[0] = '\0';
    size_t n = wasm_instance_backtrace(vm->inst, bt, sizeof(bt));
    if (n >= sizeof(bt))
        n = sizeof(bt) - 1;
    bt[n] = '\0';
    while (n > 0 && bt[n - 1] == '\n')
        bt[--n] = '\0';
    pw_vm_fail(vm, callback, reason, bt);
}

/* ---- Calling callbacks ---------------------------------------------------------------- */

/*
 * Around every entry into the guest from the host (callbacks, the start function): the
 * outermost one (depth 0) gets a fresh fuel budget (fuel_per_callback) and a deadline
 * of max_execution_ns from now; nested ones (a callback run from a hostcall) stay
 * within the outer ones' limits. Returns whether this entry is the outermost, for
 * pw_vm_leave.
 */
static bool pw_vm_enter(struct pw_vm *vm)
{
    bool outermost = vm->depth++ == 0;
    if (outermost && vm->fuel_per_callback != 0)
        wasm_instance_set_fuel(vm->inst, vm->fuel_per_callback);
    if (outermost && vm->max_execution_ns != 0)
        wasm_instance_set_deadline(vm->inst, wasm_clock_ns() + vm->max_execution_ns);
    return outermost;
}

static void pw_vm_leave(struct pw_vm *vm, bool outermost)
{
    if (outermost && vm->max_execution_ns != 0)
        wasm_instance_set_deadline(vm->inst, 0);
    vm->depth--;
}

int pw_vm_call(struct pw_vm *vm, struct pw_ctx *ctx, enum pw_cb cb, const uint64_t *args,
               uint32_t n, uint64_t *result, bool *stopped)
{
    wasm_func_t *f = vm->funcs[cb];
    uint64_t slots[16] = {0};
    int rc;

    *result = 0;
    if (stopped != NULL)
        *stopped = false;
    if (vm->failed)
        return -1;
    if (f == NULL)
        return 1;
    const struct wasm_functype *ft = wasm_func_type(f);
    for (uint32_t i = 0; i < ft->nparams && i < n; i++)
        slots[i] = args[i];

    enum pw_cb saved_cb = vm->cb;
    struct pw_ctx *saved_current = vm->current, *saved_effective = vm->effective;
    bool saved_stopped = vm->stopped;

    vm->cb = cb;
    vm->current = vm->effective = ctx;
    vm->stopped = false;
    bool outermost = pw_vm_enter(vm);
    rc = wasm_call(vm->inst, f, slots);
    pw_vm_leave(vm, outermost);
    if (rc != WASM_OK) {
        bool exit0 = wasm_instance_trap(vm->inst) == WASM_TRAP_EXIT &&
                     wasm_instance_exit_code(vm->inst) == 0;
        if (!(exit0 && vm->starting))
            pw_vm_fail_trap(vm, pw_cbs[cb].name);
    } else if (ft->nresults > 0) {
        *result = slots[0];
    }
    if (stopped != NULL)
        *stopped = vm->stopped;
    vm->cb = saved_cb;
    vm->current = saved_current;
    vm->effective = saved_effective;
    vm->stopped = saved_stopped;

    if (vm->depth == 0 && vm->deferred != NULL) {
        struct pw_deferred *list = vm->deferred;
        vm->deferred = NULL;
        if (vm->failed)
            pw_deferred_free(list);
        else
            pw_deferred_run(vm, list);
    }
    return vm->failed ? -1 : 0;
}

/* ---- VMs ------------------------------------------------------------------------------ */

static char *pw_strdup(const char *s)
{
    return strdup(s != NULL ? s : "");
}

/* Finds the callbacks and checks their types. Returns 0 or -1 with err. */
static int pw_vm_bind_exports(struct pw_vm *vm, char *err, size_t errlen)
{
    for (int cb = 0; cb < PW_CB_COUNT; cb++) {
        wasm_func_t *f = wasm_instance_export_func(vm->inst, pw_cbs[cb].name);
        if (f == NULL)
            continue;
        const struct wasm_functype *ft = wasm_func_type(f);
        bool ok = ft->nparams <= pw_cbs[cb].nparams && ft->nresults <= 1;
        for (uint32_t i = 0; ok && i < ft->nparams; i++)
            ok = ft->params[i] == WASM_I32;
        for (uint32_t i = 0; ok && i < ft->nresults; i++)
            ok = ft->results[i] == WASM_I32;
        if (!ok) {
            char sig[64];
            pw_sig_string(ft, sig, sizeof(sig));
            snprintf(err, errlen, "export %s has an unexpected type %s", pw_cbs[cb].name, sig);
            return -1;
        }
        vm->funcs[cb] = f;
    }
    return 0;
}

/* Gives vm its WASI context (cfg's environment) and, when it traces, its own linker. */
static int pw_vm_link(struct pw_vm *vm, const struct pw_vm_config *cfg, char *err, size_t errlen)
{
    struct wasi_config wc = {
        .env = cfg->env,
        .nenv = cfg->nenv,
        .output = pw_wasi_output,
        .clock = pw_wasi_clock,
        .ctx = vm,
    };

    vm->wasi = wasi_ctx_new(&wc);
    if (vm->wasi == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cfg->trace) {
        vm->linker = pw_linker_new(vm->module->wasi_dispatch, true, err, errlen);
        if (vm->linker == NULL)
            return -1;
    }
    return 0;
}

static const wasm_linker_t *pw_vm_linker(const struct pw_vm *vm)
{
    return vm->linker != NULL ? vm->linker : vm->module->linker;
}

/* The start sequence after instantiation. Returns 0 or -1 (vm->failure says why). */
static int pw_vm_run_start(struct pw_vm *vm)
{
    uint64_t r;

    vm->starting = true;
    /* The start function runs under the same limits as a callback: an endless loop in
     * it fails the VM ("execution time exceeded", "fuel exhausted") instead of hanging. */
    bool outermost = pw_vm_enter(vm);
    int rc = wasm_instance_start(vm->inst);
    pw_vm_leave(vm, outermost);
    if (rc != WASM_OK) {
        bool exit0 = wasm_instance_trap(vm->inst) == WASM_TRAP_EXIT &&
                     wasm_instance_exit_code(vm->inst) == 0;
        if (!exit0)
            pw_vm_fail_trap(vm, "start function");
    }
    if (!vm->failed && vm->funcs[PW_CB_INITIALIZE] != NULL) {
        pw_vm_call(vm, NULL, PW_CB_INITIALIZE, NULL, 0, &r, NULL);
        if (vm->funcs[PW_CB_MAIN] != NULL)
            pw_vm_call(vm, NULL, PW_CB_MAIN, (uint64_t[]){0, 0}, 2, &r, NULL);
        else if (vm->funcs[PW_CB_MAIN_VOID] != NULL)
            pw_vm_call(vm, NULL, PW_CB_MAIN_VOID, NULL, 0, &r, NULL);
    } else if (!vm->failed && vm->funcs[PW_CB_START] != NULL) {
        pw_vm_call(vm, NULL, PW_CB_START, NULL, 0, &r, NULL);
    }
    vm->starting = false;
    return vm->failed ? -1 : 0;
}

/* A VM of m with cfg's settings, its WASI context and linker, but no instance yet. */
static struct pw_vm *pw_vm_alloc(const struct pw_module *m, const struct pw_vm_config *cfg,
                                 const struct pw_host_ops *ops, void *host, char *err,
                                 size_t errlen)
{
    struct pw_vm *vm = calloc(1, sizeof(*vm));

    if (vm == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    vm->module = m;
    vm->ops = ops;
    vm->host = host;
    vm->userdata = cfg->userdata;
    vm->cb = PW_CB_NONE;
    vm->next_context_id = 1;
    vm->next_token = 4;
    vm->vm_id = pw_strdup(cfg->vm_id);
    vm->sandbox = cfg->sandbox;
    if (cfg->sandbox) {
        static atomic_uint_fast64_t sandboxes;
        char ns[64];
        snprintf(ns, sizeof(ns), "\x01sandbox %llu\x01",
                 (unsigned long long)atomic_fetch_add(&sandboxes, 1));
        size_t n = strlen(ns), v = strlen(cfg->vm_id != NULL ? cfg->vm_id : "");
        vm->ns = malloc(n + v + 1);
        if (vm->ns != NULL) {
            memcpy(vm->ns, ns, n);
            memcpy(vm->ns + n, cfg->vm_id != NULL ? cfg->vm_id : "", v + 1);
        }
    } else {
        vm->ns = pw_strdup(cfg->vm_id);
    }
    vm->name = pw_strdup(cfg->name != NULL ? cfg->name : cfg->vm_id);
    vm->fuel_per_callback = cfg->fuel_per_callback;
    vm->max_execution_ns = cfg->max_execution_ns;
    if (vm->vm_id == NULL || vm->ns == NULL || vm->name == NULL ||
        pw_buf_set(&vm->configuration, cfg->configuration, cfg->configuration_len) != 0) {
        snprintf(err, errlen, "out of memory");
        goto free_vm;
    }
    if (pw_vm_link(vm, cfg, err, errlen) != 0)
        goto free_vm;
    return vm;

free_vm:
    pw_vm_free(vm);
    return NULL;
}

struct pw_vm *pw_vm_new(const struct pw_module *m, const struct pw_vm_config *cfg,
                        const struct pw_host_ops *ops, void *host, char *err, size_t errlen)
{
    struct wasm_instance_config ic = {.defer_start = true,
                                      .max_memory_pages = cfg->max_memory_pages};
    struct pw_vm *vm = pw_vm_alloc(m, cfg, ops, host, err, errlen);
    int rc;

    if (vm == NULL)
        return NULL;
    rc = wasm_instance_new(m->wm, pw_vm_linker(vm), &ic, &vm->inst, err, errlen);
    if (rc != WASM_OK) {
        if (rc == WASM_ERR_TRAP && vm->inst != NULL) {
            snprintf(err, errlen, "plugin %s: instantiation failed: %s", vm->name,
                     wasm_instance_trap_message(vm->inst));
            wasm_instance_free(vm->inst);
            vm->inst = NULL;
        }
        goto free_vm;
    }
    wasm_instance_set_userdata(vm->inst, vm);
    if (pw_vm_bind_exports(vm, err, errlen) != 0)
        goto free_vm;
    if (pw_vm_run_start(vm) != 0) {
        snprintf(err, errlen, "%s", vm->failure);
        goto free_vm;
    }
    return vm;

free_vm:
    pw_vm_free(vm);
    return NULL;
}

/* ---- Images ------------------------------------------------------------------------- */

struct pw_image {
    const struct pw_module *module;
    wasm_image_t *wimg;
    unsigned frozen; /* enum pw_frozen */
    char **env;      /* the environment the initialisation ran with */
    size_t nenv;
};

static void pw_strings_free(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

/* Copies n strings; NULL when out of memory (or n is 0: nothing to copy). */
static char **pw_strings_copy(const char *const *src, size_t n)
{
    char **v = n ? calloc(n, sizeof(char *)) : NULL;

    for (size_t i = 0; v != NULL && i < n; i++)
        if ((v[i] = strdup(src[i])) == NULL) {
            pw_strings_free(v, i);
            return NULL;
        }
    return v;
}

/* What the initialisation of vm read from the host, as enum pw_frozen bits. */
static unsigned pw_vm_reads(const struct pw_vm *vm)
{
    unsigned wasi = wasi_ctx_reads(vm->wasi), frozen = 0;

    if (vm->clock_read || (wasi & WASI_READ_CLOCK))
        frozen |= PW_FROZEN_CLOCK;
    if (wasi & WASI_READ_RANDOM)
        frozen |= PW_FROZEN_RANDOM;
    if (wasi & WASI_READ_ENV)
        frozen |= PW_FROZEN_ENV;
    return frozen;
}

struct pw_image *pw_image_new(const struct pw_module *m, const struct pw_vm_config *cfg,
                              const struct pw_host_ops *ops, void *host, char *err, size_t errlen)
{
    char why[256];
    struct pw_image *img = calloc(1, sizeof(*img));
    struct pw_vm *vm;

    if (img == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    img->module = m;
    vm = pw_vm_new(m, cfg, ops, host, err, errlen);
    if (vm == NULL)
        goto free_img;
    if (wasm_image_new(vm->inst, &img->wimg, why, sizeof(why)) != WASM_OK) {
        snprintf(err, errlen, "plugin %s: cannot capture the initialised VM: %s", vm->name, why);
        goto free_vm;
    }
    img->frozen = pw_vm_reads(vm);
    img->nenv = cfg->nenv;
    img->env = pw_strings_copy(cfg->env, cfg->nenv);
    if (img->env == NULL && cfg->nenv > 0) {
        snprintf(err, errlen, "out of memory");
        goto free_vm;
    }
    pw_vm_free(vm);
    return img;

free_vm:
    pw_vm_free(vm);
free_img:
    pw_image_free(img);
    return NULL;
}

void pw_image_free(struct pw_image *img)
{
    if (img == NULL)
        return;
    wasm_image_free(img->wimg);
    pw_strings_free(img->env, img->nenv);
    free(img);
}

unsigned pw_image_frozen(const struct pw_image *img)
{
    return img->frozen;
}

uint64_t pw_image_memory_size(const struct pw_image *img)
{
    return wasm_image_memory_size(img->wimg);
}

/* True when cfg's environment is the one img's initialisation ran with. */
static bool pw_image_same_env(const struct pw_image *img, const struct pw_vm_config *cfg)
{
    if (cfg->nenv != img->nenv)
        return false;
    for (size_t i = 0; i < img->nenv; i++)
        if (strcmp(cfg->env[i], img->env[i]) != 0)
            return false;
    return true;
}

struct pw_vm *pw_vm_new_from_image(const struct pw_image *img, const struct pw_vm_config *cfg,
                                   const struct pw_host_ops *ops, void *host, char *err,
                                   size_t errlen)
{
    struct wasm_instance_config ic = {.max_memory_pages = cfg->max_memory_pages};
    struct pw_vm *vm;

    /* The image holds what the guest made of the image's environment: a VM with another
     * one must run its own initialisation. */
    if ((img->frozen & PW_FROZEN_ENV) && !pw_image_same_env(img, cfg))
        return pw_vm_new(img->module, cfg, ops, host, err, errlen);
    vm = pw_vm_alloc(img->module, cfg, ops, host, err, errlen);
    if (vm == NULL)
        return NULL;
    if (wasm_instance_new_from_image(img->wimg, pw_vm_linker(vm), &ic, &vm->inst, err, errlen) !=
        WASM_OK)
        goto free_vm;
    wasm_instance_set_userdata(vm->inst, vm);
    if (pw_vm_bind_exports(vm, err, errlen) != 0)
        goto free_vm;
    return vm;

free_vm:
    pw_vm_free(vm);
    return NULL;
}

/* ---- Root ids an SDK registers -------------------------------------------------------- */

#define PW_ROOT_ID_MAX 64            /* longest candidate */
#define PW_ROOT_ID_PROBES 256u       /* most candidates tried */
#define PW_ROOT_ID_FUEL 100000000ull /* instructions a probe may run */

static bool pw_root_id_char(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':' || c == '/';
}

struct pw_candidates {
    char *v[PW_ROOT_ID_PROBES];
    size_t n;
};

static void pw_candidate_add(struct pw_candidates *c, const char *s, size_t len)
{
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->v[i]) == len && memcmp(c->v[i], s, len) == 0)
            return;
    if (c->n < PW_ROOT_ID_PROBES && (c->v[c->n] = strndup(s, len)) != NULL)
        c->n++;
}

/*
 * The identifier-like strings of mem: NUL-terminated ASCII (C and C++ string literals)
 * and UTF-16LE runs of ASCII (AssemblyScript's strings), 2 to PW_ROOT_ID_MAX characters.
 */
static void pw_candidates_scan(struct pw_candidates *c, const uint8_t *mem, size_t size)
{
    for (size_t i = 0; i < size && c->n < PW_ROOT_ID_PROBES;) {
        size_t j = i;
        while (j < size && pw_root_id_char(mem[j]))
            j++;
        if (j - i >= 2 && j - i <= PW_ROOT_ID_MAX && j < size && mem[j] == 0)
            pw_candidate_add(c, (const char *)mem + i, j - i);
        i = j > i ? j : i + 1;
    }
    char buf[PW_ROOT_ID_MAX];
    for (size_t i = 0; i + 1 < size && c->n < PW_ROOT_ID_PROBES;) {
        size_t j = i, n = 0;
        while (j + 1 < size && mem[j + 1] == 0 && pw_root_id_char(mem[j]) && n < sizeof(buf)) {
            buf[n++] = (char)mem[j];
            j += 2;
        }
        bool bounded = j + 1 >= size || mem[j + 1] != 0 || !pw_root_id_char(mem[j]);
        if (n >= 2 && bounded)
            pw_candidate_add(c, buf, n);
        i = j > i ? j : i + 2;
    }
}

/* The host of the VMs that probe root ids: they report nothing to anyone. */
static const struct pw_host_ops pw_quiet_ops;

/* Whether a fresh VM of img creates a root context under root_id (its
 * proxy_on_context_create does not fail). */
static bool pw_root_id_starts(const struct pw_image *img, const struct pw_vm_config *vc,
                              const struct pw_plugin_config *pc, const char *root_id)
{
    struct pw_plugin_config p = *pc;
    char err[256];

    p.root_id = root_id;
    p.userdata = NULL;
    struct pw_vm *vm = pw_vm_new_from_image(img, vc, &pw_quiet_ops, NULL, err, sizeof(err));
    bool ok = vm != NULL && pw_root_create(vm, &p, err, sizeof(err)) != NULL;
    pw_vm_free(vm);
    return ok;
}

static int pw_strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t pw_image_root_ids(const struct pw_image *img, const struct pw_vm_config *cfg,
                         const struct pw_plugin_config *pc, char *out, size_t outlen)
{
    struct pw_vm_config vc = *cfg;
    struct pw_candidates c = {.n = 0};
    const char *given = pc->root_id != NULL ? pc->root_id : "";
    char err[256];
    size_t found = 0, len = 0;

    vc.sandbox = true;
    vc.trace = false;
    vc.userdata = NULL;
    /* A candidate may lead a plugin anywhere: no probe runs unbounded. */
    if (vc.fuel_per_callback == 0 || vc.fuel_per_callback > PW_ROOT_ID_FUEL)
        vc.fuel_per_callback = PW_ROOT_ID_FUEL;
    if (outlen > 0)
        out[0] = '\0';
    /* Only a plugin that fails to create its root context under the given id picks root
     * contexts by id; a later failure is not about the id. */
    if (pw_root_id_starts(img, &vc, pc, given))
        return 0;
    struct pw_vm *vm = pw_vm_new_from_image(img, &vc, &pw_quiet_ops, NULL, err, sizeof(err));
    if (vm == NULL)
        return 0;
    uint64_t size = wasm_memory_size(vm->inst);
    const uint8_t *mem = size > 0 ? wasm_memory_ptr(vm->inst, 0, size) : NULL;
    if (mem != NULL)
        pw_candidates_scan(&c, mem, (size_t)size);
    pw_vm_free(vm);
    qsort(c.v, c.n, sizeof(c.v[0]), pw_strcmp_ptr);
    for (size_t i = 0; i < c.n; i++) {
        if (pw_root_id_starts(img, &vc, pc, c.v[i])) {
            int n = snprintf(out + len, len < outlen ? outlen - len : 0, "%s%s", found ? ", " : "",
                             c.v[i]);
            len += n > 0 ? (size_t)n : 0;
            found++;
        }
        free(c.v[i]);
    }
    if (len >= outlen && outlen > 0)
        out[outlen - 1] = '\0';
    return found;
}

void pw_vm_free(struct pw_vm *vm)
{
    if (vm == NULL)
        return;
    /* Streams first, then roots (each end runs on_done/on_delete unless failed). */
    for (int pass = 0; pass < 2; pass++) {
        struct pw_ctx **pp = &vm->contexts;
        while (*pp != NULL) {
            struct pw_ctx *c = *pp;
            if (pass == 0 && c->kind == PW_CTX_STREAM) {
                pw_stream_end((struct pw_stream *)c);
                pp = &vm->contexts;
            } else if (pass == 1) {
                pw_root_free((struct pw_root *)c);
                pp = &vm->contexts;
            } else {
                pp = &c->next;
            }
        }
    }
    pw_queues_forget_vm(vm);
    if (vm->sandbox && vm->shared_written)
        pw_shared_forget_vm(vm);
    pw_deferred_free(vm->deferred);
    if (vm->inst != NULL)
        wasm_instance_free(vm->inst);
    if (vm->linker != NULL)
        wasm_linker_free(vm->linker);
    if (vm->wasi != NULL)
        wasi_ctx_free(vm->wasi);
    pw_buf_free(&vm->configuration);
    free(vm->ctx_table);
    free(vm->vm_id);
    free(vm->ns);
    free(vm->name);
    free(vm);
}

bool pw_vm_failed(const struct pw_vm *vm)
{
    return vm->failed;
}

const char *pw_vm_failure(const struct pw_vm *vm)
{
    return vm->failure;
}

void *pw_vm_userdata(const struct pw_vm *vm)
{
    return vm->userdata;
}

const char *pw_vm_id(const struct pw_vm *vm)
{
    return vm->vm_id;
}

enum pw_abi_version pw_vm_abi(const struct pw_vm *vm)
{
    return vm->module->abi;
}
