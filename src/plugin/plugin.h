/*
 * plugin.h - proxy-wasm plugins on live traffic: the plugins of a configuration
 * generation, each worker's own VMs, and the wasm stream filter that runs a plugin's
 * stream context on a stream of the filter chain.
 *
 * Three levels, three owners:
 *   - struct plugin_set: a generation's plugins, built once on the main thread. Each
 *     module is decoded, validated and translated once (and reused by later generations
 *     while its file's SHA-256 is unchanged); then a canary VM per VM group runs the whole
 *     start sequence (_initialize/_start, on_context_create, on_vm_start, on_configure):
 *     any failure rejects the configuration with the plugin's own log lines. Immutable,
 *     reference-counted, shared by every worker.
 *   - struct plugin_worker: one per worker thread (and one in `wasp replay`): its clock,
 *     timers, callout transport, the mailbox that queue wake-ups from other threads
 *     arrive in, and the instances of every set it serves.
 *   - per worker and set, the instances: one VM per VM group (plugins with the same file,
 *     vm_id and VM configuration share one, one root context each, as in Envoy), made by
 *     plugin_vm_clone() on the worker's thread. They live while the worker serves the set
 *     or a stream still runs on them; then their roots end (on_done, on_delete) and the
 *     VMs are freed. Nothing of a VM is touched by another thread.
 *
 * The filter (plugin_filter_ops, one chain entry per plugin) implements the proxy-wasm
 * host interface (hostcalls/host.h) over struct stream: Envoy's view of the headers with
 * :method, :path, :authority, :scheme and :status (edits take effect), bodies and
 * trailers in place, pause/continue, local replies, close, properties, and the failure
 * policies (fail_closed: 503; fail_open: go on without the plugin; reload: a fresh VM
 * for new streams, with back-off, failing closed meanwhile).
 *
 * Everything a plugin does can be observed (struct plugin_observer): `wasp replay`
 * prints it, waspd logs it at debug level. Both run the same code.
 */
#ifndef WASP_PLUGIN_PLUGIN_H
#define WASP_PLUGIN_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event_struct.h>

#include "host.h"
#include "stream/stream.h"

struct cfg_generation;
struct cfg_plugin;
struct cfg_errors;
struct event_base;
struct evbuffer;
struct plugin_set;
struct plugin_worker;
struct plugin_callout;
struct plugin_event;

/* The stream filter kind that runs a plugin; its configuration comes from
 * plugin_filter_conf(). */
extern const struct stream_filter_ops plugin_filter_ops;

/* ---- sets (main thread) ------------------------------------------------------------ */

struct plugin_observer {
    void (*event)(void *arg, const struct plugin_event *ev);
    void *arg;
};

/*
 * Properties the host supplies beyond what the stream and the plugin's own configuration
 * give (`wasp replay --property`): consulted by proxy_get_property, from stream and root
 * contexts, after the well-known names, the values the plugin set and the stream's route
 * names. path is the segments joined by NUL. Fill out and return PW_OK, or PW_NOT_FOUND.
 * Called on any worker's thread (and the canary's): it must only read.
 */
struct plugin_properties {
    enum pw_status (*get)(void *arg, const char *path, size_t path_len, struct pw_buf *out);
    void *arg;
};

struct plugin_set_options {
    unsigned n_workers; /* instances are per worker index 0..n_workers-1 */
    bool trace;         /* report every proxy_* hostcall (PLUGIN_EV_HOSTCALL) */
    const struct plugin_properties *properties; /* NULL: none; must outlive the set */
    /* What a plugin whose root context starts under none of the root ids its SDK
     * registers is told to do ("pass --root-id"); NULL: waspd's "set root_id". */
    const char *root_id_advice;
    /* Per plugin (NULL: none): give the plugin a VM of its own even when another plugin
     * has the same file and vm_id (`wasp replay --new-vm`). */
    const bool *own_vm;
    /* Where the log lines of the language runtimes' initialisation go (it runs once per
     * generation, on the main thread, into each group's image); NULL: waspd's log. */
    const struct plugin_observer *init_observer;
};

/*
 * Loads and validates the plugins (see above). Errors go to errors as
 * "FILE:LINE: [plugin:NAME]: what is wrong" (without cfg: "PLUGIN_FILE: [plugin:NAME]:
 * ..."), followed by the plugin's log lines and the trap's backtrace, one per line. cfg
 * is the generation the plugins belong to (its cluster names are what proxy_http_call
 * accepts, unless the worker's env says otherwise), or NULL (`wasp replay`);
 * plugins/n (NULL: cfg's own) are the plugins.
 * @return the set with one reference, or NULL when any plugin failed (errors->count > 0).
 */
struct plugin_set *plugin_set_new(const struct cfg_generation *cfg,
                                  const struct cfg_plugin *const *plugins, size_t n,
                                  const struct plugin_set_options *opt, struct cfg_errors *errors);
