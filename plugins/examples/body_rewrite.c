/*
 * body_rewrite: replaces every occurrence of one string with another in response bodies.
 * Configuration: "from=to" (default "hello=HELLO"). The body is buffered by pausing
 * until end of stream (the host calls again with the cumulative size), rewritten in one
 * pass and set back whole; Content-Length is dropped in the response headers because the
 * length may change.
 */
#include "proxy_wasm.h"

static char from[256] = "hello";
static char to[256] = "HELLO";

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root_id, uint32_t size)
{
    if (size == 0)
        return 1;
    struct wasp_bytes conf;
    if (wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &conf) != WASP_OK)
        return 0;
    const char *eq = memchr(conf.data, '=', conf.len);
    size_t from_len = eq ? (size_t)(eq - conf.data) : 0;
    size_t to_len = eq ? conf.len - from_len - 1 : 0;
    bool ok = eq && from_len > 0 && from_len < sizeof(from) && to_len < sizeof(to);
    if (ok) {
        memcpy(from, conf.data, from_len);
        from[from_len] = '\0';
        memcpy(to, eq + 1, to_len);
        to[to_len] = '\0';
    } else {
        wasp_log(WASP_LOG_ERROR, "body_rewrite: configuration must be \"from=to\"");
    }
    wasp_bytes_free(&conf);
    return ok;
}

int32_t WASP_EXPORT(proxy_on_response_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    wasp_remove_header(WASP_MAP_RESPONSE_HEADERS, "content-length");
    return WASP_CONTINUE;
}

int32_t WASP_EXPORT(proxy_on_response_body)(uint32_t ctx, uint32_t size, uint32_t eos)
{
    if (!eos)
        return WASP_PAUSE; /* buffer until the whole body is here */
    struct wasp_bytes body = {0};
    if (size == 0 || wasp_get_buffer(WASP_BUFFER_RESPONSE_BODY, 0, size, &body) != WASP_OK)
        return WASP_CONTINUE;

    size_t from_len = strlen(from), to_len = strlen(to), hits = 0;
    for (size_t i = 0; i + from_len <= body.len;) {
        if (memcmp(body.data + i, from, from_len) == 0) {
            hits++;
            i += from_len;
        } else {
            i++;
        }
    }
    if (hits > 0) {
        size_t out_len = body.len + hits * to_len - hits * from_len;
        char *out = malloc(out_len ? out_len : 1);
        if (out != NULL) {
            size_t o = 0;
            for (size_t i = 0; i < body.len;) {
                if (i + from_len <= body.len && memcmp(body.data + i, from, from_len) == 0) {
                    memcpy(out + o, to, to_len);
                    o += to_len;
                    i += from_len;
                } else {
                    out[o++] = body.data[i++];
                }
            }
            proxy_set_buffer_bytes(WASP_BUFFER_RESPONSE_BODY, 0, (uint32_t)body.len, out, o);
            free(out);
        }
    }
    wasp_bytes_free(&body);
    return WASP_CONTINUE;
}
