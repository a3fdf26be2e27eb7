/*
 * test_callout.c - unit tests of hostcalls/callout.c: proxy_http_call argument checks,
 * delivery of the response to the root context (maps 6/7, buffer 4, proxy_get_status),
 * failed callouts, cancellation with the context, gRPC on a host without a gRPC client,
 * foreign functions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake.h"

#define U 0x100u   /* upstream name */
#define H 0x1000u  /* headers */
#define B 0x200u   /* body */
#define TOK 0x300u /* returned token */
#define P 0x310u
#define S 0x314u
#define C 0x318u /* status code */

static struct fake_env *cur;
static uint32_t got[8];
static char got_text[64];

static int setup(void **state)
{
    fake_env_setup(state);
    cur = *state;
    memset(got, 0xff, sizeof(got));
    got_text[0] = '\0';
    return 0;
}

/* Writes headers with the given pseudo-headers into guest memory; returns the size. */
static uint32_t put_headers(struct pw_vm *vm, bool with_authority)
{
    struct pw_map h = {0};
    uint8_t buf[256];

    pw_map_add(&h, ":method", 7, "GET", 3);
    pw_map_add(&h, ":path", 5, "/check", 6);
    if (with_authority)
        pw_map_add(&h, ":authority", 10, "auth.local", 10);
    size_t n = pw_map_serialized_size(&h);
    pw_map_serialize(&h, buf);
    fake_put(vm, H, buf, n);
    pw_map_free(&h);
    return (uint32_t)n;
}

static uint32_t call(struct pw_vm *vm, uint32_t hlen)
{
    uint32_t ul = fake_put_str(vm, U, "authz");
    fake_put(vm, B, "ping", 4);
    return HC(http_call, vm, U, ul, H, hlen, B, 4, 0, 0, 250, TOK);
}

static void a_callout_needs_method_path_and_authority(void **state)
{
    struct fake_env *e = *state;

    assert_int_equal(call(e->vm, put_headers(e->vm, false)), PW_BAD_ARGUMENT);
    assert_int_equal(e->host.calls, 0);
    assert_int_equal(call(e->vm, put_headers(e->vm, true)), PW_OK);
    assert_int_equal(e->host.calls, 1);
    assert_string_equal(e->host.last_upstream, "authz");
    assert_int_equal(e->host.last_timeout, 250);
    assert_memory_equal(e->host.last_call_body.data, "ping", 4);
    assert_string_equal(pw_map_value(&e->host.last_call_headers, ":authority"), "auth.local");
    assert_int_equal(fake_u32(e->vm, TOK), e->host.last_token);
    /* The host's refusal (unknown upstream) reaches the plugin. */
    e->host.call_result = PW_BAD_ARGUMENT;
    assert_int_equal(call(e->vm, put_headers(e->vm, true)), PW_BAD_ARGUMENT);
    /* Bad pointers. */
    assert_int_equal(HC(http_call, e->vm, U, 5, H, 0, B, 0, 0, 0, 0, 0xfffe),
                     PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(http_call, e->vm, 0xfff0, 0x100, H, 0, B, 0, 0, 0, 0, TOK),
                     PW_INVALID_MEMORY_ACCESS);
}

#define T 0x2000u /* trailers */

/* A well-formed call with that timeout and upstream (trailers at T, tlen bytes). */
static uint32_t call_with(struct pw_vm *vm, const char *upstream, uint32_t timeout, uint32_t tlen)
{
    uint32_t ul = fake_put_str(vm, U, upstream);
    uint32_t hl = put_headers(vm, true);
    return HC(http_call, vm, U, ul, H, hl, B, 0, T, tlen, timeout, TOK);
}

static void a_timeout_negative_as_an_i32_is_a_bad_argument(void **state)
{
    struct fake_env *e = *state;

    fake_put(e->vm, TOK, "\xaa\xaa\xaa\xaa", 4);
    /* The Rust SDK's unbounded Duration, and the smallest negative i32. */
    assert_int_equal(call_with(e->vm, "authz", 0xffffffffu, 0), PW_BAD_ARGUMENT);
    assert_int_equal(call_with(e->vm, "authz", 0x80000000u, 0), PW_BAD_ARGUMENT);
    assert_int_equal(e->host.calls, 0);
    assert_int_equal(fake_u32(e->vm, TOK), 0xaaaaaaaau); /* no token written */
    /* The largest positive one is an ordinary timeout; 0 is none. */
    assert_int_equal(call_with(e->vm, "authz", 0x7fffffffu, 0), PW_OK);
    assert_int_equal(e->host.last_timeout, 0x7fffffffu);
    assert_int_equal(call_with(e->vm, "authz", 0, 0), PW_OK);
    assert_int_equal(e->host.last_timeout, 0);
}