struct plugin_set *plugin_set_ref(struct plugin_set *set);
/* Drops a reference (any thread). */
void plugin_set_unref(struct plugin_set *set);
size_t plugin_set_count(const struct plugin_set *set);
/* Whether plugin i's module exports a body callback for direction d (0 request). */
bool plugin_set_edits_body(const struct plugin_set *set, size_t i, int d);
/* The ABI version ("0.2.1") of plugin i's module. */
const char *plugin_set_abi(const struct plugin_set *set, size_t i);

/* The chain entry configuration for plugin `index` of set (takes a set reference; freed
 * with the chain through plugin_filter_ops.conf_free). NULL when out of memory. */
void *plugin_filter_conf(struct plugin_set *set, size_t index);

/* ---- workers -------------------------------------------------------------------------- */

/* An HTTP callout as the transport sees it (the rules around it are plugin_worker's). */
struct plugin_callout_req {
    const char *cluster; /* checked to exist */
    const struct pw_map *headers;
    const uint8_t *body;
    size_t body_len;
    const struct pw_map *trailers;
};

/* What differs between a worker of waspd and `wasp replay`'s: time and the callout
 * transport. NULL members: the daemon's (real clock; the worker's upstream pools). */
struct plugin_env_ops {
    /* Wall clock in ns since the epoch, and a monotonic clock in ms. */
    uint64_t (*wall_ns)(void *env);
    uint64_t (*mono_ms)(void *env);
    /* Whether proxy_http_call may name this upstream (default: a [cluster:NAME] of the
     * set's generation). */
    bool (*cluster_known)(void *env, const char *name);
    /* Starts a callout; its answer comes through plugin_callout_answer() later (never
     * from inside this call). @return 0, or -1 (the callout fails as a reset). */
    int (*callout_start)(void *env, struct plugin_callout *c, const struct plugin_callout_req *r);
    /* Abandons a started callout: no answer may follow. */
    void (*callout_cancel)(void *env, struct plugin_callout *c);
};

/* What a plugin did, for `wasp replay`'s output and waspd's debug log. */
enum plugin_event_kind {
    PLUGIN_EV_STARTED,      /* a worker's root context is up (plugin, abi) */
    PLUGIN_EV_START_FAILED, /* ... could not start (plugin, text) */
    PLUGIN_EV_CALLBACK,     /* a stream callback ran (plugin, callback, result, stream, dir) */
    PLUGIN_EV_CONTINUE,     /* proxy_continue_stream (plugin, stream, dir) */
    PLUGIN_EV_CLOSE,        /* proxy_close_stream (plugin, stream, dir) */
    PLUGIN_EV_LOCAL_REPLY,  /* proxy_send_local_response (plugin, stream, status, text =
                               details, body, headers, grpc_status) */
    PLUGIN_EV_FAIL_OPEN,    /* the stream goes on without a failed plugin */
    PLUGIN_EV_FAIL_CLOSED,  /* the stream gets 503 because of a failed plugin */
    PLUGIN_EV_TRAP,         /* a callback trapped (plugin, callback, text = reason, backtrace) */
    PLUGIN_EV_LOG,          /* a plugin log line (level, text) */
    PLUGIN_EV_TICK,         /* proxy_on_tick (plugin) */
    PLUGIN_EV_QUEUE_READY,  /* proxy_on_queue_ready (queue) */
    PLUGIN_EV_CALLOUT,      /* proxy_http_call accepted (plugin, token, upstream, method,
                               path, timeout_ms) */
    PLUGIN_EV_CALLOUT_RESPONSE,  /* its answer reaches the plugin (plugin, token, text = status
                                    or "504 (timeout)" or "failed") */
    PLUGIN_EV_CALLOUT_CANCELLED, /* (plugin, token) */
    PLUGIN_EV_VM_REPLACED,       /* reload policy: a fresh VM for the group (plugin) */
    PLUGIN_EV_ROOT_DELETED,      /* a root context ended at shutdown (plugin) */
    PLUGIN_EV_ROOT_DONE_PENDING, /* at shutdown, on_done returned false (plugin) */
    PLUGIN_EV_ROOT_DONE_TIMEOUT, /* ... and proxy_done did not come in time (plugin) */
    PLUGIN_EV_HOSTCALL,          /* one proxy_* hostcall, traced (plugin, stream, hostcall, text =
                                    decoded arguments, result = status name or "trap", results =
                                    out-values, token = context id) */
};

