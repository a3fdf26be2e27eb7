/*
 * internal.h - types and helpers shared by the files of hostcalls/ only.
 *
 * struct pw_vm is one engine instance of a plugin module with its contexts; every
 * hostcall finds it through wasm_instance_userdata(). Hostcalls are plain engine host
 * functions (pw_hc_*), registered from one table in vm.c. Every guest pointer goes
 * through pw_guest_ptr(), which returns NULL when out of range; the hostcall then answers
 * PW_INVALID_MEMORY_ACCESS.
 */
#ifndef WASP_HOSTCALLS_INTERNAL_H
#define WASP_HOSTCALLS_INTERNAL_H

#include "proxywasm.h"
#include "wasm.h"

/* The callbacks (exports) the layer calls; index into pw_vm.funcs. */
enum pw_cb {
    PW_CB_INITIALIZE,
    PW_CB_MAIN,
    PW_CB_MAIN_VOID,
    PW_CB_START,
    PW_CB_MEMORY_ALLOCATE,
    PW_CB_MALLOC,
    PW_CB_CONTEXT_CREATE,
    PW_CB_VM_START,
    PW_CB_CONFIGURE,
    PW_CB_TICK,
    PW_CB_QUEUE_READY,
    PW_CB_NEW_CONNECTION,
    PW_CB_DOWNSTREAM_DATA,
    PW_CB_DOWNSTREAM_CLOSE,
    PW_CB_UPSTREAM_DATA,
    PW_CB_UPSTREAM_CLOSE,
    PW_CB_REQUEST_HEADERS,
    PW_CB_REQUEST_BODY,
    PW_CB_REQUEST_TRAILERS,
    PW_CB_RESPONSE_HEADERS,
    PW_CB_RESPONSE_BODY,
    PW_CB_RESPONSE_TRAILERS,
    PW_CB_HTTP_CALL_RESPONSE,
    PW_CB_DONE,
    PW_CB_LOG,
    PW_CB_DELETE,
    PW_CB_COUNT,
    PW_CB_NONE = PW_CB_COUNT,
};

/* Export name of a callback. */
const char *pw_cb_name(enum pw_cb cb);

/* A value stored by proxy_set_property on a context. */
struct pw_prop {
    struct pw_prop *next;
    char *path;
    size_t path_len;
    struct pw_buf value;
};

/* A callout in flight, owned by its root context. */
struct pw_callout {
    struct pw_callout *next;
    uint32_t token;
    uint32_t origin_id; /* context that issued it (a stream is cancelled with it) */
};

enum pw_ctx_kind { PW_CTX_ROOT, PW_CTX_STREAM };

/* The common head of root and stream contexts. */
struct pw_ctx {
    struct pw_ctx *next; /* in vm->contexts */
    struct pw_ctx *prev;
    struct pw_vm *vm;
    struct pw_root *root; /* itself for a root context */
    uint32_t id;
    enum pw_ctx_kind kind;
    bool ending;          /* in on_done/on_log/on_delete: maps read-only */
    uint8_t write_warned; /* pw_write_ignored warned: bits 0-3 maps 0-3, 4-7 buffers 0-3 */
    uint32_t callouts;    /* callouts it issued that are still pending */
    bool done_pending;    /* on_done returned false: on_log/on_delete wait for proxy_done */
    bool done_called;     /* proxy_done was called during on_done */
    struct pw_prop *props;
    void *host_stream; /* streams only */
};

struct pw_root {
    struct pw_ctx ctx;
    void *userdata;
    char *name;
    char *root_id;
    struct pw_buf configuration;
    struct pw_callout *callouts;
    uint32_t tick_period_ms;
};

struct pw_stream {
    struct pw_ctx ctx;
};

/* An action a hostcall asked for, applied after the callback returns. */
enum pw_deferred_kind { PW_DEFER_CONTINUE, PW_DEFER_CLOSE, PW_DEFER_LOCAL_REPLY, PW_DEFER_DONE };

struct pw_deferred {
    struct pw_deferred *next;
    enum pw_deferred_kind kind;
    uint32_t ctx_id;
    enum pw_stream_type stream_type;
    /* local reply */
    uint32_t status_code;
    int32_t grpc_status;
    struct pw_buf details;
    struct pw_buf body;
    struct pw_map headers;
};

