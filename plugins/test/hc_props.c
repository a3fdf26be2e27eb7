/*
 * hc_props: test plugin that shows properties of the live stream in response headers.
 * Its configuration lists properties separated by blanks, each as TYPE:PATH with the
 * path's segments joined by dots (Envoy's notation): s: a string, i: an 8-byte
 * little-endian integer, b: a 1-byte boolean. For each one the response gets
 * "x-prop-PATH: VALUE" (dots kept), or "x-prop-PATH: status N" when proxy_get_property
 * did not answer OK. Read when the response headers pass, so request.*, connection.*,
 * upstream.* and response.code are all known by then.
 */
#include "proxy_wasm.h"

static char conf[2048];

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root_id, uint32_t size)
{
    struct wasp_bytes c = {0};

    if (size == 0 || wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &c) != WASP_OK)
        return 0;
    bool ok = c.len < sizeof(conf);
    if (ok)
        memcpy(conf, c.data, c.len);
    wasp_bytes_free(&c);
    return ok;
}

/* Adds the header for one "TYPE:PATH" item (len bytes at item). */
static void show(const char *item, size_t len)
{
    char path[256], name[300], value[512];

    if (len < 3 || item[1] != ':' || len - 2 >= sizeof(path))
        return;
    size_t plen = len - 2;
    memcpy(path, item + 2, plen);
    path[plen] = '\0';
    snprintf(name, sizeof(name), "x-prop-%s", path);
    for (size_t i = 0; i < plen; i++)
        if (path[i] == '.')
            path[i] = '\0';
    struct wasp_bytes v = {0};
    int32_t rc = proxy_get_property(path, plen, &v.data, &v.len);
    if (rc != WASP_OK) {
        snprintf(value, sizeof(value), "status %d", rc);
    } else if (item[0] == 'i' && v.len == 8) {
        unsigned long long n = 0;
        for (int i = 7; i >= 0; i--)
            n = n << 8 | (unsigned char)v.data[i];
        snprintf(value, sizeof(value), "%llu", n);
    } else if (item[0] == 'b' && v.len == 1) {
        snprintf(value, sizeof(value), "%s", v.data[0] ? "true" : "false");
    } else if (item[0] == 's') {
        snprintf(value, sizeof(value), "%.*s", (int)v.len, v.data ? v.data : "");
    } else {
        snprintf(value, sizeof(value), "bad encoding (%zu bytes)", v.len);
    }
    wasp_bytes_free(&v);
    wasp_add_header(WASP_MAP_RESPONSE_HEADERS, name, value);
}

int32_t WASP_EXPORT(proxy_on_response_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    for (const char *p = conf; *p != '\0';) {
        while (*p == ' ')
            p++;
        const char *end = p;
        while (*end != '\0' && *end != ' ')
            end++;
        if (end > p)
            show(p, (size_t)(end - p));
        p = end;
    }
    return WASP_CONTINUE;
}
