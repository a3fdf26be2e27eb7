/*
 * test_fuel.c - fuel metering and deadlines (engine/interp.c): a runaway loop is stopped
 * with "fuel exhausted", fuel is charged at back-edges and calls, the instance stays
 * usable and goes on once more fuel is set, and 0 turns metering off. A deadline stops
 * endless loops (also ones that call the host, or re-enter the guest from the host) with
 * "execution time exceeded" soon after it passes, leaves finite calls and exact fuel
 * accounting alone, and 0 turns it off.
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

/* ---- Deadlines ---------------------------------------------------------------------- */

static wasm_module_t *dmod;
static wasm_instance_t *dinst;
static wasm_linker_t *dlnk;
static unsigned ticks, reentries;

static int host_tick(wasm_instance_t *in, uint64_t *s, void *env)
{
    (void)in, (void)s, (void)env;
    ticks++;
    return WASM_OK;
}

/* Runs the guest's "short" loop from inside a host call, as an allocator call would. */
static int host_reenter(wasm_instance_t *in, uint64_t *s, void *env)
{
    (void)s, (void)env;
    uint64_t r[1];
    reentries++;
    return wasm_call(in, wasm_instance_export_func(in, "short"), r);
}

/*
 * Runs the guest's "count" loop REENTER_RUNS times for REENTER_N iterations each, from
 * inside one host call: every nested run stays below a deadline slice of fuel points.
 */
#define REENTER_RUNS 25
#define REENTER_N 8000
static unsigned long_reentries;
static int host_reenter_long(wasm_instance_t *in, uint64_t *s, void *env)
{
    (void)s, (void)env;
    long_reentries++;
    for (int i = 0; i < REENTER_RUNS; i++) {
        uint64_t r[1] = {REENTER_N};
        int rc = wasm_call(in, wasm_instance_export_func(in, "count"), r);
        if (rc != WASM_OK)
            return rc;
    }
    return WASM_OK;
}

static int dsetup(void **state)
{
    (void)state;
    char err[256];
    dmod = load_wasm("deadline");
    dlnk = wasm_linker_new();
    wasm_linker_define_func(dlnk, "env", "tick", "()", host_tick, NULL);
    wasm_linker_define_func(dlnk, "env", "reenter", "()", host_reenter, NULL);
    wasm_linker_define_func(dlnk, "env", "reenter_long", "()", host_reenter_long, NULL);
    if (!dmod || wasm_instance_new(dmod, dlnk, NULL, &dinst, err, sizeof(err)) != WASM_OK)
        return -1;
    return 0;
}

static int dteardown(void **state)
{
    (void)state;
    wasm_instance_free(dinst);
    wasm_linker_free(dlnk);
    wasm_module_free(dmod);
    return 0;
}

/* Calls name under a deadline of ms from now; returns the milliseconds it ran. */
static double run_until(const char *name, double ms, int want)
{
    uint64_t s[1] = {0};
    uint64_t t0 = wasm_clock_ns();
    wasm_instance_set_deadline(dinst, t0 + (uint64_t)(ms * 1e6));
    assert_int_equal(call_export(dinst, name, s), want);
    return (double)(wasm_clock_ns() - t0) / 1e6;
}

