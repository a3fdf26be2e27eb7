/*
 * fake.c - the fake engine and fake host of fake.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"

/* ---- Fake engine ------------------------------------------------------------------- */

static const uint8_t fake_i32s[16] = {WASM_I32, WASM_I32, WASM_I32, WASM_I32, WASM_I32, WASM_I32,
                                      WASM_I32, WASM_I32, WASM_I32, WASM_I32, WASM_I32, WASM_I32,
                                      WASM_I32, WASM_I32, WASM_I32, WASM_I32};

static struct wasm_func fake_alloc_func = {NULL, {1, 1, fake_i32s, fake_i32s}};

wasm_func_t *fake_func(fake_guest_fn fn, uint32_t nparams, uint32_t nresults)
{
    /* From a static pool, reused round-robin: no test holds more than a few at once. */
    static struct wasm_func pool[64];
    static unsigned next;
    struct wasm_func *f = &pool[__atomic_fetch_add(&next, 1, __ATOMIC_SEQ_CST) % 64];

    f->fn = fn;
    f->type.nparams = nparams;
    f->type.nresults = nresults;
    f->type.params = fake_i32s;
    f->type.results = fake_i32s;
    return f;
}

void *wasm_memory_ptr(wasm_instance_t *inst, uint64_t offset, uint64_t len)
{
    if (offset > FAKE_MEM_SIZE || len > FAKE_MEM_SIZE - offset)
        return NULL;
    return inst->mem + offset;
}

uint64_t wasm_memory_size(const wasm_instance_t *inst)
{
    return FAKE_MEM_SIZE;
}

int wasm_call(wasm_instance_t *inst, wasm_func_t *f, uint64_t *slots)
{
    inst->trap = WASM_TRAP_NONE;
    if (f->fn == NULL) {
        uint32_t size = (uint32_t)slots[0];
        if (inst->alloc_fails || inst->heap + size > FAKE_MEM_SIZE) {
            slots[0] = 0;
            return WASM_OK;
        }
        slots[0] = inst->heap;
        inst->heap += (size + 7) & ~7u;
        return WASM_OK;
    }
    int rc = f->fn(inst, slots);
    if (rc != WASM_OK && inst->trap == WASM_TRAP_NONE)
        inst->trap = WASM_TRAP_UNREACHABLE;
    return rc;
}

const struct wasm_functype *wasm_func_type(const wasm_func_t *f)
{
    return &f->type;
}

void wasm_instance_set_userdata(wasm_instance_t *inst, void *userdata)
{
    inst->userdata = userdata;
}

void *wasm_instance_userdata(const wasm_instance_t *inst)
{
    return inst->userdata;
}

enum wasm_trap wasm_instance_trap(const wasm_instance_t *inst)
{
    return inst->trap;
}

const char *wasm_instance_trap_message(const wasm_instance_t *inst)
{
    if (inst->trap == WASM_TRAP_HOST || inst->trap == WASM_TRAP_EXIT)
        return inst->trap_msg;
    return wasm_trap_message(inst->trap);
}

const char *wasm_trap_message(enum wasm_trap trap)
{
    return trap == WASM_TRAP_UNREACHABLE ? "unreachable" : "trap";
}

int32_t wasm_instance_exit_code(const wasm_instance_t *inst)
{
    return inst->exit_code;
}

size_t wasm_instance_backtrace(const wasm_instance_t *inst, char *buf, size_t len)
{
    return (size_t)snprintf(buf, len, "#0 func[3] guest_fn+0x10\n");
}

int wasm_trap_raise(wasm_instance_t *inst, const char *message)
{
    inst->trap = WASM_TRAP_HOST;
    snprintf(inst->trap_msg, sizeof(inst->trap_msg), "%s", message);
    return WASM_ERR_TRAP;
}

int wasm_exit_raise(wasm_instance_t *inst, int32_t code)
{
    inst->trap = WASM_TRAP_EXIT;
    inst->exit_code = code;
    snprintf(inst->trap_msg, sizeof(inst->trap_msg), "exit(%d)", code);
    return WASM_ERR_TRAP;
}

