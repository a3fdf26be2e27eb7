/*
 * simd_gen.h - turns fuzz input into a valid module full of SIMD code, for fuzz_module
 * (the loader) and fuzz_exec (the translator and interpreter). Random bytes almost never
 * type-check, so the input is read as choices instead: which instruction of simd.h's
 * table comes next, its immediates (alignment, offset, lanes, shuffle indices, constant
 * bytes) and where its operands come from (the previous result, a parameter or local,
 * a constant, an address in or out of bounds). The module has one page of memory and
 * exports "f" (param v128 v128 i32) (result v128); every result is folded into f's
 * result or dropped, so the body validates whatever the bytes say.
 */
#ifndef WASP_TEST_FUZZ_SIMD_GEN_H
#define WASP_TEST_FUZZ_SIMD_GEN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "simd.h"

#define SIMD_GEN_MAX_OPS 256
#define SIMD_GEN_MAX_DEPTH 32
#define SIMD_GEN_BODY_CAP 16384

struct simd_gen {
    const uint8_t *p, *end; /* the choices */
    uint8_t body[SIMD_GEN_BODY_CAP];
    size_t len;
    uint8_t stack[SIMD_GEN_MAX_DEPTH + 4]; /* operand types, as the validator sees them */
    unsigned h;
};

/* The sub-opcode of each instruction in dense order (enum wasm_simd_op). */
static const uint8_t simd_gen_codes[WASM_SIMD_OP_COUNT] = {
#define SIMD_GEN_CODE(code, name, layout, sig, arg) code,
    WASM_SIMD_OPS(SIMD_GEN_CODE)
#undef SIMD_GEN_CODE
};

static uint8_t simd_gen_byte(struct simd_gen *g)
{
    return g->p < g->end ? *g->p++ : 0;
}

static void simd_gen_emit(struct simd_gen *g, uint8_t b)
{
    if (g->len < sizeof(g->body))
        g->body[g->len++] = b;
}

static void simd_gen_uleb(struct simd_gen *g, uint64_t v)
{
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        simd_gen_emit(g, (uint8_t)(b | (v ? 0x80 : 0)));
    } while (v);
}

static void simd_gen_sleb(struct simd_gen *g, int64_t v)
{
    for (;;) {
        uint8_t b = v & 0x7f;
        v >>= 7;
        if ((v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40))) {
            simd_gen_emit(g, b);
            return;
        }
        simd_gen_emit(g, (uint8_t)(b | 0x80));
    }
}

static void simd_gen_raw(struct simd_gen *g, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        simd_gen_emit(g, simd_gen_byte(g));
}

/* Pushes a fresh operand of type t; `addr` asks for an i32 that is mostly in bounds. */
static void simd_gen_operand(struct simd_gen *g, uint8_t t, int addr)
{
    uint8_t c = simd_gen_byte(g);

    switch (t) {
    case WASM_V128:
        if (c % 4 < 3) { /* local.get of param 0 or 1 or of the v128 local 3 */
            simd_gen_emit(g, 0x20);
            simd_gen_emit(g, (uint8_t)(c % 4 == 2 ? 3 : c % 4));
        } else {
            simd_gen_emit(g, 0xfd);
            simd_gen_uleb(g, 12); /* v128.const */
            simd_gen_raw(g, 16);
        }
        break;
    case WASM_I32:
        if (addr && c < 0xf0) { /* within the page, near its end one time in 16 */
            uint32_t a = (uint32_t)simd_gen_byte(g) << 8 | simd_gen_byte(g);
            simd_gen_emit(g, 0x41);
            simd_gen_sleb(g, (int32_t)(c & 0x10 ? 65536 - 24 + (a & 31) : a));
        } else if (c % 3 == 0) { /* param 2 */
            simd_gen_emit(g, 0x20);
            simd_gen_emit(g, 2);
        } else {
            uint32_t v = 0;
            for (int i = 0; i < 4; i++)
                v = v << 8 | simd_gen_byte(g);
            simd_gen_emit(g, 0x41);
            simd_gen_sleb(g, (int32_t)v);
        }
        break;
    case WASM_I64: {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = v << 8 | simd_gen_byte(g);
        simd_gen_emit(g, 0x42);
        simd_gen_sleb(g, (int64_t)v);
        break;
    }
    case WASM_F32:
        simd_gen_emit(g, 0x43);
        simd_gen_raw(g, 4);
        break;
    default: /* WASM_F64 */
        simd_gen_emit(g, 0x44);
        simd_gen_raw(g, 8);
        break;
    }
    g->stack[g->h++] = t;
}

