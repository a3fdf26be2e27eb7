/*
 * hc_headers: test plugin for `wasp replay` tests of the proxy-wasm layer. Request
 * headers: logs :path, adds x-replayed, removes h2; response headers: adds x-resp with the
 * plugin configuration; counts requests in a counter; ticks every 4 ms (virtual clock)
 * and logs each tick; logs on_log with the request path (maps readable in on_log);
 * prints $HC_GREETING (WASI environment) to stdout in proxy_on_configure; adds the
 * trailer x-seen to request trailers and rewrites the response trailer checksum.
 */
#include "proxy_wasm.h"

static char resp_value[256] = "none";
static uint32_t requests_metric;
static int ticks;

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root_id, uint32_t size)
{
    struct wasp_bytes conf;

    if (size > 0 &&
        wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &conf) == WASP_OK) {
        snprintf(resp_value, sizeof(resp_value), "%.*s", (int)conf.len, conf.data);
        wasp_bytes_free(&conf);
    }
    wasp_define_metric(WASP_METRIC_COUNTER, "hc_requests", &requests_metric);
    proxy_set_tick_period_milliseconds(4);
    wasp_log(WASP_LOG_INFO, "configured: %s", resp_value);
    const char *greeting = getenv("HC_GREETING");
    if (greeting != NULL)
        printf("greeting from the environment: %s\n", greeting); /* WASI fd_write, stdout */
    return 1;
}

void WASP_EXPORT(proxy_on_tick)(uint32_t root_id)
{
    wasp_log(WASP_LOG_DEBUG, "tick %d", ++ticks);
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    struct wasp_bytes path;

    if (wasp_get_header(WASP_MAP_REQUEST_HEADERS, ":path", &path) == WASP_OK) {
        wasp_log(WASP_LOG_INFO, "request %u: %u headers, path %.*s", ctx, n, (int)path.len,
                 path.data);
        wasp_bytes_free(&path);
    }
    wasp_add_header(WASP_MAP_REQUEST_HEADERS, "X-Replayed", "1");
    wasp_remove_header(WASP_MAP_REQUEST_HEADERS, "h2");
    proxy_increment_metric(requests_metric, 1);
    return WASP_CONTINUE;
}

int32_t WASP_EXPORT(proxy_on_response_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    wasp_add_header(WASP_MAP_RESPONSE_HEADERS, "x-resp", resp_value);
    return WASP_CONTINUE;
}

void WASP_EXPORT(proxy_on_log)(uint32_t ctx)
{
    struct wasp_bytes v = {0};
    int32_t rc = wasp_get_header(WASP_MAP_REQUEST_HEADERS, "x-replayed", &v);

    wasp_log(WASP_LOG_INFO, "on_log %u: x-replayed status %d value %.*s", ctx, rc, (int)v.len,
             v.data ? v.data : "");
    wasp_bytes_free(&v);
}

int32_t WASP_EXPORT(proxy_on_request_trailers)(uint32_t ctx, uint32_t n)
{
    wasp_log(WASP_LOG_INFO, "request trailers: %u", n);
    wasp_add_header(WASP_MAP_REQUEST_TRAILERS, "x-seen", "req");
    return WASP_CONTINUE;
}

int32_t WASP_EXPORT(proxy_on_response_trailers)(uint32_t ctx, uint32_t n)
{
    wasp_replace_header(WASP_MAP_RESPONSE_TRAILERS, "checksum", "rewritten");
    return WASP_CONTINUE;
}