static void bad_guest_memory_is_reported_before_any_bad_argument(void **state)
{
    struct fake_env *e = *state;
    uint32_t hl = put_headers(e->vm, true);

    /* cpp-host reads every range, then checks the token out-pointer, before Envoy's
     * argument checks: a bad range wins over a bad timeout, upstream or map. */
    assert_int_equal(HC(http_call, e->vm, U, 5, H, hl, B, 0, 0xfff0, 0x100, 0xffffffffu, TOK),
                     PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(http_call, e->vm, U, 0, H, hl, B, 0, 0, 0, 1000, 0xfffe),
                     PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(http_call, e->vm, U, 5, H, hl - 1, B, 0xfff0, 0, 0, 1000, TOK),
                     PW_INVALID_MEMORY_ACCESS); /* malformed headers, bad body range */
    assert_int_equal(HC(http_call, e->vm, U, 5, H, hl - 1, B, 0, 0xfff0, 0x100, 1000, TOK),
                     PW_INVALID_MEMORY_ACCESS); /* malformed headers, bad trailers range */
    assert_int_equal(e->host.calls, 0);
}

static void an_unknown_upstream_is_refused_without_a_token(void **state)
{
    struct fake_env *e = *state;
    const char *const known[] = {"authz", NULL};

    e->host.upstreams = known;
    fake_put(e->vm, TOK, "\xaa\xaa\xaa\xaa", 4);
    assert_int_equal(call_with(e->vm, "nowhere", 1000, 0), PW_BAD_ARGUMENT);
    assert_int_equal(e->host.exists_calls, 1);
    assert_int_equal(e->host.calls, 0); /* the host never saw it */
    assert_int_equal(fake_u32(e->vm, TOK), 0xaaaaaaaau);
    /* Names that cannot be a cluster are refused without asking the host. */
    assert_int_equal(call_with(e->vm, "", 1000, 0), PW_BAD_ARGUMENT);
    fake_put(e->vm, U, "au\0hz", 5);
    assert_int_equal(HC(http_call, e->vm, U, 5, H, put_headers(e->vm, true), B, 0, 0, 0, 1000, TOK),
                     PW_BAD_ARGUMENT);
    assert_int_equal(e->host.exists_calls, 1);
    /* The host itself may still refuse; the token is not used up either way. */
    e->host.call_result = PW_BAD_ARGUMENT;
    assert_int_equal(call_with(e->vm, "authz", 1000, 0), PW_BAD_ARGUMENT);
    assert_int_equal(fake_u32(e->vm, TOK), 0xaaaaaaaau);
    e->host.call_result = PW_INTERNAL_FAILURE;
    assert_int_equal(call_with(e->vm, "authz", 1000, 0), PW_INTERNAL_FAILURE);
    e->host.call_result = PW_OK;
    assert_int_equal(call_with(e->vm, "authz", 1000, 0), PW_OK);
    assert_int_equal(fake_u32(e->vm, TOK), 4); /* the first token of the VM */
    assert_string_equal(e->host.last_upstream, "authz");
}

static void malformed_maps_and_missing_pseudo_headers_are_bad_arguments(void **state)
{
    struct fake_env *e = *state;
    struct pw_map m = {0};
    uint8_t buf[128];
    static const char *const pseudo[] = {":method", ":path", ":authority"};

    /* Malformed trailers are refused, not dropped. */
    pw_map_add(&m, "x-t", 3, "1", 1);
    pw_map_serialize(&m, buf);
    fake_put(e->vm, T, buf, pw_map_serialized_size(&m));
    assert_int_equal(call_with(e->vm, "authz", 1000, (uint32_t)pw_map_serialized_size(&m)), PW_OK);
    assert_int_equal(call_with(e->vm, "authz", 1000, (uint32_t)pw_map_serialized_size(&m) - 1),
                     PW_BAD_ARGUMENT);
    pw_map_free(&m);
    /* Each pseudo-header is required. */
    for (int miss = 0; miss < 3; miss++) {
        for (int i = 0; i < 3; i++)
            if (i != miss)
                pw_map_add(&m, pseudo[i], strlen(pseudo[i]), "v", 1);
        pw_map_serialize(&m, buf);
        fake_put(e->vm, H, buf, pw_map_serialized_size(&m));
        uint32_t ul = fake_put_str(e->vm, U, "authz");
        assert_int_equal(
            HC(http_call, e->vm, U, ul, H, pw_map_serialized_size(&m), B, 0, 0, 0, 1000, TOK),
            PW_BAD_ARGUMENT);
        pw_map_free(&m);
    }
    assert_int_equal(e->host.calls, 1);
}