struct pw_module {
    wasm_module_t *wm;
    enum pw_abi_version abi;
    /* Every import a plugin may have, shared by all VMs of the module that do not trace
     * (built once at load, then only read, from any thread): the proxy-wasm table and
     * WASI bound to wasi_dispatch, which answers each VM from its own context. */
    wasm_linker_t *linker;
    struct wasi_ctx *wasi_dispatch;
};

struct pw_vm {
    const struct pw_module *module;
    wasm_instance_t *inst;
    wasm_linker_t *linker; /* the VM's own (pw_vm_config.trace), else NULL: the module's */
    struct wasi_ctx *wasi; /* its WASI context: its environment, its output */
    const struct pw_host_ops *ops;
    void *host;
    void *userdata;
    char *vm_id;
    bool sandbox;
    bool shared_written; /* a sandbox VM made entries of its own (pw_shared_forget_vm) */
    char *ns; /* namespace of its shared data and queues: vm_id, or a sandbox's own */
    char *name;
    struct pw_buf configuration;
    uint64_t fuel_per_callback;
    uint64_t max_execution_ns;
    wasm_func_t *funcs[PW_CB_COUNT];

    uint32_t next_context_id;
    uint32_t next_token;
    struct pw_ctx *contexts;
    struct pw_ctx **ctx_table; /* by id: open addressing, linear probing */
    uint32_t ctx_cap;          /* a power of two, or 0 */
    uint32_t ctx_count;

    /* The callback running (depth > 0) and the context hostcalls act on. */
    int depth;
    enum pw_cb cb;
    struct pw_ctx *current;
    struct pw_ctx *effective;
    bool stopped; /* a local reply / close was requested in the current callback */
    struct pw_deferred *deferred;

    /* During proxy_on_http_call_response: the response (NULL: failed call). */
    bool in_call_response;
    const struct pw_http_response *call_response;
    uint32_t status_code;
    const char *status_message;

    bool grpc_warned;       /* the "no gRPC client" warning was logged */
    bool end_stream_warned; /* the ContinueAndEndStream warning was logged */
    bool starting;          /* proc_exit(0) is success */
    bool clock_read;        /* the guest read a clock (proxy or WASI): see pw_image_frozen */
    bool failed;
    char failure[2048];
};

/* ---- vm.c ---------------------------------------------------------------------- */

/*
 * One `env` import: name, Wasm signature, function, and for the proxy_* hostcalls how
 * --trace decodes its parameters (trace.c; NULL: not traced). The decoding is a list of
 * "kind:name" words, one per parameter (two slots for s, p, O, Q):
 *   u i U I   u32, i32, u64, i64          o w   u32 / u64 written through a pointer
 *   s         bytes (ptr, len)            O     bytes returned (ptr**, size*)
 *   p         serialized pairs (ptr, len) Q     serialized pairs returned (ptr**, size*)
 *   M B S T L map, buffer, stream, metric type, log level (by name)
 */
struct pw_import {
    const char *name;
    const char *sig;
    wasm_host_func_t fn;
    const char *trace;
};

/* The import of that name, or NULL. */
const struct pw_import *pw_import_find(const char *name);

/* The VM of the calling instance (in a hostcall). */
static inline struct pw_vm *pw_vm_of(wasm_instance_t *inst)
{
    return wasm_instance_userdata(inst);
}

/* The checked guest pointer: [ptr, ptr+len) in memory 0, or NULL. */
void *pw_guest_ptr(struct pw_vm *vm, uint32_t ptr, uint32_t len);
/* Writes v (LE) at guest ptr. Returns PW_OK or PW_INVALID_MEMORY_ACCESS. */
enum pw_status pw_guest_put_u32(struct pw_vm *vm, uint32_t ptr, uint32_t v);
enum pw_status pw_guest_put_u64(struct pw_vm *vm, uint32_t ptr, uint64_t v);
/*
 * Copies len bytes into memory obtained from the guest allocator and writes its address
 * and len to the u32s at ptr_out and size_out (len 0: writes 0, 0 without allocating).
 * Returns PW_OK, PW_INVALID_MEMORY_ACCESS (bad out pointers, allocator gave a bad block)
 * or PW_INTERNAL_FAILURE (no allocator, allocator returned 0). *trapped is set when the
 * allocator trapped: the hostcall must then return pw_trap_from_alloc().
 */
