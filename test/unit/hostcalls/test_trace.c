/*
 * test_trace.c - unit tests of hostcalls/trace.c: every traced hostcall is reported once
 * through pw_host_ops.trace with its arguments decoded from guest memory (type names,
 * escaped and bounded strings, pairs), its out-values after a successful call, its status
 * and its context; without a trace op the same report is a TRACE log line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake.h"

#define U 0x100u  /* a string */
#define K 0x180u  /* a second string */
#define H 0x1000u /* serialized pairs */
#define B 0x200u  /* body */
#define P 0x310u  /* out: pointer */
#define S 0x314u  /* out: size */

/* Calls the traced import `name` as the engine would with tracing on. */
static uint32_t traced(struct pw_vm *vm, const char *name, int n, const uint64_t *args)
{
    const struct pw_import *imp = pw_import_find(name);
    uint64_t slots[16] = {0};

    assert_non_null(imp);
    assert_non_null(imp->trace);
    for (int i = 0; i < n; i++)
        slots[i] = args[i];
    if (pw_hc_trace(vm->inst, slots, (void *)imp) != WASM_OK)
        return 0xdead;
    return (uint32_t)slots[0];
}

#define TR(name, vm, ...)                                                                          \
    traced(vm, "proxy_" #name, (int)(sizeof((uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t)),        \
           (uint64_t[]){__VA_ARGS__})

/* Serializes n pairs kv[2i], kv[2i+1] at H; returns the size. */
static uint32_t put_pairs(struct pw_vm *vm, const char *const *kv, size_t n)
{
    struct pw_map m = {0};
    uint8_t buf[8192];

    for (size_t i = 0; i < n; i++)
        pw_map_add(&m, kv[2 * i], strlen(kv[2 * i]), kv[2 * i + 1], strlen(kv[2 * i + 1]));
    size_t size = pw_map_serialized_size(&m);
    assert_true(size <= sizeof(buf));
    pw_map_serialize(&m, buf);
    fake_put(vm, H, buf, size);
    pw_map_free(&m);
    return (uint32_t)size;
}

static void a_callout_is_reported_once_with_its_arguments_decoded(void **state)
{
    struct fake_env *e = *state;
    const char *kv[] = {":method", "GET", ":path", "/check", ":authority", "auth.local"};
    uint32_t hl = put_pairs(e->vm, kv, 3);
    uint32_t ul = fake_put_str(e->vm, U, "authz");

    fake_put(e->vm, B, "ping", 4);
    assert_int_equal(TR(http_call, e->vm, U, ul, H, hl, B, 4, 0, 0, 0xffffffffu, P),
                     PW_BAD_ARGUMENT);
    assert_int_equal(e->host.traces, 1);
    assert_string_equal(e->host.trace.hostcall, "proxy_http_call");
    assert_string_equal(e->host.trace.args,
                        "upstream=\"authz\", headers={\":method\": \"GET\", \":path\": "
                        "\"/check\", \":authority\": \"auth.local\"}, body=\"ping\", "
                        "trailers={}, timeout_ms=-1");
    assert_string_equal(e->host.trace.results, "");
    assert_int_equal(e->host.trace.status, PW_BAD_ARGUMENT);
    assert_false(e->host.trace.trapped);
    assert_string_equal(e->host.trace.plugin, "plug");
    assert_int_equal(e->host.trace.context_id, pw_stream_context_id(e->stream));
    assert_ptr_equal(e->host.trace.stream, &e->fs);
    assert_false(fake_logged(&e->host, "hostcall")); /* not as a log line too */

    /* Out-values are shown when the call succeeds. */
    assert_int_equal(TR(http_call, e->vm, U, ul, H, hl, B, 0, 0, 0, 1000, P), PW_OK);
    assert_int_equal(e->host.traces, 2);
    assert_string_equal(e->host.trace.results, "token=4");
    assert_int_equal(e->host.calls, 1); /* the hostcall itself ran once */
}

