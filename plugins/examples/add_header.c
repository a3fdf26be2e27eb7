/*
 * add_header: adds a response header to every response. The plugin configuration is
 * "name: value" (default "x-wasp: hello"); a bad configuration fails proxy_on_configure.
 */
#include "proxy_wasm.h"

static char header_name[128] = "x-wasp";
static char header_value[512] = "hello";

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root_id, uint32_t size)
{
    if (size == 0)
        return 1;
    struct wasp_bytes conf;
    if (wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &conf) != WASP_OK)
        return 0;
    const char *colon = memchr(conf.data, ':', conf.len);
    size_t name_len = colon ? (size_t)(colon - conf.data) : 0;
    const char *value = colon ? colon + 1 : NULL;
    size_t value_len = colon ? conf.len - name_len - 1 : 0;
    while (value_len > 0 && *value == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 0 || name_len >= sizeof(header_name) || value_len >= sizeof(header_value)) {
        wasp_log(WASP_LOG_ERROR, "add_header: configuration must be \"name: value\"");
        wasp_bytes_free(&conf);
        return 0;
    }
    memcpy(header_name, conf.data, name_len);
    header_name[name_len] = '\0';
    memcpy(header_value, value, value_len);
    header_value[value_len] = '\0';
    wasp_bytes_free(&conf);
    wasp_log(WASP_LOG_INFO, "add_header: adding \"%s: %s\"", header_name, header_value);
    return 1;
}

int32_t WASP_EXPORT(proxy_on_response_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    wasp_add_header(WASP_MAP_RESPONSE_HEADERS, header_name, header_value);
    return WASP_CONTINUE;
}
