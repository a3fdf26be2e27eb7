/*
 * context.c - root and stream contexts: creation, the stream callbacks, the end of a
 * stream, ticks and queue wake-ups, proxy_set_effective_context, proxy_done, and the
 * stream actions (continue, close, local reply) that take effect after the callback.
 *
 * End of a stream (documented choice): proxy_on_done, then proxy_on_log, then
 * proxy_on_delete, as the spec says and Envoy's TCP filter does (Envoy's HTTP filter runs
 * on_log first, from its access-log hook). During those three callbacks the stream's maps
 * are read-only. When a stream's on_done returns false, on_log and on_delete wait until
 * the plugin calls proxy_done for it (they run after that callback returns); the host's
 * stream is gone by then, so its maps and buffers read as absent. Root contexts end the
 * same way when the host shuts them down with pw_root_shutdown: proxy_on_done, and on a
 * false, the root lives on (its ticks, callouts and queue wake-ups still delivered) until
 * it calls proxy_done; then proxy_on_delete and pw_host_ops.root_deleted. pw_root_free
 * and pw_vm_free do not wait.
 *
 * Context ids are per VM, from 1, never reused while the VM lives (cpp-host's scheme).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- Contexts ---------------------------------------------------------------------- */

/* The slot of id in the table (its context or the empty slot where it would go). */
static uint32_t pw_ctx_slot(const struct pw_vm *vm, uint32_t id)
{
    uint32_t mask = vm->ctx_cap - 1, i = (id * 2654435761u) & mask;

    while (vm->ctx_table[i] != NULL && vm->ctx_table[i]->id != id)
        i = (i + 1) & mask;
    return i;
}

/* Makes room for one more context. Returns 0 or -1 (out of memory). */
static int pw_ctx_table_grow(struct pw_vm *vm)
{
    if ((vm->ctx_count + 1) * 2 <= vm->ctx_cap)
        return 0;
    uint32_t cap = vm->ctx_cap ? vm->ctx_cap * 2 : 64;
    struct pw_ctx **old = vm->ctx_table, **table = calloc(cap, sizeof(*table));
    uint32_t old_cap = vm->ctx_cap;

    if (table == NULL)
        return -1;
    vm->ctx_table = table;
    vm->ctx_cap = cap;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i] != NULL)
            table[pw_ctx_slot(vm, old[i]->id)] = old[i];
    free(old);
    return 0;
}

struct pw_ctx *pw_vm_context(struct pw_vm *vm, uint32_t id)
{
    if (vm->ctx_cap == 0)
        return NULL;
    return vm->ctx_table[pw_ctx_slot(vm, id)];
}

/* Adds ctx to vm with the next id. Returns 0 or -1 (out of memory). */
static int pw_ctx_link(struct pw_vm *vm, struct pw_ctx *ctx, enum pw_ctx_kind kind)
{
    if (pw_ctx_table_grow(vm) != 0)
        return -1;
    ctx->vm = vm;
    ctx->kind = kind;
    ctx->id = vm->next_context_id++;
    ctx->prev = NULL;
    ctx->next = vm->contexts;
    if (vm->contexts != NULL)
        vm->contexts->prev = ctx;
    vm->contexts = ctx;
    vm->ctx_table[pw_ctx_slot(vm, ctx->id)] = ctx;
    vm->ctx_count++;
    return 0;
}

/* Removes id from the table, shifting back the entries of its probe run. */
static void pw_ctx_table_remove(struct pw_vm *vm, uint32_t id)
{
    uint32_t mask = vm->ctx_cap - 1, i = pw_ctx_slot(vm, id), j = i;

    if (vm->ctx_table[i] == NULL)
        return;
    vm->ctx_table[i] = NULL;
    vm->ctx_count--;
    for (;;) {
        j = (j + 1) & mask;
        if (vm->ctx_table[j] == NULL)
            return;
        uint32_t home = (vm->ctx_table[j]->id * 2654435761u) & mask;
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            vm->ctx_table[i] = vm->ctx_table[j];
            vm->ctx_table[j] = NULL;
            i = j;
        }
    }
}

