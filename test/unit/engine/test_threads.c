/*
 * test_threads.c - one module, many instances on several threads at once (engine/
 * instance.c, memory.c): each thread runs its own instances, including guard-page
 * out-of-bounds traps, concurrently; results and traps stay per instance.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "exec_util.h"

enum { THREADS = 4, INSTANCES = 8, ROUNDS = 200 };

static wasm_module_t *mod;

struct job {
    int id;
    int failures;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    char err[256];
    wasm_instance_t *insts[INSTANCES];
    for (int i = 0; i < INSTANCES; i++)
        if (wasm_instance_new(mod, NULL, NULL, &insts[i], err, sizeof(err)) != WASM_OK) {
            j->failures++;
            return NULL;
        }
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < INSTANCES; i++) {
            wasm_instance_t *in = insts[i];
            /* Each instance keeps its own memory: write a tag, read it back. */
            uint64_t s[2] = {1000, (uint64_t)(j->id * 100 + i)};
            uint32_t n = (uint32_t)(j->id * 100 + i);
            if (call_export(in, "count", s) != WASM_OK || s[0] != 1000)
                j->failures++;
            uint32_t *p = wasm_memory_ptr(in, 8, 4);
            if (r == 0)
                *p = n;
            else if (*p != n)
                j->failures++;
            s[0] = 65536 + (uint64_t)r; /* out of bounds: a trap, not a crash */
            if (call_export(in, "load", s) != WASM_ERR_TRAP ||
                wasm_instance_trap(in) != WASM_TRAP_MEMORY_OOB)
                j->failures++;
            s[0] = 8;
            if (call_export(in, "load", s) != WASM_OK || (uint32_t)s[0] != n)
                j->failures++;
        }
    }
    for (int i = 0; i < INSTANCES; i++)
        wasm_instance_free(insts[i]);
    return NULL;
}

static void test_many_threads(void **state)
{
    (void)state;
    wasm_engine_init(); /* take SIGSEGV back from cmocka */
    mod = load_wasm("threads");
    assert_non_null(mod);
    pthread_t th[THREADS];
    struct job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (struct job){.id = t};
        assert_int_equal(pthread_create(&th[t], NULL, worker, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(jobs[t].failures, 0);
    }
    wasm_module_free(mod);
}

int main(void)
{
    wasm_engine_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