static void maps_buffers_and_returned_values_are_named(void **state)
{
    struct fake_env *e = *state;
    uint32_t kl = fake_put_str(e->vm, K, ":path");

    assert_int_equal(TR(get_header_map_value, e->vm, 0, K, kl, P, S), PW_OK);
    assert_string_equal(e->host.trace.args, "map=request_headers, key=\":path\"");
    assert_string_equal(e->host.trace.results, "value=\"/a?b=1\"");
    assert_int_equal(TR(get_header_map_value, e->vm, 2, K, kl, P, S), PW_NOT_FOUND);
    assert_string_equal(e->host.trace.args, "map=response_headers, key=\":path\"");
    assert_string_equal(e->host.trace.results, "");
    /* A type with no name is shown as its number. */
    assert_int_equal(TR(get_header_map_value, e->vm, 8, K, kl, P, S), PW_BAD_ARGUMENT);
    assert_string_equal(e->host.trace.args, "map=8, key=\":path\"");

    assert_int_equal(TR(get_header_map_pairs, e->vm, 0, P, S), PW_OK);
    assert_string_equal(e->host.trace.results,
                        "pairs={\":path\": \"/a?b=1\", \"x-foo\": \"one\", \"x-foo\": \"two\"}");
    assert_int_not_equal(TR(get_buffer_status, e->vm, 7, P, S), 0xdead);
    assert_string_equal(e->host.trace.args, "buffer=plugin_configuration");
    assert_int_equal(TR(continue_stream, e->vm, 1), PW_OK);
    assert_string_equal(e->host.trace.args, "stream=response");
    uint32_t nl = fake_put_str(e->vm, U, "trace_test_counter");
    assert_int_equal(TR(define_metric, e->vm, 0, U, nl, P), PW_OK);
    assert_string_equal(e->host.trace.args, "type=counter, name=\"trace_test_counter\"");
    char want[64];
    snprintf(want, sizeof(want), "metric_id=%u", fake_u32(e->vm, P));
    assert_string_equal(e->host.trace.results, want);
    assert_int_equal(TR(increment_metric, e->vm, fake_u32(e->vm, P), (uint64_t)-3),
                     PW_BAD_ARGUMENT);
    assert_string_equal(e->host.trace.args + strlen(e->host.trace.args) - 8, "delta=-3");
    assert_int_equal(e->host.traces, 8);
}

static void strings_are_escaped_and_bounded(void **state)
{
    struct fake_env *e = *state;
    char longer[200];

    fake_put(e->vm, U, "a\"b\\c\n\x01\0", 8);
    assert_int_equal(TR(log, e->vm, 2, U, 8), PW_OK);
    assert_string_equal(e->host.trace.args, "level=info, message=\"a\\\"b\\\\c\\n\\x01\\0\"");
    memset(longer, 'x', sizeof(longer));
    fake_put(e->vm, U, longer, sizeof(longer));
    assert_int_equal(TR(log, e->vm, 9, U, 200), PW_BAD_ARGUMENT);
    const char *a = e->host.trace.args;
    assert_true(strncmp(a, "level=9, message=\"xxxx", 22) == 0);
    assert_non_null(strstr(a, "xxx\"...(200 bytes)"));
    assert_true(strlen(a) < 200); /* cut: at most PW_TRACE_STR_MAX bytes shown */
    /* A range outside guest memory is named, never read. */
    assert_int_equal(TR(log, e->vm, 2, 0xfff0, 0x100), PW_INVALID_MEMORY_ACCESS);
    assert_string_equal(e->host.trace.args, "level=info, message=<invalid 0xfff0+256>");
}

static void pairs_are_bounded_and_malformed_ones_named(void **state)
{
    struct fake_env *e = *state;
    const char *kv[20];
    char names[10][8];

    for (int i = 0; i < 10; i++) {
        snprintf(names[i], sizeof(names[i]), "k%d", i);
        kv[2 * i] = names[i];
        kv[2 * i + 1] = "v";
    }
    uint32_t hl = put_pairs(e->vm, kv, 10);
    assert_int_equal(TR(set_header_map_pairs, e->vm, 0, H, hl), PW_OK);
    assert_string_equal(e->host.trace.args,
                        "map=request_headers, pairs={\"k0\": \"v\", \"k1\": \"v\", \"k2\": \"v\", "
                        "\"k3\": \"v\", \"k4\": \"v\", \"k5\": \"v\", \"k6\": \"v\", \"k7\": "
                        "\"v\", ...(10 pairs)}");
    assert_int_equal(TR(set_header_map_pairs, e->vm, 0, H, hl - 1), PW_BAD_ARGUMENT);
    char want[64];
    snprintf(want, sizeof(want), "map=request_headers, pairs=<malformed pairs, %u bytes>", hl - 1);
    assert_string_equal(e->host.trace.args, want);
}

static void the_whole_report_is_bounded(void **state)
{
    struct fake_env *e = *state;
    char big[300];
    const char *kv[16];

    memset(big, 'y', sizeof(big) - 1); /* 8 pairs of 299-byte strings: over 2 KiB shown */
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 16; i++)
        kv[i] = big;
    uint32_t hl = put_pairs(e->vm, kv, 8);
    fake_put(e->vm, B, big, 299);
    fake_put(e->vm, U, big, 299);
    assert_int_equal(TR(send_local_response, e->vm, 403, U, 299, B, 299, H, hl, -1), PW_OK);
    size_t n = strlen(e->host.trace.args);
    assert_true(n < 2048);
    assert_string_equal(e->host.trace.args + n - 3, "...");
    assert_true(strncmp(e->host.trace.args, "status=403, details=\"yyy", 24) == 0);
}

static int hc_traps(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return wasm_trap_raise(inst, "stopped");
}

