/*
 * test_metrics.c - unit tests of hostcalls/metrics.c: define/increment/record/get per
 * metric type, their status codes, and pw_metrics_foreach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake.h"

#define N 0x100u
#define ID 0x300u
#define VAL 0x308u

static uint32_t define(struct pw_vm *vm, uint32_t type, const char *name)
{
    uint32_t nl = fake_put_str(vm, N, name);

    if (HC(define_metric, vm, type, N, nl, ID) != PW_OK)
        return 0;
    return fake_u32(vm, ID);
}

static uint64_t value_of(struct pw_vm *vm, uint32_t id)
{
    assert_int_equal(HC(get_metric, vm, id, VAL), PW_OK);
    return fake_u64(vm, VAL);
}

struct seen {
    uint64_t count, sum, min, max;
    bool found;
};

static void find_hist(void *arg, const struct pw_metric_view *m)
{
    struct seen *s = arg;

    if (strcmp(m->name, "latency") == 0 && m->type == PW_METRIC_HISTOGRAM) {
        s->found = true;
        s->count = m->value;
        s->sum = m->sum;
        s->min = m->min;
        s->max = m->max;
    }
}

static void metrics_behave_per_type(void **state)
{
    struct fake_env *e = *state;
    struct pw_vm *vm = e->vm;

    uint32_t c = define(vm, PW_METRIC_COUNTER, "requests");
    assert_int_not_equal(c, 0);
    assert_int_equal(define(vm, PW_METRIC_COUNTER, "requests"), c); /* same id again */
    assert_int_equal(HC(increment_metric, vm, c, 2), PW_OK);
    assert_int_equal(HC(record_metric, vm, c, 3), PW_OK); /* counters add */
    assert_int_equal(value_of(vm, c), 5);
    assert_int_equal(HC(increment_metric, vm, c, (uint64_t)-1), PW_BAD_ARGUMENT);
    /* A canary (sandbox) shares the definitions; its samples are checked and dropped. */
    struct pw_vm *canary = fake_sandbox_new(&e->host, "metrics");
    assert_int_equal(define(canary, PW_METRIC_COUNTER, "requests"), c);
    assert_int_equal(HC(increment_metric, canary, c, 100), PW_OK);
    assert_int_equal(HC(record_metric, canary, c, 100), PW_OK);
    assert_int_equal(HC(increment_metric, canary, c, (uint64_t)-1), PW_BAD_ARGUMENT);
    assert_int_equal(value_of(vm, c), 5);
    pw_vm_free(canary);

    uint32_t g = define(vm, PW_METRIC_GAUGE, "inflight");
    assert_int_equal(HC(record_metric, vm, g, 10), PW_OK);
    assert_int_equal(HC(increment_metric, vm, g, (uint64_t)-3), PW_OK); /* gauges go down */
    assert_int_equal(value_of(vm, g), 7);

    uint32_t h = define(vm, PW_METRIC_HISTOGRAM, "latency");
    assert_int_equal(HC(record_metric, vm, h, 30), PW_OK);
    assert_int_equal(HC(record_metric, vm, h, 10), PW_OK);
    assert_int_equal(HC(get_metric, vm, h, VAL), PW_BAD_ARGUMENT);
    assert_int_equal(HC(increment_metric, vm, h, 1), PW_BAD_ARGUMENT);
    struct seen s = {0};
    pw_metrics_foreach(find_hist, &s);
    assert_true(s.found);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.sum, 40);
    assert_int_equal(s.min, 10);
    assert_int_equal(s.max, 30);

    /* A second VM (another worker) shares the process-wide metric. */
    struct pw_vm *other = fake_vm_new(&e->host, "other", PW_ABI_0_2_1);
    assert_int_equal(define(other, PW_METRIC_COUNTER, "requests"), c);
    assert_int_equal(HC(increment_metric, other, c, 1), PW_OK);
    assert_int_equal(value_of(vm, c), 6);
    pw_vm_free(other);
}

static void bad_ids_types_and_pointers_are_refused(void **state)
{
    struct fake_env *e = *state;
    struct pw_vm *vm = e->vm;
    uint32_t nl = fake_put_str(vm, N, "x");

    assert_int_equal(HC(define_metric, vm, 3, N, nl, ID), PW_BAD_ARGUMENT);
    assert_int_equal(HC(define_metric, vm, 0, N, 0, ID), PW_BAD_ARGUMENT);
    assert_int_equal(HC(define_metric, vm, 0, 0xfff0, 0x100, ID), PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(define_metric, vm, 0, N, nl, 0xfffe), PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(get_metric, vm, 0x7fff0, VAL), PW_NOT_FOUND);
    assert_int_equal(HC(increment_metric, vm, 0x7fff0, 1), PW_NOT_FOUND);
    assert_int_equal(HC(record_metric, vm, 0x7fff0, 1), PW_NOT_FOUND);
    uint32_t c = define(vm, PW_METRIC_COUNTER, "typed");
    assert_int_equal(HC(get_metric, vm, c ^ 1, VAL), PW_NOT_FOUND); /* type bits wrong */
    assert_int_equal(HC(get_metric, vm, c, 0xfffc), PW_INVALID_MEMORY_ACCESS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(metrics_behave_per_type, fake_env_setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(bad_ids_types_and_pointers_are_refused, fake_env_setup,
                                        fake_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
