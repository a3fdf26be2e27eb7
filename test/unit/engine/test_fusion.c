/*
 * test_fusion.c - fused instructions of the translator (engine/translate.c) and their
 * handlers (engine/interp.c): each function of exec/fusion.wat must translate into the
 * expected fused op, and compute what the unfused wasm computes (checked against C on
 * edge values: wrap-around, signed/unsigned boundaries, equality).
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
    mod = load_wasm("fusion");
    if (!mod)
        return -1;
    if (wasm_instance_new(mod, NULL, NULL, &inst, err, sizeof(err)) != WASM_OK) {
        fprintf(stderr, "instantiate: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wasm_instance_free(inst);
    wasm_module_free(mod);
    return 0;
}

static const void *first_handler(const char *name)
{
    const void *h;
    wasm_func_t *f = wasm_instance_export_func(inst, name);
    assert_non_null(f);
    memcpy(&h, &f->code->ins[0], sizeof(h));
    return h;
}

static const char *const cmp_names[10] = {"eq",   "ne",   "lt_s", "lt_u", "gt_s",
                                          "gt_u", "le_s", "le_u", "ge_s", "ge_u"};

static bool cmp_c(int k, uint32_t a, uint32_t b)
{
    switch (k) {
    case 0:
        return a == b;
    case 1:
        return a != b;
    case 2:
        return (int32_t)a < (int32_t)b;
    case 3:
        return a < b;
    case 4:
        return (int32_t)a > (int32_t)b;
    case 5:
        return a > b;
    case 6:
        return (int32_t)a <= (int32_t)b;
    case 7:
        return a <= b;
    case 8:
        return (int32_t)a >= (int32_t)b;
    default:
        return a >= b;
    }
}

static const uint32_t edge[] = {0,           1,           2,           3,
                                5,           0x7ffffffbu, 0x7fffffffu, 0x80000000u,
                                0xfffffffdu, 0xfffffffeu, 0xffffffffu, 100};
#define NEDGE (sizeof(edge) / sizeof(edge[0]))

/* Runs name(a, b, c) and checks d = a + b, result d when d CMP c holds, else -d. */
static void check_abr(const char *name, int k, uint32_t a, uint32_t b, uint32_t c)
{
    uint64_t s[3] = {a, b, c};
    assert_int_equal(call_export(inst, name, s), WASM_OK);
    uint32_t d = a + b;
    uint32_t want = cmp_c(k, d, c) ? d : 0u - d;
    if ((uint32_t)s[0] != want)
        fail_msg("%s(%#x, %#x, %#x) = %#x, want %#x", name, a, b, c, (uint32_t)s[0], want);
}

/* i32.add + compare + br_if/if: one abr op in every operand form, mirrored, inverted. */
static void test_add_compare_branch(void **state)
{
    (void)state;
    static const char forms[4][3] = {"ss", "si", "is", "ii"};
    for (int k = 0; k < 10; k++) {
        char name[32];
        for (int f = 0; f < 4; f++) {
            snprintf(name, sizeof(name), "abr_%s_%s", cmp_names[k], forms[f]);
            assert_ptr_equal(first_handler(name), wasm_op_handlers[WASM_OP_abr_eq_ss + 4 * k + f]);
            for (size_t i = 0; i < NEDGE; i++)
                for (size_t j = 0; j < NEDGE; j++)
                    for (size_t l = 0; l < NEDGE; l++) {
                        uint32_t b = f >= 2 ? 5 : edge[j];
                        uint32_t c = f & 1 ? (uint32_t)-3 : edge[l];
                        check_abr(name, k, edge[i], b, c);
                    }
        }
        snprintf(name, sizeof(name), "abr_%s_m", cmp_names[k]);
        assert_ptr_equal(first_handler(name), wasm_op_handlers[WASM_OP_abr_eq_ss + 4 * k]);
        for (size_t i = 0; i < NEDGE; i++)
            for (size_t l = 0; l < NEDGE; l++)
                check_abr(name, k, edge[i], edge[(i + l) % NEDGE], edge[l]);
        snprintf(name, sizeof(name), "abr_%s_if", cmp_names[k]);
        const void *h = first_handler(name);
        bool fused = false;
        for (int j = 0; j < 10; j++)
            fused |= h == wasm_op_handlers[WASM_OP_abr_eq_ss + 4 * j];
        assert_true(fused);
        for (size_t i = 0; i < NEDGE; i++)
            for (size_t l = 0; l < NEDGE; l++)
                check_abr(name, k, edge[i], edge[(i * 7 + l) % NEDGE], edge[l]);
    }
}

/* Two i32.adds in a row: one add2 that runs them in order; un-joined when the second
 * add folds into a load address instead. */
static void test_add_pairs(void **state)
{
    (void)state;
    static const char forms[4][3] = {"ss", "si", "is", "ii"};
    for (int f = 0; f < 4; f++) {
        char name[32];
        snprintf(name, sizeof(name), "add2_%s", forms[f]);
        assert_ptr_equal(first_handler(name), wasm_op_handlers[WASM_OP_add2_ss + f]);
        for (size_t i = 0; i < NEDGE; i++)
            for (size_t j = 0; j < NEDGE; j++) {
                uint32_t a = edge[i], b = edge[j];
                uint32_t x = a + (f >= 2 ? 7u : b);
                uint32_t y = b + (f & 1 ? (uint32_t)-9 : x);
                uint64_t s[2] = {a, b};
                assert_int_equal(call_export(inst, name, s), WASM_OK);
                assert_int_equal((uint32_t)s[0], x - y * 3);
            }
    }
    const struct wasm_code *c = wasm_instance_export_func(inst, "add2_unjoin")->code;
    const void *h;
    memcpy(&h, &c->ins[0], sizeof(h));
    assert_ptr_equal(h, wasm_op_handlers[WASM_OP_i32_add_si]);
    memcpy(&h, &c->ins[5], sizeof(h));
    assert_ptr_equal(h, wasm_op_handlers[WASM_OP_load32_si]);
    uint32_t *mem = wasm_memory_ptr(inst, 8, 4);
    *mem = 1000;
    uint64_t s[2] = {41, 0};
    assert_int_equal(call_export(inst, "add2_unjoin", s), WASM_OK);
    assert_int_equal(s[0], 1042);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_compare_branch),
        cmocka_unit_test(test_add_pairs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