static void a_host_without_callouts_answers_bad_argument(void **state)
{
    struct fake_env *e = *state;
    struct pw_host_ops ops = fake_ops;

    ops.http_call = NULL;
    ops.upstream_exists = NULL;
    e->vm->ops = &ops;
    /* Not UNIMPLEMENTED: the Rust SDK panics on anything but BAD_ARGUMENT and
     * INTERNAL_FAILURE here; a host with no upstreams is Envoy with no such cluster. */
    assert_int_equal(call_with(e->vm, "authz", 1000, 0), PW_BAD_ARGUMENT);
    /* Outside any context (the start sequence) there is no root to own a callout. */
    e->vm->ops = &fake_ops;
    fake_enter(e->vm, NULL, PW_CB_INITIALIZE);
    assert_int_equal(call_with(e->vm, "authz", 1000, 0), PW_BAD_ARGUMENT);
    assert_int_equal(e->host.calls, 0);
}

static int g_response(wasm_instance_t *inst, uint64_t *slots)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t len, kl = fake_put_str(vm, 0x400, ":status");

    got[0] = (uint32_t)slots[0]; /* root id */
    got[1] = (uint32_t)slots[2]; /* headers */
    got[2] = (uint32_t)slots[3]; /* body size */
    got[3] = HC(get_header_map_value, vm, 6, 0x400, kl, P, S);
    const uint8_t *p;
    if (got[3] == PW_OK) {
        p = fake_out(vm, P, S, &len);
        memcpy(got_text, p, len);
    }
    got[4] = HC(get_buffer_bytes, vm, 4, 0, 100, P, S);
    if (got[4] == PW_OK && fake_u32(vm, S) > 0) {
        p = fake_out(vm, P, S, &len);
        strncat(got_text, (const char *)p, len);
    }
    got[5] = HC(get_status, vm, C, P, S);
    got[6] = fake_u32(vm, C);
    if (got[5] == PW_OK) {
        p = fake_out(vm, P, S, &len);
        strncat(got_text, (const char *)p, len);
    }
    return WASM_OK;
}

static void the_response_is_readable_from_the_root_during_the_callback(void **state)
{
    struct fake_env *e = *state;
    struct pw_http_response resp = {0};

    assert_int_equal(call(e->vm, put_headers(e->vm, true)), PW_OK);
    e->vm->funcs[PW_CB_HTTP_CALL_RESPONSE] = fake_func(g_response, 5, 0);
    pw_map_add(&resp.headers, ":status", 7, "200", 3);
    pw_buf_set(&resp.body, "-allowed-", 9);
    pw_root_http_call_response(e->root, e->host.last_token, &resp);
    assert_int_equal(got[0], pw_root_context_id(e->root));
    assert_int_equal(got[1], 1);
    assert_int_equal(got[2], 9);
    assert_int_equal(got[3], PW_OK);
    assert_int_equal(got[4], PW_OK);
    assert_int_equal(got[5], PW_OK);
    assert_int_equal(got[6], 0);
    assert_string_equal(got_text, "200-allowed-OK");
    /* Answered once only; afterwards the maps are gone. */
    memset(got, 0xff, sizeof(got));
    pw_root_http_call_response(e->root, e->host.last_token, &resp);
    assert_int_equal(got[0], 0xffffffffu);
    fake_enter(e->vm, &e->root->ctx, PW_CB_TICK);
    assert_int_equal(HC(get_status, e->vm, C, P, S), PW_NOT_FOUND);
    assert_int_equal(HC(get_buffer_bytes, e->vm, 4, 0, 10, P, S), PW_NOT_FOUND);
    pw_map_free(&resp.headers);
    pw_buf_free(&resp.body);
}

