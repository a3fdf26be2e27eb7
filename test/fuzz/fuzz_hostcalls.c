/*
 * fuzz_hostcalls.c - libFuzzer target for the proxy-wasm hostcalls (hostcalls/) against
 * the fake engine and fake host of the unit tests (test/unit/hostcalls/fake.c).
 *
 * Input: one byte choosing the calling context (stream, root or none), the callback
 * phase and the call-response / stream-ending flags; then records, each either
 *   0xff ADDR(2) LEN(1) BYTES   (the guest writes BYTES at ADDR of its 64 KiB memory), or
 *   K ARG*                      (hostcall K mod the table size, each argument 4 bytes LE).
 * Guest memory starts with a valid serialized header map at 0x1000 and a key at 0x100 so
 * that calls get past their first checks. Every call must return a status of the ABI or
 * stop the guest cleanly; deferred actions run after each call, as after a callback.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum pw_cb phases[] = {PW_CB_REQUEST_HEADERS,
                                        PW_CB_REQUEST_BODY,
                                        PW_CB_RESPONSE_HEADERS,
                                        PW_CB_CONFIGURE,
                                        PW_CB_VM_START,
                                        PW_CB_LOG,
                                        PW_CB_TICK};
    struct fake_env *e;
    void *state;
    if (size < 1 || size > 4096)
        return 0;
    fake_env_setup(&state);
    e = state;

    struct fake_args a;
    struct pw_ctx *contexts[] = {&e->stream->ctx, &e->root->ctx, NULL};
    uint8_t mode = data[0];
    fake_args_init(e, &a);
    fake_args_enter(e, &a, contexts[mode % 3], phases[(mode / 3) % 7], (mode & 0x40) != 0,
                    (mode & 0x40) != 0, (mode & 0x80) != 0);

    size_t off = 1;
    while (off < size) {
        uint8_t k = data[off++];
        if (k == 0xff) {
            if (size - off < 3)
                break;
            uint32_t addr = (uint32_t)data[off] | (uint32_t)data[off + 1] << 8;
            size_t len = data[off + 2];
            off += 3;
            if (len > size - off)
                len = size - off;
            if (addr + len > FAKE_MEM_SIZE)
                len = FAKE_MEM_SIZE - addr;
            fake_put(e->vm, addr, data + off, len);
            off += len;
            continue;
        }
        const struct fake_hostcall *h = &fake_hostcalls[k % fake_nhostcalls];
        uint64_t slots[16] = {0};
        for (int arg = 0; arg < h->nargs && size - off >= 4; arg++, off += 4)
            slots[arg] = le32(data + off);
        uint32_t st = fake_args_call(e, h, slots, false);
        CHECK(st <= 12 || st == 0xdead);
    }
    fake_args_free(e, &a);
    fake_env_teardown(&state);
    return 0;
}
