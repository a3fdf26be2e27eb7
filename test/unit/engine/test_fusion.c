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

/* Two i32.adds in a row: one add2 that runs them in order (the second writes what the
 * first reads); un-joined when the second add folds into a load address instead. */
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
                uint32_t x = b + (f >= 2 ? 7u : a);
                uint32_t y = a + (f & 1 ? (uint32_t)-9 : a);
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
    assert_ptr_equal(h, wasm_op_handlers[WASM_OP_load32_si_A]); /* the add reads it */
    uint32_t *mem = wasm_memory_ptr(inst, 8, 4);
    *mem = 1000;
    uint64_t s[2] = {41, 0};
    assert_int_equal(call_export(inst, "add2_unjoin", s), WASM_OK);
    assert_int_equal(s[0], 1042);
}

static uint32_t call1(const char *name, uint32_t a, uint32_t b, uint32_t c)
{
    uint64_t s[3] = {a, b, c};
    assert_int_equal(call_export(inst, name, s), WASM_OK);
    return (uint32_t)s[0];
}

/* Affine i32 values (i32.add/shl with locals and constants): folded into addresses in
 * every form, wrapping at 32 bits before the offset; computed by one lea elsewhere;
 * evaluated before their local changes, across blocks, as results and operands. */
static void test_affine_values(void **state)
{
    (void)state;
    wasm_engine_init(); /* take SIGSEGV back from cmocka */
    assert_ptr_equal(first_handler("aff_load"), wasm_op_handlers[WASM_OP_load32_sxi_A]);
    assert_int_equal(call1("aff_load", 52, 0, 0), 1);
    assert_int_equal(call1("aff_load", 52, 2, 0), 3);
    assert_int_equal(call1("aff_load", 0xfffffff0u, 18, 0), 2); /* the sum wraps to 64 */
    assert_int_equal(call1("aff_load", 56, 0x40000000u, 0), 2); /* i << 2 wraps to 0 */
    uint64_t s[3] = {65536 - 12, 0, 0};                         /* 65536: out of bounds */
    assert_int_equal(call_export(inst, "aff_load", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_MEMORY_OOB);

    const struct wasm_code *c = wasm_instance_export_func(inst, "aff_store")->code;
    const void *h;
    memcpy(&h, &c->ins[5], sizeof(h));
    assert_ptr_equal(h, wasm_op_handlers[WASM_OP_store32_sxi_a]); /* the product, handed over */
    call1("aff_store", 0xfffffff0u, 30, 5); /* 0xfffffff0 + 8 + 120 + 4 = 116 */
    uint32_t *w = wasm_memory_ptr(inst, 112, 8);
    assert_int_equal(w[1], 15);
    assert_ptr_equal(first_handler("aff_store_i"), wasm_op_handlers[WASM_OP_store32_sxi_i]);
    call1("aff_store_i", 200, 3, 0); /* 12 + 200 + 4 */
    w = wasm_memory_ptr(inst, 216, 4);
    assert_int_equal(w[0], 77);

    assert_ptr_equal(first_handler("aff_lea"), wasm_op_handlers[WASM_OP_lea_sxi]);
    assert_int_equal(call1("aff_lea", 1000, 5, 0), 1028);
    assert_int_equal(call1("aff_lea", 0xfffffff8u, 1, 0), 4);
    assert_ptr_equal(first_handler("aff_lea_xi"), wasm_op_handlers[WASM_OP_lea_xi]);
    assert_int_equal(call1("aff_lea_xi", 7, 0, 0), 156);
    assert_int_equal(call1("aff_lea_xi", 0x20000000u, 0, 0), 100);
    assert_int_equal(call1("aff_preserve", 7, 0, 0), 112);
    assert_int_equal(call1("aff_block", 7, 1, 0), 15);
    assert_int_equal(call1("aff_block", 7, 0, 0), 1008);
    assert_int_equal(call1("aff_const", 0, 0, 0), 52);
    assert_int_equal(call1("aff_shl2", 0xffffffffu, 0, 0), 0);
    assert_int_equal(call1("aff_global", 0xfffffffau, 0, 0), 3);
    s[0] = 0x80000001u;
    assert_int_equal(call_export(inst, "aff_two", s), WASM_OK);
    assert_int_equal(s[0], 0x80000002u);
    assert_int_equal(s[1], 2);
    assert_int_equal(call1("aff_ops", 100, 10, 0), 420);
    assert_int_equal(call1("aff_ops", 100, 300, 0), 0xffffffffu);
    assert_int_equal(call1("aff_ops", 0xfffffffcu, 1, 0), 0); /* wraps to 0 */
}

static bool has_op(const char *name, enum wasm_op op);

static const void *handler_at(const char *name, uint32_t word)
{
    const void *h;
    memcpy(&h, &wasm_instance_export_func(inst, name)->code->ins[word], sizeof(h));
    return h;
}

static uint32_t rotl32(uint32_t x, int k)
{
    return (x << k) | (x >> (32 - k));
}

/* Results handed to the next instruction in the accumulator: operators, loads, stores,
 * compare-branches and br_if read it; a fusion that takes the reader back puts the
 * result into its slot again. */
static void test_accumulator(void **state)
{
    (void)state;
    assert_ptr_equal(first_handler("acc_chain"), wasm_op_handlers[WASM_OP_i32_xor_ssA]);
    assert_ptr_equal(handler_at("acc_chain", 5), wasm_op_handlers[WASM_OP_i32_rotl_aiA]);
    assert_ptr_equal(handler_at("acc_chain", 10), wasm_op_handlers[WASM_OP_i32_add_asA]);
    assert_ptr_equal(handler_at("acc_chain", 15), wasm_op_handlers[WASM_OP_store32_a]);
    for (size_t i = 0; i < NEDGE; i++)
        for (size_t j = 0; j < NEDGE; j++)
            for (size_t k = 0; k < NEDGE; k += 3) {
                uint32_t a = edge[i], b = edge[j], c = edge[k] * 977u;
                uint32_t x = rotl32(a ^ b, 7) + c, want;
                if (!(x - c > 1000))
                    want = (uint32_t)-1;
                else if ((x & b) == 0)
                    want = x;
                else
                    want = 0u - x;
                assert_int_equal(call1("acc_chain", a, b, c), want);
            }

    /* xor, xor, add folded into the load address: the second xor writes its slot. */
    assert_ptr_equal(handler_at("acc_undo_addr", 5), wasm_op_handlers[WASM_OP_i32_xor_ss]);
    assert_ptr_equal(handler_at("acc_undo_addr", 10), wasm_op_handlers[WASM_OP_load32_ss_A]);
    assert_int_equal(call1("acc_undo_addr", 4, 0, 4), 3);
    assert_int_equal(call1("acc_undo_addr", 3, 0xffffffffu, 0xfffffff3u), 3); /* wraps */
    /* xor, add (teed), compare, br_if: the add fuses into abr, the xor writes its slot. */
    assert_ptr_equal(first_handler("acc_undo_abr"), wasm_op_handlers[WASM_OP_i32_xor_ss]);
    assert_ptr_equal(handler_at("acc_undo_abr", 5), wasm_op_handlers[WASM_OP_abr_lt_u_si]);
    assert_int_equal(call1("acc_undo_abr", 5, 3, 10), 16);
    assert_int_equal(call1("acc_undo_abr", 0x55, 0xaa, 0), 0u - 0xff);

    /* Compares take and give the accumulator: gt reads the second load (mirrored: lt),
     * sub reads the second compare. */
    assert_true(has_op("acc_cmp", WASM_OP_load32_T));
    assert_true(has_op("acc_cmp", WASM_OP_i32_lt_s_as));
    assert_true(has_op("acc_cmp", WASM_OP_i32_lt_s_ssA));
    assert_true(has_op("acc_cmp", WASM_OP_i32_sub_saA)); /* and the return reads it */
    uint32_t *m = wasm_memory_ptr(inst, 64, 12);
    m[0] = 5, m[1] = 0xfffffffbu, m[2] = 5;
    assert_int_equal(call1("acc_cmp", 0, 4, 0), 1);
    assert_int_equal(call1("acc_cmp", 4, 0, 0), (uint32_t)-1);
    assert_int_equal(call1("acc_cmp", 0, 8, 0), 0);
    m[0] = 1, m[1] = 2, m[2] = 3, m[3] = 4, m[4] = 5, m[5] = 6; /* the data other tests read */

    /* Tee forms: load8_u writes $x and the accumulator for the eqz-branch; the add writes
     * $y and the accumulator for the mul; both locals are read again later. */
    assert_ptr_equal(first_handler("acc_tee"), wasm_op_handlers[WASM_OP_load8_u_T]);
    assert_ptr_equal(handler_at("acc_tee", 5), wasm_op_handlers[WASM_OP_br_z32_a]);
    assert_ptr_equal(handler_at("acc_tee", 9), wasm_op_handlers[WASM_OP_i32_add_ssT]);
    assert_ptr_equal(handler_at("acc_tee", 14), wasm_op_handlers[WASM_OP_i32_mul_aiA]);
    assert_int_equal(call1("acc_tee", 0, 10, 0), (1 + 10) * 4); /* byte at 64: 1 */
    assert_int_equal(call1("acc_tee", 1, 10, 0), 0);            /* byte at 65: 0 */
    assert_int_equal(call1("acc_tee", 4, 0xfffffff0u, 0), (2 + 0xfffffff0u) * 4);

    /* br_table, select and float operators on the accumulator. */
    assert_ptr_equal(handler_at("acc_brtable", 5), wasm_op_handlers[WASM_OP_br_table_a]);
    for (uint32_t i = 0; i < 9; i++)
        assert_int_equal(call1("acc_brtable", i, 0, 0), 10 * (i % 4 + 1));
    assert_ptr_equal(handler_at("acc_select", 5), wasm_op_handlers[WASM_OP_select_a]);
    assert_int_equal(call1("acc_select", 7, 9, 3), 7);
    assert_int_equal(call1("acc_select", 7, 9, 2), 9);
    assert_ptr_equal(handler_at("acc_f64", 5), wasm_op_handlers[WASM_OP_f64_sub_as]);
    assert_ptr_equal(handler_at("acc_f64", 15), wasm_op_handlers[WASM_OP_f64_div_saA]);
    static const double fv[] = {0.5, -3.25, 1e10, 7.0, -0.0};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            for (int k = 0; k < 5; k++) {
                double a = fv[i], b = fv[j], c = fv[k];
                volatile double p = a * b, q = a + c, want = (p - c) / q;
                uint64_t sl[3] = {wasm_slot_f64(a), wasm_slot_f64(b), wasm_slot_f64(c)};
                assert_int_equal(call_export(inst, "acc_f64", sl), WASM_OK);
                double got = wasm_slot_as_f64(sl[0]);
                assert_memory_equal(&got, (const void *)&want, sizeof(got));
                float af = (float)a, bf = (float)b, cf = (float)c;
                volatile float pf = af * bf, qf = af + cf, wantf = (pf - cf) / qf;
                uint64_t sf[3] = {wasm_slot_f32(af), wasm_slot_f32(bf), wasm_slot_f32(cf)};
                assert_int_equal(call_export(inst, "acc_f32", sf), WASM_OK);
                assert_int_equal(sf[0] >> 32, 0); /* zero-extended in its slot */
                float gotf = wasm_slot_as_f32(sf[0]);
                assert_memory_equal(&gotf, (const void *)&wantf, sizeof(gotf));
            }
}

/* Does the code of export name hold an instruction with handler op? */
static bool has_op(const char *name, enum wasm_op op)
{
    const struct wasm_code *c = wasm_instance_export_func(inst, name)->code;
    for (uint32_t i = 0; i + 1 < c->len; i++) {
        const void *h;
        memcpy(&h, &c->ins[i], sizeof(h));
        if (h == wasm_op_handlers[op])
            return true;
    }
    return false;
}

/* Copies (phi moves) right before br: one instruction, forward and back (fuel). */
static void test_copy_branch(void **state)
{
    (void)state;
    assert_true(has_op("copy_br", WASM_OP_copy2_br_back));
    assert_true(has_op("copy_br", WASM_OP_copy_br));
    assert_int_equal(call1("copy_br", 10, 0, 0), 286);
    assert_int_equal(call1("copy_br", 0, 0, 0), 0);
    wasm_instance_set_fuel(inst, 5); /* the back-edge takes fuel */
    uint64_t s[1] = {100};
    assert_int_equal(call_export(inst, "copy_br", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_FUEL_EXHAUSTED);
    wasm_instance_set_fuel(inst, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_compare_branch), cmocka_unit_test(test_add_pairs),
        cmocka_unit_test(test_affine_values),      cmocka_unit_test(test_accumulator),
        cmocka_unit_test(test_copy_branch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