void pw_ctx_destroy(struct pw_ctx *ctx)
{
    struct pw_vm *vm = ctx->vm;

    if (ctx->prev != NULL)
        ctx->prev->next = ctx->next;
    else
        vm->contexts = ctx->next;
    if (ctx->next != NULL)
        ctx->next->prev = ctx->prev;
    pw_ctx_table_remove(vm, ctx->id);
    if (vm->effective == ctx)
        vm->effective = vm->current;
    while (ctx->props != NULL) {
        struct pw_prop *p = ctx->props;
        ctx->props = p->next;
        free(p->path);
        pw_buf_free(&p->value);
        free(p);
    }
    free(ctx);
}

/* ---- Root contexts ------------------------------------------------------------------- */

/* The start sequence of a root context; with context_only, proxy_on_context_create
 * alone. */
static struct pw_root *pw_root_start(struct pw_vm *vm, const struct pw_plugin_config *cfg,
                                     bool context_only, char *err, size_t errlen)
{
    struct pw_root *root;
    uint64_t r;
    int rc;

    if (vm->failed) {
        snprintf(err, errlen, "%s", vm->failure);
        return NULL;
    }
    root = calloc(1, sizeof(*root));
    if (root == NULL)
        goto nomem;
    root->ctx.root = root;
    root->userdata = cfg->userdata;
    root->name = strdup(cfg->name != NULL ? cfg->name : "");
    root->root_id = strdup(cfg->root_id != NULL ? cfg->root_id : "");
    if (root->name == NULL || root->root_id == NULL ||
        pw_buf_set(&root->configuration, cfg->configuration, cfg->configuration_len) != 0) {
        free(root->name);
        free(root->root_id);
        pw_buf_free(&root->configuration);
        free(root);
        goto nomem;
    }
    if (pw_ctx_link(vm, &root->ctx, PW_CTX_ROOT) != 0) {
        free(root->name);
        free(root->root_id);
        pw_buf_free(&root->configuration);
        free(root);
        goto nomem;
    }

    uint64_t id = root->ctx.id;
    if (pw_vm_call(vm, &root->ctx, PW_CB_CONTEXT_CREATE, (uint64_t[]){id, 0}, 2, &r, NULL) < 0)
        goto failed;
    if (context_only)
        return root;
    rc = pw_vm_call(vm, &root->ctx, PW_CB_VM_START, (uint64_t[]){id, vm->configuration.len}, 2, &r,
                    NULL);
    if (rc < 0)
        goto failed;
    if (rc == 0 && (uint32_t)r == 0) {
        snprintf(err, errlen, "plugin %s: proxy_on_vm_start returned false", root->name);
        goto refused;
    }
    rc = pw_vm_call(vm, &root->ctx, PW_CB_CONFIGURE, (uint64_t[]){id, root->configuration.len}, 2,
                    &r, NULL);
    if (rc < 0)
        goto failed;
    if (rc == 0 && (uint32_t)r == 0) {
        snprintf(err, errlen, "plugin %s: proxy_on_configure returned false", root->name);
        goto refused;
    }
    return root;

failed:
    snprintf(err, errlen, "%s", vm->failure);
refused:
    pw_root_free(root);
    return NULL;
nomem:
    snprintf(err, errlen, "out of memory");
    return NULL;
}

struct pw_root *pw_root_new(struct pw_vm *vm, const struct pw_plugin_config *cfg, char *err,
                            size_t errlen)
{
    return pw_root_start(vm, cfg, false, err, errlen);
}

struct pw_root *pw_root_create(struct pw_vm *vm, const struct pw_plugin_config *cfg, char *err,
                               size_t errlen)
{
    return pw_root_start(vm, cfg, true, err, errlen);
}

