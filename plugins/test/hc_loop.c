/*
 * hc_loop: test plugin for execution limits: loops forever in proxy_on_request_headers
 * when the path contains "10bytes" (the host must stop it with its fuel budget or its
 * max_execution_time); grows its memory by 64 pages in proxy_on_configure when the
 * configuration is "grow"; when the path contains "hog", allocates 1 MiB blocks (kept)
 * until malloc fails, then logs how far it got and aborts, as Rust's and C++'s
 * allocation-failure handlers do (a trap: the host's max_memory made memory.grow fail).
 */
#define _GNU_SOURCE
#include "proxy_wasm.h"

static volatile uint32_t counter;
static void *volatile hoard;

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root_id, uint32_t size)
{
    struct wasp_bytes conf = {0};

    if (size > 0)
        wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &conf);
    if (wasp_bytes_eq(&conf, "grow") && __builtin_wasm_memory_grow(0, 64) == (size_t)-1) {
        wasp_log(WASP_LOG_ERROR, "memory.grow refused");
        wasp_bytes_free(&conf);
        return 0;
    }
    wasp_bytes_free(&conf);
    return 1;
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    struct wasp_bytes path = {0};

    if (wasp_get_header(WASP_MAP_REQUEST_HEADERS, ":path", &path) == WASP_OK &&
        memmem(path.data, path.len, "10bytes", 7) != NULL) {
        for (;;)
            counter++;
    }
    if (path.data != NULL && memmem(path.data, path.len, "hog", 3) != NULL) {
        unsigned mib = 0;
        void **block;
        while ((block = malloc(1 << 20)) != NULL) {
            *block = hoard; /* kept: a chain the compiler cannot drop */
            hoard = block;
            mib++;
        }
        wasp_log(WASP_LOG_ERROR, "out of memory after %u MiB more", mib);
        __builtin_trap();
    }
    wasp_bytes_free(&path);
    return WASP_CONTINUE;
}
