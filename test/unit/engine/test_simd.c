/*
 * test_simd.c - SIMD execution (engine/simd.c) and v128 values through the translator,
 * the interpreter and the API (exec/simd.wat): v128 params and results take two slots
 * each between scalar ones, v128 locals, globals, block values, branches, select and
 * calls (direct, indirect, across instances) keep every lane, memory access traps out
 * of bounds without writing, images keep v128 globals, host functions cannot take v128,
 * and a vector loop sums memory. The spec suite (simd_*.wast) covers each instruction's
 * semantics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "exec_util.h"
#include "regcode.h"

static wasm_module_t *mod;
static wasm_instance_t *inst;

static int setup(void **state)
{
    (void)state;
    char err[256];
    wasm_engine_init();
    mod = load_wasm("simd");
    if (!mod || wasm_instance_new(mod, NULL, NULL, &inst, err, sizeof(err)) != WASM_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wasm_instance_free(inst);
    wasm_module_free(mod);
    return 0;
}

/* Two slots of a v128 from four i32 lanes (lane 0 lowest). */
static void v128_i32(uint64_t *s, uint32_t l0, uint32_t l1, uint32_t l2, uint32_t l3)
{
    s[0] = (uint64_t)l1 << 32 | l0;
    s[1] = (uint64_t)l3 << 32 | l2;
}

static void test_params_and_results_take_two_slots(void **state)
{
    (void)state;
    /* mix(n i32, a v128, m i64, b v128) -> (a+b with lane 3 = n+m, n+m, splat m):
     * params in slots 0, 1-2, 3, 4-5; results in 0-1, 2, 3-4. */
    uint64_t s[6];
    s[0] = 40;
    v128_i32(&s[1], 1, 2, 3, 4);
    s[3] = 0x100000002ull;
    v128_i32(&s[4], 10, 20, 30, 40);
    assert_int_equal(call_export(inst, "mix", s), WASM_OK);
    assert_true(s[0] == ((uint64_t)22 << 32 | 11));
    assert_true(s[1] == ((uint64_t)42 << 32 | 33)); /* lane 3 replaced by n + (i32)m */
    assert_true(s[2] == 42);
    assert_true(s[3] == 0x100000002ull && s[4] == 0x100000002ull);

    /* The translated code counts slots, not values. */
    const struct wasm_code *c = wasm_instance_export_func(inst, "mix")->code;
    assert_int_equal(c->nparams, 6);
    assert_int_equal(c->nlocals, 3); /* $t (two slots) and $s */
    assert_int_equal(c->nresults, 5);
    const struct wasm_functype *ft = wasm_func_type(wasm_instance_export_func(inst, "mix"));
    assert_int_equal(ft->nparams, 4);
    assert_int_equal(wasm_valtype_slots(ft->params[1]), 2);
    assert_int_equal(wasm_valtype_slots(ft->params[2]), 1);
}

/* The bytes of x plus k each, xor x (what "flow" computes for a selected block value). */
static void add_bytes_xor(uint64_t *out, const uint64_t *x, unsigned k)
{
    uint8_t b[16];
    memcpy(b, x, 16);
    for (int i = 0; i < 16; i++)
        b[i] = (uint8_t)(b[i] + k) ^ b[i];
    memcpy(out, b, 16);
}

static void test_blocks_branches_select_calls(void **state)
{
    (void)state;
    const uint64_t x[2] = {0x8877665544332211ull, 0xfffefdfc03020100ull};
    uint64_t s[3], want[2];

    for (uint32_t sel = 0; sel < 3; sel++) {
        memcpy(s, x, 16);
        s[2] = sel;
        assert_int_equal(call_export(inst, "flow", s), WASM_OK);
        if (sel == 0) {
            want[0] = ~x[0];
            want[1] = ~x[1];
        } else {
            add_bytes_xor(want, x, sel == 1 ? 5 : 3);
        }
        assert_true(s[0] == want[0] && s[1] == want[1]);
    }
}