/* Stops what keeps a root context busy: its callouts and its tick. */
static void pw_root_quiesce(struct pw_root *root)
{
    struct pw_vm *vm = root->ctx.vm;

    pw_callouts_cancel(root, 0);
    if (root->tick_period_ms != 0 && vm->ops != NULL && vm->ops->set_tick_period != NULL)
        vm->ops->set_tick_period(vm->host, root, 0);
    root->tick_period_ms = 0;
}

/* The end of a root context after on_done: its streams still waiting for proxy_done end,
 * then on_delete, and the context is gone (the host is told). */
static void pw_root_finish(struct pw_root *root)
{
    struct pw_vm *vm = root->ctx.vm;
    uint64_t r, id = root->ctx.id;

    root->ctx.done_pending = false;
    for (struct pw_ctx *c = vm->contexts; c != NULL;) {
        if (c->kind == PW_CTX_STREAM && c->root == root) {
            pw_stream_end((struct pw_stream *)c);
            c = vm->contexts; /* the list changed */
        } else {
            c = c->next;
        }
    }
    pw_vm_call(vm, &root->ctx, PW_CB_DELETE, &id, 1, &r, NULL);
    /* Callouts and ticks the last callbacks may have started die with the context. */
    pw_root_quiesce(root);
    if (vm->ops != NULL && vm->ops->root_deleted != NULL)
        vm->ops->root_deleted(vm->host, root);
    free(root->name);
    free(root->root_id);
    pw_buf_free(&root->configuration);
    pw_ctx_destroy(&root->ctx);
}

bool pw_root_shutdown(struct pw_root *root)
{
    struct pw_vm *vm = root->ctx.vm;
    uint64_t r = 1, id = root->ctx.id;

    if (root->ctx.done_pending)
        return false;
    root->ctx.ending = true;
    root->ctx.done_called = false;
    int rc = pw_vm_call(vm, &root->ctx, PW_CB_DONE, &id, 1, &r, NULL);
    if (rc == 0 && (uint32_t)r == 0 && !root->ctx.done_called) {
        /* The plugin finishes later (a tick, a callout answer) with proxy_done. */
        root->ctx.done_pending = true;
        return false;
    }
    pw_root_quiesce(root);
    pw_root_finish(root);
    return true;
}

void pw_root_free(struct pw_root *root)
{
    uint64_t r, id;

    if (root == NULL)
        return;
    if (!root->ctx.done_pending) {
        pw_root_quiesce(root);
        root->ctx.ending = true;
        id = root->ctx.id;
        pw_vm_call(root->ctx.vm, &root->ctx, PW_CB_DONE, &id, 1, &r, NULL);
    }
    pw_root_quiesce(root);
    pw_root_finish(root);
}

void *pw_root_userdata(const struct pw_root *root)
{
    return root->userdata;
}

uint32_t pw_root_context_id(const struct pw_root *root)
{
    return root->ctx.id;
}

struct pw_vm *pw_root_vm(const struct pw_root *root)
{
    return root->ctx.vm;
}

const char *pw_root_name(const struct pw_root *root)
{
    return root->name;
}

const char *pw_root_id(const struct pw_root *root)
{
    return root->root_id;
}

void pw_root_tick(struct pw_root *root)
{
    uint64_t r, id = root->ctx.id;

    pw_vm_call(root->ctx.vm, &root->ctx, PW_CB_TICK, &id, 1, &r, NULL);
}

void pw_vm_queue_ready(struct pw_vm *vm, uint32_t root_context_id, uint32_t queue_id)
{
    struct pw_ctx *ctx = pw_vm_context(vm, root_context_id);
    uint64_t r;

    if (ctx == NULL || ctx->kind != PW_CTX_ROOT || (ctx->ending && !ctx->done_pending))
        return;
    pw_vm_call(vm, ctx, PW_CB_QUEUE_READY, (uint64_t[]){root_context_id, queue_id}, 2, &r, NULL);
}

/* ---- Stream contexts ----------------------------------------------------------------- */

