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
    struct pw_map m = {0};
    uint8_t buf[128];
    struct pw_http_response resp = {0};

    /* A valid map at 0x1000 and some text at 0x100, so some calls get further. */
    pw_map_add(&m, ":method", 7, "GET", 3);
    pw_map_add(&m, ":path", 5, "/", 1);
    pw_map_add(&m, ":authority", 10, "a", 1);
    size_t n = pw_map_serialized_size(&m);
    pw_map_serialize(&m, buf);
    pw_map_free(&m);
    e->fs.has_map[2] = true;
    e->fs.has_buf[0] = true;
    pw_buf_set(&e->fs.bufs[0], "body bytes", 10);
    pw_map_add(&resp.headers, ":status", 7, "200", 3);

    struct pw_ctx *contexts[] = {&e->stream->ctx, &e->root->ctx, NULL};
    static const enum pw_cb phases[] = {PW_CB_REQUEST_HEADERS, PW_CB_CONFIGURE, PW_CB_VM_START,
                                        PW_CB_LOG, PW_CB_TICK};
    for (int round = 0; round < 3000; round++) {
        /* Restore the fixtures the previous calls may have changed. */
        fake_put(e->vm, 0x1000, buf, n);
        fake_put_str(e->vm, 0x100, "x-some-key");
        e->vm->inst->heap = FAKE_HEAP_BASE;
        fake_enter(e->vm, contexts[round % 3], phases[(round / 3) % 5]);
        e->vm->in_call_response = round % 7 == 0;
        e->vm->call_response = round % 14 == 0 ? &resp : NULL;
        e->vm->status_code = PW_OK;
        e->vm->status_message = "OK";
        e->stream->ctx.ending = round % 11 == 0;
        for (size_t i = 0; i < fake_nhostcalls; i++) {
            uint64_t slots[16];
            for (int a = 0; a < 16; a++)
                slots[a] = random_arg();
            /* Every fourth round through the --trace shim, whose decoding reads the same
             * guest memory the hostcall does. */
            char name[64];
            snprintf(name, sizeof(name), "proxy_%s", fake_hostcalls[i].name);
            const struct pw_import *imp = pw_import_find(name);
            assert_non_null(imp);
            int rc = round % 4 == 0 ? pw_hc_trace(e->vm->inst, slots, (void *)imp)
                                    : fake_hostcalls[i].fn(e->vm->inst, slots, NULL);
            uint32_t st = rc == WASM_OK ? (uint32_t)slots[0] : 0xdead;
            if (!valid_status(st))
                fail_msg("%s returned %u", fake_hostcalls[i].name, st);
        }
        /* Deferred actions are applied as after a callback. */
        struct pw_deferred *d = e->vm->deferred;
        e->vm->deferred = NULL;
        pw_deferred_run(e->vm, d);
    }
    e->vm->in_call_response = false;
    e->vm->call_response = NULL;
    e->stream->ctx.ending = false;
    fake_enter(e->vm, &e->stream->ctx, PW_CB_REQUEST_HEADERS);
    pw_map_free(&resp.headers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_hostcall_survives_random_arguments, fake_env_setup,
                                        fake_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
