/*
 * test_context.c - unit tests of hostcalls/context.c and the callback machinery of vm.c:
 * deferred stream actions, effective contexts, the end-of-stream order, callback results,
 * traps and proc_exit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake.h"

#define M 0x1000u
#define T 0x100u

static struct fake_env *cur; /* the fixture, for the guest functions */
static char order[128];      /* callbacks seen, in order */
static int seen_during;      /* host-side effects observed inside a callback */
static uint32_t status_seen;

static int setup(void **state)
{
    fake_env_setup(state);
    cur = *state;
    order[0] = '\0';
    seen_during = -1;
    status_seen = 0xffff;
    return 0;
}

/* ---- guest functions ------------------------------------------------------------- */

static int g_local_reply(wasm_instance_t *inst, uint64_t *slots)
{
    struct pw_vm *vm = pw_vm_of(inst);
    struct pw_map h = {0};
    uint8_t buf[64];

    pw_map_add(&h, "x-why", 5, "denied", 6);
    size_t n = pw_map_serialized_size(&h);
    pw_map_serialize(&h, buf);
    pw_map_free(&h);
    fake_put(vm, M, buf, n);
    fake_put(vm, T, "nope", 4);
    fake_put(vm, T + 8, "body!", 5);
    status_seen = HC(send_local_response, vm, 403, T, 4, T + 8, 5, M, n, -1);
    seen_during = cur->fs.local_replies;
    slots[0] = 0; /* returns Continue, but the reply forces a stop */
    return WASM_OK;
}

static int g_tick_resumes_stream(wasm_instance_t *inst, uint64_t *slots)
{
    struct pw_vm *vm = pw_vm_of(inst);

    status_seen = HC(set_effective_context, vm, cur->stream->ctx.id);
    if (status_seen == PW_OK)
        status_seen = HC(continue_stream, vm, PW_STREAM_REQUEST);
    seen_during = cur->fs.continued[0];
    return WASM_OK;
}

static int g_done(wasm_instance_t *inst, uint64_t *slots)
{
    strcat(order, "done,");
    slots[0] = 1;
    return WASM_OK;
}

static int g_log(wasm_instance_t *inst, uint64_t *slots)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t kl = fake_put_str(vm, T, "k");

    strcat(order, "log,");
    /* Maps are read-only in on_log: a write is acknowledged and dropped. */
    uint32_t before = cur->fs.maps[0].count;
    status_seen = HC(add_header_map_value, vm, 0, T, kl, T, kl);
    seen_during = cur->fs.maps[0].count != before;
    return WASM_OK;
}

static int g_delete(wasm_instance_t *inst, uint64_t *slots)
{
    strcat(order, "delete");
    return WASM_OK;
}

static int g_trap(wasm_instance_t *inst, uint64_t *slots)
{
    return wasm_trap_raise(inst, "boom");
}

static int g_return_1(wasm_instance_t *inst, uint64_t *slots)
{
    slots[0] = 1;
    return WASM_OK;
}

static int g_return_0(wasm_instance_t *inst, uint64_t *slots)
{
    slots[0] = 0;
    return WASM_OK;
}

static uint64_t returned; /* what g_return returns */

static int g_return(wasm_instance_t *inst, uint64_t *slots)
{
    slots[0] = returned;
    return WASM_OK;
}

static int g_exit_0(wasm_instance_t *inst, uint64_t *slots)
{
    return wasm_exit_raise(inst, 0);
}

/* ---- tests ------------------------------------------------------------------------ */

static void a_local_reply_is_sent_after_the_callback_and_stops_the_stream(void **state)
{
    struct fake_env *e = *state;

    e->vm->funcs[PW_CB_REQUEST_HEADERS] = fake_func(g_local_reply, 3, 1);
    assert_int_equal(pw_stream_request_headers(e->stream, 3, true), PW_ACTION_PAUSE);
    assert_int_equal(status_seen, PW_OK);
    assert_int_equal(seen_during, 0); /* not yet inside the callback */
    assert_int_equal(e->fs.local_replies, 1);
    assert_int_equal(e->fs.reply_status, 403);
    assert_int_equal(e->fs.reply_grpc, -1);
    assert_int_equal(e->fs.reply_body.len, 5);
    assert_memory_equal(e->fs.reply_body.data, "body!", 5);
    assert_memory_equal(e->fs.reply_details.data, "nope", 4);
    assert_string_equal(pw_map_value(&e->fs.reply_headers, "x-why"), "denied");
}

