/*
 * hc_trailers: test plugin for trailers created at the end of a body (Envoy's
 * addDecodedTrailers / addEncodedTrailers: the Rust SDK's add_http_request_trailer from
 * on_http_request_body at end_of_stream) and for writes in phases where a map cannot
 * change. It logs the status of each such call as "<what>: status N", the way the Rust
 * SDK would see it (any status but OK there is a panic):
 *   request headers  adds a request trailer (there are none, and this is not the end
 *                    of the body) and a response header (no response yet): both are
 *                    acknowledged and ignored
 *   request body     pauses until the end (the whole body is buffered); at the end adds
 *                    the request trailer "x-body-length: N"
 *   request trailers logs how many there are (trailers it created itself do not come
 *                    back to it: they start at the next filter)
 *   response headers adds a request header (the request went upstream: ignored)
 *   response body    at the end adds the response trailers "x-resp-length: N" and
 *                    "x-added-by: hc_trailers"; with configuration "pause_end" it pauses
 *                    there instead and adds them from a tick 1 ms later, then continues
 */
#include "proxy_wasm.h"

static bool pause_end;
static uint32_t paused_stream, paused_size;

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root, uint32_t size)
{
    struct wasp_bytes cfg = {0};

    if (size > 0 && wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &cfg) == WASP_OK)
        pause_end = wasp_bytes_eq(&cfg, "pause_end");
    wasp_bytes_free(&cfg);
    return 1;
}

static void logged(const char *what, int32_t status)
{
    wasp_log(WASP_LOG_INFO, "%s: status %d", what, status);
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    logged("request trailer before the body's end",
           wasp_add_header(WASP_MAP_REQUEST_TRAILERS, "x-early", "1"));
    logged("response header during the request",
           wasp_add_header(WASP_MAP_RESPONSE_HEADERS, "x-early", "1"));
    return WASP_CONTINUE;
}

int32_t WASP_EXPORT(proxy_on_request_body)(uint32_t ctx, uint32_t size, uint32_t eos)
{
    char len[16];

    if (!eos)
        return WASP_PAUSE;
    snprintf(len, sizeof(len), "%u", size);
    logged("request trailer at the body's end",
           wasp_add_header(WASP_MAP_REQUEST_TRAILERS, "x-body-length", len));
    return WASP_CONTINUE;
}

int32_t WASP_EXPORT(proxy_on_request_trailers)(uint32_t ctx, uint32_t n)
{
    wasp_log(WASP_LOG_INFO, "hc_trailers sees %u request trailers", n);
    return WASP_CONTINUE;
}

int32_t WASP_EXPORT(proxy_on_response_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    logged("request header during the response",
           wasp_add_header(WASP_MAP_REQUEST_HEADERS, "x-late", "1"));
    return WASP_CONTINUE;
}

static void add_response_trailers(uint32_t size)
{
    char len[16];

    snprintf(len, sizeof(len), "%u", size);
    logged("response trailer at the body's end",
           wasp_add_header(WASP_MAP_RESPONSE_TRAILERS, "x-resp-length", len));
    logged("second response trailer",
           wasp_add_header(WASP_MAP_RESPONSE_TRAILERS, "x-added-by", "hc_trailers"));
}

int32_t WASP_EXPORT(proxy_on_response_body)(uint32_t ctx, uint32_t size, uint32_t eos)
{
    if (!eos)
        return WASP_PAUSE;
    if (pause_end) {
        paused_stream = ctx;
        paused_size = size;
        proxy_set_tick_period_milliseconds(1);
        return WASP_PAUSE;
    }
    add_response_trailers(size);
    return WASP_CONTINUE;
}

void WASP_EXPORT(proxy_on_tick)(uint32_t root)
{
    proxy_set_tick_period_milliseconds(0);
    if (paused_stream == 0 || proxy_set_effective_context(paused_stream) != WASP_OK)
        return;
    paused_stream = 0;
    add_response_trailers(paused_size);
    proxy_continue_stream(WASP_STREAM_RESPONSE);
}

int32_t WASP_EXPORT(proxy_on_response_trailers)(uint32_t ctx, uint32_t n)
{
    wasp_log(WASP_LOG_INFO, "hc_trailers sees %u response trailers", n);
    return WASP_CONTINUE;
}