enum pw_status pw_guest_copy_out(struct pw_vm *vm, const void *data, size_t len, uint32_t ptr_out,
                                 uint32_t size_out, bool *trapped);
/*
 * As pw_guest_copy_out(), but the bytes are written by fill(arg, dst, len) straight into
 * the guest's block (no intermediate copy); fill is not called when len is 0.
 */
enum pw_status pw_guest_out(struct pw_vm *vm, size_t len, uint32_t ptr_out, uint32_t size_out,
                            void (*fill)(void *arg, void *dst, size_t len), void *arg,
                            bool *trapped);
/* For a hostcall after pw_guest_copy_out() set *trapped: stop the guest. */
int pw_trap_from_alloc(struct pw_vm *vm);

/*
 * Calls callback cb for ctx with args (n of them; the export may take fewer). Sets the
 * current/effective context, fuel, and applies deferred actions when the outermost call
 * returns. Returns 0 and *result (0 when the export returns nothing) and *stopped (a
 * local reply or close was requested during the call; may be NULL), 1 when the module
 * does not export cb, -1 when the VM is (or just became) failed.
 */
int pw_vm_call(struct pw_vm *vm, struct pw_ctx *ctx, enum pw_cb cb, const uint64_t *args,
               uint32_t n, uint64_t *result, bool *stopped);
/* Records a failure: formats the report, logs it, calls ops->vm_failed, marks failed. */
void pw_vm_fail(struct pw_vm *vm, const char *callback, const char *reason, const char *backtrace);
/* The context with that id, or NULL (context.c; O(1)). */
struct pw_ctx *pw_vm_context(struct pw_vm *vm, uint32_t id);
/* Logs a line through the host in Envoy's format for ctx (NULL: the VM). */
void pw_vm_log(struct pw_vm *vm, struct pw_ctx *ctx, enum pw_log_level level, const char *msg,
               size_t len);
uint64_t pw_vm_clock(struct pw_vm *vm, bool monotonic);

/* ---- headers.c / buffers.c -------------------------------------------------------- */

/*
 * Map `type` (0-3, 6, 7) as seen by ctx (stream maps through the host, callout maps during
 * proxy_on_http_call_response). Returns false when it does not exist now; else fills *out
 * and *writable.
 */
bool pw_find_map(struct pw_vm *vm, struct pw_ctx *ctx, uint32_t type, struct pw_map_ref *out,
                 bool *writable);
/* Size of the pairs encoding of r, and the encoding itself (into that many bytes). */
size_t pw_mapref_serialized_size(const struct pw_map_ref *r);
void pw_mapref_serialize(const struct pw_map_ref *r, uint8_t *out);
/* The bytes of r's keys and values (Envoy's HeaderMap::byteSize()). */
uint64_t pw_mapref_bytes(const struct pw_map_ref *r);
/*
 * A write by the effective context to stream map or body `type` (0-3; buffer when
 * is_buffer) that cannot apply now: it does not exist in this phase (exists false), or it
 * already went out, or the stream is ending. For a stream context the write is
 * acknowledged and dropped (the caller answers OK), with a warning in the plugin's log
 * once per context and map or body: the Rust SDK panics on any other status there, and
 * the other SDKs only log it. Returns false for a root context (the caller answers
 * NOT_FOUND: there is no stream at all).
 */
bool pw_write_ignored(struct pw_vm *vm, const char *hostcall, bool is_buffer, uint32_t type,
                      bool exists);

/* ---- context.c ------------------------------------------------------------------ */

/* A root context with only proxy_on_context_create run (what pw_image_root_ids tries:
 * where SDKs look the root id up); as pw_root_new otherwise. */
struct pw_root *pw_root_create(struct pw_vm *vm, const struct pw_plugin_config *cfg, char *err,
                               size_t errlen);

/* Unlinks and frees a context (after its last callback). */
void pw_ctx_destroy(struct pw_ctx *ctx);
/* Runs the deferred actions list (detached by the caller). */
void pw_deferred_run(struct pw_vm *vm, struct pw_deferred *list);
void pw_deferred_free(struct pw_deferred *d);

/* ---- trace.c -------------------------------------------------------------------- */

/* The ABI's name of a map / buffer type ("response_headers", "request_body"), or "?". */
const char *pw_map_type_name(uint32_t type);
const char *pw_buffer_type_name(uint32_t type);