struct pw_stream *pw_stream_new(struct pw_root *root, void *host_stream)
{
    struct pw_vm *vm = root->ctx.vm;
    struct pw_stream *s;
    uint64_t r;

    if (vm->failed || root->ctx.ending)
        return NULL; /* no new streams once the root is shutting down */
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->ctx.root = root;
    s->ctx.host_stream = host_stream;
    if (pw_ctx_link(vm, &s->ctx, PW_CTX_STREAM) != 0) {
        free(s);
        return NULL;
    }
    if (pw_vm_call(vm, &s->ctx, PW_CB_CONTEXT_CREATE, (uint64_t[]){s->ctx.id, root->ctx.id}, 2, &r,
                   NULL) < 0) {
        pw_ctx_destroy(&s->ctx);
        return NULL;
    }
    return s;
}

uint32_t pw_stream_context_id(const struct pw_stream *s)
{
    return s->ctx.id;
}

/* The C++ SDK's FilterHeadersStatus value r as an action (the table in proxywasm.h). */
static enum pw_action pw_headers_action(struct pw_stream *s, enum pw_cb cb, uint64_t r)
{
    struct pw_vm *vm = s->ctx.vm;

    switch (r) {
    case 0:
        return PW_ACTION_CONTINUE;
    case 2:
        /* ContinueAndEndStream: Envoy's Wasm filter has no conversion for it and goes on
         * with the stream as for Continue; so do we, and say so once. */
        if (!vm->end_stream_warned) {
            char msg[160];
            vm->end_stream_warned = true;
            snprintf(msg, sizeof(msg),
                     "%s returned ContinueAndEndStream (2): the stream goes on as for Continue, "
                     "as in Envoy",
                     pw_cb_name(cb));
            pw_vm_log(vm, &s->ctx, PW_LOG_WARN, msg, SIZE_MAX);
        }
        return PW_ACTION_CONTINUE;
    case 3:
        return PW_ACTION_PAUSE_BUFFER;
    default: /* 1 StopIteration, 4 StopAllIterationAndWatermark, anything larger */
        return PW_ACTION_PAUSE;
    }
}

/* The C++ SDK's FilterDataStatus value r as an action. */
static enum pw_action pw_body_action(uint64_t r)
{
    switch (r) {
    case 0:
        return PW_ACTION_CONTINUE;
    case 1:
        return PW_ACTION_PAUSE;
    case 2:
        return PW_ACTION_PAUSE_WATERMARK;
    default: /* 3 StopIterationNoBuffer; cpp-host turns anything larger into it too */
        return PW_ACTION_PAUSE_NO_BUFFER;
    }
}

/* Runs a stream callback that returns an action. */
static enum pw_action pw_stream_action(struct pw_stream *s, enum pw_cb cb, uint64_t a1, uint64_t a2,
                                       uint32_t nargs)
{
    uint64_t args[3] = {s->ctx.id, a1, a2}, r;
    bool stopped;
    int rc = pw_vm_call(s->ctx.vm, &s->ctx, cb, args, nargs, &r, &stopped);

    if (rc < 0)
        return PW_ACTION_FAILED;
    if (rc > 0)
        return PW_ACTION_CONTINUE;
    if (stopped)
        return PW_ACTION_PAUSE;
    r = (uint32_t)r;
    switch (cb) {
    case PW_CB_REQUEST_HEADERS:
    case PW_CB_RESPONSE_HEADERS:
        return pw_headers_action(s, cb, r);
    case PW_CB_REQUEST_BODY:
    case PW_CB_RESPONSE_BODY:
        return pw_body_action(r);
    default: /* trailers, TCP: Continue or StopIteration */
        return r == 0 ? PW_ACTION_CONTINUE : PW_ACTION_PAUSE;
    }
}

enum pw_action pw_stream_request_headers(struct pw_stream *s, uint32_t num_headers,
                                         bool end_of_stream)
{
    return pw_stream_action(s, PW_CB_REQUEST_HEADERS, num_headers, end_of_stream, 3);
}

