/*
 * hc_metrics: test plugin that shows a metric's process-wide value on live traffic. Its
 * configuration names a counter (default "hc_requests", the one hc_headers counts);
 * every response gets "x-metric: NAME=VALUE", read with proxy_get_metric when the
 * response headers pass. Defining a metric that another VM (another plugin, another
 * worker) defined gives the same id, so the value is what every worker added together.
 */
#include "proxy_wasm.h"

static char name[128] = "hc_requests";
static uint32_t metric;

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root_id, uint32_t size)
{
    struct wasp_bytes conf = {0};

    if (size > 0 &&
        wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &conf) == WASP_OK) {
        if (conf.len == 0 || conf.len >= sizeof(name)) {
            wasp_bytes_free(&conf);
            return 0;
        }
        memcpy(name, conf.data, conf.len);
        name[conf.len] = '\0';
        wasp_bytes_free(&conf);
    }
    return wasp_define_metric(WASP_METRIC_COUNTER, name, &metric) == WASP_OK;
}

int32_t WASP_EXPORT(proxy_on_response_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    uint64_t value = 0;
    char text[192];

    if (proxy_get_metric(metric, &value) != WASP_OK)
        snprintf(text, sizeof(text), "%s=unreadable", name);
    else
        snprintf(text, sizeof(text), "%s=%llu", name, (unsigned long long)value);
    wasp_add_header(WASP_MAP_RESPONSE_HEADERS, "x-metric", text);
    return WASP_CONTINUE;
}
