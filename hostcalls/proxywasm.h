/*
 * proxywasm.h - the public API of the proxy-wasm layer (hostcalls/).
 *
 * A plugin module is loaded once (pw_module_load: decode, validate, translate, find the
 * ABI version) and can then be instantiated any number of times, on any threads, as VMs
 * (pw_vm_new: instantiate, link the proxy-wasm and WASI imports, run the start
 * sequence). Where many VMs of one plugin are needed (one per worker, a fresh one after
 * a trap), the language runtime's initialisation runs once into an image (pw_image_new)
 * and each VM is a copy-on-write clone of it (pw_vm_new_from_image), made in
 * microseconds without running any guest code. A VM holds one or more root contexts (pw_root_new:
 * one per plugin sharing the VM; runs proxy_on_context_create, proxy_on_vm_start,
 * proxy_on_configure) and the stream contexts of the streams going through them (pw_stream_new and
 * the pw_stream_* callbacks). The host (the daemon, `wasp replay`, a test) answers the layer's
 * questions through struct pw_host_ops (host.h).
 *
 * Threads: a pw_module is immutable and shared. A pw_vm and everything in it is used by
 * one thread at a time. Shared data, shared queues and metrics are process-wide and
 * locked.
 *
 * How a host drives a stream through a chain of plugins (what src/replay/replay.c does,
 * and what a proxy's filter chain does):
 *   1. pw_stream_new(root, stream) lazily, before the plugin's first callback; make the
 *      stream's maps/buffers reachable through pw_host_ops.stream_map/stream_buffer.
 *   2. Request: pw_stream_request_headers, _body (per chunk, or the bytes held so far
 *      after a PAUSE), _trailers, through plugins 1..k; response the same through k..1.
 *      PAUSE from headers: hold the stream (bodies too) at that plugin until
 *      pw_host_ops.continue_stream for that direction, then go on with the next plugin.
 *      PAUSE from a body before its end: keep buffering and call again with everything
 *      held; at the end: hold until continue_stream.
 *   3. pw_host_ops.send_local_response: stop the request path, answer with the reply,
 *      and run the response callbacks on it; close_stream: reset the stream.
 *   4. pw_stream_end when the stream is over (completed, reset or failed).
 * Root contexts: pw_root_tick every set_tick_period period; pw_root_http_call_response
 * for each http_call; pw_vm_queue_ready when post_queue_ready asked for it (on the VM's
 * thread). None of these may be called from inside a hostcall (see host.h).
 *
 * Failures: when a callback traps (or exhausts its fuel, or calls proc_exit), the layer
 * reports the plugin name, the callback, the reason and the guest backtrace (through
 * pw_host_ops.vm_failed and .log), marks the VM failed, and every later call on that VM
 * is refused (returns PW_ACTION_FAILED / does nothing). The caller applies the plugin's
 * failure policy (fail open, fail closed, replace the VM).
 */
#ifndef WASP_HOSTCALLS_PROXYWASM_H
#define WASP_HOSTCALLS_PROXYWASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host.h"

enum pw_abi_version {
    PW_ABI_UNKNOWN = 0,
    PW_ABI_0_1_0 = 1,
    PW_ABI_0_2_0 = 2,
    PW_ABI_0_2_1 = 3,
};

/*
 * What a stream callback asks of the host: the plugin's return value read as the C++
 * SDK's FilterHeadersStatus / FilterDataStatus / FilterTrailersStatus, converted as
 * proxy-wasm-cpp-host and Envoy's Wasm filter do (the table is in README's replay
 * section too). Rust, Go and AssemblyScript plugins return only 0 and 1.
 *
 *   callback   returns                               action
 *   headers    0 Continue                            CONTINUE
 *              1 StopIteration                       PAUSE (cpp-host turns it into
 *                                                    StopAllIterationAndWatermark)
 *              2 ContinueAndEndStream                CONTINUE (Envoy's Wasm filter has no
 *                                                    conversion for it and continues; a
 *                                                    warning is logged once per VM)
 *              3 StopAllIterationAndBuffer           PAUSE_BUFFER
 *              4 StopAllIterationAndWatermark, >4    PAUSE
 *   body       0 Continue                            CONTINUE
 *              1 StopIterationAndBuffer              PAUSE
 *              2 StopIterationAndWatermark           PAUSE_WATERMARK
 *              3 StopIterationNoBuffer, >3           PAUSE_NO_BUFFER
 *   trailers,  0 Continue                            CONTINUE
 *   TCP data   1 StopIteration, >1                   PAUSE
 */
