/*
 * fuzz_module.c - libFuzzer target for the module loader: arbitrary bytes go through
 * wasm_decode() and wasm_validate(), as a whole module and as a function body, and
 * through wasm_module_load() (WASP_FUZZ_LOAD, defined once the translator exists).
 * Any crash, leak or sanitizer report is a bug; a rejection must say why. The input is
 * also read as choices for simd_gen.h: the module of SIMD code it builds must load.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "simd_gen.h"

/* Decodes one module; a rejection must say why, an accepted one must be consistent. */
static void decode_one(const uint8_t *data, size_t size)
{
    struct wasm_module m;
    char err[256];
    int rc = wasm_decode(&m, data, size, err, sizeof(err));

    if (rc != WASM_OK && err[0] == '\0')
        abort();
    if (rc != WASM_OK)
        return;
    /* What later passes rely on: each body ends with `end`, inside the module bytes. */
    for (uint32_t i = m.nfunc_imports; i < m.nfuncs; i++)
        if (m.funcs[i].body_end > m.bytes + m.len || m.funcs[i].body_end[-1] != 0x0b ||
            m.funcs[i].body >= m.funcs[i].body_end)
            abort();
    err[0] = '\0';
    if (wasm_validate(&m, err, sizeof(err)) != WASM_OK && err[0] == '\0')
        abort();
    wasm_module_release(&m);
}

/* The decoder and validator on their own, then the whole pipeline when it exists. */
static void check_module(const uint8_t *data, size_t size)
{
    decode_one(data, size);
#ifdef WASP_FUZZ_LOAD
    enum wasm_status st;
    char err[256] = "";
    wasm_module_t *mod = wasm_module_load(data, size, &st, err, sizeof(err));

    if (mod)
        wasm_module_free(mod);
    else if (err[0] == '\0')
        abort();
#endif
}

/*
 * Wraps the input as the only function body (locals, then code) of a module that has a
 * table, a memory, a global and data, so the mutations reach the instruction decoder
 * instead of dying in the section headers.
 */
static void check_as_body(const uint8_t *data, size_t size)
{
    static const uint8_t head[] = {
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,                   /* header */
        0x01, 0x09, 0x02, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, /* types */
        0x03, 0x02, 0x01, 0x00,                                           /* function */
        0x04, 0x04, 0x01, 0x70, 0x00, 0x01,                               /* table */
        0x05, 0x03, 0x01, 0x00, 0x01,                                     /* memory */
        0x06, 0x06, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b,                   /* global */
        0x0c, 0x01, 0x01,                                                 /* datacount */
    };
    static const uint8_t tail[] = {0x0b, 0x03, 0x01, 0x01, 0x00}; /* data: 1 passive */
    uint8_t *b;
    size_t n = 0;

    if (size > 1u << 20)
        return;
    b = malloc(sizeof(head) + 12 + size + sizeof(tail));
    if (!b)
        return;
    memcpy(b, head, sizeof(head));
    n = sizeof(head);
    b[n++] = 0x0a; /* code section: size, count 1, body size, body */
    for (uint32_t v = (uint32_t)(size + 1 + (size < 128 ? 1 : size < 16384 ? 2 : 3));;) {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        b[n++] = (uint8_t)(byte | (v ? 0x80 : 0));
        if (!v)
            break;
    }
    b[n++] = 0x01;
    for (uint32_t v = (uint32_t)size;;) {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        b[n++] = (uint8_t)(byte | (v ? 0x80 : 0));
        if (!v)
            break;
    }
    memcpy(b + n, data, size);
    n += size;
    memcpy(b + n, tail, sizeof(tail));
    n += sizeof(tail);
    check_module(b, n);
    free(b);
}

/* A module of SIMD code generated from the input is valid: decode and validate (and the
 * whole load pipeline) must accept it. */
static void check_generated(const uint8_t *data, size_t size)
{
    static struct simd_gen gen;
    struct wasm_module m;
    uint8_t *b;
    size_t n;
    char err[256];

    if (simd_gen_module(&gen, data, size, &b, &n) != 0)
        return;
    if (wasm_decode(&m, b, n, err, sizeof(err)) != WASM_OK ||
        wasm_validate(&m, err, sizeof(err)) != WASM_OK)
        abort();
    wasm_module_release(&m);
#ifdef WASP_FUZZ_LOAD
    enum wasm_status st;
    wasm_module_t *mod = wasm_module_load(b, n, &st, err, sizeof(err));
    if (!mod)
        abort();
    wasm_module_free(mod);
#endif
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_module(data, size);
    check_as_body(data, size);
    check_generated(data, size);
    return 0;
}