static void test_globals(void **state)
{
    (void)state;
    uint64_t s[2], g[2];
    uint8_t type;
    uint64_t low;

    /* acc saturates per i16 lane: 0x7000 + 0x7000 stays 0x7fff. */
    for (int i = 0; i < 2; i++) {
        s[0] = 0x0000ffff70000001ull;
        s[1] = 0x8000000000000000ull;
        assert_int_equal(call_export(inst, "accumulate", s), WASM_OK);
    }
    assert_true(s[0] == 0x0000fffe7fff0002ull);
    assert_true(s[1] == 0x8000000000000000ull); /* -32768 + -32768 saturates */
    assert_int_equal(wasm_instance_export_global_v128(inst, "acc", g), WASM_OK);
    assert_true(g[0] == s[0] && g[1] == s[1]);
    assert_int_equal(wasm_instance_export_global(inst, "acc", &type, &low), WASM_OK);
    assert_int_equal(type, WASM_V128);
    assert_true(low == s[0]);
    assert_int_equal(wasm_instance_export_global(inst, "count", &type, &low), WASM_OK);
    assert_true(type == WASM_I32 && low == 2);
    /* An immutable v128 global initialised by v128.const. */
    assert_int_equal(wasm_instance_export_global_v128(inst, "k", g), WASM_OK);
    assert_true(g[0] == 0x0706050403020100ull && g[1] == 0x0f0e0d0c0b0a0908ull);
    /* Not a v128 global, or none at all. */
    assert_int_equal(wasm_instance_export_global_v128(inst, "count", g), WASM_ERR_ARG);
    assert_int_equal(wasm_instance_export_global_v128(inst, "nope", g), WASM_ERR_ARG);
}

static void test_memory(void **state)
{
    (void)state;
    uint8_t *mem = wasm_memory_ptr(inst, 0, WASM_PAGE_SIZE);
    uint64_t s[3];
    uint32_t want = 0;

    assert_non_null(mem);
    for (uint32_t i = 0; i < 64; i++) {
        uint32_t v = i * 2654435761u;
        memcpy(mem + 256 + 4 * i, &v, 4);
        want += v;
    }
    s[0] = 256;
    s[1] = 64;
    assert_int_equal(call_export(inst, "sum", s), WASM_OK);
    assert_int_equal((uint32_t)s[0], want);

    /* A load at an odd address (offset=1), and a splat. */
    for (int i = 0; i < 17; i++)
        mem[1000 + i] = (uint8_t)i;
    s[0] = 1000;
    assert_int_equal(call_export(inst, "load", s), WASM_OK);
    assert_true(s[0] == 0x0807060504030201ull && s[1] == 0x100f0e0d0c0b0a09ull);
    s[0] = 1001;
    assert_int_equal(call_export(inst, "load_splat", s), WASM_OK);
    assert_true(s[0] == 0x0201020102010201ull && s[1] == s[0]);
}