enum pw_action {
    PW_ACTION_CONTINUE = 0, /* go on with the next filter / forward */
    /* headers: stop everything (the body too) until continue_stream, holding what arrives
     * with back-pressure on the sender (Envoy's StopAllIterationAndWatermark);
     * body: hold this piece and call again with everything held so far
     * (StopIterationAndBuffer; past the host's limit 413, or 500 for a response) */
    PW_ACTION_PAUSE = 1,
    /* headers: stop everything until continue_stream, reading and holding the body up to
     * the host's limit (413 / 500 beyond it) without back-pressure (StopAllIterationAndBuffer) */
    PW_ACTION_PAUSE_BUFFER = 2,
    /* body: the host holds this piece (it goes on at continue_stream, or ahead of the piece
     * of a later Continue); the next call gets the next piece alone; back-pressure on the
     * sender while held (StopIterationAndWatermark: once the host holds its limit, no
     * more comes until the plugin continues, as with Envoy's watermark buffer) */
    PW_ACTION_PAUSE_WATERMARK = 3,
    /* body: the plugin took the bytes it was given: the host drops them; the next call
     * gets the next piece alone (StopIterationNoBuffer) */
    PW_ACTION_PAUSE_NO_BUFFER = 4,
    PW_ACTION_FAILED = -1, /* the VM failed (trap): apply the failure policy */
};

/* ---- Modules -------------------------------------------------------------------- */

struct pw_module;

/*
 * Loads a plugin module from bytes (copied). Fails, with the reason in err, when the
 * engine rejects the module or it exports none of the ABI markers
 * proxy_abi_version_0_1_0 / _0_2_0 / _0_2_1.
 * @return the module (free with pw_module_free), or NULL.
 */
struct pw_module *pw_module_load(const uint8_t *bytes, size_t len, char *err, size_t errlen);
/* Frees m; every VM made from it must have been freed first. */
void pw_module_free(struct pw_module *m);
enum pw_abi_version pw_module_abi(const struct pw_module *m);
/* Whether m exports a function named name (e.g. "proxy_on_request_body"). */
bool pw_module_has_export(const struct pw_module *m, const char *name);
/* "0.1.0", "0.2.0", "0.2.1" or "unknown". */
const char *pw_abi_name(enum pw_abi_version v);

/* ---- VMs ------------------------------------------------------------------------ */

struct pw_vm_config {
    const char *vm_id;            /* namespace of shared data and queues; may be "" */
    const uint8_t *configuration; /* the VM configuration: buffer 6 in on_vm_start */
    size_t configuration_len;
    const char *const *env; /* WASI environment, "KEY=VALUE" strings */
    size_t nenv;
    uint32_t max_memory_pages;  /* 0: the module's own maximum */
    uint64_t fuel_per_callback; /* instruction budget of each callback; 0: unlimited */
    /* Wall-clock budget of each callback, from the host's call in to its return (nested
     * calls from hostcalls included); past it the guest traps "execution time exceeded"
     * (checked at the engine's fuel points, so an endless loop is cut). 0: unlimited. */
    uint64_t max_execution_ns;
    const char *name;           /* name in messages before any plugin (default vm_id) */
    bool trace;                 /* report every proxy_* hostcall (pw_host_ops.trace) */
    void *userdata;             /* the host's, given back by pw_vm_userdata() (from the
                                   start sequence on) */
    /* A sandbox (a proxy's canary VM, run once to validate a configuration): what it writes
     * to process-wide state stays its own and goes with it. Shared data it sets is seen by
     * itself only (its reads see the process-wide data under its own); queues it registers
     * are its own (enqueueing to another VM's queue is accepted and dropped); metric
     * definitions are shared, its increments and records are dropped. */
    bool sandbox;
};

struct pw_vm;

/*
 * Instantiates m and runs the start sequence: `_initialize` then `main(0,0)` or
 * `__main_void` when exported, else `_start` (a Wasm start section runs at
 * instantiation). proc_exit(0) during start counts as success. ops and host must
 * outlive the VM; cfg's strings are copied.
 * @return the VM, or NULL with the reason (link error naming the import, trap with
 *         backtrace, ...) in err.
 */
struct pw_vm *pw_vm_new(const struct pw_module *m, const struct pw_vm_config *cfg,
                        const struct pw_host_ops *ops, void *host, char *err, size_t errlen);
