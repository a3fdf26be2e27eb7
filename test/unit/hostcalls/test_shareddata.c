/*
 * test_shareddata.c - unit tests of hostcalls/shareddata.c: CAS semantics, isolation by
 * vm_id, sharing between VMs of one vm_id, and correctness under concurrent CAS updates
 * from several threads (each with its own VM, as workers would).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake.h"

#define K 0x100u
#define V 0x200u
#define P 0x300u
#define S 0x304u
#define C 0x308u

static uint32_t set(struct pw_vm *vm, const char *key, const char *value, uint32_t cas)
{
    uint32_t kl = fake_put_str(vm, K, key), vl = fake_put_str(vm, V, value);
    return HC(set_shared_data, vm, K, kl, V, vl, cas);
}

static uint32_t get(struct pw_vm *vm, const char *key, char *out, uint32_t *cas)
{
    uint32_t kl = fake_put_str(vm, K, key), len;
    uint32_t st = HC(get_shared_data, vm, K, kl, P, S, C);

    if (st == PW_OK) {
        const uint8_t *p = fake_out(vm, P, S, &len);
        memcpy(out, p, len);
        out[len] = '\0';
        *cas = fake_u32(vm, C);
    }
    return st;
}

static void cas_semantics_follow_the_abi(void **state)
{
    struct fake_host h;
    char v[64];
    uint32_t cas, cas2;

    fake_host_init(&h);
    struct pw_vm *vm = fake_vm_new(&h, "cas-test", PW_ABI_0_2_1);
    assert_int_equal(get(vm, "k", v, &cas), PW_NOT_FOUND);
    assert_int_equal(set(vm, "k", "1", 77), PW_CAS_MISMATCH); /* no such key yet */
    assert_int_equal(set(vm, "k", "1", 0), PW_OK);
    assert_int_equal(get(vm, "k", v, &cas), PW_OK);
    assert_string_equal(v, "1");
    assert_int_not_equal(cas, 0);
    assert_int_equal(set(vm, "k", "2", cas), PW_OK);
    assert_int_equal(set(vm, "k", "3", cas), PW_CAS_MISMATCH); /* stale */
    assert_int_equal(get(vm, "k", v, &cas2), PW_OK);
    assert_string_equal(v, "2");
    assert_int_not_equal(cas2, cas);
    assert_int_equal(set(vm, "k", "", 0), PW_OK); /* empty values are values */
    assert_int_equal(get(vm, "k", v, &cas), PW_OK);
    assert_string_equal(v, "");
    assert_int_equal(HC(get_shared_data, vm, 0xfff0, 0x100, P, S, C), PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(set_shared_data, vm, K, 1, 0xfff0, 0x100, 0), PW_INVALID_MEMORY_ACCESS);
    pw_vm_free(vm);
    fake_host_free(&h);
}

static void data_is_shared_per_vm_id(void **state)
{
    struct fake_host h;
    char v[64];
    uint32_t cas;

    fake_host_init(&h);
    struct pw_vm *a1 = fake_vm_new(&h, "shared-a", PW_ABI_0_2_1);
    struct pw_vm *a2 = fake_vm_new(&h, "shared-a", PW_ABI_0_2_1);
    struct pw_vm *b = fake_vm_new(&h, "shared-b", PW_ABI_0_2_1);
    assert_int_equal(set(a1, "key", "from-a1", 0), PW_OK);
    assert_int_equal(get(a2, "key", v, &cas), PW_OK);
    assert_string_equal(v, "from-a1");
    assert_int_equal(get(b, "key", v, &cas), PW_NOT_FOUND);
    pw_vm_free(a1);
    pw_vm_free(a2);
    pw_vm_free(b);
    fake_host_free(&h);
}

#define THREADS 4
#define INCREMENTS 500

/* Each thread increments a shared counter with a CAS retry loop. */
static void *incrementer(void *arg)
{
    struct fake_host *h = arg;
    struct pw_vm *vm = fake_vm_new(h, "counter-vm", PW_ABI_0_2_1);
    char v[64], next[32];
    uint32_t cas = 0;

    for (int i = 0; i < INCREMENTS; i++) {
        for (;;) {
            vm->inst->heap = FAKE_HEAP_BASE; /* reuse the fake heap */
            if (get(vm, "n", v, &cas) != PW_OK)
                abort();
            snprintf(next, sizeof(next), "%d", atoi(v) + 1);
            if (set(vm, "n", next, cas) == PW_OK)
                break;
        }
    }
    pw_vm_free(vm);
    return NULL;
}

static void concurrent_cas_updates_lose_nothing(void **state)
{
    struct fake_host hosts[THREADS];
    pthread_t th[THREADS];
    char v[64];
    uint32_t cas;

    fake_host_init(&hosts[0]);
    struct pw_vm *vm = fake_vm_new(&hosts[0], "counter-vm", PW_ABI_0_2_1);
    assert_int_equal(set(vm, "n", "0", 0), PW_OK);
    for (int i = 0; i < THREADS; i++) {
        if (i > 0)
            fake_host_init(&hosts[i]);
        pthread_create(&th[i], NULL, incrementer, &hosts[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(get(vm, "n", v, &cas), PW_OK);
    assert_int_equal(atoi(v), THREADS * INCREMENTS);
    pw_vm_free(vm);
    for (int i = 0; i < THREADS; i++)
        fake_host_free(&hosts[i]);
}

/* A canary (sandbox) reads the process-wide data, but what it writes stays its own and
 * goes with it. */
static void a_sandbox_writes_only_its_own_data(void **state)
{
    struct fake_host h;
    char v[64];
    uint32_t cas;

    fake_host_init(&h);
    struct pw_vm *live = fake_vm_new(&h, "sb", PW_ABI_0_2_1);
    struct pw_vm *canary = fake_sandbox_new(&h, "sb");
    assert_int_equal(set(live, "mode", "live", 0), PW_OK);
    assert_int_equal(get(canary, "mode", v, &cas), PW_OK);
    assert_string_equal(v, "live");
    assert_int_equal(set(canary, "mode", "canary", cas), PW_OK); /* CAS on what it read */
    assert_int_equal(get(canary, "mode", v, &cas), PW_OK);
    assert_string_equal(v, "canary");
    assert_int_equal(get(live, "mode", v, &cas), PW_OK);
    assert_string_equal(v, "live");
    assert_int_equal(set(canary, "seen", "1", 0), PW_OK);
    assert_int_equal(get(live, "seen", v, &cas), PW_NOT_FOUND);
    pw_vm_free(canary);
    struct pw_vm *canary2 = fake_sandbox_new(&h, "sb");
    assert_int_equal(get(canary2, "seen", v, &cas), PW_NOT_FOUND); /* gone with it */
    assert_int_equal(get(canary2, "mode", v, &cas), PW_OK);
    assert_string_equal(v, "live");
    pw_vm_free(canary2);
    pw_vm_free(live);
    fake_host_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cas_semantics_follow_the_abi),
        cmocka_unit_test(a_sandbox_writes_only_its_own_data),
        cmocka_unit_test(data_is_shared_per_vm_id),
        cmocka_unit_test(concurrent_cas_updates_lose_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
