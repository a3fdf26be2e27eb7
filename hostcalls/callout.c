/*
 * callout.c - HTTP callouts (proxy_http_call, proxy_on_http_call_response,
 * proxy_get_status), gRPC (no client yet: every call fails the way Envoy fails one it
 * cannot start), and foreign functions (none registered: NOT_FOUND).
 *
 * A callout belongs to the root context of the context that issued it (as in cpp-host),
 * and its answer is delivered to that root with the token; SDKs then switch to the
 * stream with proxy_set_effective_context. It is cancelled when its root context ends,
 * and also when the stream that issued it ends (its answer would be dropped anyway).
 * Tokens are per VM, step 4 (low bits 0 = HTTP call, cpp-host's scheme).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Unlinks and frees *pp, keeping its origin's count of pending callouts. */
static void pw_callout_unlink(struct pw_vm *vm, struct pw_callout **pp)
{
    struct pw_callout *c = *pp;
    struct pw_ctx *origin = pw_vm_context(vm, c->origin_id);

    if (origin != NULL && origin->callouts > 0)
        origin->callouts--;
    *pp = c->next;
    free(c);
}

void pw_callouts_cancel(struct pw_root *root, uint32_t origin_id)
{
    struct pw_vm *vm = root->ctx.vm;
    struct pw_callout **pp = &root->callouts;

    if (origin_id != 0) {
        struct pw_ctx *origin = pw_vm_context(vm, origin_id);
        if (origin != NULL && origin->callouts == 0)
            return; /* the usual case: nothing pending, nothing to scan */
    }
    while (*pp != NULL) {
        struct pw_callout *c = *pp;
        if (origin_id != 0 && c->origin_id != origin_id) {
            pp = &c->next;
            continue;
        }
        if (vm->ops != NULL && vm->ops->cancel_http_call != NULL)
            vm->ops->cancel_http_call(vm->host, root, c->token);
        pw_callout_unlink(vm, pp);
    }
}

/* Parses a serialized map argument (size 0: empty); the memory was checked by the caller. */
static enum pw_status pw_map_arg(struct pw_vm *vm, uint32_t ptr, uint32_t len, struct pw_map *out)
{
    return pw_map_parse(pw_guest_ptr(vm, ptr, len), len, out);
}

/*
 * Whether the host has an upstream (cluster) called name[0..len): a name with a NUL in it,
 * or empty, never does. Without ops->upstream_exists the answer is `unknown_default`.
 */
static bool pw_upstream_known(struct pw_vm *vm, const char *name, uint32_t len,
                              bool unknown_default)
{
    char buf[256];

    if (len == 0 || memchr(name, 0, len) != NULL)
        return false;
    if (vm->ops == NULL || vm->ops->upstream_exists == NULL)
        return unknown_default;
    if (len < sizeof(buf)) {
        memcpy(buf, name, len);
        buf[len] = '\0';
        return vm->ops->upstream_exists(vm->host, vm, buf);
    }
    char *copy = strndup(name, len);
    bool known = copy != NULL && vm->ops->upstream_exists(vm->host, vm, copy);
    free(copy);
    return known;
}

/*
 * proxy_http_call(upstream, upstream_len, headers, headers_len, body, body_len,
 *                 trailers, trailers_len, timeout_ms, return_token*)
 *
 * The checks come in the order of cpp-host's export and Envoy's Context::httpCall, so a
 * plugin sees the status Envoy would give it: every guest range (the four inputs, then
 * the token out-pointer) -> INVALID_MEMORY_ACCESS; then BAD_ARGUMENT for a timeout that
 * is negative as an i32 (the Rust SDK sends 0xffffffff for an unbounded Duration; Envoy
 * takes the argument as an int), an upstream the host does not have (empty, with a NUL,
 * or refused by ops->upstream_exists), malformed headers or trailers (Envoy would drop
 * malformed pairs silently and then fail on the missing pseudo-headers, or send no
 * trailers: we refuse rather than lose them), a missing :method, :path or :authority.
 * Last the host's http_call, which may still answer BAD_ARGUMENT (unknown upstream) or
 * INTERNAL_FAILURE; then no token is written and none is used up.
 */