static void a_trapping_hostcall_is_reported_as_trapped(void **state)
{
    struct fake_env *e = *state;
    const struct pw_import imp = {"proxy_test_trap", "(i)i", hc_traps, "u:arg"};
    uint64_t slots[16] = {42};

    assert_int_not_equal(pw_hc_trace(e->vm->inst, slots, (void *)&imp), WASM_OK);
    assert_int_equal(e->host.traces, 1);
    assert_true(e->host.trace.trapped);
    assert_string_equal(e->host.trace.args, "arg=42");
}

static void without_a_trace_op_the_report_is_a_trace_log_line(void **state)
{
    struct fake_env *e = *state;
    struct pw_host_ops ops = fake_ops;
    uint32_t kl = fake_put_str(e->vm, K, ":path");

    ops.trace = NULL;
    e->vm->ops = &ops;
    assert_int_equal(TR(get_header_map_value, e->vm, 0, K, kl, P, S), PW_OK);
    fake_enter(e->vm, &e->root->ctx, PW_CB_TICK);
    assert_int_equal(TR(set_tick_period_milliseconds, e->vm, 4), PW_OK);
    e->vm->ops = &fake_ops;
    assert_int_equal(e->host.traces, 0);
    assert_int_equal(e->host.nlog, 2);
    assert_string_equal(e->host.log[0], "wasm log plug rid vm1: hostcall "
                                        "proxy_get_header_map_value(map=request_headers, "
                                        "key=\":path\") -> OK value=\"/a?b=1\"");
    assert_int_equal(e->host.log_levels[0], PW_LOG_TRACE);
    assert_string_equal(e->host.log[1], "wasm log plug rid vm1: hostcall "
                                        "proxy_set_tick_period_milliseconds(period_ms=4) -> OK");
}

static void every_proxy_hostcall_has_a_decoding_that_fits_its_signature(void **state)
{
    static const char *const names[] = {"proxy_log",
                                        "proxy_get_log_level",
                                        "proxy_get_current_time_nanoseconds",
                                        "proxy_set_tick_period_milliseconds",
                                        "proxy_get_buffer_bytes",
                                        "proxy_set_buffer_bytes",
                                        "proxy_get_buffer_status",
                                        "proxy_get_header_map_size",
                                        "proxy_get_header_map_pairs",
                                        "proxy_set_header_map_pairs",
                                        "proxy_get_header_map_value",
                                        "proxy_add_header_map_value",
                                        "proxy_replace_header_map_value",
                                        "proxy_remove_header_map_value",
                                        "proxy_continue_stream",
                                        "proxy_close_stream",
                                        "proxy_get_status",
                                        "proxy_send_local_response",
                                        "proxy_http_call",
                                        "proxy_grpc_call",
                                        "proxy_grpc_stream",
                                        "proxy_grpc_send",
                                        "proxy_grpc_cancel",
                                        "proxy_grpc_close",
                                        "proxy_set_shared_data",
                                        "proxy_get_shared_data",
                                        "proxy_register_shared_queue",
                                        "proxy_resolve_shared_queue",
                                        "proxy_enqueue_shared_queue",
                                        "proxy_dequeue_shared_queue",
                                        "proxy_define_metric",
                                        "proxy_record_metric",
                                        "proxy_increment_metric",
                                        "proxy_get_metric",
                                        "proxy_get_property",
                                        "proxy_set_property",
                                        "proxy_set_effective_context",
                                        "proxy_done",
                                        "proxy_call_foreign_function",
                                        "proxy_get_configuration",
                                        "proxy_continue_request",
                                        "proxy_continue_response",
                                        "proxy_clear_route_cache"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const struct pw_import *imp = pw_import_find(names[i]);
        assert_non_null(imp);
        assert_non_null(imp->trace);
        /* One slot per word, two for (ptr, len) pairs; i64 words on I slots. */
        size_t slot = 0;
        const char *sig = imp->sig + 1;
        for (const char *w = imp->trace; *w != '\0';) {
            int width = strchr("spOQ", w[0]) != NULL ? 2 : 1;
            bool wide = w[0] == 'U' || w[0] == 'I';
            for (int k = 0; k < width; k++)
                assert_int_equal(sig[slot + k], wide ? 'I' : 'i');
            slot += width;
            const char *end = strchr(w, ' ');
            w = end != NULL ? end + 1 : w + strlen(w);
        }
        assert_int_equal(sig[slot], ')');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_callout_is_reported_once_with_its_arguments_decoded,
                                        fake_env_setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(maps_buffers_and_returned_values_are_named, fake_env_setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(strings_are_escaped_and_bounded, fake_env_setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(pairs_are_bounded_and_malformed_ones_named, fake_env_setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(the_whole_report_is_bounded, fake_env_setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(a_trapping_hostcall_is_reported_as_trapped, fake_env_setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(without_a_trace_op_the_report_is_a_trace_log_line,
                                        fake_env_setup, fake_env_teardown),
        cmocka_unit_test(every_proxy_hostcall_has_a_decoding_that_fits_its_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
