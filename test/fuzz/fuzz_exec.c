/*
 * fuzz_exec.c - libFuzzer target for the engine's execution side: every input that loads
 * (decode, validate, translate) is instantiated without imports and each exported
 * function is called with zero arguments under a fuel budget, small memory and depth
 * limits. Traps are fine; crashes, sanitizer reports and hangs are bugs in the
 * translator, the interpreter or the instance code. Seed it with the spec tests' .wasm
 * files (wast2json output).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wasm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    char err[256];
    enum wasm_status st;

    if (!ready) {
        wasm_engine_init();
        ready = true;
    }
    wasm_module_t *m = wasm_module_load(data, size, &st, err, sizeof(err));
    if (!m)
        return 0;
    struct wasm_instance_config cfg = {
        .max_memory_pages = 16,
        .max_call_depth = 200,
        .value_stack_bytes = 1 << 16,
    };
    wasm_instance_t *inst = NULL;
    wasm_instance_new(m, NULL, &cfg, &inst, err, sizeof(err));
    if (inst) {
        uint32_t n = wasm_module_export_count(m);
        for (uint32_t i = 0; i < n; i++) {
            struct wasm_extern_desc d;
            if (wasm_module_export(m, i, &d) != WASM_OK || d.kind != WASM_EXTERN_FUNC)
                continue;
            wasm_func_t *f = wasm_instance_export_func(inst, d.name);
            const struct wasm_functype *t = f ? wasm_func_type(f) : NULL;
            uint64_t slots[256];
            if (!t || t->nparams > 256 || t->nresults > 256)
                continue;
            memset(slots, 0, sizeof(slots));
            wasm_instance_set_fuel(inst, 20000);
            wasm_call(inst, f, slots);
        }
        wasm_instance_free(inst);
    }
    wasm_module_free(m);
    return 0;
}