static void continue_from_a_root_callback_acts_on_the_effective_stream(void **state)
{
    struct fake_env *e = *state;

    e->vm->funcs[PW_CB_TICK] = fake_func(g_tick_resumes_stream, 1, 0);
    fake_enter(e->vm, NULL, PW_CB_NONE);
    pw_root_tick(e->root);
    assert_int_equal(status_seen, PW_OK);
    assert_int_equal(seen_during, 0);
    assert_int_equal(e->fs.continued[PW_STREAM_REQUEST], 1);
    assert_null(e->vm->effective); /* restored after the call */
}

static void stream_actions_check_their_arguments(void **state)
{
    struct fake_env *e = *state;

    assert_int_equal(HC(continue_stream, e->vm, 9), PW_BAD_ARGUMENT);
    assert_int_equal(HC(continue_stream, e->vm, PW_STREAM_UPSTREAM), PW_UNIMPLEMENTED);
    assert_int_equal(HC(close_stream, e->vm, 7), PW_BAD_ARGUMENT);
    assert_int_equal(HC(set_effective_context, e->vm, 999), PW_BAD_ARGUMENT);
    assert_int_equal(HC(send_local_response, e->vm, 42, 0, 0, 0, 0, 0, 0, -1), PW_BAD_ARGUMENT);
    assert_int_equal(HC(send_local_response, e->vm, 200, 0xfff0, 0x100, 0, 0, 0, 0, -1),
                     PW_INVALID_MEMORY_ACCESS);
    fake_enter(e->vm, &e->root->ctx, PW_CB_TICK);
    assert_int_equal(HC(continue_stream, e->vm, PW_STREAM_REQUEST), PW_NOT_FOUND);
    assert_int_equal(HC(send_local_response, e->vm, 200, 0, 0, 0, 0, 0, 0, -1), PW_NOT_FOUND);
    assert_null(e->vm->deferred);
}

static void a_stream_ends_with_done_then_log_then_delete(void **state)
{
    struct fake_env *e = *state;

    e->vm->funcs[PW_CB_DONE] = fake_func(g_done, 1, 1);
    e->vm->funcs[PW_CB_LOG] = fake_func(g_log, 1, 0);
    e->vm->funcs[PW_CB_DELETE] = fake_func(g_delete, 1, 0);
    uint32_t id = e->stream->ctx.id;
    pw_stream_end(e->stream);
    e->stream = NULL;
    assert_string_equal(order, "done,log,delete");
    assert_int_equal(status_seen, PW_OK);
    assert_int_equal(seen_during, 0); /* the map did not change */
    assert_null(pw_vm_context(e->vm, id));
}

static void callback_results_map_to_actions(void **state)
{
    struct fake_env *e = *state;

    /* Not exported: continue. */
    assert_int_equal(pw_stream_request_body(e->stream, 10, false), PW_ACTION_CONTINUE);
    e->vm->funcs[PW_CB_REQUEST_BODY] = fake_func(g_return_1, 3, 1);
    assert_int_equal(pw_stream_request_body(e->stream, 10, false), PW_ACTION_PAUSE);
    e->vm->funcs[PW_CB_REQUEST_BODY] = fake_func(g_return_0, 3, 1);
    assert_int_equal(pw_stream_request_body(e->stream, 10, true), PW_ACTION_CONTINUE);
}