/* Ends every context still alive (stream and root: on_done, on_delete), cancels their
 * callouts, unregisters its queues, frees the instance. */
void pw_vm_free(struct pw_vm *vm);

/* ---- Images: initialise once, clone per VM --------------------------------------- */

/*
 * An image is a plugin VM frozen right after its language runtime's initialisation: the
 * Wasm start section, `_initialize` [+ `main`/`__main_void`] or `_start` (the start
 * sequence of pw_vm_new) has run once, and its memory, globals and tables are kept
 * (engine/wasm.h, wasm_image_new). A VM made from it (pw_vm_new_from_image) starts in
 * that state, runs no guest code and copies no data segment: its memory maps the image's
 * copy-on-write, so pages no VM writes are one physical copy for every VM on every
 * thread. Each VM then runs the proxy-wasm start sequence itself (pw_root_new:
 * proxy_on_context_create, proxy_on_vm_start, proxy_on_configure), as Envoy does on each
 * worker. Imports are linked per VM, and each VM has its own WASI context.
 *
 * What the initialisation read from the host is frozen into the image, and every VM
 * made from it sees what the initialisation saw (pw_image_frozen tells what was read):
 *  - Host calls during initialisation go to the ops/host given to pw_image_new, once:
 *    log lines (proxy_log, WASI stdout/stderr) appear once per image, not per VM.
 *  - Clocks (proxy_get_current_time_nanoseconds, WASI clock_time_get): a runtime's start
 *    time or a cached timestamp is the one from the moment of initialisation. Safe: an
 *    image is exactly a VM that was initialised then and has been idle since; the
 *    monotonic clock is the process's, so later readings in any VM are not earlier.
 *  - Random bytes (WASI random_get): the seeds runtimes draw at start (hash-table seeds
 *    of Rust, Go and TinyGo, PRNG seeds) are the same in every VM of one image. Safe for
 *    their purpose: they stay secret inside the process, and a new image (a new
 *    configuration generation) draws new ones. Bytes drawn in callbacks are fresh per
 *    call. A plugin that draws a per-VM unique id during initialisation would see the
 *    same id in every clone: do that in proxy_on_vm_start, which runs per VM.
 *  - The WASI environment: each VM answers environ_get with its own cfg->env. When the
 *    initialisation read the environment (wasi-libc caches it on the first getenv), its
 *    result is in the image; a VM whose cfg->env differs from the image's then cannot
 *    use the image, and pw_vm_new_from_image runs the initialisation for that VM
 *    instead (as pw_vm_new; host calls go to that VM's ops/host). Arguments are always
 *    empty for plugins.
 *  - Context-bound state cannot be made during initialisation (no context exists yet:
 *    queue registration, ticks, callouts, properties answer BAD_ARGUMENT/NOT_FOUND);
 *    process-wide state (metrics defined, shared data set) stays, as it would.
 */
struct pw_image;

/* What the initialisation behind an image read from the host (pw_image_frozen). */
enum pw_frozen {
    PW_FROZEN_CLOCK = 1,  /* a clock: proxy_get_current_time_nanoseconds, clock_time_get */
    PW_FROZEN_RANDOM = 2, /* random_get */
    PW_FROZEN_ENV = 4,    /* environ_get / environ_sizes_get */
};

/*
 * Runs the start sequence of a VM of m once (exactly as pw_vm_new: host calls during it
 * go to ops/host, cfg's limits and environment apply) and captures the result as an
 * image. The VM itself is then freed; no root context exists in it. ops and host are not
 * kept. The image is immutable and may be used from any thread at once; m must outlive
 * it.
 * @return the image (free with pw_image_free), or NULL with the reason in err: the
 *         reasons of pw_vm_new, or why the VM could not be captured.
 */
struct pw_image *pw_image_new(const struct pw_module *m, const struct pw_vm_config *cfg,
                              const struct pw_host_ops *ops, void *host, char *err, size_t errlen);
/* Frees img. VMs made from it do not depend on it and live on. */
void pw_image_free(struct pw_image *img);
/* The enum pw_frozen bits of what img's initialisation read. */
unsigned pw_image_frozen(const struct pw_image *img);
/* Bytes of guest memory in img (what each VM made from it starts with, shared). */
uint64_t pw_image_memory_size(const struct pw_image *img);

