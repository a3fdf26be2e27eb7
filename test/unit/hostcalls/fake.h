/*
 * fake.h - a fake engine and a fake host for the unit tests of the proxy-wasm layer.
 *
 * The fake engine gives an instance 64 KiB of memory, a bump allocator standing in for
 * the guest's proxy_on_memory_allocate, and "guest functions" written in C: a test sets
 * vm->funcs[cb] to fake_func(fn) and fn runs when the layer calls that callback, calling
 * hostcalls exactly as a Wasm guest would (slots in, status out). The fake host records
 * everything the layer asks of it. VMs are built directly (fake_vm_new) without the real
 * engine, so every hostcall is tested in isolation, byte for byte.
 */
#ifndef WASP_TEST_HOSTCALLS_FAKE_H
#define WASP_TEST_HOSTCALLS_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

#define FAKE_MEM_SIZE 65536u
#define FAKE_HEAP_BASE 0x8000u

/* A guest function: reads its arguments from slots, writes its result to slots[0]. */
typedef int (*fake_guest_fn)(wasm_instance_t *inst, uint64_t *slots);

struct wasm_func {
    fake_guest_fn fn; /* NULL: the bump allocator */
    struct wasm_functype type;
};

struct wasm_instance {
    uint8_t mem[FAKE_MEM_SIZE];
    void *userdata;
    uint32_t heap; /* next free byte of the bump allocator */
    bool alloc_fails;
    enum wasm_trap trap;
    char trap_msg[256];
    int32_t exit_code;
    uint64_t fuel;
    uint64_t deadline_ns;
};

/* A guest function taking nparams i32 and returning nresults i32 (0 or 1). */
wasm_func_t *fake_func(fake_guest_fn fn, uint32_t nparams, uint32_t nresults);

/* ---- Guest memory ---------------------------------------------------------------- */

void fake_put(struct pw_vm *vm, uint32_t addr, const void *data, size_t len);
/* Copies a NUL-terminated string to addr; returns its length. */
uint32_t fake_put_str(struct pw_vm *vm, uint32_t addr, const char *s);
uint32_t fake_u32(struct pw_vm *vm, uint32_t addr);
uint64_t fake_u64(struct pw_vm *vm, uint32_t addr);
/* The bytes the host returned through (ptr_out, size_out). */
const uint8_t *fake_out(struct pw_vm *vm, uint32_t ptr_out, uint32_t size_out, uint32_t *len);

/* Calls a hostcall with n arguments (each converted to a slot), as the engine would; returns the
 * status, or 0xdead when the hostcall stopped the guest (trap). */
uint32_t fake_hc(wasm_host_func_t fn, struct pw_vm *vm, int n, const uint64_t *args);
#define HC(name, vm, ...)                                                                          \
    fake_hc(pw_hc_##name, vm, (int)(sizeof((uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t)),         \
            (uint64_t[]){__VA_ARGS__})
#define HC0(name, vm) fake_hc(pw_hc_##name, vm, 0, NULL)

/* ---- The fake host ---------------------------------------------------------------- */

struct fake_stream {
    struct pw_map maps[4];
    bool has_map[4];
    bool read_only[4];
    struct pw_buf bufs[4];
    bool has_buf[4];
    bool eos;
    struct pw_stream_info info;
    int continued[4];
    int closed[4];
    int local_replies;
    uint32_t reply_status;
    struct pw_buf reply_body;
    struct pw_buf reply_details;
    struct pw_map reply_headers;
    int32_t reply_grpc;
};

#define FAKE_MAX_LOG 64

