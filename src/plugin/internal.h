/*
 * internal.h - what the files of src/plugin/ share: sets, workers, instances, VMs, root
 * contexts, timers and callouts (see plugin.h for the model).
 *
 * Ownership on a worker: a struct plugin_instances (one set's VMs on one worker) is
 * referenced by the worker while it serves the set and by every stream whose filter uses
 * it; when the count drops to 0 its roots end and its VMs are freed. A struct plugin_vm
 * (one pw_vm) is the current VM of its group slot, or retired (failed and replaced, or
 * its instances ending); a retired VM is freed when no stream context is left on it.
 */
#ifndef WASP_PLUGIN_INTERNAL_H
#define WASP_PLUGIN_INTERNAL_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <pthread.h>
#include <stdatomic.h>

#include "plugin.h"
#include "proxywasm.h"

struct plugin_module; /* a loaded module, shared across sets while its file is unchanged */

/* A group of plugins sharing one VM (same module, vm_id and VM configuration). */
struct plugin_group {
    struct plugin_module *mod;
    struct pw_image *image;         /* the module after its runtime's initialisation (canary) */
    const struct cfg_plugin *first; /* the member whose limits the VM takes */
    struct pw_vm_config vmcfg;      /* strings point into the generation */
    uint64_t max_execution_ms;      /* per callback; 0: none */
    size_t *members;                /* plugin indices, in file order */
    size_t n_members;
};

struct plugin_spec {
    const struct cfg_plugin *cfg;
    size_t group;
    size_t member; /* position in its group */
    bool edits_body[2];
};

struct plugin_set {
    atomic_uint refs;
    const struct cfg_generation *cfg; /* a reference */
    struct plugin_spec *plugins;
    size_t n_plugins;
    struct plugin_group *groups;
    size_t n_groups;
    unsigned n_workers;
    bool trace;
    struct plugin_properties properties; /* get NULL: none */
    const char *root_id_advice;
    /* Worker i's live instances of this set; read and written by worker i only. */
    struct plugin_instances **per_worker;
};

/* A queue wake-up posted from any thread to a worker's mailbox. */
struct plugin_wake {
    struct plugin_wake *next;
    struct pw_vm *vm;
    uint32_t ctx, queue;
};

struct plugin_worker {
    struct event_base *base;
    unsigned index;
    const struct plugin_env_ops *env_ops;
    void *env;
    void *daemon_worker;
    bool virtual_clock;
    uint64_t vnow_ms;
    struct plugin_timer *vtimers;
    struct plugin_observer obs;
    struct stream *cur_stream; /* whose callback runs (events without a stream get it) */
    enum pw_log_level log_level;
    struct plugin_instances *all;     /* every live instances object of this worker */
    struct plugin_instances *current; /* the served set's */
    uint64_t grace_ms;                /* shutdown: how long roots may wait for proxy_done */

    pthread_mutex_t mbox_lock;
    struct plugin_wake *mbox;
    int mbox_fd[2];
    struct event mbox_ev;
};

struct plugin_root {
    struct plugin_vm *pvm;
    size_t plugin; /* index in the set */
    struct pw_root *root;
    struct plugin_timer tick;
    uint32_t tick_ms;
    struct plugin_callout *callouts;
};

struct plugin_vm {
    struct plugin_slot *slot;
    struct plugin_vm *next; /* the slot's retired list */
    struct pw_vm *vm;
    struct plugin_root *roots; /* one per member of the group */
    unsigned streams;          /* stream contexts alive on it */
    bool retired;
};

/* A group's VM on one worker, and the reload policy's state. */
struct plugin_slot {
    struct plugin_instances *inst;
    size_t group;
    struct plugin_vm *vm; /* current; NULL after a failure until replaced */
    struct plugin_vm *retired;
    unsigned failures;    /* consecutive, for the back-off */
    uint64_t retry_at_ms; /* no new VM before this (worker clock) */
    uint64_t last_fail_ms;
};

struct plugin_instances {
    struct plugin_worker *w;
    struct plugin_set *set; /* a reference */
    struct plugin_instances *next;
    unsigned refs;
    bool ending;               /* roots are ending; new streams make new instances */
    bool canary;               /* the validation run: its VMs are sandboxes */
    struct plugin_timer grace; /* roots waiting for proxy_done get this long */
    struct plugin_timer reap;  /* a root ended after its proxy_done: free what can go */
    struct plugin_slot *slots; /* one per group */
};

struct plugin_callout {
    struct plugin_callout *next;
    struct plugin_root *pr;
    uint32_t token;
    struct plugin_timer timer; /* the call's timeout, or a deferred failure */
    bool failed_start;
    bool timed_out;
    void *cookie;
};

extern const struct pw_host_ops plugin_host_ops;

/* The worker's clock as plugins read it (host is the worker). */
uint64_t plugin_host_clock_ns(void *host, bool monotonic);

/* filter.c: the host operations of stream contexts (stream: the filter's state). */
bool plugin_host_stream_map(void *host, void *stream, enum pw_map_type type, struct pw_map_ref *out,
                            bool *writable);
bool plugin_host_stream_buffer(void *host, void *stream, enum pw_buffer_type type,
                               struct pw_buffer_ref *out, bool *eos, bool *writable);
const struct pw_stream_info *plugin_host_stream_info(void *host, void *stream);
void plugin_host_continue_stream(void *host, void *stream, enum pw_stream_type type);
void plugin_host_close_stream(void *host, void *stream, enum pw_stream_type type);
void plugin_host_send_local_response(void *host, void *stream, const struct pw_local_response *r);
enum pw_status plugin_host_get_property(void *host, struct pw_vm *vm, void *stream,
                                        const char *path, size_t path_len, struct pw_buf *out);
/* The host stream (struct stream) of a filter's state, as hostcalls hands it back. */
struct stream *plugin_fstate_stream(void *fstate);

/* The calling thread's worker (plugin_worker_bind). */
struct plugin_worker *plugin_current_worker(void);
/* The worker's instances of set, made now if there are none. NULL: out of memory. */
struct plugin_instances *plugin_instances_get(struct plugin_worker *w, struct plugin_set *set);
void plugin_instances_ref(struct plugin_instances *inst);
void plugin_instances_unref(struct plugin_instances *inst);
/* The VM a new stream of plugin i runs on: the slot's current one, or a fresh one when
 * the plugin's policy is reload and the back-off allows it. NULL: none (failed). */
struct plugin_vm *plugin_vm_for_stream(struct plugin_instances *inst, size_t plugin);
/* A stream context on pvm ended. */
void plugin_vm_stream_done(struct plugin_vm *pvm);
/* Reports an event to the worker's observer. */
void plugin_emit(struct plugin_worker *w, const struct plugin_event *ev);
const char *plugin_name(const struct plugin_set *set, size_t i);

/* callout.c */
/* Whether proxy_http_call / proxy_grpc_call of a VM of set may name cluster `name`. */
bool plugin_cluster_known(struct plugin_worker *w, const struct plugin_set *set, const char *name);
enum pw_status plugin_callout_start(struct plugin_root *pr, uint32_t token,
                                    const struct pw_http_call *call);
void plugin_callout_cancel(struct plugin_root *pr, uint32_t token);
/* The daemon's transport (the worker's upstream pools). */
int plugin_upstream_callout_start(struct plugin_worker *w, struct plugin_callout *c,
                                  const struct plugin_callout_req *r);
void plugin_upstream_callout_cancel(struct plugin_worker *w, struct plugin_callout *c);

#endif
