/*
 * hc_noabi: not a proxy-wasm plugin (no ABI version marker): loading it must fail with a
 * message saying so.
 */
#include <stdint.h>

__attribute__((export_name("proxy_on_configure"), used)) int32_t on_configure(uint32_t r,
                                                                              uint32_t s)
{
    return 1;
}
