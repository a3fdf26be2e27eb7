/*
 * test_fuel.c - fuel metering (engine/interp.c): a runaway loop is stopped with "fuel
 * exhausted", fuel is charged at back-edges and calls, the instance stays usable and
 * goes on once more fuel is set, and 0 turns metering off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "exec_util.h"

static wasm_module_t *mod;
static wasm_instance_t *inst;

static int setup(void **state)
{
    (void)state;
    char err[256];
    mod = load_wasm("fuel");
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

static void test_runaway_loop_stops(void **state)
{
    (void)state;
    wasm_instance_set_fuel(inst, 100000);
    uint64_t s[1] = {0};
    assert_int_equal(call_export(inst, "spin", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_FUEL_EXHAUSTED);
    assert_string_equal(wasm_instance_trap_message(inst), "fuel exhausted");
    assert_int_equal(wasm_instance_fuel(inst), 0);
    /* Still usable: more fuel, a finite call. */
    wasm_instance_set_fuel(inst, 1000);
    s[0] = 10;
    assert_int_equal(call_export(inst, "count", s), WASM_OK);
    assert_int_equal(s[0], 10);
}

static void test_fuel_is_charged(void **state)
{
    (void)state;
    wasm_instance_set_fuel(inst, 1000000);
    uint64_t s[1] = {1000};
    assert_int_equal(call_export(inst, "count", s), WASM_OK);
    uint64_t left = wasm_instance_fuel(inst);
    /* 999 back-edges were taken. */
    assert_true(left <= 1000000 - 999 && left >= 1000000 - 1100);
    /* A budget smaller than the loop traps; a larger one does not. */
    wasm_instance_set_fuel(inst, 500);
    s[0] = 1000;
    assert_int_equal(call_export(inst, "count", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_FUEL_EXHAUSTED);
    /* Calls are charged too. */
    wasm_instance_set_fuel(inst, 50);
    s[0] = 200;
    assert_int_equal(call_export(inst, "recurse", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_FUEL_EXHAUSTED);
    wasm_instance_set_fuel(inst, 500);
    s[0] = 200;
    assert_int_equal(call_export(inst, "recurse", s), WASM_OK);
}

static void test_metering_off(void **state)
{
    (void)state;
    wasm_instance_set_fuel(inst, 0);
    uint64_t s[1] = {5000000};
    assert_int_equal(call_export(inst, "count", s), WASM_OK);
    assert_int_equal(s[0], 5000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runaway_loop_stops),
        cmocka_unit_test(test_fuel_is_charged),
        cmocka_unit_test(test_metering_off),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