enum pw_action pw_stream_request_body(struct pw_stream *s, size_t size, bool end_of_stream)
{
    return pw_stream_action(s, PW_CB_REQUEST_BODY, (uint32_t)size, end_of_stream, 3);
}

enum pw_action pw_stream_request_trailers(struct pw_stream *s, uint32_t num_trailers)
{
    return pw_stream_action(s, PW_CB_REQUEST_TRAILERS, num_trailers, 0, 2);
}

enum pw_action pw_stream_response_headers(struct pw_stream *s, uint32_t num_headers,
                                          bool end_of_stream)
{
    return pw_stream_action(s, PW_CB_RESPONSE_HEADERS, num_headers, end_of_stream, 3);
}

enum pw_action pw_stream_response_body(struct pw_stream *s, size_t size, bool end_of_stream)
{
    return pw_stream_action(s, PW_CB_RESPONSE_BODY, (uint32_t)size, end_of_stream, 3);
}

enum pw_action pw_stream_response_trailers(struct pw_stream *s, uint32_t num_trailers)
{
    return pw_stream_action(s, PW_CB_RESPONSE_TRAILERS, num_trailers, 0, 2);
}

enum pw_action pw_stream_new_connection(struct pw_stream *s)
{
    return pw_stream_action(s, PW_CB_NEW_CONNECTION, 0, 0, 1);
}

enum pw_action pw_stream_downstream_data(struct pw_stream *s, size_t size, bool end_of_stream)
{
    return pw_stream_action(s, PW_CB_DOWNSTREAM_DATA, (uint32_t)size, end_of_stream, 3);
}

enum pw_action pw_stream_upstream_data(struct pw_stream *s, size_t size, bool end_of_stream)
{
    return pw_stream_action(s, PW_CB_UPSTREAM_DATA, (uint32_t)size, end_of_stream, 3);
}

void pw_stream_downstream_close(struct pw_stream *s, int peer)
{
    uint64_t r;
    pw_vm_call(s->ctx.vm, &s->ctx, PW_CB_DOWNSTREAM_CLOSE, (uint64_t[]){s->ctx.id, (uint32_t)peer},
               2, &r, NULL);
}

void pw_stream_upstream_close(struct pw_stream *s, int peer)
{
    uint64_t r;
    pw_vm_call(s->ctx.vm, &s->ctx, PW_CB_UPSTREAM_CLOSE, (uint64_t[]){s->ctx.id, (uint32_t)peer}, 2,
               &r, NULL);
}

/* The end of a stream after on_done: on_log, on_delete, and the context is gone. */
static void pw_stream_finish(struct pw_stream *s)
{
    struct pw_vm *vm = s->ctx.vm;
    uint64_t r, id = s->ctx.id;

    s->ctx.done_pending = false;
    pw_vm_call(vm, &s->ctx, PW_CB_LOG, &id, 1, &r, NULL);
    pw_vm_call(vm, &s->ctx, PW_CB_DELETE, &id, 1, &r, NULL);
    /* Callouts this stream started are abandoned with it. */
    pw_callouts_cancel(s->ctx.root, s->ctx.id);
    pw_ctx_destroy(&s->ctx);
}

void pw_stream_end(struct pw_stream *s)
{
    struct pw_vm *vm;
    uint64_t r = 1, id;

    if (s == NULL)
        return;
    vm = s->ctx.vm;
    id = s->ctx.id;
    if (s->ctx.done_pending) {
        /* Still waiting for proxy_done (pw_vm_free ending everything): finish now. */
        pw_stream_finish(s);
        return;
    }
    s->ctx.ending = true;
    s->ctx.done_called = false;
    int rc = pw_vm_call(vm, &s->ctx, PW_CB_DONE, &id, 1, &r, NULL);
    if (rc == 0 && (uint32_t)r == 0 && !s->ctx.done_called) {
        /*
         * on_done returned false: the plugin will call proxy_done. The host's stream is
         * gone when this returns, so the context no longer reaches it (its maps read as
         * absent); on_log and on_delete run after the callback that calls proxy_done.
         */
        s->ctx.host_stream = NULL;
        s->ctx.done_pending = true;
        return;
    }
    pw_stream_finish(s);
}

