/*
 * hc_abi010: a plugin for ABI 0.1.0, written against the raw ABI (no SDK): two-argument
 * header callbacks, proxy_get_configuration, proxy_continue_request.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(#name), used)) name
#define IMPORT(name) __attribute__((import_module("env"), import_name(#name))) name

int32_t IMPORT(proxy_log)(int32_t level, const char *msg, size_t len);
int32_t IMPORT(proxy_get_configuration)(char **data, size_t *len);
int32_t IMPORT(proxy_add_header_map_value)(int32_t map, const char *k, size_t kl, const char *v,
                                           size_t vl);

void EXPORT(proxy_abi_version_0_1_0)(void)
{
}

void *EXPORT(proxy_on_memory_allocate)(size_t n)
{
    return malloc(n);
}

int32_t EXPORT(proxy_on_configure)(uint32_t root, uint32_t size)
{
    char *data = NULL;
    size_t len = 0;
    char line[300] = "0.1.0 configuration: ";

    if (proxy_get_configuration(&data, &len) != 0)
        return 0;
    size_t n = strlen(line);
    if (len > sizeof(line) - n - 1)
        len = sizeof(line) - n - 1;
    memcpy(line + n, data, len);
    proxy_log(2, line, n + len);
    free(data);
    return 1;
}

int32_t EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n)
{
    proxy_add_header_map_value(0, "x-abi", 5, "0.1.0", 5);
    return 0;
}