static void test_out_of_bounds_traps_without_writing(void **state)
{
    (void)state;
    uint8_t *mem = wasm_memory_ptr(inst, 0, WASM_PAGE_SIZE);
    uint64_t s[3];
    char bt[512];

    /* cmocka installs its own SIGSEGV handler around each test: take ours back (the
     * guard-page mode traps through it). */
    wasm_engine_init();
    memset(mem + WASM_PAGE_SIZE - 16, 0xaa, 16);
    /* The last 16 bytes are in bounds; one byte further is not. */
    s[0] = WASM_PAGE_SIZE - 16;
    s[1] = s[2] = 0x1111111111111111ull;
    assert_int_equal(call_export(inst, "store", s), WASM_OK);
    assert_int_equal(mem[WASM_PAGE_SIZE - 1], 0x11);
    memset(mem + WASM_PAGE_SIZE - 16, 0xaa, 16);
    s[0] = WASM_PAGE_SIZE - 15;
    s[1] = s[2] = 0x2222222222222222ull;
    assert_int_equal(call_export(inst, "store", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_MEMORY_OOB);
    for (int i = 16; i > 0; i--)
        assert_int_equal(mem[WASM_PAGE_SIZE - i], 0xaa);
    wasm_instance_backtrace(inst, bt, sizeof(bt));
    assert_non_null(strstr(bt, "store"));

    s[0] = WASM_PAGE_SIZE - 16; /* + offset 1 */
    assert_int_equal(call_export(inst, "load", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_MEMORY_OOB);
    s[0] = 0xffffffffu;
    assert_int_equal(call_export(inst, "load_splat", s), WASM_ERR_TRAP);
    /* A lane store needs only its lane's 4 bytes in bounds. */
    s[0] = WASM_PAGE_SIZE - 4;
    v128_i32(&s[1], 1, 2, 0x33333333u, 4);
    assert_int_equal(call_export(inst, "store_lane", s), WASM_OK);
    assert_int_equal(mem[WASM_PAGE_SIZE - 1], 0x33);
    s[0] = WASM_PAGE_SIZE - 3;
    assert_int_equal(call_export(inst, "store_lane", s), WASM_ERR_TRAP);
    /* The instance stays usable. */
    s[0] = 0;
    assert_int_equal(call_export(inst, "load", s), WASM_OK);
}

static void test_calls_across_instances(void **state)
{
    (void)state;
    char err[256];
    wasm_instance_t *user;
    wasm_module_t *m = load_wasm("simd_user");
    wasm_linker_t *l = wasm_linker_new();
    uint64_t s[4];

    assert_non_null(m);
    assert_int_equal(wasm_linker_define_instance(l, "simd", inst), WASM_OK);
    assert_int_equal(wasm_instance_new(m, l, NULL, &user, err, sizeof(err)), WASM_OK);
    /* swap_sub(a, b) = b - a per i64 lane. */
    s[0] = 5, s[1] = 100, s[2] = 7, s[3] = 1000;
    assert_int_equal(call_export(user, "swap_sub", s), WASM_OK);
    assert_true(s[0] == 2 && s[1] == 900);
    wasm_instance_free(user);
    wasm_linker_free(l);
    wasm_module_free(m);
}

/* An image keeps both halves of v128 globals; its clones run SIMD code on their own. */
static void test_images_and_clones(void **state)
{
    (void)state;
    char err[256];
    wasm_instance_t *src, *c1, *c2;
    wasm_image_t *img;
    uint64_t s[2], g[2];

    assert_int_equal(wasm_instance_new(mod, NULL, NULL, &src, err, sizeof(err)), WASM_OK);
    s[0] = 0x0001000200030004ull, s[1] = 0x7000700070007000ull;
    assert_int_equal(call_export(src, "accumulate", s), WASM_OK);
    assert_int_equal(wasm_image_new(src, &img, err, sizeof(err)), WASM_OK);
    wasm_instance_free(src);
    assert_int_equal(wasm_instance_new_from_image(img, NULL, NULL, &c1, err, sizeof(err)), WASM_OK);
    assert_int_equal(wasm_instance_new_from_image(img, NULL, NULL, &c2, err, sizeof(err)), WASM_OK);
    wasm_image_free(img);
    assert_int_equal(wasm_instance_export_global_v128(c1, "acc", g), WASM_OK);
    assert_true(g[0] == 0x0001000200030004ull && g[1] == 0x7000700070007000ull);
    /* c1 adds again (the high lanes saturate at 0x7fff); c2 still sees the image's value. */
    s[0] = 0x0001000200030004ull, s[1] = 0x7000700070007000ull;
    assert_int_equal(call_export(c1, "accumulate", s), WASM_OK);
    assert_true(s[0] == 0x0002000400060008ull && s[1] == 0x7fff7fff7fff7fffull);
    assert_int_equal(wasm_instance_export_global_v128(c2, "acc", g), WASM_OK);
    assert_true(g[0] == 0x0001000200030004ull && g[1] == 0x7000700070007000ull);
    wasm_instance_free(c1);
    wasm_instance_free(c2);
}

static int host_nop(wasm_instance_t *in, uint64_t *s, void *env)
{
    (void)in, (void)s, (void)env;
    return WASM_OK;
}

static void test_host_functions_refuse_v128(void **state)
{
    (void)state;
    char err[256];
    wasm_instance_t *i2 = NULL;
    wasm_module_t *m = load_wasm("simd_host");
    wasm_linker_t *l = wasm_linker_new();

    assert_non_null(m);
    /* No signature letter stands for v128, and the import cannot match anything else. */
    assert_int_equal(wasm_linker_define_func(l, "env", "f", "(V)i", host_nop, NULL), WASM_ERR_ARG);
    assert_int_equal(wasm_linker_define_func(l, "env", "f", "(I)i", host_nop, NULL), WASM_OK);
    assert_int_equal(wasm_instance_new(m, l, NULL, &i2, err, sizeof(err)), WASM_ERR_LINK);
    assert_null(i2);
    assert_string_equal(err, "incompatible import type for env.f: expected (v128)->(i32), "
                             "got (i64)->(i32)");
    wasm_linker_free(l);
    wasm_module_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_and_results_take_two_slots),
        cmocka_unit_test(test_blocks_branches_select_calls),
        cmocka_unit_test(test_globals),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_out_of_bounds_traps_without_writing),
        cmocka_unit_test(test_calls_across_instances),
        cmocka_unit_test(test_images_and_clones),
        cmocka_unit_test(test_host_functions_refuse_v128),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