/* ---- Deferred stream actions ----------------------------------------------------------- */

void pw_deferred_free(struct pw_deferred *d)
{
    while (d != NULL) {
        struct pw_deferred *next = d->next;
        pw_buf_free(&d->details);
        pw_buf_free(&d->body);
        pw_map_free(&d->headers);
        free(d);
        d = next;
    }
}

void pw_deferred_run(struct pw_vm *vm, struct pw_deferred *list)
{
    const struct pw_host_ops *ops = vm->ops;

    for (struct pw_deferred *d = list; d != NULL; d = d->next) {
        /* The stream may have ended through an earlier action of the list. */
        struct pw_ctx *ctx = pw_vm_context(vm, d->ctx_id);
        if (ctx == NULL || vm->failed)
            continue;
        if (d->kind == PW_DEFER_DONE) {
            if (ctx->done_pending && ctx->kind == PW_CTX_STREAM)
                pw_stream_finish((struct pw_stream *)ctx);
            else if (ctx->done_pending)
                pw_root_finish((struct pw_root *)ctx);
            continue;
        }
        if (ctx->kind != PW_CTX_STREAM)
            continue;
        void *hs = ctx->host_stream;
        if (hs == NULL)
            continue; /* the host's stream has ended (waiting for proxy_done) */
        switch (d->kind) {
        case PW_DEFER_CONTINUE:
            if (ops->continue_stream != NULL)
                ops->continue_stream(vm->host, hs, d->stream_type);
            break;
        case PW_DEFER_CLOSE:
            if (ops->close_stream != NULL)
                ops->close_stream(vm->host, hs, d->stream_type);
            break;
        case PW_DEFER_DONE:
            break;
        case PW_DEFER_LOCAL_REPLY: {
            struct pw_local_response lr = {
                .status_code = d->status_code,
                .details = (const char *)d->details.data,
                .details_len = d->details.len,
                .body = d->body.data,
                .body_len = d->body.len,
                .headers = &d->headers,
                .grpc_status = d->grpc_status,
            };
            if (ops->send_local_response != NULL)
                ops->send_local_response(vm->host, hs, &lr);
            break;
        }
        }
    }
    pw_deferred_free(list);
}

/* Appends a deferred action for the effective stream context (in order of request). */
static struct pw_deferred *pw_defer(struct pw_vm *vm, enum pw_deferred_kind kind)
{
    struct pw_deferred *d = calloc(1, sizeof(*d)), **pp = &vm->deferred;

    if (d == NULL)
        return NULL;
    d->kind = kind;
    d->ctx_id = vm->effective->id;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = d;
    return d;
}

/* The effective context when it is a live stream, else NULL. */
static struct pw_ctx *pw_effective_stream(struct pw_vm *vm)
{
    struct pw_ctx *c = vm->effective;

    /* A stream whose host side has ended (waiting for proxy_done) takes no actions. */
    return c != NULL && c->kind == PW_CTX_STREAM && c->host_stream != NULL ? c : NULL;
}

static int pw_stream_op(wasm_instance_t *inst, uint64_t *slots, enum pw_deferred_kind kind,
                        uint32_t type)
{
    struct pw_vm *vm = pw_vm_of(inst);

    if (type > PW_STREAM_UPSTREAM)
        return pw_ret(slots, PW_BAD_ARGUMENT);
    if (type == PW_STREAM_UPSTREAM && kind == PW_DEFER_CONTINUE)
        return pw_ret(slots, PW_UNIMPLEMENTED); /* as Envoy */
    if (pw_effective_stream(vm) == NULL)
        return pw_ret(slots, PW_NOT_FOUND);
    struct pw_deferred *d = pw_defer(vm, kind);
    if (d == NULL)
        return pw_ret(slots, PW_INTERNAL_FAILURE);
    d->stream_type = type;
    if (kind == PW_DEFER_CLOSE && vm->effective == vm->current)
        vm->stopped = true;
    return pw_ret(slots, PW_OK);
}