struct plugin_event {
    enum plugin_event_kind kind;
    const char *plugin;
    /* The stream concerned: its own, or the one whose callback is running (a log line,
     * a callout made from a stream callback); NULL for root-level activity. */
    struct stream *stream;
    int dir;              /* 0 request, 1 response */
    const char *callback; /* "proxy_on_request_headers" */
    const char *result;   /* "continue", "pause", "failed" */
    const char *text;
    const char *backtrace;
    const char *abi;
    const char *vm_of; /* STARTED: the plugin whose VM this one shares, or NULL */
    enum pw_log_level level;
    uint32_t token, queue, timeout_ms, status;
    int32_t grpc_status;
    const char *upstream, *method, *path;
    const char *hostcall, *results;
    const uint8_t *body;
    size_t body_len;
    const struct pw_map *headers;
    struct evbuffer *chunk; /* CALLBACK for a body: what the plugin saw */
    bool end_of_stream;
};

/*
 * A worker's plugin runtime on event loop base (owned by the caller). env_ops/env (may
 * be NULL) as above. With virtual_clock, timers do not use libevent's clock: they fire
 * when plugin_worker_step() moves the clock past them (replay). daemon_worker is
 * handed to the upstream side of callout streams (struct stream.worker).
 * @return it, or NULL (out of memory, or no wake-up pipe).
 */
struct plugin_worker *plugin_worker_new(struct event_base *base, unsigned index,
                                        const struct plugin_env_ops *env_ops, void *env,
                                        bool virtual_clock, void *daemon_worker);
/* Makes w the calling thread's plugin worker (the filter finds its instances through it). */
void plugin_worker_bind(struct plugin_worker *w);
/* Where plugin activity is reported (default: waspd's log at debug level). */
void plugin_worker_set_observer(struct plugin_worker *w, const struct plugin_observer *o);
/* The minimum level of plugin log lines (proxy_get_log_level answers it). */
void plugin_worker_set_log_level(struct plugin_worker *w, enum pw_log_level level);
/*
 * The worker serves set from now on (NULL: none): its instances are made now, on this
 * thread (start sequence, ticks armed, queue registrations); the previous set's instances
 * end once their last stream does. Failures to start are logged; that plugin then acts
 * on its failure policy. Worker thread only.
 */
void plugin_worker_serve(struct plugin_worker *w, struct plugin_set *set);
/* Instances (of any set) still alive on this worker, e.g. waiting for their last stream. */
unsigned plugin_worker_live(const struct plugin_worker *w);
/*
 * Ends every instance: roots get on_done (a false answer waits up to grace_ms of the
 * worker's clock for proxy_done, while ticks, callouts and queues go on; call
 * plugin_worker_live() to see when it is over), then on_delete; grace_ms 0: at once.
 * Streams must have ended first.
 */
void plugin_worker_shutdown(struct plugin_worker *w, uint64_t grace_ms);
/* Frees the worker after plugin_worker_shutdown (what remains is freed at once). */
void plugin_worker_free(struct plugin_worker *w);

/*
 * Virtual clock: runs the first timer due at or before now_ms (the clock is then its
 * time) and returns true; when none is due, moves the clock to now_ms and returns false.
 * Run the event loop between two steps, as time would.
 */
bool plugin_worker_step(struct plugin_worker *w, uint64_t now_ms);
/* Virtual clock: when the next timer is due (UINT64_MAX: none). */
uint64_t plugin_worker_next_timer(const struct plugin_worker *w);
/* Whether queue wake-ups wait in the worker's mailbox (the event loop delivers them). */
bool plugin_worker_has_mail(struct plugin_worker *w);
/* The worker's clock in ms (virtual or monotonic). */
uint64_t plugin_worker_now_ms(const struct plugin_worker *w);

/* Calls fn for every field of the stream's map `type` (0-3) as plugins see it (Envoy's
 * view: pseudo-headers, the list, content-length). */
void plugin_stream_fields(struct stream *s, enum pw_map_type type,
                          void (*fn)(void *arg, const struct pw_field *f), void *arg);

/* ---- timers on a worker's clock --------------------------------------------------------- */

/* A one-shot timer (libevent, or the virtual clock); embed it, init once, arm/cancel at
 * will. cb runs from the event loop (or plugin_worker_step). */
struct plugin_timer {
    struct plugin_worker *w;
    void (*cb)(struct plugin_timer *t);
    struct event ev;
    bool armed;
    bool assigned;
    uint64_t at_ms;             /* virtual clock */
    struct plugin_timer *vnext; /* virtual clock: the sorted list */
};

void plugin_timer_init(struct plugin_timer *t, struct plugin_worker *w,
                       void (*cb)(struct plugin_timer *t));
void plugin_timer_arm(struct plugin_timer *t, uint64_t ms);
void plugin_timer_cancel(struct plugin_timer *t);

/* ---- callout transports ------------------------------------------------------------------ */

/* The cookie a transport may keep with a callout. */
void plugin_callout_set_cookie(struct plugin_callout *c, void *cookie);
void *plugin_callout_cookie(const struct plugin_callout *c);
/*
 * The transport's answer (from the event loop, never inside callout_start): resp NULL
 * means the callout failed (reset). The callout is over when this returns.
 */
void plugin_callout_answer(struct plugin_callout *c, const struct pw_http_response *resp);

#endif
