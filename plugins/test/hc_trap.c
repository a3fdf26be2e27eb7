/*
 * hc_trap: test plugin for failures: traps (unreachable) in proxy_on_request_headers when
 * the request path contains "10bytes"; otherwise does nothing.
 */
#define _GNU_SOURCE
#include "proxy_wasm.h"

/* noinline: replay_trap_fails_closed expects this frame in the backtrace (and plugins are
 * linked without wasm-opt, which would inline it anyway: cmake/wasp.cmake). */
__attribute__((noinline)) static void crash_here(void)
{
    __builtin_trap();
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    struct wasp_bytes path;

    if (wasp_get_header(WASP_MAP_REQUEST_HEADERS, ":path", &path) == WASP_OK &&
        memmem(path.data, path.len, "10bytes", 7) != NULL)
        crash_here();
    return WASP_CONTINUE;
}