PW_HOSTCALL(continue_stream)
{
    return pw_stream_op(inst, slots, PW_DEFER_CONTINUE, pw_arg(slots, 0));
}

PW_HOSTCALL(close_stream)
{
    return pw_stream_op(inst, slots, PW_DEFER_CLOSE, pw_arg(slots, 0));
}

PW_HOSTCALL(continue_request)
{
    return pw_stream_op(inst, slots, PW_DEFER_CONTINUE, PW_STREAM_REQUEST);
}

PW_HOSTCALL(continue_response)
{
    return pw_stream_op(inst, slots, PW_DEFER_CONTINUE, PW_STREAM_RESPONSE);
}

PW_HOSTCALL(clear_route_cache)
{
    /* No route cache to clear: routes are chosen after the request filters. */
    return pw_ret(slots, PW_OK);
}

/* proxy_send_local_response(status, details, details_len, body, body_len, headers,
 * headers_len, grpc_status) */
PW_HOSTCALL(send_local_response)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t dlen = pw_arg(slots, 2), blen = pw_arg(slots, 4), hlen = pw_arg(slots, 6);
    const uint8_t *details = pw_guest_ptr(vm, pw_arg(slots, 1), dlen);
    const uint8_t *body = pw_guest_ptr(vm, pw_arg(slots, 3), blen);
    const uint8_t *hdrs = pw_guest_ptr(vm, pw_arg(slots, 5), hlen);
    struct pw_map headers = {0};

    if (details == NULL || body == NULL || hdrs == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if (pw_effective_stream(vm) == NULL)
        return pw_ret(slots, PW_NOT_FOUND);
    uint32_t status = pw_arg(slots, 0);
    if (status < 100 || status > 999)
        return pw_ret(slots, PW_BAD_ARGUMENT);
    if (pw_map_parse(hdrs, hlen, &headers) != PW_OK)
        return pw_ret(slots, PW_BAD_ARGUMENT);
    struct pw_deferred *d = pw_defer(vm, PW_DEFER_LOCAL_REPLY);
    if (d == NULL || pw_buf_set(&d->details, details, dlen) != 0 ||
        pw_buf_set(&d->body, body, blen) != 0) {
        pw_map_free(&headers);
        return pw_ret(slots, PW_INTERNAL_FAILURE);
    }
    d->status_code = status;
    d->grpc_status = (int32_t)pw_arg(slots, 7);
    d->headers = headers;
    if (vm->effective == vm->current)
        vm->stopped = true;
    return pw_ret(slots, PW_OK);
}

PW_HOSTCALL(set_effective_context)
{
    struct pw_vm *vm = pw_vm_of(inst);
    struct pw_ctx *ctx = pw_vm_context(vm, pw_arg(slots, 0));

    if (ctx == NULL)
        return pw_ret(slots, PW_BAD_ARGUMENT);
    vm->effective = ctx;
    return pw_ret(slots, PW_OK);
}

PW_HOSTCALL(done)
{
    struct pw_vm *vm = pw_vm_of(inst);
    struct pw_ctx *ctx = vm->effective;

    if (ctx == NULL)
        return pw_ret(slots, PW_NOT_FOUND);
    /* A context waiting after a false on_done finishes once this callback returns; one
     * still in its on_done finishes as if on_done had returned true. A call for any other
     * context is acknowledged (OK): SDKs treat every other status as fatal. */
    if (ctx->ending && !ctx->done_pending)
        ctx->done_called = true;
    if (ctx->done_pending && pw_defer(vm, PW_DEFER_DONE) == NULL)
        return pw_ret(slots, PW_INTERNAL_FAILURE);
    return pw_ret(slots, PW_OK);
}
