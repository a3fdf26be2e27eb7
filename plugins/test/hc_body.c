/*
 * hc_body: test plugin for body buffers: in the response body, replaces every "World"
 * with "wasp" by splicing (proxy_set_buffer_bytes with a start and size in the middle),
 * and prepends "[" and appends "]".
 */
#define _GNU_SOURCE
#include "proxy_wasm.h"

int32_t WASP_EXPORT(proxy_on_response_body)(uint32_t ctx, uint32_t size, uint32_t eos)
{
    struct wasp_bytes body;

    if (!eos)
        return WASP_PAUSE;
    if (wasp_get_buffer(WASP_BUFFER_RESPONSE_BODY, 0, size, &body) != WASP_OK)
        return WASP_CONTINUE;
    char *hit = memmem(body.data, body.len, "World", 5);
    if (hit != NULL)
        proxy_set_buffer_bytes(WASP_BUFFER_RESPONSE_BODY, (uint32_t)(hit - body.data), 5, "wasp",
                               4);
    wasp_bytes_free(&body);
    proxy_set_buffer_bytes(WASP_BUFFER_RESPONSE_BODY, 0, 0, "[", 1);
    size_t len = 0;
    uint32_t flags = 0;
    proxy_get_buffer_status(WASP_BUFFER_RESPONSE_BODY, &len, &flags);
    proxy_set_buffer_bytes(WASP_BUFFER_RESPONSE_BODY, (uint32_t)len, 0, "]", 1);
    return WASP_CONTINUE;
}
