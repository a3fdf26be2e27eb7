/*
 * exec_util.h - helpers shared by the execution tests (test_interp.c, test_traps.c,
 * test_fuel.c, test_linker.c, test_threads.c): load a module converted from exec/ (*.wat)
 * at build time (EXEC_WASM_DIR), instantiate it, call exports by name.
 */
#ifndef WASP_TEST_EXEC_UTIL_H
#define WASP_TEST_EXEC_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm.h"

static inline wasm_module_t *load_wasm(const char *name)
{
    char path[512], err[256];
    snprintf(path, sizeof(path), "%s/%s.wasm", EXEC_WASM_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    enum wasm_status st;
    wasm_module_t *m = wasm_module_load(buf, (size_t)n, &st, err, sizeof(err));
    free(buf);
    if (!m)
        fprintf(stderr, "load %s: %s\n", name, err);
    return m;
}

/* Calls export name of inst with slots (in/out); returns the wasm_call status. */
static inline int call_export(wasm_instance_t *inst, const char *name, uint64_t *slots)
{
    wasm_func_t *f = wasm_instance_export_func(inst, name);
    if (!f) {
        fprintf(stderr, "no export %s\n", name);
        return -1;
    }
    return wasm_call(inst, f, slots);
}

#endif /* WASP_TEST_EXEC_UTIL_H */