static void a_failed_callout_gives_no_headers_and_status_11(void **state)
{
    struct fake_env *e = *state;

    assert_int_equal(call(e->vm, put_headers(e->vm, true)), PW_OK);
    e->vm->funcs[PW_CB_HTTP_CALL_RESPONSE] = fake_func(g_response, 5, 0);
    pw_root_http_call_response(e->root, e->host.last_token, NULL);
    assert_int_equal(got[1], 0);
    assert_int_equal(got[3], PW_NOT_FOUND);
    assert_int_equal(got[4], PW_NOT_FOUND);
    assert_int_equal(got[6], PW_BROKEN_CONNECTION);
    assert_string_equal(got_text, "reset");
}

static void callouts_are_cancelled_with_the_stream_or_root_that_made_them(void **state)
{
    struct fake_env *e = *state;

    assert_int_equal(call(e->vm, put_headers(e->vm, true)), PW_OK); /* from the stream */
    uint32_t from_stream = e->host.last_token;
    fake_enter(e->vm, &e->root->ctx, PW_CB_TICK);
    assert_int_equal(call(e->vm, put_headers(e->vm, true)), PW_OK); /* from the root */
    uint32_t from_root = e->host.last_token;
    assert_int_not_equal(from_stream, from_root);
    pw_stream_end(e->stream);
    e->stream = NULL;
    assert_int_equal(e->host.cancels, 1);
    assert_int_equal(e->host.last_cancelled, from_stream);
    pw_root_free(e->root);
    e->root = NULL;
    assert_int_equal(e->host.cancels, 2);
    assert_int_equal(e->host.last_cancelled, from_root);
}

#define SVC 0x500u /* gRPC service and method names */

static uint32_t grpc_call(struct pw_vm *vm, const char *upstream)
{
    uint32_t ul = fake_put_str(vm, U, upstream);
    uint32_t sl = fake_put_str(vm, SVC, "svc.Greeter");
    return HC(grpc_call, vm, U, ul, SVC, sl, SVC, 3, H, 0, B, 4, 1000, TOK);
}

static uint32_t grpc_stream(struct pw_vm *vm, const char *upstream)
{
    uint32_t ul = fake_put_str(vm, U, upstream);
    uint32_t sl = fake_put_str(vm, SVC, "svc.Greeter");
    return HC(grpc_stream, vm, U, ul, SVC, sl, SVC, 3, H, 0, TOK);
}

static void grpc_to_an_unknown_upstream_is_a_parse_failure(void **state)
{
    struct fake_env *e = *state;
    const char *const known[] = {"grpc-backend", NULL};

    e->host.upstreams = known;
    /* Envoy's answer when the bytes name no cluster (the Rust SDK expects it). */
    assert_int_equal(grpc_call(e->vm, "nowhere"), PW_PARSE_FAILURE);
    assert_int_equal(grpc_stream(e->vm, "nowhere"), PW_PARSE_FAILURE);
    assert_int_equal(grpc_call(e->vm, ""), PW_PARSE_FAILURE);
    /* A host that cannot tell which upstreams it has knows no gRPC upstream. */
    struct pw_host_ops ops = fake_ops;
    ops.upstream_exists = NULL;
    e->vm->ops = &ops;
    assert_int_equal(grpc_call(e->vm, "grpc-backend"), PW_PARSE_FAILURE);
    assert_int_equal(grpc_stream(e->vm, "grpc-backend"), PW_PARSE_FAILURE);
    assert_false(fake_logged(&e->host, "gRPC"));
    e->vm->ops = &fake_ops; /* ops dies with this frame */
}

static void grpc_to_a_known_upstream_cannot_start_and_says_why_once(void **state)
{
    struct fake_env *e = *state;

    fake_put(e->vm, TOK, "\xaa\xaa\xaa\xaa", 4);
    assert_int_equal(grpc_call(e->vm, "grpc-backend"), PW_INTERNAL_FAILURE);
    /* The host is asked about the calling VM's upstreams (it may serve several
     * configurations, each with its clusters). */
    assert_ptr_equal(e->host.exists_vm, e->vm);
    assert_int_equal(grpc_stream(e->vm, "grpc-backend"), PW_INTERNAL_FAILURE);
    assert_int_equal(fake_u32(e->vm, TOK), 0xaaaaaaaau); /* no token */
    assert_true(fake_logged(&e->host, "gRPC callouts are not supported by this host yet"));
    int n = 0;
    for (int i = 0; i < e->host.nlog; i++)
        n += strstr(e->host.log[i], "gRPC") != NULL;
    assert_int_equal(n, 1);
    assert_int_equal(e->host.calls, 0);
}

