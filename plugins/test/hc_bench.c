/*
 * hc_bench: hostcall cost benchmark for scripts/bench/replay.sh. The configuration is
 * "<hostcall> <count>": in proxy_on_request_headers it makes that many calls of
 * get_header (proxy_get_header_map_value of :path, with the guest allocation and free),
 * add_header (proxy_replace_header_map_value), log (proxy_log below the host's level is
 * still a full call), or none (the loop alone, to subtract).
 */
#include "proxy_wasm.h"

static char what[32] = "none";
static long count;

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root_id, uint32_t size)
{
    struct wasp_bytes conf = {0};
    char text[64];

    if (size == 0 || wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &conf) !=
                         WASP_OK)
        return 0;
    snprintf(text, sizeof(text), "%.*s", (int)conf.len, conf.data);
    wasp_bytes_free(&conf);
    return sscanf(text, "%31s %ld", what, &count) == 2;
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    volatile long sink = 0;

    for (long i = 0; i < count; i++) {
        if (strcmp(what, "get_header") == 0) {
            struct wasp_bytes v;
            if (wasp_get_header(WASP_MAP_REQUEST_HEADERS, ":path", &v) == WASP_OK)
                sink += (long)v.len;
            wasp_bytes_free(&v);
        } else if (strcmp(what, "add_header") == 0) {
            sink += wasp_replace_header(WASP_MAP_REQUEST_HEADERS, "x-bench", "1");
        } else if (strcmp(what, "log") == 0) {
            sink += proxy_log(WASP_LOG_TRACE, "x", 1);
        } else {
            sink += i;
        }
    }
    return sink == -1 ? WASP_PAUSE : WASP_CONTINUE;
}
