/*
 * buffers.c - byte buffers (struct pw_buf) and the buffer hostcalls.
 *
 * Which buffer a hostcall sees: 0-3 are the effective stream's body/data, asked of the
 * host; 4 is the callout response body during proxy_on_http_call_response; 6 is the VM
 * configuration during proxy_on_vm_start; 7 the plugin configuration during
 * proxy_on_configure; 5 and 8 never exist. Reading a buffer that does not exist is
 * NOT_FOUND. proxy_set_buffer_bytes does prepend, append, replace and any splice in
 * between (Envoy only the first three), on buffers 0-3 while the host says they are
 * writable; a stream's write to a body it has not got in this phase (or that went out)
 * is answered OK and ignored with a warning (pw_write_ignored: the Rust SDK panics on
 * anything else); from a root context it is NOT_FOUND; 4, 6, 7 are read-only
 * (BAD_ARGUMENT, as Envoy's).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- struct pw_buf ------------------------------------------------------------------ */

void pw_buf_free(struct pw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int pw_buf_reserve(struct pw_buf *b, size_t len)
{
    if (len <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < len) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

int pw_buf_splice(struct pw_buf *b, size_t start, size_t size, const void *data, size_t len)
{
    if (start > b->len)
        start = b->len;
    if (size > b->len - start)
        size = b->len - start;
    size_t newlen = b->len - size + len;
    if (len > size && pw_buf_reserve(b, newlen) != 0)
        return -1;
    if (b->data == NULL && pw_buf_reserve(b, 1) != 0)
        return -1;
    memmove(b->data + start + len, b->data + start + size, b->len - start - size);
    if (len > 0)
        memcpy(b->data + start, data, len);
    b->len = newlen;
    return 0;
}

int pw_buf_append(struct pw_buf *b, const void *data, size_t len)
{
    return pw_buf_splice(b, b->len, 0, data, len);
}

int pw_buf_set(struct pw_buf *b, const void *data, size_t len)
{
    return pw_buf_splice(b, 0, b->len, data, len);
}

/* ---- Buffers behind struct pw_buffer_ops ---------------------------------------------- */

static size_t plain_length(void *buf)
{
    return ((struct pw_buf *)buf)->len;
}

static size_t plain_copy(void *buf, size_t start, size_t len, void *dst)
{
    const struct pw_buf *b = buf;

    if (start >= b->len)
        return 0;
    if (len > b->len - start)
        len = b->len - start;
    memcpy(dst, b->data + start, len);
    return len;
}

static int plain_splice(void *buf, size_t start, size_t size, const void *data, size_t len)
{
    return pw_buf_splice(buf, start, size, data, len);
}

const struct pw_buffer_ops pw_buf_plain_ops = {
    .length = plain_length,
    .copy = plain_copy,
    .splice = plain_splice,
};

/* ---- The buffer a hostcall addresses ------------------------------------------------- */

static bool pw_plain(struct pw_buffer_ref *b, const struct pw_buf *buf)
{
    b->ops = &pw_buf_plain_ops;
    b->buf = (void *)buf;
    return true;
}

/*
 * Finds buffer `type` for the effective context. Returns PW_OK with *exists (false: does
 * not exist now), *b, *eos and *writable; PW_BAD_ARGUMENT for an unknown type.
 */
static enum pw_status pw_find_buffer(struct pw_vm *vm, uint32_t type, struct pw_buffer_ref *b,
                                     bool *exists, bool *eos, bool *writable)
{
    struct pw_ctx *ctx = vm->effective;

    *exists = false;
    *eos = false;
    *writable = false;
    switch (type) {
    case PW_BUFFER_REQUEST_BODY:
    case PW_BUFFER_RESPONSE_BODY:
    case PW_BUFFER_DOWNSTREAM_DATA:
    case PW_BUFFER_UPSTREAM_DATA:
        if (ctx == NULL || ctx->kind != PW_CTX_STREAM || ctx->host_stream == NULL ||
            vm->ops == NULL || vm->ops->stream_buffer == NULL)
            return PW_OK;
        *writable = true;
        *exists = vm->ops->stream_buffer(vm->host, ctx->host_stream, type, b, eos, writable);
        if (ctx->ending || !*exists)
            *writable = false;
        return PW_OK;
    case PW_BUFFER_HTTP_CALL_RESPONSE_BODY:
        if (vm->in_call_response && vm->call_response != NULL) {
            *exists = pw_plain(b, &vm->call_response->body);
            *eos = true;
        }
        return PW_OK;
    case PW_BUFFER_VM_CONFIGURATION:
        if (vm->cb == PW_CB_VM_START) {
            *exists = pw_plain(b, &vm->configuration);
            *eos = true;
        }
        return PW_OK;
    case PW_BUFFER_PLUGIN_CONFIGURATION:
        if (vm->cb == PW_CB_CONFIGURE && vm->current != NULL) {
            *exists = pw_plain(b, &vm->current->root->configuration);
            *eos = true;
        }
        return PW_OK;
    case PW_BUFFER_GRPC_RECEIVE:
    case PW_BUFFER_FOREIGN_FUNCTION_ARGUMENTS:
        return PW_OK;
    default:
        return PW_BAD_ARGUMENT;
    }
}

struct pw_buffer_slice {
    const struct pw_buffer_ref *b;
    size_t start;
};

static void pw_fill_slice(void *arg, void *dst, size_t len)
{
    struct pw_buffer_slice *sl = arg;

    sl->b->ops->copy(sl->b->buf, sl->start, len, dst);
}

/* proxy_get_buffer_bytes(type, start, max_size, return_data**, return_size*): copied
 * straight from the host's buffer into the guest's block. */
PW_HOSTCALL(get_buffer_bytes)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t start = pw_arg(slots, 1), max = pw_arg(slots, 2);
    struct pw_buffer_ref b;
    bool exists, eos, w, trapped;
    enum pw_status st = pw_find_buffer(vm, pw_arg(slots, 0), &b, &exists, &eos, &w);

    if (st != PW_OK)
        return pw_ret(slots, st);
    if (!exists)
        return pw_ret(slots, PW_NOT_FOUND);
    if ((uint64_t)start + max > UINT32_MAX)
        return pw_ret(slots, PW_BAD_ARGUMENT);
    size_t len = b.ops->length(b.buf), n = 0;
    if (start < len)
        n = len - start < max ? len - start : max;
    struct pw_buffer_slice sl = {&b, start};
    st = pw_guest_out(vm, n, pw_arg(slots, 3), pw_arg(slots, 4), pw_fill_slice, &sl, &trapped);
    if (trapped)
        return pw_trap_from_alloc(vm);
    return pw_ret(slots, st);
}

/* proxy_set_buffer_bytes(type, start, size, data, data_len) */
PW_HOSTCALL(set_buffer_bytes)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t type = pw_arg(slots, 0), len = pw_arg(slots, 4);
    const uint8_t *data = pw_guest_ptr(vm, pw_arg(slots, 3), len);
    struct pw_buffer_ref b;
    bool exists, eos, w;
    enum pw_status st;

    if (data == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    st = pw_find_buffer(vm, type, &b, &exists, &eos, &w);
    if (st != PW_OK)
        return pw_ret(slots, st);
    if (type > PW_BUFFER_UPSTREAM_DATA)
        return pw_ret(slots, PW_BAD_ARGUMENT); /* callout body, configuration: read-only */
    if (!exists || !w)
        return pw_ret(slots, pw_write_ignored(vm, "proxy_set_buffer_bytes", true, type, exists)
                                 ? PW_OK
                                 : PW_NOT_FOUND);
    if (b.ops->splice(b.buf, pw_arg(slots, 1), pw_arg(slots, 2), data, len) != 0)
        return pw_ret(slots, PW_INTERNAL_FAILURE);
    return pw_ret(slots, PW_OK);
}

/* proxy_get_buffer_status(type, return_size*, return_flags*) */
PW_HOSTCALL(get_buffer_status)
{
    struct pw_vm *vm = pw_vm_of(inst);
    struct pw_buffer_ref b;
    bool exists, eos, w;
    enum pw_status st = pw_find_buffer(vm, pw_arg(slots, 0), &b, &exists, &eos, &w);

    if (st != PW_OK)
        return pw_ret(slots, st);
    if (pw_guest_ptr(vm, pw_arg(slots, 1), 4) == NULL ||
        pw_guest_ptr(vm, pw_arg(slots, 2), 4) == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if (!exists)
        return pw_ret(slots, PW_NOT_FOUND);
    pw_guest_put_u32(vm, pw_arg(slots, 1), (uint32_t)b.ops->length(b.buf));
    pw_guest_put_u32(vm, pw_arg(slots, 2), eos ? 1u : 0u);
    return pw_ret(slots, PW_OK);
}

/* ABI 0.1.0 proxy_get_configuration(return_data**, return_size*): the VM configuration
 * in on_vm_start, the plugin configuration in on_configure. */
PW_HOSTCALL(get_configuration)
{
    struct pw_vm *vm = pw_vm_of(inst);
    const struct pw_buf *b = NULL;
    bool trapped;

    if (vm->cb == PW_CB_VM_START)
        b = &vm->configuration;
    else if (vm->cb == PW_CB_CONFIGURE && vm->current != NULL)
        b = &vm->current->root->configuration;
    if (b == NULL)
        return pw_ret(slots, PW_NOT_FOUND);
    enum pw_status st =
        pw_guest_copy_out(vm, b->data, b->len, pw_arg(slots, 0), pw_arg(slots, 1), &trapped);
    if (trapped)
        return pw_trap_from_alloc(vm);
    return pw_ret(slots, st);
}
