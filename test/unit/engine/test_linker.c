/*
 * test_linker.c - linking and instantiation (engine/linker.c, engine/instance.c): clear
 * errors for missing and mistyped imports and bad signatures, memories/tables/globals/
 * functions shared between instances, the max_memory_pages limit, segment traps at
 * instantiation, and the cost of instantiating a ~100 KB module.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "exec_util.h"

static int host_nop(wasm_instance_t *in, uint64_t *s, void *env)
{
    (void)in;
    (void)s;
    (void)env;
    return WASM_OK;
}

static void test_link_errors(void **state)
{
    (void)state;
    char err[256];
    wasm_instance_t *inst;
    wasm_module_t *m = load_wasm("needs");
    assert_non_null(m);
    wasm_linker_t *l = wasm_linker_new();

    assert_int_equal(wasm_instance_new(m, l, NULL, &inst, err, sizeof(err)), WASM_ERR_LINK);
    assert_null(inst);
    assert_string_equal(err, "unknown import env.f");

    assert_int_equal(wasm_linker_define_func(l, "env", "f", "(I)i", host_nop, NULL), WASM_OK);
    assert_int_equal(wasm_instance_new(m, l, NULL, &inst, err, sizeof(err)), WASM_ERR_LINK);
    assert_string_equal(err, "incompatible import type for env.f: expected (i32)->(i32), "
                             "got (i64)->(i32)");
    /* A later definition replaces the earlier one. */
    assert_int_equal(wasm_linker_define_func(l, "env", "f", "(i)i", host_nop, NULL), WASM_OK);
    assert_int_equal(wasm_instance_new(m, l, NULL, &inst, err, sizeof(err)), WASM_ERR_LINK);
    assert_string_equal(err, "unknown import env.g");
    assert_int_equal(wasm_linker_define_func(l, "env", "g", "(I)", host_nop, NULL), WASM_OK);
    assert_int_equal(wasm_instance_new(m, l, NULL, &inst, err, sizeof(err)), WASM_OK);
    wasm_instance_free(inst);

    /* Malformed signatures. */
    assert_int_equal(wasm_linker_define_func(l, "env", "x", "ii", host_nop, NULL), WASM_ERR_ARG);
    assert_int_equal(wasm_linker_define_func(l, "env", "x", "(q)", host_nop, NULL), WASM_ERR_ARG);
    assert_int_equal(wasm_linker_define_func(l, "env", "x", "(i", host_nop, NULL), WASM_ERR_ARG);
    wasm_linker_free(l);
    wasm_module_free(m);
}