void wasm_instance_set_fuel(wasm_instance_t *inst, uint64_t fuel)
{
    inst->fuel = fuel;
}

void wasm_instance_set_deadline(wasm_instance_t *inst, uint64_t deadline_ns)
{
    inst->deadline_ns = deadline_ns;
}

uint64_t wasm_clock_ns(void)
{
    return 1; /* fake guests run no time */
}

void wasm_instance_free(wasm_instance_t *inst)
{
    free(inst);
}

/* The rest of the engine is not used by these tests: VMs are built by fake_vm_new. */
int wasm_engine_init(void)
{
    return WASM_OK;
}

wasm_module_t *wasm_module_load(const uint8_t *bytes, size_t len, enum wasm_status *status,
                                char *err, size_t errlen)
{
    snprintf(err, errlen, "fake engine: no modules");
    return NULL;
}

void wasm_module_free(wasm_module_t *m)
{
}

bool wasm_module_has_export_func(const wasm_module_t *m, const char *name)
{
    return false;
}

uint32_t wasm_module_import_count(const wasm_module_t *m)
{
    return 0;
}

int wasm_module_import(const wasm_module_t *m, uint32_t i, struct wasm_extern_desc *d)
{
    return WASM_ERR_ARG;
}

wasm_linker_t *wasm_linker_new(void)
{
    return NULL;
}

void wasm_linker_free(wasm_linker_t *l)
{
}

int wasm_linker_define_func(wasm_linker_t *l, const char *module, const char *name, const char *sig,
                            wasm_host_func_t fn, void *env)
{
    return WASM_ERR_ARG;
}

int wasm_instance_new(const wasm_module_t *m, const wasm_linker_t *l,
                      const struct wasm_instance_config *cfg, wasm_instance_t **out, char *err,
                      size_t errlen)
{
    return WASM_ERR_LINK;
}

int wasm_instance_start(wasm_instance_t *inst)
{
    return WASM_OK;
}

wasm_func_t *wasm_instance_export_func(wasm_instance_t *inst, const char *name)
{
    return NULL;
}

int wasm_image_new(const wasm_instance_t *inst, wasm_image_t **out, char *err, size_t errlen)
{
    return WASM_ERR_ARG;
}

void wasm_image_free(wasm_image_t *img)
{
}

uint64_t wasm_image_memory_size(const wasm_image_t *img)
{
    return 0;
}

int wasm_instance_new_from_image(const wasm_image_t *img, const wasm_linker_t *l,
                                 const struct wasm_instance_config *cfg, wasm_instance_t **out,
                                 char *err, size_t errlen)
{
    return WASM_ERR_LINK;
}

/* ---- Guest memory helpers ------------------------------------------------------------ */

void fake_put(struct pw_vm *vm, uint32_t addr, const void *data, size_t len)
{
    memcpy(vm->inst->mem + addr, data, len);
}

uint32_t fake_put_str(struct pw_vm *vm, uint32_t addr, const char *s)
{
    fake_put(vm, addr, s, strlen(s));
    return (uint32_t)strlen(s);
}