static void grpc_guest_ranges_are_checked_first(void **state)
{
    struct fake_env *e = *state;
    const char *const known[] = {NULL};

    e->host.upstreams = known;
    /* Every range of the call, in cpp-host's order, before the cluster lookup. */
    for (int bad = 0; bad < 5; bad++) {
        uint64_t a[12] = {U, 1, SVC, 1, SVC, 1, H, 0, B, 0, 1000, TOK};
        a[2 * bad] = 0xfff0;
        a[2 * bad + 1] = 0x100;
        assert_int_equal(fake_hc(pw_hc_grpc_call, e->vm, 12, a), PW_INVALID_MEMORY_ACCESS);
        if (bad < 4) {
            uint64_t b[9] = {U, 1, SVC, 1, SVC, 1, H, 0, TOK};
            b[2 * bad] = 0xfff0;
            b[2 * bad + 1] = 0x100;
            assert_int_equal(fake_hc(pw_hc_grpc_stream, e->vm, 9, b), PW_INVALID_MEMORY_ACCESS);
        }
    }
    assert_int_equal(HC(grpc_send, e->vm, 6, 0xfff0, 0x100, 0), PW_INVALID_MEMORY_ACCESS);
}

static void grpc_tokens_that_name_nothing_are_not_found(void **state)
{
    struct fake_env *e = *state;

    /* Envoy: low bits 1 = call, 2 = stream; send takes streams only. */
    assert_int_equal(HC(grpc_send, e->vm, 6, B, 1, 0), PW_NOT_FOUND);
    assert_int_equal(HC(grpc_send, e->vm, 5, B, 1, 1), PW_BAD_ARGUMENT);
    assert_int_equal(HC(grpc_send, e->vm, 4, B, 1, 0), PW_BAD_ARGUMENT);
    assert_int_equal(HC(grpc_cancel, e->vm, 5), PW_NOT_FOUND);
    assert_int_equal(HC(grpc_cancel, e->vm, 6), PW_NOT_FOUND);
    assert_int_equal(HC(grpc_cancel, e->vm, 4), PW_BAD_ARGUMENT);
    assert_int_equal(HC(grpc_cancel, e->vm, 7), PW_BAD_ARGUMENT);
    assert_int_equal(HC(grpc_close, e->vm, 9), PW_NOT_FOUND);
    assert_int_equal(HC(grpc_close, e->vm, 10), PW_NOT_FOUND);
    assert_int_equal(HC(grpc_close, e->vm, 0), PW_BAD_ARGUMENT);
    /* Even the token of a live HTTP callout is no gRPC call. */
    assert_int_equal(call(e->vm, put_headers(e->vm, true)), PW_OK);
    assert_int_equal(HC(grpc_cancel, e->vm, e->host.last_token), PW_BAD_ARGUMENT);
    assert_int_equal(e->host.cancels, 0);
}

static void foreign_functions_are_not_found_and_dns_unimplemented(void **state)
{
    struct fake_env *e = *state;

    assert_int_equal(HC(unimplemented, e->vm, 0, 0, 0, 0), PW_UNIMPLEMENTED);
    assert_int_equal(HC(call_foreign_function, e->vm, U, 3, B, 0, P, S), PW_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_callout_needs_method_path_and_authority, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(a_timeout_negative_as_an_i32_is_a_bad_argument, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(bad_guest_memory_is_reported_before_any_bad_argument, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(an_unknown_upstream_is_refused_without_a_token, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(malformed_maps_and_missing_pseudo_headers_are_bad_arguments,
                                        setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(a_host_without_callouts_answers_bad_argument, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(the_response_is_readable_from_the_root_during_the_callback,
                                        setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(a_failed_callout_gives_no_headers_and_status_11, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(
            callouts_are_cancelled_with_the_stream_or_root_that_made_them, setup,
            fake_env_teardown),
        cmocka_unit_test_setup_teardown(grpc_to_an_unknown_upstream_is_a_parse_failure, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(grpc_to_a_known_upstream_cannot_start_and_says_why_once,
                                        setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(grpc_guest_ranges_are_checked_first, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(grpc_tokens_that_name_nothing_are_not_found, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(foreign_functions_are_not_found_and_dns_unimplemented,
                                        setup, fake_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