static void test_deadline_stops_endless_loops(void **state)
{
    (void)state;
    static const char *const loops[] = {"spin", "spin_host", "spin_reenter"};
    for (int i = 0; i < 3; i++) {
        double took = run_until(loops[i], 30, WASM_ERR_TRAP);
        assert_int_equal(wasm_instance_trap(dinst), WASM_TRAP_DEADLINE);
        assert_string_equal(wasm_instance_trap_message(dinst), "execution time exceeded");
        /* Not before the deadline; soon after it (generous: the machine may be busy). */
        assert_true(took >= 30);
        assert_true(took < 30 + 2000);
    }
    assert_true(ticks > 1000);
    assert_true(reentries > 100);
    /* Already past: stops within a slice. */
    double took = run_until("spin", -1, WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(dinst), WASM_TRAP_DEADLINE);
    assert_true(took < 2000);
    /* The instance stays usable; a finite call under a far deadline is not disturbed. */
    run_until("short", 60000, WASM_OK);
    uint64_t s[1] = {5000000};
    wasm_instance_set_deadline(dinst, wasm_clock_ns() + 60 * 1000000000ull);
    assert_int_equal(call_export(dinst, "count", s), WASM_OK);
    assert_int_equal(s[0], 5000000);
    /* 0 turns it off: a deadline in the past no longer matters. */
    wasm_instance_set_deadline(dinst, 0);
    assert_int_equal(wasm_instance_deadline(dinst), 0);
    s[0] = 100000;
    assert_int_equal(call_export(dinst, "count", s), WASM_OK);
}

/*
 * Work done in nested runs (a host function re-entering the guest, as the allocator
 * call of a proxy-wasm host call does) counts towards the caller's slice: a loop whose
 * every host call re-enters the guest for just under a slice of fuel points, many
 * times, still stops soon after the deadline. Counted per nested run alone, the clock
 * would be read only every 8192 outer points, each carrying 25 nested runs.
 */
static void test_deadline_counts_nested_runs(void **state)
{
    (void)state;
    long_reentries = 0;
    double took = run_until("spin_reenter_long", 20, WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(dinst), WASM_TRAP_DEADLINE);
    print_message("spin_reenter_long: deadline 20 ms, stopped after %.1f ms, %u host calls\n", took,
                  long_reentries);
    assert_true(took >= 20);
    assert_true(took < 200);
    assert_true(long_reentries > 0);
    wasm_instance_set_deadline(dinst, 0);
}

/* Fuel stays exact when a deadline cuts the counter into slices. */
static void test_deadline_with_fuel(void **state)
{
    (void)state;
    uint64_t s[1];
    wasm_instance_set_deadline(dinst, wasm_clock_ns() + 60 * 1000000000ull);
    for (uint64_t budget = 1; budget < 3 * 8192; budget += 977) {
        wasm_instance_set_fuel(dinst, budget);
        s[0] = 1u << 30;
        assert_int_equal(call_export(dinst, "count", s), WASM_ERR_TRAP);
        assert_int_equal(wasm_instance_trap(dinst), WASM_TRAP_FUEL_EXHAUSTED);
        assert_int_equal(wasm_instance_fuel(dinst), 0);
        /* The same budget without a deadline runs out at the same point: n back-edges
         * fit exactly when n + 1 fuel points (the last one is taken) are available. */
        wasm_instance_set_fuel(dinst, budget + 1);
        s[0] = (uint32_t)budget + 1;
        assert_int_equal(call_export(dinst, "count", s), WASM_OK);
        assert_int_equal(wasm_instance_fuel(dinst), 1);
    }
    /* An endless loop with both: the fuel runs out first when it is small ... */
    wasm_instance_set_fuel(dinst, 100000);
    run_until("spin", 60000, WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(dinst), WASM_TRAP_FUEL_EXHAUSTED);
    /* ... the deadline when the fuel is large. */
    wasm_instance_set_fuel(dinst, UINT64_MAX / 2);
    run_until("spin", 20, WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(dinst), WASM_TRAP_DEADLINE);
    assert_true(wasm_instance_fuel(dinst) < UINT64_MAX / 2);
    wasm_instance_set_fuel(dinst, 0);
    wasm_instance_set_deadline(dinst, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runaway_loop_stops),
        cmocka_unit_test(test_fuel_is_charged),
        cmocka_unit_test(test_metering_off),
    };
    const struct CMUnitTest dtests[] = {
        cmocka_unit_test(test_deadline_stops_endless_loops),
        cmocka_unit_test(test_deadline_with_fuel),
        cmocka_unit_test(test_deadline_counts_nested_runs),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    return rc | cmocka_run_group_tests(dtests, dsetup, dteardown);
}
