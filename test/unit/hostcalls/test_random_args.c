/*
 * test_random_args.c - every proxy-wasm hostcall called with random and edge-case
 * arguments (pointers at and past the end of memory, huge sizes, unknown ids and types)
 * from every kind of context and phase. Each call must return a status of the ABI (or
 * stop the guest cleanly), never crash or corrupt the host, also through the --trace
 * shim; run under ASan/UBSan this is the memory-safety check of the layer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* An argument: mostly edge cases, sometimes anything. */
static uint64_t random_arg(void)
{
    static const uint64_t edges[] = {0,       1,       2,          3,          7,         8,
                                     0x100,   0x1000,  0x1004,     0xfff0,     0xfffc,    0xffff,
                                     0x10000, 0x10001, 0x7fffffff, 0xffffffff, 0xfffffffc};
    uint64_t r = next_random();

    if (r % 4 == 0)
        return next_random() & 0xffffffffu;
    return edges[(r >> 8) % (sizeof(edges) / sizeof(edges[0]))];
}

static bool valid_status(uint32_t st)
{
    return st <= 12 || st == 0xdead;
}

static void every_hostcall_survives_random_arguments(void **state)
{
    struct fake_env *e = *state;
    struct fake_args a;
    struct pw_ctx *contexts[] = {&e->stream->ctx, &e->root->ctx, NULL};
    static const enum pw_cb phases[] = {PW_CB_REQUEST_HEADERS, PW_CB_CONFIGURE, PW_CB_VM_START,
                                        PW_CB_LOG, PW_CB_TICK};

    fake_args_init(e, &a);
    for (int round = 0; round < 3000; round++) {
        fake_args_enter(e, &a, contexts[round % 3], phases[(round / 3) % 5], round % 7 == 0,
                        round % 14 == 0, round % 11 == 0);
        for (size_t i = 0; i < fake_nhostcalls; i++) {
            uint64_t slots[16];
            for (int k = 0; k < 16; k++)
                slots[k] = random_arg();
            /* Every fourth round through the --trace shim, whose decoding reads the same
             * guest memory the hostcall does. */
            uint32_t st = fake_args_call(e, &fake_hostcalls[i], slots, round % 4 == 0);
            if (!valid_status(st))
                fail_msg("%s returned %u", fake_hostcalls[i].name, st);
        }
    }
    fake_args_free(e, &a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_hostcall_survives_random_arguments, fake_env_setup,
                                        fake_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