/*
 * A VM of img's module in img's state: instantiated from the image (see above) with cfg's
 * name, vm_id, VM configuration, limits, fuel, trace and environment, reporting to
 * ops/host, which must outlive it. Runs no guest code (except when cfg's environment
 * differs from one the initialisation read: see above). Thread-safe on one image.
 * Then pw_root_new runs the proxy-wasm start sequence as on any VM.
 * @return the VM (free with pw_vm_free), or NULL with the reason in err (a link error;
 *         an image memory larger than cfg->max_memory_pages; out of memory).
 */
struct pw_vm *pw_vm_new_from_image(const struct pw_image *img, const struct pw_vm_config *cfg,
                                   const struct pw_host_ops *ops, void *host, char *err,
                                   size_t errlen);
bool pw_vm_failed(const struct pw_vm *vm);
/* The failure report ("plugin X: proxy_on_tick: unreachable\n#0 ..."), or "". */
const char *pw_vm_failure(const struct pw_vm *vm);
const char *pw_vm_id(const struct pw_vm *vm);
void *pw_vm_userdata(const struct pw_vm *vm);
enum pw_abi_version pw_vm_abi(const struct pw_vm *vm);
/* Delivers proxy_on_queue_ready (see pw_host_ops.post_queue_ready). Unknown or dead root
 * context ids are ignored. */
void pw_vm_queue_ready(struct pw_vm *vm, uint32_t root_context_id, uint32_t queue_id);

/* ---- Root contexts (one per plugin) --------------------------------------------- */

struct pw_plugin_config {
    const char *name;             /* plugin name (logs, plugin_name property) */
    const char *root_id;          /* plugin_root_id; may be "" */
    const uint8_t *configuration; /* plugin configuration: buffer 7 in on_configure */
    size_t configuration_len;
    void *userdata; /* the host's, given back by pw_root_userdata() (already during
                       on_context_create, on_vm_start and on_configure) */
};

/*
 * The root ids under which img's plugin starts a root context, for a host that could not
 * start one under the id it was given: SDKs that keep several root contexts (C++,
 * AssemblyScript) look their factory up by plugin_root_id and abort when none has that
 * id, and no hostcall shows the ids they know. The candidates are the identifier-like
 * strings of the initialised memory (NUL-terminated ASCII; UTF-16LE as AssemblyScript
 * keeps them; 2-64 characters, at most 256); each is tried in a quiet sandbox VM of its
 * own with pc's name and configuration: it counts when proxy_on_context_create creates
 * the root context (where those SDKs look the id up; nothing after it runs). Writes the
 * ids that do, sorted, separated by ", ", into out (cut at outlen). Nothing is tried
 * when the root context is created under pc's own root id (its failure is elsewhere).
 * @return how many (0: none, or the plugin does not choose by root id).
 */
size_t pw_image_root_ids(const struct pw_image *img, const struct pw_vm_config *cfg,
                         const struct pw_plugin_config *pc, char *out, size_t outlen);

struct pw_root;

/*
 * Creates a root context in vm: proxy_on_context_create(id, 0), proxy_on_vm_start(id,
 * |vm config|), proxy_on_configure(id, |plugin config|) (0.1.0: proxy_get_configuration
 * returns the VM configuration in on_vm_start and the plugin's in on_configure).
 * @return the root context, or NULL with the reason in err (a callback returned false or
 *         trapped; then the VM is failed too when it trapped).
 */
struct pw_root *pw_root_new(struct pw_vm *vm, const struct pw_plugin_config *cfg, char *err,
                            size_t errlen);
/*
 * Shuts the root context down as a proxy does at plugin shutdown: proxy_on_done, and when
 * it returns true, proxy_on_delete, its callouts and tick cancelled, freed (the host's
 * root_deleted is called first). When on_done returns false the root lives on: its
 * ticks, callout answers and queue wake-ups are still delivered, until the plugin calls
 * proxy_done; then on_delete runs after that callback and root_deleted tells the host.
 * Its streams must have ended; pw_stream_new refuses new ones from now on.
 * @return true when the root is gone, false when it waits for proxy_done (a second call
 *         then returns false again without running anything).
 */
bool pw_root_shutdown(struct pw_root *root);
/* Ends the root context now, without waiting: proxy_on_done (unless already run by
 * pw_root_shutdown), proxy_on_delete, cancels its callouts and its tick, frees it
 * (root_deleted is called). Its streams must have ended. */