PW_HOSTCALL(http_call)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t ulen = pw_arg(slots, 1), blen = pw_arg(slots, 5);
    const char *upstream = pw_guest_ptr(vm, pw_arg(slots, 0), ulen);
    const uint8_t *body = pw_guest_ptr(vm, pw_arg(slots, 4), blen);
    int32_t timeout_ms = (int32_t)pw_arg(slots, 8);
    uint32_t token_out = pw_arg(slots, 9);
    struct pw_map headers = {0}, trailers = {0};
    enum pw_status st;
    char *name = NULL;

    if (upstream == NULL || body == NULL ||
        pw_guest_ptr(vm, pw_arg(slots, 2), pw_arg(slots, 3)) == NULL ||
        pw_guest_ptr(vm, pw_arg(slots, 6), pw_arg(slots, 7)) == NULL ||
        pw_guest_ptr(vm, token_out, 4) == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if (vm->effective == NULL || timeout_ms < 0 || !pw_upstream_known(vm, upstream, ulen, true))
        return pw_ret(slots, PW_BAD_ARGUMENT);
    st = pw_map_arg(vm, pw_arg(slots, 2), pw_arg(slots, 3), &headers);
    if (st == PW_OK)
        st = pw_map_arg(vm, pw_arg(slots, 6), pw_arg(slots, 7), &trailers);
    if (st != PW_OK)
        goto out;
    if (pw_map_get(&headers, ":method", 7) == NULL || pw_map_get(&headers, ":path", 5) == NULL ||
        pw_map_get(&headers, ":authority", 10) == NULL) {
        st = PW_BAD_ARGUMENT;
        goto out;
    }
    /* A host without callouts has no upstream to call: Envoy's answer for a cluster it
     * does not have, which SDKs handle (the Rust SDK panics on UNIMPLEMENTED here). */
    if (vm->ops == NULL || vm->ops->http_call == NULL) {
        st = PW_BAD_ARGUMENT;
        goto out;
    }
    name = strndup(upstream, ulen);
    struct pw_callout *c = calloc(1, sizeof(*c));
    if (name == NULL || c == NULL) {
        free(c);
        st = PW_INTERNAL_FAILURE;
        goto out;
    }
    struct pw_root *root = vm->effective->root;
    c->token = vm->next_token;
    c->origin_id = vm->effective->id;
    const struct pw_http_call call = {
        .upstream = name,
        .headers = &headers,
        .body = body,
        .body_len = blen,
        .trailers = &trailers,
        .timeout_ms = (uint32_t)timeout_ms,
    };
    st = vm->ops->http_call(vm->host, root, c->token, &call);
    if (st != PW_OK) {
        free(c);
        goto out;
    }
    vm->next_token += 4;
    c->next = root->callouts;
    root->callouts = c;
    vm->effective->callouts++;
    pw_guest_put_u32(vm, token_out, c->token);
out:
    free(name);
    pw_map_free(&headers);
    pw_map_free(&trailers);
    return pw_ret(slots, st);
}

void pw_root_http_call_response(struct pw_root *root, uint32_t token,
                                const struct pw_http_response *resp)
{
    struct pw_vm *vm = root->ctx.vm;
    bool pending = false;
    uint64_t r;

    for (struct pw_callout **pp = &root->callouts; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->token == token) {
            pw_callout_unlink(vm, pp);
            pending = true;
            break;
        }
    }
    if (!pending)
        return;
    if (vm->failed)
        return;

    bool saved_in = vm->in_call_response;
    const struct pw_http_response *saved_resp = vm->call_response;
    uint32_t saved_code = vm->status_code;
    const char *saved_msg = vm->status_message;

    vm->in_call_response = true;
    vm->call_response = resp;
    vm->status_code = resp != NULL ? PW_OK : PW_BROKEN_CONNECTION;
    vm->status_message = resp != NULL ? "OK" : "reset";
    uint64_t args[5] = {
        root->ctx.id,
        token,
        resp != NULL ? resp->headers.count : 0,
        resp != NULL ? resp->body.len : 0,
        resp != NULL ? resp->trailers.count : 0,
    };
    pw_vm_call(vm, &root->ctx, PW_CB_HTTP_CALL_RESPONSE, args, 5, &r, NULL);
    vm->in_call_response = saved_in;
    vm->call_response = saved_resp;
    vm->status_code = saved_code;
    vm->status_message = saved_msg;
}

