/*
 * fuzz_exec.c - libFuzzer target for the engine's execution side: every input that loads
 * (decode, validate, translate) is instantiated without imports and each exported
 * function is called with zero arguments under a fuel budget, small memory and depth
 * limits. Traps are fine; crashes, sanitizer reports and hangs are bugs in the
 * translator, the interpreter or the instance code. Seed it with the spec tests' .wasm
 * files (wast2json output), simd_*.wasm included.
 *
 * An input whose first byte is 0xfd is not a module but choices for simd_gen.h, which
 * builds a valid module of SIMD code from them: it must load, and its function runs on
 * v128 arguments taken from the input's remaining bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "simd_gen.h"
#include "wasm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Calls every exported function with zero arguments (or argument bytes from args). */
static void call_exports(wasm_module_t *m, wasm_instance_t *inst, const uint8_t *args, size_t nargs)
{
    uint32_t n = wasm_module_export_count(m);

    for (uint32_t i = 0; i < n; i++) {
        struct wasm_extern_desc d;
        uint64_t slots[512];
        uint32_t np = 0, nr = 0;
        if (wasm_module_export(m, i, &d) != WASM_OK || d.kind != WASM_EXTERN_FUNC)
            continue;
        wasm_func_t *f = wasm_instance_export_func(inst, d.name);
        const struct wasm_functype *t = f ? wasm_func_type(f) : NULL;
        if (!t)
            continue;
        for (uint32_t k = 0; k < t->nparams; k++)
            np += wasm_valtype_slots(t->params[k]);
        for (uint32_t k = 0; k < t->nresults; k++)
            nr += wasm_valtype_slots(t->results[k]);
        if (np > 512 || nr > 512)
            continue;
        memset(slots, 0, sizeof(slots));
        if (nargs > 0)
            memcpy(slots, args, nargs < sizeof(slots) ? nargs : sizeof(slots));
        wasm_instance_set_fuel(inst, 20000);
        wasm_call(inst, f, slots);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    static struct simd_gen gen;
    char err[256];
    enum wasm_status st;
    uint8_t *generated = NULL;
    const uint8_t *args = NULL;
    size_t nargs = 0;

    if (!ready) {
        wasm_engine_init();
        ready = true;
    }
    if (size > 0 && data[0] == 0xfd) {
        if (simd_gen_module(&gen, data + 1, size - 1, &generated, &size) != 0)
            return 0;
        data = generated;
        args = gen.p;
        nargs = (size_t)(gen.end - gen.p);
    }
    wasm_module_t *m = wasm_module_load(data, size, &st, err, sizeof(err));
    if (!m) {
        if (generated) /* the generator only writes valid modules */
            abort();
        return 0;
    }
    struct wasm_instance_config cfg = {
        .max_memory_pages = 16,
        .max_call_depth = 200,
        .value_stack_bytes = 1 << 16,
    };
    wasm_instance_t *inst = NULL;
    wasm_instance_new(m, NULL, &cfg, &inst, err, sizeof(err));
    if (inst) {
        call_exports(m, inst, args, nargs);
        wasm_instance_free(inst);
    }
    wasm_module_free(m);
    free(generated);
    return 0;
}