struct fake_host {
    char *log[FAKE_MAX_LOG];
    enum pw_log_level log_levels[FAKE_MAX_LOG];
    int nlog;
    enum pw_log_level level;
    uint64_t now_ns;
    uint32_t tick_period;
    int tick_calls;
    int calls;
    uint32_t last_token;
    char last_upstream[64];
    struct pw_map last_call_headers;
    struct pw_buf last_call_body;
    uint32_t last_timeout;
    enum pw_status call_result;
    const char *const *upstreams; /* upstream_exists: these names (NULL-ended); NULL: all */
    int exists_calls;
    struct pw_vm *exists_vm; /* the VM upstream_exists was last asked for */
    /* The last pw_host_ops.trace report (strings copied), and how many there were. */
    int traces;
    struct pw_trace trace;
    char trace_plugin[64], trace_hostcall[64], trace_args[4096], trace_results[2048];
    int cancels;
    uint32_t last_cancelled;
    int posts;
    struct pw_vm *post_vm;
    uint32_t post_ctx, post_queue;
    int failures;
    char failed_callback[64];
    char failed_reason[256];
    int roots_deleted;
    struct pw_root *last_deleted_root;
};

extern const struct pw_host_ops fake_ops;

void fake_host_init(struct fake_host *h);
void fake_host_free(struct fake_host *h);
/* True when some log line contains needle. */
bool fake_logged(const struct fake_host *h, const char *needle);

void fake_stream_init(struct fake_stream *s);
void fake_stream_free(struct fake_stream *s);

/* A VM over the fake engine with the given vm_id and ABI; funcs empty except the
 * allocator. Free with pw_vm_free. */
struct pw_vm *fake_vm_new(struct fake_host *h, const char *vm_id, enum pw_abi_version abi);
/* As fake_vm_new, for a sandbox VM (pw_vm_config.sandbox: a proxy's canary). */
struct pw_vm *fake_sandbox_new(struct fake_host *h, const char *vm_id);
/* A root context named name (no callbacks exported: nothing runs). */
struct pw_root *fake_root_new(struct pw_vm *vm, const char *name, const char *config);

/* Makes ctx the effective (and current) context, in callback cb, as during a call. */
void fake_enter(struct pw_vm *vm, struct pw_ctx *ctx, enum pw_cb cb);

/* The usual fixture: VM "vm1" (ABI 0.2.1), root "plug" (root_id "rid", configuration
 * "cfg"), one stream on fs with request headers {:path: /a?b=1, x-foo: one, x-foo: two},
 * entered in proxy_on_request_headers. For cmocka setup/teardown. */
struct fake_env {
    struct fake_host host;
    struct fake_stream fs;
    struct pw_vm *vm;
    struct pw_root *root;
    struct pw_stream *stream;
};

int fake_env_setup(void **state);
int fake_env_teardown(void **state);

/* Every proxy-wasm hostcall with its argument count (random-argument tests, fuzzing). */
struct fake_hostcall {
    const char *name;
    wasm_host_func_t fn;
    int nargs;
};
extern const struct fake_hostcall fake_hostcalls[];
extern const size_t fake_nhostcalls;

/* Calls with arbitrary arguments (test_random_args, fuzz_hostcalls) on a fake_env: a
 * valid serialized header map at guest 0x1000 and a key at 0x100, so that some calls get
 * past their first checks; a request body and a call response to read. */
struct fake_args {
    uint8_t map[128];
    size_t map_len;
    struct pw_http_response resp;
};
/* Sets up e's stream (response-headers map, request body) and a. */
void fake_args_init(struct fake_env *e, struct fake_args *a);
/* Enters ctx in callback cb with the given flags, after putting the map, the key and the
 * heap of the guest back as they were (a previous call may have changed them). */
void fake_args_enter(struct fake_env *e, struct fake_args *a, struct pw_ctx *ctx, enum pw_cb cb,
                     bool in_call_response, bool with_response, bool ending);
/* Calls one hostcall (through the --trace shim when traced); applies the actions it
 * deferred, as after a callback. @return its status, or 0xdead when it stopped the guest. */
uint32_t fake_args_call(struct fake_env *e, const struct fake_hostcall *h, uint64_t *slots,
                        bool traced);
/* Back to e's usual state (stream context, request headers); frees a. */
void fake_args_free(struct fake_env *e, struct fake_args *a);

#endif /* WASP_TEST_HOSTCALLS_FAKE_H */
