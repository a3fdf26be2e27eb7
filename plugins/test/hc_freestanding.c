/*
 * hc_freestanding: the C SDK without any libc (clang --target=wasm32 -nostdlib; the SDK
 * supplies malloc/free and snprintf). Request headers: adds x-free with a formatted
 * summary of the request (header count, :path, a negative number, a hex number, a size);
 * on_configure churns the allocator (allocations of many sizes, freed out of order, reused)
 * and checks the blocks never overlap; the plugin configuration is echoed in the log.
 */
#include "proxy_wasm.h"

#ifndef WASP_SDK_FREESTANDING
#error "hc_freestanding must be built without wasi-libc"
#endif

/* Allocates blocks of many sizes, fills each with its own byte, frees every other one,
 * allocates again (reusing freed blocks) and checks no block was overwritten. */
static bool allocator_churn(void)
{
    enum { N = 200 };
    static unsigned char *blocks[N];
    static size_t sizes[N];
    bool ok = true;

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            if (blocks[i] != NULL)
                continue;
            sizes[i] = (size_t)((i * 37 + round * 11) % 3000) + 1;
            blocks[i] = malloc(sizes[i]);
            if (blocks[i] == NULL)
                return false;
            memset(blocks[i], i & 0xff, sizes[i]);
        }
        for (int i = 0; i < N; i++) {
            for (size_t k = 0; k < sizes[i]; k++)
                ok &= blocks[i][k] == (unsigned char)(i & 0xff);
        }
        for (int i = round % 2; i < N; i += 2) {
            free(blocks[i]);
            blocks[i] = NULL;
        }
    }
    /* A large block (several pages) grows memory. */
    unsigned char *big = calloc(300000, 1);
    ok &= big != NULL && big[0] == 0 && big[299999] == 0;
    big = realloc(big, 400000);
    ok &= big != NULL && big[299999] == 0;
    free(big);
    return ok;
}

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root, uint32_t size)
{
    struct wasp_bytes conf = {0};

    if (size > 0)
        wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &conf);
    wasp_log(WASP_LOG_INFO, "freestanding configured: %.*s, allocator %s", (int)conf.len,
             conf.data ? conf.data : "", allocator_churn() ? "ok" : "BROKEN");
    wasp_bytes_free(&conf);
    return 1;
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    struct wasp_bytes path = {0};
    char value[256];

    wasp_get_header(WASP_MAP_REQUEST_HEADERS, ":path", &path);
    snprintf(value, sizeof(value), "n=%u path=%.*s neg=%d hex=%x size=%zu big=%llu%%", n,
             (int)path.len, path.data ? path.data : "", -42, 0xbeefu, path.len,
             12345678901ull);
    wasp_bytes_free(&path);
    wasp_add_header(WASP_MAP_REQUEST_HEADERS, "x-free", value);
    return WASP_CONTINUE;
}
