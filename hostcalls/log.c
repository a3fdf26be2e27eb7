/*
 * log.c - logging, time and timer hostcalls: proxy_log (Envoy's line format
 * "wasm log <plugin> <root_id> <vm_id>: message", empty parts left out),
 * proxy_get_log_level, proxy_get_current_time_nanoseconds,
 * proxy_set_tick_period_milliseconds (one period per root context, armed by the host).
 */
#include "internal.h"

/* proxy_log(level, message, message_len) */
PW_HOSTCALL(log)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t level = pw_arg(slots, 0), len = pw_arg(slots, 2);
    const char *msg = pw_guest_ptr(vm, pw_arg(slots, 1), len);

    if (msg == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if (level > PW_LOG_CRITICAL)
        return pw_ret(slots, PW_BAD_ARGUMENT);
    pw_vm_log(vm, vm->effective, (enum pw_log_level)level, msg, len);
    return pw_ret(slots, PW_OK);
}

/* proxy_get_log_level(return_level*) */
PW_HOSTCALL(get_log_level)
{
    struct pw_vm *vm = pw_vm_of(inst);
    enum pw_log_level level = PW_LOG_INFO;

    if (vm->ops != NULL && vm->ops->log_level != NULL)
        level = vm->ops->log_level(vm->host);
    return pw_ret(slots, pw_guest_put_u32(vm, pw_arg(slots, 0), (uint32_t)level));
}

/* proxy_get_current_time_nanoseconds(return_time*): realtime, ns since the epoch. */
PW_HOSTCALL(get_current_time_nanoseconds)
{
    struct pw_vm *vm = pw_vm_of(inst);

    return pw_ret(slots, pw_guest_put_u64(vm, pw_arg(slots, 0), pw_vm_clock(vm, false)));
}

/* proxy_set_tick_period_milliseconds(period): for the root of the effective context. */
PW_HOSTCALL(set_tick_period_milliseconds)
{
    struct pw_vm *vm = pw_vm_of(inst);
    struct pw_ctx *ctx = vm->effective;

    if (ctx == NULL)
        return pw_ret(slots, PW_BAD_ARGUMENT); /* during _start: no root context yet */
    if (vm->ops == NULL || vm->ops->set_tick_period == NULL)
        return pw_ret(slots, PW_UNIMPLEMENTED);
    ctx->root->tick_period_ms = pw_arg(slots, 0);
    vm->ops->set_tick_period(vm->host, ctx->root, ctx->root->tick_period_ms);
    return pw_ret(slots, PW_OK);
}