/*
 * The engine host function linked for every traced import when pw_vm_config.trace is
 * set (env: its struct pw_import). Runs the hostcall and reports it once, with its
 * arguments and out-values decoded from guest memory, through ops->trace (or, without
 * one, a TRACE log line).
 */
int pw_hc_trace(wasm_instance_t *inst, uint64_t *slots, void *env);

/* ---- callout.c ------------------------------------------------------------------ */

/* Cancels the callouts of root issued by context origin_id (0: all of them). */
void pw_callouts_cancel(struct pw_root *root, uint32_t origin_id);

/* ---- queues.c ------------------------------------------------------------------- */

/* Forgets vm as the owner of any queue, and drops a sandbox's queues (at pw_vm_free). */
void pw_queues_forget_vm(struct pw_vm *vm);

/* Bytes a queue, and all queues together, hold at most (items with their overhead);
 * an enqueue past them fails with INTERNAL_FAILURE. */
#define PW_QUEUE_MAX_BYTES (16u << 20)
#define PW_QUEUES_MAX_BYTES (256u << 20)
/* Sets other bounds (tests). */
void pw_queues_set_limits(size_t per_queue, size_t total);

/* ---- shareddata.c --------------------------------------------------------------- */

/* Drops a sandbox's shared data (at pw_vm_free). */
void pw_shared_forget_vm(struct pw_vm *vm);

/* ---- Hostcalls (signatures as in the engine: slots in, status out) ------------- */

#define PW_HOSTCALL(name) int pw_hc_##name(wasm_instance_t *inst, uint64_t *slots, void *env)

/* log.c */
PW_HOSTCALL(log);
PW_HOSTCALL(get_log_level);
PW_HOSTCALL(get_current_time_nanoseconds);
PW_HOSTCALL(set_tick_period_milliseconds);
/* buffers.c */
PW_HOSTCALL(get_buffer_bytes);
PW_HOSTCALL(set_buffer_bytes);
PW_HOSTCALL(get_buffer_status);
PW_HOSTCALL(get_configuration);
/* headers.c */
PW_HOSTCALL(get_header_map_size);
PW_HOSTCALL(get_header_map_pairs);
PW_HOSTCALL(set_header_map_pairs);
PW_HOSTCALL(get_header_map_value);
PW_HOSTCALL(add_header_map_value);
PW_HOSTCALL(replace_header_map_value);
PW_HOSTCALL(remove_header_map_value);
/* context.c */
PW_HOSTCALL(continue_stream);
PW_HOSTCALL(close_stream);
PW_HOSTCALL(continue_request);
PW_HOSTCALL(continue_response);
PW_HOSTCALL(send_local_response);
PW_HOSTCALL(set_effective_context);
PW_HOSTCALL(done);
PW_HOSTCALL(clear_route_cache);
/* callout.c */
PW_HOSTCALL(http_call);
PW_HOSTCALL(get_status);
PW_HOSTCALL(grpc_call);
PW_HOSTCALL(grpc_stream);
PW_HOSTCALL(grpc_send);
PW_HOSTCALL(grpc_cancel);
PW_HOSTCALL(grpc_close);
PW_HOSTCALL(unimplemented);
PW_HOSTCALL(call_foreign_function);
/* shareddata.c */
PW_HOSTCALL(set_shared_data);
PW_HOSTCALL(get_shared_data);
/* queues.c */
PW_HOSTCALL(register_shared_queue);
PW_HOSTCALL(resolve_shared_queue);
PW_HOSTCALL(enqueue_shared_queue);
PW_HOSTCALL(dequeue_shared_queue);
/* metrics.c */
PW_HOSTCALL(define_metric);
PW_HOSTCALL(record_metric);
PW_HOSTCALL(increment_metric);
PW_HOSTCALL(get_metric);
/* properties.c */
PW_HOSTCALL(get_property);
PW_HOSTCALL(set_property);

/* Sets the i32 status result of a hostcall and returns WASM_OK. */
static inline int pw_ret(uint64_t *slots, enum pw_status st)
{
    slots[0] = (uint32_t)st;
    return WASM_OK;
}

/* Slot i as a guest u32. */
static inline uint32_t pw_arg(const uint64_t *slots, int i)
{
    return (uint32_t)slots[i];
}

#endif /* WASP_HOSTCALLS_INTERNAL_H */
