/*
 * test_traps.c - every trap kind with the spec's message (engine/trap.c, interp.c,
 * memory.c): out-of-bounds accesses through guard pages (or explicit checks with
 * WASP_BOUNDS_CHECKS), host traps and exits told apart, backtraces with function names,
 * and the instance stays usable after each trap.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "exec_util.h"

static wasm_module_t *mod;
static wasm_instance_t *inst;
static wasm_linker_t *lnk;

static int host_trap(wasm_instance_t *in, uint64_t *s, void *env)
{
    (void)s;
    (void)env;
    return wasm_trap_raise(in, "plugin misbehaved");
}

static int host_exit(wasm_instance_t *in, uint64_t *s, void *env)
{
    (void)env;
    return wasm_exit_raise(in, (int32_t)s[0]);
}

/* Calls a trapping export of the same instance and ignores the trap. */
static int host_swallow(wasm_instance_t *in, uint64_t *s, void *env)
{
    (void)env;
    uint64_t t[1] = {0};
    if (wasm_call(in, wasm_instance_export_func(in, "unreachable"), t) != WASM_ERR_TRAP)
        return wasm_trap_raise(in, "nested call did not trap");
    (void)s;
    return WASM_OK;
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    wasm_engine_init();
    mod = load_wasm("traps");
    if (!mod)
        return -1;
    lnk = wasm_linker_new();
    wasm_linker_define_func(lnk, "env", "trap", "()", host_trap, NULL);
    wasm_linker_define_func(lnk, "env", "exit", "(i)", host_exit, NULL);
    wasm_linker_define_func(lnk, "env", "swallow", "()", host_swallow, NULL);
    if (wasm_instance_new(mod, lnk, NULL, &inst, err, sizeof(err)) != WASM_OK)
        return -1;
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

/* Calls name with one argument, expects trap t with the spec message, then checks the
 * instance still works. */
static void expect_trap(const char *name, uint64_t arg, enum wasm_trap t, const char *msg)
{
    /* cmocka installs its own SIGSEGV handler around each test: take ours back (the
     * engine chains to cmocka's for faults outside guest memory). */
    wasm_engine_init();
    uint64_t s[2] = {arg, 0};
    int rc = call_export(inst, name, s);
    if (rc != WASM_ERR_TRAP || wasm_instance_trap(inst) != t)
        fprintf(stderr, "%s: rc %d trap %d (%s)\n", name, rc, wasm_instance_trap(inst),
                wasm_instance_trap_message(inst));
    assert_int_equal(rc, WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(inst), t);
    assert_string_equal(wasm_instance_trap_message(inst), msg);
    if (t != WASM_TRAP_HOST)
        assert_string_equal(wasm_trap_message(t), msg);
    s[0] = 0;
    assert_int_equal(call_export(inst, "ok", s), WASM_OK);
    assert_int_equal(s[0], 42);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_NONE);
}

static void test_arith_traps(void **state)
{
    (void)state;
    expect_trap("unreachable", 0, WASM_TRAP_UNREACHABLE, "unreachable");
    expect_trap("div0", 0, WASM_TRAP_DIV_ZERO, "integer divide by zero");
    expect_trap("rem0", 0, WASM_TRAP_DIV_ZERO, "integer divide by zero");
    expect_trap("overflow", 0x80000000u, WASM_TRAP_INT_OVERFLOW, "integer overflow");
    expect_trap("conv", wasm_slot_f32(3e9f), WASM_TRAP_INT_OVERFLOW, "integer overflow");
    expect_trap("conv", wasm_slot_f32(__builtin_nanf("")), WASM_TRAP_INVALID_CONVERSION,
                "invalid conversion to integer");
    uint64_t s[1] = {wasm_slot_f32(3e9f)};
    assert_int_equal(call_export(inst, "conv_sat", s), WASM_OK);
    assert_int_equal((uint32_t)s[0], 0x7fffffffu);
}

static void test_memory_traps(void **state)
{
    (void)state;
    const char *oob = "out of bounds memory access";
    expect_trap("load", 65536 - 2, WASM_TRAP_MEMORY_OOB, oob);
    expect_trap("load", 0xffffffffu, WASM_TRAP_MEMORY_OOB, oob);
    expect_trap("store", 65536, WASM_TRAP_MEMORY_OOB, oob);
    expect_trap("load_off", 0x100, WASM_TRAP_MEMORY_OOB, oob);
    expect_trap("load_off", 0xffffffffu, WASM_TRAP_MEMORY_OOB, oob);
    expect_trap("fill", 65536 - 8, WASM_TRAP_MEMORY_OOB, oob);
    uint64_t s[1] = {65536 - 4};
    assert_int_equal(call_export(inst, "load", s), WASM_OK);
}