/* The C++ SDK's richer values, converted as cpp-host and Envoy's Wasm filter do. */
static void richer_sdk_results_map_as_envoy_does(void **state)
{
    struct fake_env *e = *state;
    static const struct {
        enum pw_cb cb;
        uint64_t r;
        enum pw_action want;
    } cases[] = {
        {PW_CB_REQUEST_BODY, 1, PW_ACTION_PAUSE},            /* StopIterationAndBuffer */
        {PW_CB_REQUEST_BODY, 2, PW_ACTION_PAUSE_WATERMARK},  /* StopIterationAndWatermark */
        {PW_CB_RESPONSE_BODY, 3, PW_ACTION_PAUSE_NO_BUFFER}, /* StopIterationNoBuffer */
        {PW_CB_RESPONSE_BODY, 9, PW_ACTION_PAUSE_NO_BUFFER}, /* > 3: cpp-host's NoBuffer */
        {PW_CB_REQUEST_HEADERS, 1, PW_ACTION_PAUSE},         /* StopIteration: stop all */
        {PW_CB_REQUEST_HEADERS, 2, PW_ACTION_CONTINUE},      /* ContinueAndEndStream */
        {PW_CB_RESPONSE_HEADERS, 3, PW_ACTION_PAUSE_BUFFER}, /* StopAllIterationAndBuffer */
        {PW_CB_RESPONSE_HEADERS, 4, PW_ACTION_PAUSE},        /* StopAllIterationAndWatermark */
        {PW_CB_REQUEST_HEADERS, 7, PW_ACTION_PAUSE},
        {PW_CB_REQUEST_TRAILERS, 3, PW_ACTION_PAUSE},
        {PW_CB_RESPONSE_TRAILERS, 0, PW_ACTION_CONTINUE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        returned = cases[i].r;
        bool headers =
            cases[i].cb == PW_CB_REQUEST_HEADERS || cases[i].cb == PW_CB_RESPONSE_HEADERS;
        bool body = cases[i].cb == PW_CB_REQUEST_BODY || cases[i].cb == PW_CB_RESPONSE_BODY;
        e->vm->funcs[cases[i].cb] = fake_func(g_return, headers || body ? 3 : 2, 1);
        enum pw_action a;
        switch (cases[i].cb) {
        case PW_CB_REQUEST_BODY:
            a = pw_stream_request_body(e->stream, 4, false);
            break;
        case PW_CB_RESPONSE_BODY:
            a = pw_stream_response_body(e->stream, 4, false);
            break;
        case PW_CB_REQUEST_HEADERS:
            a = pw_stream_request_headers(e->stream, 1, false);
            break;
        case PW_CB_RESPONSE_HEADERS:
            a = pw_stream_response_headers(e->stream, 1, false);
            break;
        case PW_CB_REQUEST_TRAILERS:
            a = pw_stream_request_trailers(e->stream, 1);
            break;
        default:
            a = pw_stream_response_trailers(e->stream, 1);
            break;
        }
        assert_int_equal(a, cases[i].want);
    }
    /* ContinueAndEndStream is reported once per VM. */
    returned = 2;
    e->vm->funcs[PW_CB_REQUEST_HEADERS] = fake_func(g_return, 3, 1);
    pw_stream_request_headers(e->stream, 1, false);
    int n = 0;
    for (int i = 0; i < e->host.nlog; i++)
        n += strstr(e->host.log[i], "ContinueAndEndStream (2): the stream goes on") != NULL;
    assert_int_equal(n, 1);
}

static void a_trap_fails_the_vm_and_is_reported(void **state)
{
    struct fake_env *e = *state;

    e->vm->funcs[PW_CB_REQUEST_BODY] = fake_func(g_trap, 3, 1);
    assert_int_equal(pw_stream_request_body(e->stream, 1, true), PW_ACTION_FAILED);
    assert_true(pw_vm_failed(e->vm));
    assert_int_equal(e->host.failures, 1);
    assert_string_equal(e->host.failed_callback, "proxy_on_request_body");
    assert_string_equal(e->host.failed_reason, "boom");
    const char *f = pw_vm_failure(e->vm);
    assert_non_null(strstr(f, "plugin plug: proxy_on_request_body failed: boom"));
    assert_non_null(strstr(f, "#0 func[3]"));
    assert_true(fake_logged(&e->host, "proxy_on_request_body failed: boom"));
    /* Everything after is refused without running the guest. */
    assert_int_equal(pw_stream_request_headers(e->stream, 1, true), PW_ACTION_FAILED);
    assert_null(pw_stream_new(e->root, &e->fs));
    assert_int_equal(e->host.failures, 1);
}

static void proc_exit_0_is_success_only_during_start(void **state)
{
    struct fake_env *e = *state;
    uint64_t r;

    e->vm->funcs[PW_CB_START] = fake_func(g_exit_0, 0, 0);
    e->vm->starting = true;
    assert_int_equal(pw_vm_call(e->vm, NULL, PW_CB_START, NULL, 0, &r, NULL), 0);
    e->vm->starting = false;
    assert_false(pw_vm_failed(e->vm));
    e->vm->funcs[PW_CB_TICK] = fake_func(g_exit_0, 1, 0);
    pw_root_tick(e->root);
    assert_true(pw_vm_failed(e->vm));
    assert_string_equal(e->host.failed_reason, "proc_exit(0)");
}

static void a_root_refusing_its_configuration_is_not_created(void **state)
{
    struct fake_env *e = *state;
    struct pw_plugin_config pc = {.name = "second", .root_id = "r2"};
    char err[256];

    e->vm->funcs[PW_CB_CONFIGURE] = fake_func(g_return_0, 2, 1);
    assert_null(pw_root_new(e->vm, &pc, err, sizeof(err)));
    assert_string_equal(err, "plugin second: proxy_on_configure returned false");
    e->vm->funcs[PW_CB_CONFIGURE] = fake_func(g_return_1, 2, 1);
    struct pw_root *r = pw_root_new(e->vm, &pc, err, sizeof(err));
    assert_non_null(r);
    /* Context ids are never reused: root 1, stream 2, refused root 3, this one 4. */
    assert_int_equal(pw_root_context_id(r), 4);
}

static void thousands_of_streams_are_found_by_id_as_they_come_and_go(void **state)
{
    struct fake_env *e = *state;
    enum { N = 5000 };
    static struct pw_stream *streams[N];
    uint32_t base = pw_stream_context_id(e->stream) + 1;

    for (int i = 0; i < N; i++) {
        streams[i] = pw_stream_new(e->root, &e->fs);
        assert_non_null(streams[i]);
        assert_int_equal(pw_stream_context_id(streams[i]), base + (uint32_t)i);
    }
    /* End two thirds of them, in a scattered order. */
    for (int k = 0; k < N; k++) {
        int i = (int)(((uint64_t)k * 7919) % N);
        if (i % 3 != 0) {
            pw_stream_end(streams[i]);
            streams[i] = NULL;
        }
    }
    for (int i = 0; i < N; i++) {
        struct pw_ctx *c = pw_vm_context(e->vm, base + (uint32_t)i);
        if (i % 3 == 0)
            assert_ptr_equal(c, &streams[i]->ctx);
        else
            assert_null(c);
    }
    /* set_effective_context sees exactly the live ones. */
    assert_int_equal(HC(set_effective_context, e->vm, base + 3), PW_OK);
    assert_int_equal(HC(set_effective_context, e->vm, base + 4), PW_BAD_ARGUMENT);
    assert_int_equal(HC(set_effective_context, e->vm, base + N), PW_BAD_ARGUMENT);
}

static int g_done_false(wasm_instance_t *inst, uint64_t *slots)
{
    strcat(order, "done,");
    slots[0] = 0; /* not yet: the plugin will call proxy_done */
    return WASM_OK;
}

static uint32_t waiting_stream, done_status;

/* A root callback (tick) that completes the waiting stream. */
static int g_tick_calls_done(wasm_instance_t *inst, uint64_t *slots)
{
    struct pw_vm *vm = pw_vm_of(inst);

    strcat(order, "tick,");
    done_status = HC(set_effective_context, vm, waiting_stream);
    if (done_status == PW_OK)
        done_status = HC0(done, vm);
    if (pw_vm_context(vm, waiting_stream) != NULL)
        strcat(order, "still-there,"); /* on_log/on_delete wait for the callback's end */
    return WASM_OK;
}

static void a_false_on_done_waits_for_proxy_done(void **state)
{
    struct fake_env *e = *state;

    e->vm->funcs[PW_CB_DONE] = fake_func(g_done_false, 1, 1);
    e->vm->funcs[PW_CB_LOG] = fake_func(g_log, 1, 0);
    e->vm->funcs[PW_CB_DELETE] = fake_func(g_delete, 1, 0);
    e->vm->funcs[PW_CB_TICK] = fake_func(g_tick_calls_done, 1, 0);
    waiting_stream = e->stream->ctx.id;
    fake_enter(e->vm, NULL, PW_CB_NONE);
    pw_stream_end(e->stream);
    e->stream = NULL;
    assert_string_equal(order, "done,");
    assert_non_null(pw_vm_context(e->vm, waiting_stream));
    /* The host's stream is gone: nothing reaches it any more. */
    e->fs.has_map[0] = true;
    fake_enter(e->vm, pw_vm_context(e->vm, waiting_stream), PW_CB_TICK);
    uint32_t kl = fake_put_str(e->vm, 0x100, ":path");
    assert_int_equal(HC(get_header_map_value, e->vm, 0, 0x100, kl, 0x300, 0x304), PW_NOT_FOUND);
    assert_int_equal(HC(continue_stream, e->vm, 0), PW_NOT_FOUND);
    fake_enter(e->vm, NULL, PW_CB_NONE);
    pw_root_tick(e->root);
    assert_int_equal(done_status, PW_OK);
    assert_string_equal(order, "done,tick,still-there,log,delete");
    assert_null(pw_vm_context(e->vm, waiting_stream));
    /* proxy_done on a context that waits for nothing is acknowledged, harmlessly. */
    fake_enter(e->vm, &e->root->ctx, PW_CB_TICK);
    assert_int_equal(HC0(done, e->vm), PW_OK);
    assert_null(e->vm->deferred);
}

static void a_vm_freed_while_a_stream_waits_for_proxy_done_finishes_it(void **state)
{
    struct fake_env *e = *state;

    e->vm->funcs[PW_CB_DONE] = fake_func(g_done_false, 1, 1);
    e->vm->funcs[PW_CB_LOG] = fake_func(g_log, 1, 0);
    e->vm->funcs[PW_CB_DELETE] = fake_func(g_delete, 1, 0);
    pw_stream_end(e->stream);
    e->stream = NULL;
    pw_vm_free(e->vm);
    e->vm = fake_vm_new(&e->host, "vm1", PW_ABI_0_2_1); /* for the teardown */
    /* The stream finishes (log, delete), then the root ends (done, delete). */
    assert_string_equal(order, "done,log,deletedone,delete");
}

/* A root tick that completes the root itself (effective context: the root). */
static int g_root_tick_calls_done(wasm_instance_t *inst, uint64_t *slots)
{
    struct pw_vm *vm = pw_vm_of(inst);

    strcat(order, "tick,");
    done_status = HC0(done, vm);
    return WASM_OK;
}

static void a_root_returning_false_from_on_done_lives_until_proxy_done(void **state)
{
    struct fake_env *e = *state;
    struct pw_root *root = e->root;
    uint32_t id = root->ctx.id;

    pw_stream_end(e->stream);
    e->stream = NULL;
    e->vm->funcs[PW_CB_DONE] = fake_func(g_done_false, 1, 1);
    e->vm->funcs[PW_CB_DELETE] = fake_func(g_delete, 1, 0);
    e->vm->funcs[PW_CB_TICK] = fake_func(g_root_tick_calls_done, 1, 0);
    fake_enter(e->vm, &root->ctx, PW_CB_CONFIGURE);
    assert_int_equal(HC(set_tick_period_milliseconds, e->vm, 5), PW_OK);
    fake_enter(e->vm, NULL, PW_CB_NONE);
    order[0] = '\0';

    assert_false(pw_root_shutdown(root));
    assert_string_equal(order, "done,");
    /* Still alive: its tick is still armed, the host still holds it. */
    assert_ptr_equal(pw_vm_context(e->vm, id), &root->ctx);
    assert_int_equal(e->host.tick_period, 5);
    assert_int_equal(e->host.roots_deleted, 0);
    /* Asking again runs nothing. */
    assert_false(pw_root_shutdown(root));
    assert_string_equal(order, "done,");
    /* No new streams on a root that is shutting down. */
    assert_null(pw_stream_new(root, &e->fs));

    pw_root_tick(root);
    assert_int_equal(done_status, PW_OK);
    assert_string_equal(order, "done,tick,delete");
    assert_null(pw_vm_context(e->vm, id));
    assert_int_equal(e->host.roots_deleted, 1);
    assert_ptr_equal(e->host.last_deleted_root, root);
    assert_int_equal(e->host.tick_period, 0);
    e->root = NULL;
}

static void a_root_returning_true_from_on_done_is_deleted_at_once(void **state)
{
    struct fake_env *e = *state;
    uint32_t id = e->root->ctx.id;

    pw_stream_end(e->stream);
    e->stream = NULL;
    e->vm->funcs[PW_CB_DONE] = fake_func(g_done, 1, 1);
    e->vm->funcs[PW_CB_DELETE] = fake_func(g_delete, 1, 0);
    order[0] = '\0';
    assert_true(pw_root_shutdown(e->root));
    assert_string_equal(order, "done,delete");
    assert_null(pw_vm_context(e->vm, id));
    assert_int_equal(e->host.roots_deleted, 1);
    e->root = NULL;
}

/* on_done returns false but already called proxy_done: nothing left to wait for. */
static int g_done_false_after_proxy_done(wasm_instance_t *inst, uint64_t *slots)
{
    strcat(order, "done,");
    done_status = HC0(done, pw_vm_of(inst));
    slots[0] = 0;
    return WASM_OK;
}

static void proxy_done_inside_on_done_completes_the_context(void **state)
{
    struct fake_env *e = *state;
    uint32_t sid = e->stream->ctx.id, rid = e->root->ctx.id;

    e->vm->funcs[PW_CB_DONE] = fake_func(g_done_false_after_proxy_done, 1, 1);
    e->vm->funcs[PW_CB_DELETE] = fake_func(g_delete, 1, 0);
    e->vm->funcs[PW_CB_LOG] = fake_func(g_log, 1, 0);
    order[0] = '\0';
    pw_stream_end(e->stream);
    e->stream = NULL;
    assert_string_equal(order, "done,log,delete");
    assert_null(pw_vm_context(e->vm, sid));
    order[0] = '\0';
    assert_true(pw_root_shutdown(e->root));
    assert_string_equal(order, "done,delete");
    assert_null(pw_vm_context(e->vm, rid));
    e->root = NULL;
}

/* A VM freed while its root waits for proxy_done ends it without waiting. */
static void a_vm_freed_while_its_root_waits_for_proxy_done_deletes_it(void **state)
{
    struct fake_env *e = *state;

    pw_stream_end(e->stream);
    e->stream = NULL;
    e->vm->funcs[PW_CB_DONE] = fake_func(g_done_false, 1, 1);
    e->vm->funcs[PW_CB_DELETE] = fake_func(g_delete, 1, 0);
    order[0] = '\0';
    assert_false(pw_root_shutdown(e->root));
    pw_vm_free(e->vm);
    e->vm = fake_vm_new(&e->host, "vm1", PW_ABI_0_2_1); /* for the teardown */
    e->root = NULL;
    assert_string_equal(order, "done,delete");
    assert_int_equal(e->host.roots_deleted, 1);
}

/* TCP callbacks: record their arguments; downstream data reads buffer 2 and pauses. */
static uint64_t tcp_args[3];
static uint32_t tcp_read_status;

static int g_new_connection(wasm_instance_t *inst, uint64_t *slots)
{
    strcat(order, "new,");
    tcp_args[0] = slots[0];
    slots[0] = 0;
    return WASM_OK;
}

static int g_downstream_data(wasm_instance_t *inst, uint64_t *slots)
{
    struct pw_vm *vm = pw_vm_of(inst);

    strcat(order, "down,");
    memcpy(tcp_args, slots, sizeof(tcp_args));
    tcp_read_status = HC(get_buffer_bytes, vm, PW_BUFFER_DOWNSTREAM_DATA, 0, 100, 0x300, 0x304);
    /* The upstream direction's buffer does not exist now. */
    if (HC(get_buffer_bytes, vm, PW_BUFFER_UPSTREAM_DATA, 0, 100, 0x300, 0x308) != PW_NOT_FOUND)
        tcp_read_status = 0xbad;
    slots[0] = 1;
    return WASM_OK;
}

static int g_upstream_data(wasm_instance_t *inst, uint64_t *slots)
{
    strcat(order, "up,");
    memcpy(tcp_args, slots, sizeof(tcp_args));
    slots[0] = 0;
    return WASM_OK;
}

static int g_close(wasm_instance_t *inst, uint64_t *slots)
{
    strcat(order, "close,");
    tcp_args[0] = slots[0];
    tcp_args[1] = slots[1];
    return WASM_OK;
}

static void tcp_callbacks_get_their_arguments_and_buffers(void **state)
{
    struct fake_env *e = *state;
    uint32_t id = e->stream->ctx.id;

    fake_enter(e->vm, NULL, PW_CB_NONE);
    /* Missing callbacks continue. */
    assert_int_equal(pw_stream_new_connection(e->stream), PW_ACTION_CONTINUE);
    e->vm->funcs[PW_CB_NEW_CONNECTION] = fake_func(g_new_connection, 1, 1);
    e->vm->funcs[PW_CB_DOWNSTREAM_DATA] = fake_func(g_downstream_data, 3, 1);
    e->vm->funcs[PW_CB_UPSTREAM_DATA] = fake_func(g_upstream_data, 3, 1);
    e->vm->funcs[PW_CB_DOWNSTREAM_CLOSE] = fake_func(g_close, 2, 0);
    e->vm->funcs[PW_CB_UPSTREAM_CLOSE] = fake_func(g_close, 2, 0);

    assert_int_equal(pw_stream_new_connection(e->stream), PW_ACTION_CONTINUE);
    assert_int_equal(tcp_args[0], id);
    e->fs.has_buf[PW_BUFFER_DOWNSTREAM_DATA] = true;
    pw_buf_set(&e->fs.bufs[PW_BUFFER_DOWNSTREAM_DATA], "ping", 4);
    assert_int_equal(pw_stream_downstream_data(e->stream, 4, true), PW_ACTION_PAUSE);
    assert_int_equal(tcp_args[0], id);
    assert_int_equal(tcp_args[1], 4);
    assert_int_equal(tcp_args[2], 1);
    assert_int_equal(tcp_read_status, PW_OK);
    uint32_t len;
    const uint8_t *got = fake_out(e->vm, 0x300, 0x304, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(got, "ping", 4);
    assert_int_equal(pw_stream_upstream_data(e->stream, 7, false), PW_ACTION_CONTINUE);
    assert_int_equal(tcp_args[1], 7);
    assert_int_equal(tcp_args[2], 0);
    pw_stream_downstream_close(e->stream, 2);
    assert_int_equal(tcp_args[0], id);
    assert_int_equal(tcp_args[1], 2);
    pw_stream_upstream_close(e->stream, 1);
    assert_int_equal(tcp_args[1], 1);
    assert_string_equal(order, "new,down,up,close,close,");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            a_local_reply_is_sent_after_the_callback_and_stops_the_stream, setup,
            fake_env_teardown),
        cmocka_unit_test_setup_teardown(continue_from_a_root_callback_acts_on_the_effective_stream,
                                        setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(stream_actions_check_their_arguments, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(a_stream_ends_with_done_then_log_then_delete, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(callback_results_map_to_actions, setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(richer_sdk_results_map_as_envoy_does, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(a_trap_fails_the_vm_and_is_reported, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(proc_exit_0_is_success_only_during_start, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(a_root_refusing_its_configuration_is_not_created, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(thousands_of_streams_are_found_by_id_as_they_come_and_go,
                                        setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(a_false_on_done_waits_for_proxy_done, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(a_vm_freed_while_a_stream_waits_for_proxy_done_finishes_it,
                                        setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(a_root_returning_false_from_on_done_lives_until_proxy_done,
                                        setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(a_root_returning_true_from_on_done_is_deleted_at_once,
                                        setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(proxy_done_inside_on_done_completes_the_context, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(a_vm_freed_while_its_root_waits_for_proxy_done_deletes_it,
                                        setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(tcp_callbacks_get_their_arguments_and_buffers, setup,
                                        fake_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