uint32_t fake_u32(struct pw_vm *vm, uint32_t addr)
{
    const uint8_t *p = vm->inst->mem + addr;
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t fake_u64(struct pw_vm *vm, uint32_t addr)
{
    return fake_u32(vm, addr) | (uint64_t)fake_u32(vm, addr + 4) << 32;
}

const uint8_t *fake_out(struct pw_vm *vm, uint32_t ptr_out, uint32_t size_out, uint32_t *len)
{
    *len = fake_u32(vm, size_out);
    return vm->inst->mem + fake_u32(vm, ptr_out);
}

uint32_t fake_hc(wasm_host_func_t fn, struct pw_vm *vm, int n, const uint64_t *args)
{
    uint64_t slots[16] = {0};

    for (int i = 0; i < n; i++)
        slots[i] = args[i];
    if (fn(vm->inst, slots, NULL) != WASM_OK)
        return 0xdead;
    return (uint32_t)slots[0];
}

/* ---- Fake host ------------------------------------------------------------------------ */

static bool fh_stream_map(void *host, void *stream, enum pw_map_type type, struct pw_map_ref *out,
                          bool *writable)
{
    struct fake_stream *s = stream;

    if (type > PW_MAP_RESPONSE_TRAILERS || !s->has_map[type])
        return false;
    *writable = !s->read_only[type];
    *out = (struct pw_map_ref){&pw_map_plain_ops, &s->maps[type]};
    return true;
}

static bool fh_stream_buffer(void *host, void *stream, enum pw_buffer_type type,
                             struct pw_buffer_ref *out, bool *eos, bool *writable)
{
    struct fake_stream *s = stream;

    if (type > PW_BUFFER_UPSTREAM_DATA || !s->has_buf[type])
        return false;
    *eos = s->eos;
    *writable = !s->read_only[type];
    *out = (struct pw_buffer_ref){&pw_buf_plain_ops, &s->bufs[type]};
    return true;
}

static const struct pw_stream_info *fh_stream_info(void *host, void *stream)
{
    return &((struct fake_stream *)stream)->info;
}

static void fh_continue(void *host, void *stream, enum pw_stream_type type)
{
    ((struct fake_stream *)stream)->continued[type]++;
}

static void fh_close(void *host, void *stream, enum pw_stream_type type)
{
    ((struct fake_stream *)stream)->closed[type]++;
}

static void fh_local_reply(void *host, void *stream, const struct pw_local_response *r)
{
    struct fake_stream *s = stream;

    s->local_replies++;
    s->reply_status = r->status_code;
    s->reply_grpc = r->grpc_status;
    pw_buf_set(&s->reply_body, r->body, r->body_len);
    pw_buf_set(&s->reply_details, r->details, r->details_len);
    pw_map_copy(&s->reply_headers, r->headers);
}

static enum pw_status fh_http_call(void *host, struct pw_root *root, uint32_t token,
                                   const struct pw_http_call *call)
{
    struct fake_host *h = host;

    if (h->call_result != PW_OK)
        return h->call_result;
    h->calls++;
    h->last_token = token;
    snprintf(h->last_upstream, sizeof(h->last_upstream), "%s", call->upstream);
    pw_map_copy(&h->last_call_headers, call->headers);
    pw_buf_set(&h->last_call_body, call->body, call->body_len);
    h->last_timeout = call->timeout_ms;
    return PW_OK;
}

static bool fh_upstream_exists(void *host, struct pw_vm *vm, const char *name)
{
    struct fake_host *h = host;

    h->exists_calls++;
    h->exists_vm = vm;
    if (h->upstreams == NULL)
        return true;
    for (const char *const *u = h->upstreams; *u != NULL; u++)
        if (strcmp(*u, name) == 0)
            return true;
    return false;
}

static void fh_trace(void *host, const struct pw_trace *t)
{
    struct fake_host *h = host;

    h->traces++;
    h->trace = *t;
    snprintf(h->trace_plugin, sizeof(h->trace_plugin), "%s", t->plugin);
    snprintf(h->trace_hostcall, sizeof(h->trace_hostcall), "%s", t->hostcall);
    snprintf(h->trace_args, sizeof(h->trace_args), "%s", t->args);
    snprintf(h->trace_results, sizeof(h->trace_results), "%s", t->results);
    h->trace.plugin = h->trace_plugin;
    h->trace.hostcall = h->trace_hostcall;
    h->trace.args = h->trace_args;
    h->trace.results = h->trace_results;
}

static void fh_cancel(void *host, struct pw_root *root, uint32_t token)
{
    struct fake_host *h = host;

    h->cancels++;
    h->last_cancelled = token;
}

static void fh_tick(void *host, struct pw_root *root, uint32_t period)
{
    struct fake_host *h = host;

    h->tick_calls++;
    h->tick_period = period;
}

static void fh_post(void *host, struct pw_vm *vm, uint32_t ctx, uint32_t queue)
{
    struct fake_host *h = host;

    /* May be called from several producer threads at once. */
    __atomic_fetch_add(&h->posts, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&h->post_vm, vm, __ATOMIC_SEQ_CST);
    __atomic_store_n(&h->post_ctx, ctx, __ATOMIC_SEQ_CST);
    __atomic_store_n(&h->post_queue, queue, __ATOMIC_SEQ_CST);
}

static enum pw_status fh_get_property(void *host, struct pw_vm *vm, void *stream, const char *path,
                                      size_t len, struct pw_buf *out)
{
    if (len == 9 && memcmp(path, "host\0only", 9) == 0)
        return pw_buf_set(out, "yes", 3) == 0 ? PW_OK : PW_INTERNAL_FAILURE;
    return PW_NOT_FOUND;
}

static void fh_log(void *host, enum pw_log_level level, const char *line, size_t len)
{
    struct fake_host *h = host;

    if (h->nlog == FAKE_MAX_LOG)
        return;
    h->log_levels[h->nlog] = level;
    h->log[h->nlog++] = strndup(line, len);
}

static enum pw_log_level fh_log_level(void *host)
{
    return ((struct fake_host *)host)->level;
}

static uint64_t fh_clock(void *host, bool monotonic)
{
    return ((struct fake_host *)host)->now_ns + (monotonic ? 1 : 0);
}

static void fh_failed(void *host, struct pw_vm *vm, const char *plugin, const char *callback,
                      const char *reason, const char *backtrace)
{
    struct fake_host *h = host;

    h->failures++;
    snprintf(h->failed_callback, sizeof(h->failed_callback), "%s", callback);
    snprintf(h->failed_reason, sizeof(h->failed_reason), "%s", reason);
}

static void fh_root_deleted(void *host, struct pw_root *root)
{
    struct fake_host *h = host;

    h->roots_deleted++;
    h->last_deleted_root = root;
}

const struct pw_host_ops fake_ops = {
    .stream_map = fh_stream_map,
    .stream_buffer = fh_stream_buffer,
    .stream_info = fh_stream_info,
    .continue_stream = fh_continue,
    .close_stream = fh_close,
    .send_local_response = fh_local_reply,
    .http_call = fh_http_call,
    .cancel_http_call = fh_cancel,
    .set_tick_period = fh_tick,
    .post_queue_ready = fh_post,
    .get_property = fh_get_property,
    .log = fh_log,
    .log_level = fh_log_level,
    .clock_ns = fh_clock,
    .vm_failed = fh_failed,
    .root_deleted = fh_root_deleted,
    .upstream_exists = fh_upstream_exists,
    .trace = fh_trace,
};

void fake_host_init(struct fake_host *h)
{
    memset(h, 0, sizeof(*h));
    h->level = PW_LOG_TRACE;
    h->now_ns = 1700000000000000000ull;
}

void fake_host_free(struct fake_host *h)
{
    for (int i = 0; i < h->nlog; i++)
        free(h->log[i]);
    pw_map_free(&h->last_call_headers);
    pw_buf_free(&h->last_call_body);
}

bool fake_logged(const struct fake_host *h, const char *needle)
{
    for (int i = 0; i < h->nlog; i++)
        if (strstr(h->log[i], needle) != NULL)
            return true;
    return false;
}

void fake_stream_init(struct fake_stream *s)
{
    memset(s, 0, sizeof(*s));
}

void fake_stream_free(struct fake_stream *s)
{
    for (int i = 0; i < 4; i++) {
        pw_map_free(&s->maps[i]);
        pw_buf_free(&s->bufs[i]);
    }
    pw_buf_free(&s->reply_body);
    pw_buf_free(&s->reply_details);
    pw_map_free(&s->reply_headers);
}

struct pw_vm *fake_vm_new(struct fake_host *h, const char *vm_id, enum pw_abi_version abi)
{
    /* Modules from a static pool (a test may change its VM's ABI). */
    static struct pw_module modules[64];
    static unsigned next;
    struct pw_module *m = &modules[__atomic_fetch_add(&next, 1, __ATOMIC_SEQ_CST) % 64];
    struct pw_vm *vm = calloc(1, sizeof(*vm));

    m->abi = abi;
    vm->module = m;
    vm->ops = &fake_ops;
    vm->host = h;
    vm->vm_id = strdup(vm_id);
    vm->ns = strdup(vm_id);
    vm->name = strdup(vm_id);
    vm->cb = PW_CB_NONE;
    vm->next_context_id = 1;
    vm->next_token = 4;
    vm->inst = calloc(1, sizeof(*vm->inst));
    vm->inst->heap = FAKE_HEAP_BASE;
    vm->inst->userdata = vm;
    vm->funcs[PW_CB_MEMORY_ALLOCATE] = &fake_alloc_func;
    return vm;
}

struct pw_vm *fake_sandbox_new(struct fake_host *h, const char *vm_id)
{
    static unsigned sandboxes;
    struct pw_vm *vm = fake_vm_new(h, vm_id, PW_ABI_0_2_1);
    char ns[256];
    snprintf(ns, sizeof(ns),
             "\x01"
             "fake sandbox %u\x01%s",
             ++sandboxes, vm_id);
    free(vm->ns);
    vm->ns = strdup(ns);
    vm->sandbox = true;
    return vm;
}

struct pw_root *fake_root_new(struct pw_vm *vm, const char *name, const char *config)
{
    char err[256];
    struct pw_plugin_config pc = {
        .name = name,
        .root_id = "rid",
        .configuration = (const uint8_t *)config,
        .configuration_len = config != NULL ? strlen(config) : 0,
    };

    return pw_root_new(vm, &pc, err, sizeof(err));
}

void fake_enter(struct pw_vm *vm, struct pw_ctx *ctx, enum pw_cb cb)
{
    vm->current = vm->effective = ctx;
    vm->cb = cb;
}

int fake_env_setup(void **state)
{
    struct fake_env *e = calloc(1, sizeof(*e));

    fake_host_init(&e->host);
    fake_stream_init(&e->fs);
    e->vm = fake_vm_new(&e->host, "vm1", PW_ABI_0_2_1);
    e->root = fake_root_new(e->vm, "plug", "cfg");
    e->stream = pw_stream_new(e->root, &e->fs);
    e->fs.has_map[PW_MAP_REQUEST_HEADERS] = true;
    pw_map_add(&e->fs.maps[0], ":path", 5, "/a?b=1", 6);
    pw_map_add(&e->fs.maps[0], "X-Foo", 5, "one", 3);
    pw_map_add(&e->fs.maps[0], "x-foo", 5, "two", 3);
    fake_enter(e->vm, &e->stream->ctx, PW_CB_REQUEST_HEADERS);
    *state = e;
    return 0;
}

int fake_env_teardown(void **state)
{
    struct fake_env *e = *state;

    pw_vm_free(e->vm);
    fake_stream_free(&e->fs);
    fake_host_free(&e->host);
    free(e);
    return 0;
}

/* ---- Every proxy-wasm hostcall -------------------------------------------------- */

#define H(name, n)                                                                                 \
    {                                                                                              \
#name, pw_hc_##name, n                                                                     \
    }
const struct fake_hostcall fake_hostcalls[] = {
    H(log, 3),
    H(get_log_level, 1),
    H(get_current_time_nanoseconds, 1),
    H(set_tick_period_milliseconds, 1),
    H(get_buffer_bytes, 5),
    H(set_buffer_bytes, 5),
    H(get_buffer_status, 3),
    H(get_configuration, 2),
    H(get_header_map_size, 2),
    H(get_header_map_pairs, 3),
    H(set_header_map_pairs, 3),
    H(get_header_map_value, 5),
    H(add_header_map_value, 5),
    H(replace_header_map_value, 5),
    H(remove_header_map_value, 3),
    H(continue_stream, 1),
    H(close_stream, 1),
    H(continue_request, 0),
    H(continue_response, 0),
    H(send_local_response, 8),
    H(set_effective_context, 1),
    H(done, 0),
    H(clear_route_cache, 0),
    H(http_call, 10),
    H(get_status, 3),
    H(grpc_call, 12),
    H(grpc_stream, 9),
    H(grpc_send, 4),
    H(grpc_cancel, 1),
    H(grpc_close, 1),
    H(call_foreign_function, 6),
    H(set_shared_data, 5),
    H(get_shared_data, 5),
    H(register_shared_queue, 3),
    H(resolve_shared_queue, 5),
    H(enqueue_shared_queue, 3),
    H(dequeue_shared_queue, 3),
    H(define_metric, 4),
    H(record_metric, 2),
    H(increment_metric, 2),
    H(get_metric, 2),
    H(get_property, 4),
    H(set_property, 4),
};
const size_t fake_nhostcalls = sizeof(fake_hostcalls) / sizeof(fake_hostcalls[0]);

/* ---- Calls with arbitrary arguments ------------------------------------------------- */

void fake_args_init(struct fake_env *e, struct fake_args *a)
{
    struct pw_map m = {0};

    memset(a, 0, sizeof(*a));
    pw_map_add(&m, ":method", 7, "GET", 3);
    pw_map_add(&m, ":path", 5, "/", 1);
    pw_map_add(&m, ":authority", 10, "a", 1);
    a->map_len = pw_map_serialized_size(&m);
    pw_map_serialize(&m, a->map);
    pw_map_free(&m);
    e->fs.has_map[2] = true;
    e->fs.has_buf[0] = true;
    pw_buf_set(&e->fs.bufs[0], "body bytes", 10);
    pw_map_add(&a->resp.headers, ":status", 7, "200", 3);
}

void fake_args_enter(struct fake_env *e, struct fake_args *a, struct pw_ctx *ctx, enum pw_cb cb,
                     bool in_call_response, bool with_response, bool ending)
{
    fake_put(e->vm, 0x1000, a->map, a->map_len);
    fake_put_str(e->vm, 0x100, "x-some-key");
    e->vm->inst->heap = FAKE_HEAP_BASE;
    fake_enter(e->vm, ctx, cb);
    e->vm->in_call_response = in_call_response;
    e->vm->call_response = with_response ? &a->resp : NULL;
    e->vm->status_code = PW_OK;
    e->vm->status_message = "OK";
    e->stream->ctx.ending = ending;
}

uint32_t fake_args_call(struct fake_env *e, const struct fake_hostcall *h, uint64_t *slots,
                        bool traced)
{
    int rc;

    if (traced) {
        char name[64];
        snprintf(name, sizeof(name), "proxy_%s", h->name);
        const struct pw_import *imp = pw_import_find(name);
        if (imp == NULL)
            abort(); /* fake_hostcalls names a hostcall vm.c does not import */
        rc = pw_hc_trace(e->vm->inst, slots, (void *)imp);
    } else {
        rc = h->fn(e->vm->inst, slots, NULL);
    }
    struct pw_deferred *d = e->vm->deferred;
    e->vm->deferred = NULL;
    pw_deferred_run(e->vm, d);
    return rc == WASM_OK ? (uint32_t)slots[0] : 0xdead;
}

void fake_args_free(struct fake_env *e, struct fake_args *a)
{
    e->vm->in_call_response = false;
    e->vm->call_response = NULL;
    e->stream->ctx.ending = false;
    fake_enter(e->vm, &e->stream->ctx, PW_CB_REQUEST_HEADERS);
    pw_map_free(&a->resp.headers);
}