static void test_table_and_call_traps(void **state)
{
    (void)state;
    expect_trap("table_get", 3, WASM_TRAP_TABLE_OOB, "out of bounds table access");
    expect_trap("ci", 7, WASM_TRAP_UNDEFINED_ELEMENT, "undefined element");
    expect_trap("ci", 1, WASM_TRAP_UNINITIALIZED_ELEMENT, "uninitialized element");
    expect_trap("ci_type", 0, WASM_TRAP_INDIRECT_TYPE, "indirect call type mismatch");
    expect_trap("recurse", 0, WASM_TRAP_STACK_EXHAUSTED, "call stack exhausted");
    uint64_t s[1] = {0};
    assert_int_equal(call_export(inst, "ci", s), WASM_OK);
    assert_int_equal(s[0], 1);
}

static void test_host_trap_and_exit(void **state)
{
    (void)state;
    expect_trap("host_trap", 0, WASM_TRAP_HOST, "plugin misbehaved");
    uint64_t s[1] = {0};
    assert_int_equal(call_export(inst, "host_exit", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_EXIT);
    assert_int_equal(wasm_instance_exit_code(inst), 3);
    /* A nested trap the host swallowed leaves a successful call without a trap. */
    s[0] = 0;
    assert_int_equal(call_export(inst, "swallowed", s), WASM_OK);
    assert_int_equal(s[0], 7);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_NONE);
}

static void test_backtrace(void **state)
{
    (void)state;
    uint64_t s[1] = {0};
    wasm_engine_init();
    assert_int_equal(call_export(inst, "outer", s), WASM_ERR_TRAP);
    char bt[512];
    size_t n = wasm_instance_backtrace(inst, bt, sizeof(bt));
    assert_true(n > 0);
    const char *a = strstr(bt, "#0 func["), *b = strstr(bt, "inner");
    const char *c = strstr(bt, "#1 "), *d = strstr(bt, "middle");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(d);
    assert_true(b < c && c < d);
    /* Offsets name the wasm instruction, from the start of the function body. */
    assert_int_equal(call_export(inst, "calls_deep", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_DIV_ZERO);
    wasm_instance_backtrace(inst, bt, sizeof(bt));
    assert_non_null(strstr(bt, " deep+0xa\n#1 func["));
    assert_non_null(strstr(bt, " calls_deep+0x2\n")); /* no name entry: the export name */
    /* Faults through guard pages also get a backtrace. */
    s[0] = 0xfffffff0u;
    assert_int_equal(call_export(inst, "load", s), WASM_ERR_TRAP);
    n = wasm_instance_backtrace(inst, bt, sizeof(bt));
    assert_non_null(strstr(bt, "#0 func["));
    /* A small buffer is truncated, NUL-terminated. */
    char small[8];
    n = wasm_instance_backtrace(inst, small, sizeof(small));
    assert_int_equal(n, 7);
    assert_int_equal(small[7], 0);
}

static sigjmp_buf chain_jb;
static volatile sig_atomic_t chained;

static void my_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    chained = 1;
    siglongjmp(chain_jb, 1);
}

/* A fault outside guest memory goes to the handler that was there before the engine's
 * (here a test handler; normally the default action and its core dump). */
static void test_foreign_fault_is_chained(void **state)
{
    (void)state;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = my_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old);
    wasm_engine_init(); /* the engine's handler goes in front of my_segv */
#ifndef WASP_BOUNDS_CHECKS
    struct sigaction cur;
    sigaction(SIGSEGV, NULL, &cur);
    assert_true(cur.sa_sigaction != my_segv);
#endif
    chained = 0;
    if (!sigsetjmp(chain_jb, 1)) {
        volatile uintptr_t addr = 16; /* unmapped, outside any guest memory */
        *(volatile int *)addr = 1;
    }
    assert_int_equal(chained, 1);
    /* Guest faults are still traps. */
    uint64_t s[1] = {65536};
    assert_int_equal(call_export(inst, "load", s), WASM_ERR_TRAP);
    assert_int_equal(wasm_instance_trap(inst), WASM_TRAP_MEMORY_OOB);
    assert_int_equal(chained, 1);
    sigaction(SIGSEGV, &old, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arith_traps),
        cmocka_unit_test(test_memory_traps),
        cmocka_unit_test(test_table_and_call_traps),
        cmocka_unit_test(test_host_trap_and_exit),
        cmocka_unit_test(test_backtrace),
        cmocka_unit_test(test_foreign_fault_is_chained),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
