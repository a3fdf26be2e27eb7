/*
 * test_interp.c - the translator and interpreter (engine/translate.c, engine/interp.c):
 * local.get/const folding and compare+branch fusion give the expected instructions, and
 * exports of exec/basic.wat compute the right values (arithmetic, loops, recursion,
 * multi-value, br_table, block/loop params, select, memory, tables, globals, host calls
 * and re-entrant wasm_call from a host function).
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
static wasm_linker_t *lnk;

static int host_add(wasm_instance_t *in, uint64_t *s, void *env)
{
    (void)in;
    (void)env;
    /* Sign-extended on purpose: the engine must zero-extend i32 results. */
    s[0] = (uint64_t)(int64_t)(int32_t)((uint32_t)s[0] + (uint32_t)s[1]);
    return WASM_OK;
}

/* Calls the guest's own "add" export from inside a host call: (x + 10) * 2. */
static int host_reenter(wasm_instance_t *in, uint64_t *s, void *env)
{
    (void)env;
    uint64_t a[2] = {s[0], 10};
    int rc = wasm_call(in, wasm_instance_export_func(in, "add"), a);
    if (rc != WASM_OK)
        return rc;
    s[0] = (uint32_t)(a[0] * 2);
    return WASM_OK;
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    wasm_engine_init();
    mod = load_wasm("basic");
    if (!mod)
        return -1;
    lnk = wasm_linker_new();
    wasm_linker_define_func(lnk, "env", "host_add", "(ii)i", host_add, NULL);
    wasm_linker_define_func(lnk, "env", "host_reenter", "(i)i", host_reenter, NULL);
    if (wasm_instance_new(mod, lnk, NULL, &inst, err, sizeof(err)) != WASM_OK) {
        fprintf(stderr, "instantiate: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wasm_instance_free(inst);
    wasm_linker_free(lnk);
    wasm_module_free(mod);
    return 0;
}

static const void *handler_at(const struct wasm_code *c, uint32_t word)
{
    const void *h;
    memcpy(&h, &c->ins[word], sizeof(h));
    return h;
}

/* local.get and constants vanish into operands; the result goes straight to local.set. */
static void test_translation_is_compact(void **state)
{
    (void)state;
    const struct wasm_module *m = mod;
    /* $add (func 2): i32.add reading both params, then return it: 2 instructions, the
     * sum handed to the return in the accumulator. */
    const struct wasm_code *add = m->funcs[2].code;
    assert_non_null(add);
    assert_int_equal(add->len, 5 + 3);
    assert_ptr_equal(handler_at(add, 0), wasm_op_handlers[WASM_OP_i32_add_ssA]);
    assert_ptr_equal(handler_at(add, 5), wasm_op_handlers[WASM_OP_ret1_a]);

    /* count (func 4): the loop body is 1 instruction: i += 1 (immediate, written into
     * the local) fused with the compare-and-branch back to the loop head. */
    const struct wasm_code *count = m->funcs[6].code;
    assert_int_equal(count->len, 7 + 3);
    assert_ptr_equal(handler_at(count, 0), wasm_op_handlers[WASM_OP_abr_lt_s_is]);
    assert_int_equal(count->ins[2], 1 * 8);      /* destination: local $i (slot 1) */
    assert_int_equal(count->ins[3], 1 * 8);      /* source: local $i */
    assert_int_equal(count->ins[4], 1);          /* immediate */
    assert_int_equal(count->ins[5], 0 * 8);      /* compared with $n (slot 0) */
    assert_int_equal((int32_t)count->ins[6], 0); /* back to the loop head: itself */
    assert_ptr_equal(handler_at(count, 7), wasm_op_handlers[WASM_OP_ret1]);
    assert_int_equal(count->frame_slots, 2 + 2 + 1); /* locals, 2 stack heights, slack */

    /* An i32.add computing an address folds into the load/store (funcs 4 and 5). */
    const struct wasm_code *ld = m->funcs[4].code;
    assert_int_equal(ld->len, 6 + 3);
    assert_ptr_equal(handler_at(ld, 0), wasm_op_handlers[WASM_OP_load32_si_A]);
    const struct wasm_code *st = m->funcs[5].code;
    assert_int_equal(st->len, 7 + 2);
    assert_ptr_equal(handler_at(st, 0), wasm_op_handlers[WASM_OP_store32_ss_i]);

    /* i32.and + i32.eqz + br_if is one test-and-branch. */
    const struct wasm_code *flag = wasm_instance_export_func(inst, "flag")->code;
    assert_ptr_equal(handler_at(flag, 0), wasm_op_handlers[WASM_OP_br_and_z_si]);
    assert_int_equal(flag->ins[3], 4);
    /* Three local-to-local copies in a row are one copy3. */
    const struct wasm_code *rot = wasm_instance_export_func(inst, "rotate3")->code;
    assert_ptr_equal(handler_at(rot, 0), wasm_op_handlers[WASM_OP_copy3]);
    /* Zeroing a local that is still zero from entry emits nothing, also inside the
     * block before any join; after the block's end (a join) the write is kept. */
    const struct wasm_code *zi = wasm_instance_export_func(inst, "zero_init")->code;
    assert_ptr_equal(handler_at(zi, 0), wasm_op_handlers[WASM_OP_br_nz32]);
    assert_ptr_equal(handler_at(zi, 4), wasm_op_handlers[WASM_OP_const32]);
    uint64_t s[3] = {4, 0, 0};
    assert_int_equal(call_export(inst, "zero_init", s), WASM_OK);
    assert_int_equal(s[0], 4);
    s[0] = 4;
    assert_int_equal(call_export(inst, "flag", s), WASM_OK);
    assert_int_equal(s[0], 1);
    s[0] = 3;
    assert_int_equal(call_export(inst, "flag", s), WASM_OK);
    assert_int_equal(s[0], 0);
    s[0] = 1, s[1] = 20, s[2] = 300;
    assert_int_equal(call_export(inst, "rotate3", s), WASM_OK);
    assert_int_equal(s[0], 321);
}

/* The folded address wraps at 32 bits exactly like the i32.add it replaces. */
static void test_address_folding(void **state)
{
    (void)state;
    wasm_engine_init();                  /* take SIGSEGV back from cmocka */
    uint64_t s[2] = {0xfffffff0u, 0x20}; /* stores at 0x10 */
    assert_int_equal(call_export(inst, "store_at", s), WASM_OK);
    s[0] = 0x10 - 4;
    assert_int_equal(call_export(inst, "load_at", s), WASM_OK);
    assert_int_equal(s[0], 0x01020304);
    /* base + (i << 2) and (i << 2) + imm fold too, with the same wrapping. */
    assert_ptr_equal(handler_at(wasm_instance_export_func(inst, "load_idx")->code, 0),
                     wasm_op_handlers[WASM_OP_load32_sx_A]);
    assert_ptr_equal(handler_at(wasm_instance_export_func(inst, "load_tab")->code, 0),
                     wasm_op_handlers[WASM_OP_load32_xi_A]);
    s[0] = 8, s[1] = 2;
    assert_int_equal(call_export(inst, "load_idx", s), WASM_OK);
    assert_int_equal(s[0], 0x01020304);
    s[0] = 0x20, s[1] = 0x3ffffffcu; /* 0x20 + 0xfffffff0 wraps to 0x10 */
    assert_int_equal(call_export(inst, "load_idx", s), WASM_OK);
    assert_int_equal(s[0], 0x01020304);
    s[0] = 0x40000000u; /* (i << 2) wraps to 0, + 16 */
    assert_int_equal(call_export(inst, "load_tab", s), WASM_OK);
    assert_int_equal(s[0], 0x01020304);
    s[0] = 0x3fffffffu; /* 0xfffffffc + 16 wraps to 12: reads 12..15 */
    assert_int_equal(call_export(inst, "load_tab", s), WASM_OK);
    s[0] = 16384; /* 65536 + 16: out of bounds */
    assert_int_equal(call_export(inst, "load_tab", s), WASM_ERR_TRAP);
    s[0] = 0xfffffffcu; /* p + 4 wraps to 0: in bounds */
    assert_int_equal(call_export(inst, "load_at", s), WASM_OK);
    s[0] = 65536 - 4; /* 65536: out of bounds */
    assert_int_equal(call_export(inst, "load_at", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_MEMORY_OOB);
}

static void test_arith_and_loops(void **state)
{
    (void)state;
    uint64_t s[4] = {40, 2};
    assert_int_equal(call_export(inst, "add", s), WASM_OK);
    assert_int_equal(s[0], 42);
    s[0] = 0xffffffffu;
    s[1] = 2;
    assert_int_equal(call_export(inst, "add", s), WASM_OK);
    assert_int_equal(s[0], 1); /* wraps, zero-extended in the slot */
    s[0] = 1000;
    assert_int_equal(call_export(inst, "count", s), WASM_OK);
    assert_int_equal(s[0], 1000);
    s[0] = 20;
    assert_int_equal(call_export(inst, "fib", s), WASM_OK);
    assert_int_equal(s[0], 6765);
}

static void test_multi_value_and_blocks(void **state)
{
    (void)state;
    uint64_t s[4] = {1, 0xffffffffffull};
    assert_int_equal(call_export(inst, "swap", s), WASM_OK);
    assert_int_equal(s[0], 0xffffffffffull);
    assert_int_equal(s[1], 1);
    static const uint32_t want[5] = {10, 20, 30, 30, 30};
    for (uint32_t i = 0; i < 5; i++) {
        s[0] = i;
        assert_int_equal(call_export(inst, "brtable", s), WASM_OK);
        assert_int_equal(s[0], want[i]);
    }
    s[0] = 0;
    assert_int_equal(call_export(inst, "block_values", s), WASM_OK);
    assert_int_equal(s[0], 42);
    s[0] = 5;
    assert_int_equal(call_export(inst, "block_values", s), WASM_OK);
    assert_int_equal(s[0], 100);
    s[0] = 10;
    assert_int_equal(call_export(inst, "loop_params", s), WASM_OK);
    assert_int_equal(s[0], 55);
    uint64_t sel[4] = {11, 22, 1, 2};
    assert_int_equal(call_export(inst, "select", sel), WASM_OK);
    assert_int_equal(sel[0], 11);
    /* An i32 argument's upper slot bits are ignored (results are zero-extended). */
    uint64_t sel3[4] = {0xdeadbeef00000011ull, 22, 1, 2};
    assert_int_equal(call_export(inst, "select", sel3), WASM_OK);
    assert_int_equal(sel3[0], 0x11);
    uint64_t sel2[4] = {11, 22, 3, 2};
    assert_int_equal(call_export(inst, "select", sel2), WASM_OK);
    assert_int_equal(sel2[0], 22);
}

static void test_memory(void **state)
{
    (void)state;
    uint64_t s[2] = {16, 8};
    assert_int_equal(call_export(inst, "sum_bytes", s), WASM_OK);
    assert_int_equal(s[0], 36);
    uint8_t *p = wasm_memory_ptr(inst, 16, 8);
    assert_non_null(p);
    assert_int_equal(p[7], 8);
    assert_null(wasm_memory_ptr(inst, 65536 - 4, 8));
    assert_int_equal(wasm_memory_size(inst), 65536);
    s[0] = 1;
    assert_int_equal(call_export(inst, "grow", s), WASM_OK);
    assert_int_equal(s[0], 1);
    assert_int_equal(wasm_memory_size(inst), 2 * 65536);
    /* Grown pages are zero and usable. */
    p = wasm_memory_ptr(inst, 65536 + 100, 4);
    assert_non_null(p);
    assert_int_equal(p[0], 0);
    p[0] = 9;
    s[0] = 65536 + 100;
    s[1] = 1;
    assert_int_equal(call_export(inst, "sum_bytes", s), WASM_OK);
    assert_int_equal(s[0], 9);
    s[0] = 3; /* 2 + 3 > max 4 */
    assert_int_equal(call_export(inst, "grow", s), WASM_OK);
    assert_int_equal((uint32_t)s[0], 0xffffffffu);
    assert_int_equal(call_export(inst, "size", s), WASM_OK);
    assert_int_equal(s[0], 2);
    assert_int_equal(call_export(inst, "fill_copy", s), WASM_OK);
    assert_int_equal(s[0], 7);
}

static void test_tables_globals_floats(void **state)
{
    (void)state;
    uint64_t s[3] = {0, 50, 8};
    assert_int_equal(call_export(inst, "indirect", s), WASM_OK);
    assert_int_equal(s[0], 58);
    s[0] = 1;
    s[1] = 50;
    s[2] = 8;
    assert_int_equal(call_export(inst, "indirect", s), WASM_OK);
    assert_int_equal(s[0], 42);
    uint8_t vt;
    uint64_t v;
    assert_int_equal(wasm_instance_export_global(inst, "g", &vt, &v), WASM_OK);
    assert_int_equal(vt, WASM_I32);
    assert_int_equal(call_export(inst, "bump", s), WASM_OK);
    assert_int_equal(s[0], v + 1);
    assert_int_equal(wasm_instance_export_global(inst, "nope", &vt, &v), WASM_ERR_ARG);
    uint64_t f[2] = {wasm_slot_f64(-0.0), wasm_slot_f64(0.0)};
    assert_int_equal(call_export(inst, "floats", f), WASM_OK);
    /* min(-0, 0) = -0; nearest(2.5) = 2 (ties to even). */
    assert_true(wasm_slot_as_f64(f[0]) == 2.0);
}

static void test_host_calls(void **state)
{
    (void)state;
    uint64_t s[2] = {5, 6};
    assert_int_equal(call_export(inst, "call_host", s), WASM_OK);
    assert_int_equal(s[0], 11);
    s[0] = 0xfffffff0u;
    s[1] = 1;
    assert_int_equal(call_export(inst, "call_host", s), WASM_OK);
    assert_int_equal(s[0], 0xfffffff1u);
    s[0] = 4;
    assert_int_equal(call_export(inst, "reenter", s), WASM_OK);
    assert_int_equal(s[0], (4 + 10) * 2 + 1);
    /* Signatures seen from the API. */
    const struct wasm_functype *t = wasm_func_type(wasm_instance_export_func(inst, "swap"));
    assert_int_equal(t->nparams, 2);
    assert_int_equal(t->nresults, 2);
    assert_int_equal(t->results[0], WASM_I64);
    assert_null(wasm_instance_export_func(inst, "memory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_translation_is_compact),
        cmocka_unit_test(test_arith_and_loops),
        cmocka_unit_test(test_address_folding),
        cmocka_unit_test(test_multi_value_and_blocks),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_tables_globals_floats),
        cmocka_unit_test(test_host_calls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