void pw_root_free(struct pw_root *root);
uint32_t pw_root_context_id(const struct pw_root *root);
void *pw_root_userdata(const struct pw_root *root);
struct pw_vm *pw_root_vm(const struct pw_root *root);
const char *pw_root_name(const struct pw_root *root);
const char *pw_root_id(const struct pw_root *root);
/* proxy_on_tick (see pw_host_ops.set_tick_period). */
void pw_root_tick(struct pw_root *root);
/*
 * Answers callout token of root: proxy_on_http_call_response(root, token, headers, body
 * size, trailers), with the response readable as maps 6/7 and buffer 4 during the call
 * and proxy_get_status giving (0, "OK"). resp NULL means the callout failed (reset,
 * unknown answer): the callback gets 0 headers and proxy_get_status gives
 * (BROKEN_CONNECTION=11, "reset"), as Envoy. Tokens not pending (cancelled, already
 * answered) are ignored.
 */
void pw_root_http_call_response(struct pw_root *root, uint32_t token,
                                const struct pw_http_response *resp);

/* ---- Stream contexts ------------------------------------------------------------ */

struct pw_stream;

/*
 * Creates a stream context under root for the host's stream handle host_stream (given
 * back in pw_host_ops calls): proxy_on_context_create(id, root id).
 * @return the stream, or NULL when the VM failed (trap here or earlier), the root is
 *         shutting down (pw_root_shutdown) or no memory.
 */
struct pw_stream *pw_stream_new(struct pw_root *root, void *host_stream);
uint32_t pw_stream_context_id(const struct pw_stream *s);

/*
 * The HTTP stream callbacks. The host makes the maps and buffers they read available
 * through stream_map/stream_buffer before calling. For bodies, size is the number of
 * bytes buffered for this call (cumulative after a PAUSE). The result is what the plugin
 * returned, except that a plugin that sent a local reply or closed the stream during the
 * callback gets PW_ACTION_PAUSE (the reply is sent through the host right after), and a
 * trap gives PW_ACTION_FAILED. Exported callbacks the module lacks answer CONTINUE.
 */
enum pw_action pw_stream_request_headers(struct pw_stream *s, uint32_t num_headers,
                                         bool end_of_stream);
enum pw_action pw_stream_request_body(struct pw_stream *s, size_t size, bool end_of_stream);
enum pw_action pw_stream_request_trailers(struct pw_stream *s, uint32_t num_trailers);
enum pw_action pw_stream_response_headers(struct pw_stream *s, uint32_t num_headers,
                                          bool end_of_stream);
enum pw_action pw_stream_response_body(struct pw_stream *s, size_t size, bool end_of_stream);
enum pw_action pw_stream_response_trailers(struct pw_stream *s, uint32_t num_trailers);

/* TCP stream callbacks (buffers 2 and 3; peer: 0 unknown, 1 local, 2 remote). */
enum pw_action pw_stream_new_connection(struct pw_stream *s);
enum pw_action pw_stream_downstream_data(struct pw_stream *s, size_t size, bool end_of_stream);
enum pw_action pw_stream_upstream_data(struct pw_stream *s, size_t size, bool end_of_stream);
void pw_stream_downstream_close(struct pw_stream *s, int peer);
void pw_stream_upstream_close(struct pw_stream *s, int peer);

/*
 * Ends the stream: the host may free its stream when this returns. The order is the
 * spec's: proxy_on_done, then proxy_on_log, then proxy_on_delete (Envoy's HTTP filter runs
 * on_log first; we follow the spec and Envoy's TCP filter). Maps stay readable
 * (read-only) during on_log. When on_done returns false, the context lives on in the VM
 * until the plugin calls proxy_done (then on_log, on_delete), without access to the
 * host's stream. Safe on a failed VM (then no callback runs).
 */
void pw_stream_end(struct pw_stream *s);

/* ---- Metrics (process-wide; proxy_define_metric etc.) ---------------------------- */

/* One metric as seen by pw_metrics_foreach. For histograms value is the sample count
 * and sum/min/max describe the samples; for counters and gauges they are 0. */
struct pw_metric_view {
    const char *name;
    enum pw_metric_type type;
    uint64_t value;
    uint64_t sum;
    uint64_t min;
    uint64_t max;
};

/* Calls fn for every defined metric, in definition order, under the registry lock (fn
 * must not define metrics). */
void pw_metrics_foreach(void (*fn)(void *arg, const struct pw_metric_view *m), void *arg);

#endif /* WASP_HOSTCALLS_PROXYWASM_H */
