/*
 * wasi.h - WASI preview1 as host functions on an engine linker.
 *
 * wasi_define() registers the full preview1 name set, with the exact signatures, under
 * both `wasi_snapshot_preview1` and `wasi_unstable`. The embedder decides what a guest
 * sees through struct wasi_config: its arguments, its environment (never the host's
 * unless the embedder passes it), where fd 1/2 output goes, which clock and which random
 * source it reads. There is no file system: fds 0-2 exist, every other fd is EBADF and
 * every path call fails as on a host with no preopened directories.
 */
#ifndef WASP_HOSTCALLS_WASI_H
#define WASP_HOSTCALLS_WASI_H

#include <stddef.h>
#include <stdint.h>

#include "wasm.h"

/* wasi_errno_t values used by the host functions (preview1 numbering). */
enum wasi_errno {
    WASI_ESUCCESS = 0,
    WASI_EBADF = 8,
    WASI_EFAULT = 21,
    WASI_EINVAL = 28,
    WASI_EIO = 29,
    WASI_ENOSYS = 52,
    WASI_ENOTDIR = 54,
    WASI_ENOTSOCK = 57,
    WASI_ENOTSUP = 58,
    WASI_ESPIPE = 70,
};

/* wasi_clockid_t */
enum wasi_clock {
    WASI_CLOCK_REALTIME = 0,
    WASI_CLOCK_MONOTONIC = 1,
    WASI_CLOCK_PROCESS_CPUTIME = 2,
    WASI_CLOCK_THREAD_CPUTIME = 3,
};

/*
 * Writes len bytes a guest wrote to fd (1 or 2). Called on the guest's thread, possibly
 * from several threads at once when instances share one wasi_ctx. inst is the calling
 * instance (its userdata tells the embedder which plugin/VM wrote).
 */
typedef void (*wasi_output_fn)(void *ctx, wasm_instance_t *inst, int fd, const char *data,
                               size_t len);
/*
 * Reads up to len bytes of fd 0 into buf. Returns the count (0 at end of input) or -1
 * (the guest gets EIO).
 */
typedef long (*wasi_input_fn)(void *ctx, wasm_instance_t *inst, char *buf, size_t len);
/* Current time of clock id in nanoseconds. Returns a wasi_errno (e.g. WASI_ENOTSUP). */
typedef int (*wasi_clock_fn)(void *ctx, wasm_instance_t *inst, uint32_t id, uint64_t *ns);
/* Fills buf with len random bytes. Returns 0, or -1 (the guest gets EIO). */
typedef int (*wasi_random_fn)(void *ctx, wasm_instance_t *inst, void *buf, size_t len);

struct wasi_config {
    const char *const *args; /* argv as the guest sees it (args[0] = program name) */
    size_t nargs;
    const char *const *env; /* "KEY=VALUE" strings; NULL/0 for an empty environment */
    size_t nenv;
    wasi_output_fn output; /* NULL: output is discarded (but reported as written) */
    wasi_input_fn input;   /* NULL: fd_read answers ENOSYS, as proxy hosts do */
    wasi_clock_fn clock;   /* NULL: the host's clock_gettime() */
    wasi_random_fn random; /* NULL: getrandom() */
    void *ctx;             /* passed to the callbacks */
};

/* The largest random_get request served; larger ones get EINVAL (as Envoy does). */
#define WASI_RANDOM_MAX 65536u

struct wasi_ctx;

/* What a guest read through a context (wasi_ctx_reads): what its state may depend on. */
enum wasi_read {
    WASI_READ_ARGS = 1,   /* args_get, args_sizes_get */
    WASI_READ_ENV = 2,    /* environ_get, environ_sizes_get */
    WASI_READ_CLOCK = 4,  /* clock_time_get that succeeded */
    WASI_READ_RANDOM = 8, /* random_get that succeeded */
};

/* For dispatch contexts: the context that serves calls from inst, or NULL (the guest then
 * traps). Called on the guest's thread, once per WASI call that needs a context. */
typedef struct wasi_ctx *(*wasi_resolve_fn)(wasm_instance_t *inst);

/*
 * Creates a WASI context from cfg. args and env strings are copied; the callbacks and
 * cfg->ctx are kept as given. Returns NULL when out of memory.
 */
struct wasi_ctx *wasi_ctx_new(const struct wasi_config *cfg);
/*
 * Creates a dispatch context: defined on a linker like any other (wasi_define), it serves
 * no call itself but hands each to resolve(calling instance). One linker can then serve
 * instances with different arguments, environments and sinks; hostcalls/ shares one per
 * plugin module and gives each VM its own context. Returns NULL when out of memory.
 */
struct wasi_ctx *wasi_ctx_new_dispatch(wasi_resolve_fn resolve);

/* The enum wasi_read bits of what guests read through ctx so far (a dispatch context
 * records nothing: the contexts it resolves to do). Safe from any thread. */
unsigned wasi_ctx_reads(const struct wasi_ctx *ctx);

/* Frees ctx. No linker it was defined on may be used for instantiation afterwards. */
void wasi_ctx_free(struct wasi_ctx *ctx);

/*
 * Registers every preview1 function under `wasi_snapshot_preview1` and `wasi_unstable`
 * on l, bound to ctx (which must outlive every instance linked through l).
 * @return WASM_OK, or the first error of wasm_linker_define_func().
 */
int wasi_define(wasm_linker_t *l, struct wasi_ctx *ctx);

/* Number of functions wasi_define() registers per module name (for tests and docs). */
size_t wasi_function_count(void);

#endif /* WASP_HOSTCALLS_WASI_H */