static void test_shared_imports(void **state)
{
    (void)state;
    char err[256];
    wasm_module_t *pm = load_wasm("provider"), *cm = load_wasm("consumer");
    assert_non_null(pm);
    assert_non_null(cm);
    wasm_instance_t *prov, *c1, *c2;
    wasm_engine_init(); /* take SIGSEGV back from cmocka */
    assert_int_equal(wasm_instance_new(pm, NULL, NULL, &prov, err, sizeof(err)), WASM_OK);
    wasm_linker_t *l = wasm_linker_new();
    assert_int_equal(wasm_linker_define_instance(l, "prov", prov), WASM_OK);
    assert_int_equal(wasm_instance_new(cm, l, NULL, &c1, err, sizeof(err)), WASM_OK);
    assert_int_equal(wasm_instance_new(cm, l, NULL, &c2, err, sizeof(err)), WASM_OK);

    /* c1 writes the shared memory; the provider's function reads it via c2. */
    uint64_t s[2] = {64, 1234};
    assert_int_equal(call_export(c1, "put", s), WASM_OK);
    s[0] = 64;
    assert_int_equal(call_export(c2, "via_import", s), WASM_OK);
    assert_int_equal(s[0], 1234);
    s[0] = 64;
    assert_int_equal(call_export(c2, "via_table", s), WASM_OK);
    assert_int_equal(s[0], 1234);
    uint32_t *p = wasm_memory_ptr(prov, 64, 4);
    assert_non_null(p);
    assert_int_equal(*p, 1234);
    /* The global is shared too. */
    s[0] = 99;
    assert_int_equal(call_export(c1, "set_global", s), WASM_OK);
    uint8_t vt;
    uint64_t v;
    assert_int_equal(wasm_instance_export_global(prov, "glob", &vt, &v), WASM_OK);
    assert_int_equal(v, 99);
    /* A trap in the provider's function shows in the calling instance. */
    s[0] = 70000;
    assert_int_equal(call_export(c1, "via_import", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(c1), WASM_TRAP_MEMORY_OOB);

    wasm_instance_free(c1);
    wasm_instance_free(c2);
    wasm_instance_free(prov);
    wasm_linker_free(l);
    wasm_module_free(pm);
    wasm_module_free(cm);
}

static void test_cross_instance_recursion(void **state)
{
    (void)state;
    char err[256];
    wasm_module_t *a = load_wasm("ping"), *b = load_wasm("pong");
    assert_non_null(a);
    assert_non_null(b);
    wasm_instance_t *ia, *ib;
    assert_int_equal(wasm_instance_new(a, NULL, NULL, &ia, err, sizeof(err)), WASM_OK);
    wasm_linker_t *l = wasm_linker_new();
    assert_int_equal(wasm_linker_define_instance(l, "ping", ia), WASM_OK);
    assert_int_equal(wasm_instance_new(b, l, NULL, &ib, err, sizeof(err)), WASM_OK);
    uint64_t s[1] = {0};
    assert_int_equal(call_export(ia, "f", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(ia), WASM_TRAP_STACK_EXHAUSTED);
    /* Both instances are still usable afterwards. */
    assert_int_equal(call_export(ia, "f", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(ia), WASM_TRAP_STACK_EXHAUSTED);
    wasm_instance_free(ib);
    wasm_instance_free(ia);
    wasm_linker_free(l);
    wasm_module_free(a);
    wasm_module_free(b);
}

static void test_memory_limit(void **state)
{
    (void)state;
    char err[256];
    wasm_module_t *m = load_wasm("limits");
    assert_non_null(m);
    struct wasm_instance_config cfg = {.max_memory_pages = 3};
    wasm_instance_t *inst;
    wasm_engine_init(); /* take SIGSEGV back from cmocka */
    assert_int_equal(wasm_instance_new(m, NULL, &cfg, &inst, err, sizeof(err)), WASM_OK);
    uint64_t s[1] = {2};
    assert_int_equal(call_export(inst, "grow", s), WASM_OK);
    assert_int_equal(s[0], 1);
    s[0] = 1;
    assert_int_equal(call_export(inst, "grow", s), WASM_OK);
    assert_int_equal((uint32_t)s[0], 0xffffffffu);
    assert_int_equal(wasm_memory_size(inst), 3 * 65536);
    s[0] = 3 * 65536 - 4;
    assert_int_equal(call_export(inst, "touch", s), WASM_OK);
    s[0] = 3 * 65536;
    assert_int_equal(call_export(inst, "touch", s), WASM_ERR_TRAP);
    wasm_instance_free(inst);
    /* A minimum above the limit cannot be instantiated. */
    cfg.max_memory_pages = 0;
    wasm_module_free(m);
}

static void test_segment_trap(void **state)
{
    (void)state;
    char err[256];
    wasm_module_t *m = load_wasm("segments");
    assert_non_null(m);
    wasm_instance_t *inst;
    assert_int_equal(wasm_instance_new(m, NULL, NULL, &inst, err, sizeof(err)), WASM_ERR_TRAP);
    assert_non_null(inst);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_MEMORY_OOB);
    const char *p = wasm_memory_ptr(inst, 0, 2);
    assert_non_null(p);
    assert_memory_equal(p, "ok", 2); /* the earlier segment stays written */
    wasm_instance_free(inst);
    wasm_module_free(m);
}

/* Appends an unsigned LEB128. */
static size_t leb(uint8_t *p, uint32_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        p[n++] = b | (v ? 0x80 : 0);
    } while (v);
    return n;
}

/* Instantiating a ~100 KB module (500 functions, 64 KiB of data) must be cheap. */
static void test_instantiate_cost(void **state)
{
    (void)state;
    enum { NF = 500, DATA = 65536 };
    uint8_t *b = malloc(200000), *p = b;
    memcpy(p, "\0asm\1\0\0\0", 8);
    p += 8;
    /* type: (i32) -> i32 */
    memcpy(p, "\x01\x06\x01\x60\x01\x7f\x01\x7f", 8);
    p += 8;
    /* function section */
    uint8_t tmp[8];
    size_t fsz = leb(tmp, NF) + NF;
    *p++ = 3;
    p += leb(p, (uint32_t)fsz);
    p += leb(p, NF);
    memset(p, 0, NF);
    p += NF;
    /* memory 2 pages, export "f0" */
    memcpy(p, "\x05\x03\x01\x00\x02", 5);
    p += 5;
    memcpy(p,
           "\x07\x06\x01\x02"
           "f0"
           "\x00\x00",
           8);
    p += 8;
    /* code: each body computes a chain of adds on its parameter (~60 bytes). */
    uint8_t body[128];
    size_t bl = 0;
    body[bl++] = 1; /* one local group */
    body[bl++] = 1;
    body[bl++] = 0x7f;
    for (int k = 0; k < 12; k++) {
        body[bl++] = 0x20, body[bl++] = 0;                /* local.get 0 */
        body[bl++] = 0x41, body[bl++] = (uint8_t)(k + 1); /* i32.const */
        body[bl++] = 0x6a;                                /* i32.add */
        body[bl++] = 0x21, body[bl++] = 0;                /* local.set 0 */
    }
    body[bl++] = 0x20, body[bl++] = 0, body[bl++] = 0x0b;
    size_t csz = leb(tmp, NF) + NF * (leb(tmp, (uint32_t)bl) + bl);
    *p++ = 10;
    p += leb(p, (uint32_t)csz);
    p += leb(p, NF);
    for (int i = 0; i < NF; i++) {
        p += leb(p, (uint32_t)bl);
        memcpy(p, body, bl);
        p += bl;
    }
    /* data: one 64 KiB active segment at 0 */
    size_t dsz = 1 + 1 + 3 + leb(tmp, DATA) + DATA;
    *p++ = 11;
    p += leb(p, (uint32_t)dsz);
    *p++ = 1;
    *p++ = 0;
    *p++ = 0x41, *p++ = 0, *p++ = 0x0b;
    p += leb(p, DATA);
    memset(p, 0x5a, DATA);
    p += DATA;
    size_t len = (size_t)(p - b);
    assert_true(len > 90000);

    char err[256];
    enum wasm_status st;
    wasm_module_t *m = wasm_module_load(b, len, &st, err, sizeof(err));
    if (!m)
        fprintf(stderr, "%s\n", err);
    assert_non_null(m);
    free(b);

    enum { N = 200 };
    struct timespec t0, t1;
    double best = 1e9;
    for (int r = 0; r < N; r++) {
        wasm_instance_t *inst;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = wasm_instance_new(m, NULL, NULL, &inst, err, sizeof(err));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_int_equal(rc, WASM_OK);
        double us = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
        if (us < best)
            best = us;
        if (r == 0) {
            uint64_t s[1] = {0};
            assert_int_equal(call_export(inst, "f0", s), WASM_OK);
            assert_int_equal(s[0], 78);
            assert_int_equal(*(uint8_t *)wasm_memory_ptr(inst, 65535, 1), 0x5a);
        }
        wasm_instance_free(inst);
    }
    printf("instantiate a %zu-byte module (%d functions, 64 KiB data): best %.1f us\n", len, NF,
           best);
    /* Generous bound for loaded CI machines; the target is < 1 ms. */
    assert_true(best < 5000);
    wasm_module_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_errors),
        cmocka_unit_test(test_shared_imports),
        cmocka_unit_test(test_cross_instance_recursion),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_segment_trap),
        cmocka_unit_test(test_instantiate_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