/* proxy_get_status(return_code*, return_message**, return_message_len*) */
PW_HOSTCALL(get_status)
{
    struct pw_vm *vm = pw_vm_of(inst);
    bool trapped;

    if (pw_guest_ptr(vm, pw_arg(slots, 0), 4) == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if (!vm->in_call_response)
        return pw_ret(slots, PW_NOT_FOUND);
    const char *msg = vm->status_message;
    enum pw_status st =
        pw_guest_copy_out(vm, msg, strlen(msg), pw_arg(slots, 1), pw_arg(slots, 2), &trapped);
    if (trapped)
        return pw_trap_from_alloc(vm);
    if (st == PW_OK)
        pw_guest_put_u32(vm, pw_arg(slots, 0), vm->status_code);
    return pw_ret(slots, st);
}

/*
 * gRPC. This host has no gRPC client yet, so no call or stream is ever started; the
 * hostcalls answer as Envoy does when it cannot start one, with statuses the SDKs treat
 * as errors (the Rust SDK panics on any other, UNIMPLEMENTED included):
 *   proxy_grpc_call/_stream: INVALID_MEMORY_ACCESS for a bad guest range; PARSE_FAILURE
 *     for an upstream the host does not have (Envoy's answer when the bytes are neither a
 *     GrpcService proto nor a cluster name; we take them as a cluster name only), and
 *     INTERNAL_FAILURE for one it has (Envoy's answer when the call cannot be started).
 *   proxy_grpc_send/_cancel/_close: there is no such call or stream, so NOT_FOUND for a
 *     token of the right kind, BAD_ARGUMENT for any other (Envoy tells the kinds by the
 *     token's low two bits: 1 gRPC call, 2 gRPC stream; HTTP callouts use 0).
 */
#define PW_GRPC_CALL_TOKEN 1u
#define PW_GRPC_STREAM_TOKEN 2u

/* The answer to a gRPC call or stream that passed the memory checks. */
static int pw_grpc_start(struct pw_vm *vm, uint64_t *slots, const char *hostcall)
{
    const char *upstream = pw_guest_ptr(vm, pw_arg(slots, 0), pw_arg(slots, 1));

    if (!pw_upstream_known(vm, upstream, pw_arg(slots, 1), false))
        return pw_ret(slots, PW_PARSE_FAILURE);
    if (!vm->grpc_warned) {
        char msg[256];
        vm->grpc_warned = true;
        snprintf(msg, sizeof(msg),
                 "%s: gRPC callouts are not supported by this host yet; the call fails "
                 "with INTERNAL_FAILURE",
                 hostcall);
        pw_vm_log(vm, vm->effective, PW_LOG_WARN, msg, SIZE_MAX);
    }
    return pw_ret(slots, PW_INTERNAL_FAILURE);
}

/* proxy_grpc_call(upstream, upstream_len, service, service_len, method, method_len,
 *                 metadata, metadata_len, message, message_len, timeout_ms, return_token*) */
PW_HOSTCALL(grpc_call)
{
    struct pw_vm *vm = pw_vm_of(inst);

    for (int i = 0; i < 10; i += 2)
        if (pw_guest_ptr(vm, pw_arg(slots, i), pw_arg(slots, i + 1)) == NULL)
            return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    return pw_grpc_start(vm, slots, "proxy_grpc_call");
}

/* proxy_grpc_stream(upstream, upstream_len, service, service_len, method, method_len,
 *                   metadata, metadata_len, return_token*) */
PW_HOSTCALL(grpc_stream)
{
    struct pw_vm *vm = pw_vm_of(inst);

    for (int i = 0; i < 8; i += 2)
        if (pw_guest_ptr(vm, pw_arg(slots, i), pw_arg(slots, i + 1)) == NULL)
            return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    return pw_grpc_start(vm, slots, "proxy_grpc_stream");
}

/* proxy_grpc_send(token, message, message_len, end_stream): only streams take messages. */
PW_HOSTCALL(grpc_send)
{
    struct pw_vm *vm = pw_vm_of(inst);

    if (pw_guest_ptr(vm, pw_arg(slots, 1), pw_arg(slots, 2)) == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if ((pw_arg(slots, 0) & 3u) != PW_GRPC_STREAM_TOKEN)
        return pw_ret(slots, PW_BAD_ARGUMENT);
    return pw_ret(slots, PW_NOT_FOUND);
}

/* proxy_grpc_cancel(token) and proxy_grpc_close(token): calls and streams. */
static int pw_grpc_end(uint64_t *slots)
{
    uint32_t kind = pw_arg(slots, 0) & 3u;

    if (kind != PW_GRPC_CALL_TOKEN && kind != PW_GRPC_STREAM_TOKEN)
        return pw_ret(slots, PW_BAD_ARGUMENT);
    return pw_ret(slots, PW_NOT_FOUND);
}

PW_HOSTCALL(grpc_cancel)
{
    return pw_grpc_end(slots);
}

PW_HOSTCALL(grpc_close)
{
    return pw_grpc_end(slots);
}

/* Hostcalls this host does not offer (envoy_resolve_dns). */
PW_HOSTCALL(unimplemented)
{
    return pw_ret(slots, PW_UNIMPLEMENTED);
}

/* proxy_call_foreign_function(name, name_len, args, args_len, return_results**,
 * return_results_len*): no foreign function is registered. */
PW_HOSTCALL(call_foreign_function)
{
    struct pw_vm *vm = pw_vm_of(inst);

    if (pw_guest_ptr(vm, pw_arg(slots, 0), pw_arg(slots, 1)) == NULL ||
        pw_guest_ptr(vm, pw_arg(slots, 2), pw_arg(slots, 3)) == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    return pw_ret(slots, PW_NOT_FOUND);
}
