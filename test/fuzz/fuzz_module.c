/*
 * fuzz_module.c - libFuzzer target for the module loader: arbitrary bytes go through
 * wasm_decode() (and wasm_module_load() when built with WASP_FUZZ_LOAD, once the
 * validator and translator exist). Any crash, leak or sanitizer report is a bug; a
 * rejection must come with a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wasm_module m;
    char err[256];
    int rc = wasm_decode(&m, data, size, err, sizeof(err));

    if (rc != WASM_OK && err[0] == '\0')
        abort();
    if (rc == WASM_OK) {
        /* Touch what later passes rely on: bodies end with `end` inside the bytes. */
        for (uint32_t i = m.nfunc_imports; i < m.nfuncs; i++)
            if (m.funcs[i].body_end[-1] != 0x0b || m.funcs[i].body_end > m.bytes + m.len)
                abort();
        wasm_module_release(&m);
    }
#ifdef WASP_FUZZ_LOAD
    {
        enum wasm_status st;
        wasm_module_t *mod = wasm_module_load(data, size, &st, err, sizeof(err));

        if (mod)
            wasm_module_free(mod);
        else if (err[0] == '\0')
            abort();
    }
#endif
    return 0;
}