/* One instruction with its operands; chains on the previous result when it fits. */
static void simd_gen_instr(struct simd_gen *g)
{
    uint8_t c = simd_gen_byte(g);
    unsigned k = simd_gen_byte(g) % WASM_SIMD_OP_COUNT;
    uint8_t code = simd_gen_codes[k];
    const struct wasm_simd_info *si = &wasm_simd_info[code];
    int mem = si->layout >= WASM_SIMD_LOAD;
    unsigned first = 0, lanes = 0;

    /* The top of the stack serves as the first operand when it has the right type. */
    if (g->h > 0 && si->in[0] && g->stack[g->h - 1] == si->in[0] && (c & 3) != 0)
        first = 1;
    for (unsigned i = first; i < 3 && si->in[i]; i++)
        simd_gen_operand(g, si->in[i], mem && i == 0);
    simd_gen_emit(g, 0xfd);
    simd_gen_uleb(g, code);
    switch (si->layout) {
    case WASM_SIMD_LOAD:
    case WASM_SIMD_STORE:
    case WASM_SIMD_LOADLANE:
    case WASM_SIMD_STORELANE:
        simd_gen_uleb(g, simd_gen_byte(g) % (si->arg + 1u)); /* alignment <= natural */
        /* A small offset, or one time in eight a huge one (out of bounds). */
        simd_gen_uleb(g, (c & 0xe0) != 0xe0 ? simd_gen_byte(g) : (uint32_t)simd_gen_byte(g) << 24);
        lanes = si->layout >= WASM_SIMD_LOADLANE ? 16u >> si->arg : 0;
        break;
    case WASM_SIMD_EXTRACT:
    case WASM_SIMD_REPLACE:
        lanes = si->arg;
        break;
    case WASM_SIMD_SHUFFLE:
        for (int i = 0; i < 16; i++)
            simd_gen_emit(g, simd_gen_byte(g) % 32);
        break;
    case WASM_SIMD_CONST:
        simd_gen_raw(g, 16);
        break;
    default:
        break;
    }
    if (lanes)
        simd_gen_emit(g, simd_gen_byte(g) % lanes);
    for (unsigned i = 0; i < 3 && si->in[i]; i++)
        g->h--;
    if (si->out)
        g->stack[g->h++] = si->out;
    /* Keep the stack shallow: a v128 goes to local 3 now and then, the rest is dropped. */
    while (g->h > SIMD_GEN_MAX_DEPTH - 4) {
        simd_gen_emit(g, g->stack[g->h - 1] == WASM_V128 ? 0x21 : 0x1a);
        if (g->stack[g->h - 1] == WASM_V128)
            simd_gen_emit(g, 3);
        g->h--;
    }
}

/*
 * Builds the module into *out (malloc'd, *out_len bytes) from data. Returns 0, or -1
 * when out of memory. The bytes not consumed by the generator are left in g->p.
 */
static int simd_gen_module(struct simd_gen *g, const uint8_t *data, size_t size, uint8_t **out,
                           size_t *out_len)
{
    static const uint8_t head[] = {
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,             /* header */
        0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7f, 0x01, 0x7b, /* type */
        0x03, 0x02, 0x01, 0x00,                                     /* function */
        0x05, 0x03, 0x01, 0x00, 0x01,                               /* memory */
        0x07, 0x05, 0x01, 0x01, 'f',  0x00, 0x00,                   /* export */
    };
    uint8_t *m;
    size_t n = 0, body_len;

    g->p = data;
    g->end = data + size;
    g->len = 0;
    g->h = 0;
    simd_gen_emit(g, 0x01); /* one local group: a v128 */
    simd_gen_emit(g, 0x01);
    simd_gen_emit(g, 0x7b);
    for (int i = 0; i < SIMD_GEN_MAX_OPS && g->p < g->end && g->len < sizeof(g->body) - 256; i++)
        simd_gen_instr(g);
    /* f's result: the last v128 (or param 0); everything under it is dropped. */
    if (g->h == 0 || g->stack[g->h - 1] != WASM_V128)
        simd_gen_operand(g, WASM_V128, 0);
    simd_gen_emit(g, 0x21);
    simd_gen_emit(g, 3);
    for (g->h--; g->h > 0; g->h--)
        simd_gen_emit(g, 0x1a);
    simd_gen_emit(g, 0x20);
    simd_gen_emit(g, 3);
    simd_gen_emit(g, 0x0b);
    body_len = g->len;

    m = malloc(sizeof(head) + 16 + body_len);
    if (!m)
        return -1;
    memcpy(m, head, sizeof(head));
    n = sizeof(head);
    m[n++] = 0x0a; /* code section: size, one body: size, bytes */
    {
        uint8_t lb[5];
        size_t ln = 0;
        uint64_t v = body_len;
        do {
            lb[ln] = v & 0x7f;
            v >>= 7;
            lb[ln++] |= v ? 0x80 : 0;
        } while (v);
        v = 1 + ln + body_len;
        do {
            uint8_t b = v & 0x7f;
            v >>= 7;
            m[n++] = (uint8_t)(b | (v ? 0x80 : 0));
        } while (v);
        m[n++] = 0x01;
        memcpy(m + n, lb, ln);
        n += ln;
    }
    memcpy(m + n, g->body, body_len);
    n += body_len;
    *out = m;
    *out_len = n;
    return 0;
}

#endif /* WASP_TEST_FUZZ_SIMD_GEN_H */
