/*
 * test_queues.c - unit tests of hostcalls/queues.c: register/resolve/enqueue/dequeue
 * status codes, FIFO order, and the wake-up going to the registering VM's host (not the
 * enqueuer's), the latest registrant winning, a freed VM being forgotten, and the bounds
 * on queued bytes (per queue and in all).
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

#define N 0x100u
#define V 0x200u
#define ID 0x300u
#define P 0x310u
#define S 0x314u

struct two {
    struct fake_host hc, hp; /* consumer's and producer's hosts (two "threads") */
    struct pw_vm *consumer, *producer;
    struct pw_root *croot, *proot;
};

static int setup(void **state)
{
    struct two *t = calloc(1, sizeof(*t));

    fake_host_init(&t->hc);
    fake_host_init(&t->hp);
    t->consumer = fake_vm_new(&t->hc, "qvm", PW_ABI_0_2_1);
    t->producer = fake_vm_new(&t->hp, "qvm", PW_ABI_0_2_1);
    t->croot = fake_root_new(t->consumer, "consumer", "");
    t->proot = fake_root_new(t->producer, "producer", "");
    fake_enter(t->consumer, &t->croot->ctx, PW_CB_CONFIGURE);
    fake_enter(t->producer, &t->proot->ctx, PW_CB_TICK);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct two *t = *state;

    pw_vm_free(t->consumer);
    pw_vm_free(t->producer);
    fake_host_free(&t->hc);
    fake_host_free(&t->hp);
    free(t);
    return 0;
}

static void enqueue_wakes_the_registering_vm_through_its_own_host(void **state)
{
    struct two *t = *state;
    uint32_t nl = fake_put_str(t->consumer, N, "jobs"), len;

    assert_int_equal(HC(register_shared_queue, t->consumer, N, nl, ID), PW_OK);
    uint32_t id = fake_u32(t->consumer, ID);
    assert_int_not_equal(id, 0);

    /* The producer finds it by (vm_id, name); an empty vm_id means its own. */
    fake_put_str(t->producer, N, "jobs");
    fake_put_str(t->producer, V, "qvm");
    assert_int_equal(HC(resolve_shared_queue, t->producer, V, 3, N, nl, ID), PW_OK);
    assert_int_equal(fake_u32(t->producer, ID), id);
    assert_int_equal(HC(resolve_shared_queue, t->producer, V, 0, N, nl, ID), PW_OK);
    assert_int_equal(fake_u32(t->producer, ID), id);
    assert_int_equal(HC(resolve_shared_queue, t->producer, V, 2, N, nl, ID), PW_NOT_FOUND);

    fake_put_str(t->producer, V, "first");
    assert_int_equal(HC(enqueue_shared_queue, t->producer, id, V, 5), PW_OK);
    fake_put_str(t->producer, V, "second");
    assert_int_equal(HC(enqueue_shared_queue, t->producer, id, V, 6), PW_OK);
    assert_int_equal(t->hp.posts, 0);
    assert_int_equal(t->hc.posts, 2);
    assert_ptr_equal(t->hc.post_vm, t->consumer);
    assert_int_equal(t->hc.post_ctx, pw_root_context_id(t->croot));
    assert_int_equal(t->hc.post_queue, id);

    assert_int_equal(HC(dequeue_shared_queue, t->consumer, id, P, S), PW_OK);
    assert_memory_equal(fake_out(t->consumer, P, S, &len), "first", 5);
    assert_int_equal(HC(dequeue_shared_queue, t->consumer, id, P, S), PW_OK);
    assert_memory_equal(fake_out(t->consumer, P, S, &len), "second", 6);
    assert_int_equal(HC(dequeue_shared_queue, t->consumer, id, P, S), PW_EMPTY);
    assert_int_equal(HC(dequeue_shared_queue, t->consumer, 9999, P, S), PW_NOT_FOUND);
    assert_int_equal(HC(enqueue_shared_queue, t->producer, 9999, V, 1), PW_NOT_FOUND);
    assert_int_equal(HC(enqueue_shared_queue, t->producer, id, 0xfff0, 0x100),
                     PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(dequeue_shared_queue, t->consumer, id, 0xfffe, S),
                     PW_INVALID_MEMORY_ACCESS);
}

static void the_latest_registrant_consumes_and_a_freed_vm_is_forgotten(void **state)
{
    struct two *t = *state;
    uint32_t nl = fake_put_str(t->consumer, N, "events");

    assert_int_equal(HC(register_shared_queue, t->consumer, N, nl, ID), PW_OK);
    uint32_t id = fake_u32(t->consumer, ID);
    fake_put_str(t->producer, N, "events");
    assert_int_equal(HC(register_shared_queue, t->producer, N, nl, ID), PW_OK);
    assert_int_equal(fake_u32(t->producer, ID), id); /* same queue */
    fake_put_str(t->consumer, V, "x");
    assert_int_equal(HC(enqueue_shared_queue, t->consumer, id, V, 1), PW_OK);
    assert_int_equal(t->hp.posts, 1);
    assert_int_equal(t->hc.posts, 0);
    pw_vm_free(t->producer);
    t->producer = NULL;
    assert_int_equal(HC(enqueue_shared_queue, t->consumer, id, V, 1), PW_OK);
    assert_int_equal(t->hp.posts, 1); /* nobody to wake */
    t->producer = fake_vm_new(&t->hp, "qvm", PW_ABI_0_2_1);
}

static void an_item_that_cannot_be_delivered_stays_queued(void **state)
{
    struct two *t = *state;
    uint32_t nl = fake_put_str(t->consumer, N, "keep"), len;

    assert_int_equal(HC(register_shared_queue, t->consumer, N, nl, ID), PW_OK);
    uint32_t id = fake_u32(t->consumer, ID);
    fake_put_str(t->consumer, V, "precious");
    assert_int_equal(HC(enqueue_shared_queue, t->consumer, id, V, 8), PW_OK);
    t->consumer->inst->alloc_fails = true;
    assert_int_equal(HC(dequeue_shared_queue, t->consumer, id, P, S), PW_INTERNAL_FAILURE);
    t->consumer->inst->alloc_fails = false;
    assert_int_equal(HC(dequeue_shared_queue, t->consumer, id, P, S), PW_OK);
    assert_memory_equal(fake_out(t->consumer, P, S, &len), "precious", 8);
    assert_int_equal(HC(dequeue_shared_queue, t->consumer, id, P, S), PW_EMPTY);
}

/* Found by fuzz_hostcalls (an out-of-memory: items enqueued with no consumer piled up
 * without end): a queue, and all of them together, hold a bounded number of bytes. */
static void a_full_queue_refuses_items_until_its_consumer_takes_some(void **state)
{
    struct two *t = *state;
    uint32_t len;
    size_t item = 100 + 32; /* payload, and at most this much overhead */

    pw_queues_set_limits(3 * item, 5 * item);
    uint32_t nl = fake_put_str(t->consumer, N, "bounded");
    assert_int_equal(HC(register_shared_queue, t->consumer, N, nl, ID), PW_OK);
    uint32_t a = fake_u32(t->consumer, ID);
    nl = fake_put_str(t->consumer, N, "other");
    assert_int_equal(HC(register_shared_queue, t->consumer, N, nl, ID), PW_OK);
    uint32_t b = fake_u32(t->consumer, ID);
    memset(t->consumer->inst->mem + V, 'x', 100);
    int n = 0;
    while (n < 100 && HC(enqueue_shared_queue, t->consumer, a, V, 100) == PW_OK)
        n++;
    assert_int_equal(n, 3); /* the per-queue bound: 3 items of 100 bytes (and overhead) */
    assert_int_equal(HC(enqueue_shared_queue, t->consumer, a, V, 100), PW_INTERNAL_FAILURE);
    /* another queue takes items until the process-wide bound: 5 in all */
    int m = 0;
    while (m < 100 && HC(enqueue_shared_queue, t->consumer, b, V, 100) == PW_OK)
        m++;
    assert_int_equal(m, 2);
    /* taking an item makes room again */
    assert_int_equal(HC(dequeue_shared_queue, t->consumer, a, P, S), PW_OK);
    assert_int_equal(fake_out(t->consumer, P, S, &len)[0], 'x');
    assert_int_equal(len, 100);
    assert_int_equal(HC(enqueue_shared_queue, t->consumer, a, V, 100), PW_OK);
    /* drain both, so that the other tests start from empty queues */
    while (HC(dequeue_shared_queue, t->consumer, a, P, S) == PW_OK)
        ;
    while (HC(dequeue_shared_queue, t->consumer, b, P, S) == PW_OK)
        ;
    pw_queues_set_limits(PW_QUEUE_MAX_BYTES, PW_QUEUES_MAX_BYTES);
}

#define PRODUCERS 4
#define ITEMS 2000

struct producer_arg {
    uint32_t id;
    int n;
};

/* Each producer thread has its own VM (its own "worker") and enqueues ITEMS items. */
static void *producer(void *arg)
{
    struct producer_arg *a = arg;
    struct fake_host h;

    fake_host_init(&h);
    struct pw_vm *vm = fake_vm_new(&h, "qvm", PW_ABI_0_2_1);
    for (int i = 0; i < ITEMS; i++) {
        char item[32];
        int len = snprintf(item, sizeof(item), "%d:%d", a->n, i);
        fake_put(vm, V, item, (size_t)len);
        if (HC(enqueue_shared_queue, vm, a->id, V, len) != PW_OK)
            abort();
    }
    pw_vm_free(vm);
    fake_host_free(&h);
    return NULL;
}

static void concurrent_producers_lose_no_item_and_keep_each_ones_order(void **state)
{
    struct two *t = *state;
    struct producer_arg args[PRODUCERS];
    pthread_t th[PRODUCERS];
    int next[PRODUCERS] = {0}, got = 0;
    uint32_t nl = fake_put_str(t->consumer, N, "busy"), len;

    assert_int_equal(HC(register_shared_queue, t->consumer, N, nl, ID), PW_OK);
    uint32_t id = fake_u32(t->consumer, ID);
    for (int i = 0; i < PRODUCERS; i++) {
        args[i].id = id;
        args[i].n = i;
        pthread_create(&th[i], NULL, producer, &args[i]);
    }
    /* Dequeue while they produce, until every item arrived. */
    while (got < PRODUCERS * ITEMS) {
        t->consumer->inst->heap = FAKE_HEAP_BASE;
        uint32_t st = HC(dequeue_shared_queue, t->consumer, id, P, S);
        if (st == PW_EMPTY)
            continue;
        assert_int_equal(st, PW_OK);
        char item[32];
        const uint8_t *p = fake_out(t->consumer, P, S, &len);
        snprintf(item, sizeof(item), "%.*s", (int)len, (const char *)p);
        int who, seq;
        assert_int_equal(sscanf(item, "%d:%d", &who, &seq), 2);
        assert_int_equal(seq, next[who]); /* FIFO per producer */
        next[who]++;
        got++;
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(HC(dequeue_shared_queue, t->consumer, id, P, S), PW_EMPTY);
    assert_int_equal(t->hc.posts, PRODUCERS * ITEMS); /* one wake-up per item, all to us */
}

/* A canary (sandbox) registering the live queue's name gets a queue of its own: the live
 * consumer keeps its queue and its wake-ups; what the canary enqueues to the live queue is
 * dropped; its own queue dies with it. */
static void a_sandbox_neither_steals_nor_feeds_live_queues(void **state)
{
    struct two *t = *state;
    struct fake_host hs;
    uint32_t nl = fake_put_str(t->consumer, N, "live");

    fake_host_init(&hs);
    assert_int_equal(HC(register_shared_queue, t->consumer, N, nl, ID), PW_OK);
    uint32_t id = fake_u32(t->consumer, ID);
    struct pw_vm *canary = fake_sandbox_new(&hs, "qvm");
    struct pw_root *croot = fake_root_new(canary, "canary", "");
    fake_enter(canary, &croot->ctx, PW_CB_CONFIGURE);
    fake_put_str(canary, N, "live");
    assert_int_equal(HC(register_shared_queue, canary, N, nl, ID), PW_OK);
    uint32_t own = fake_u32(canary, ID);
    assert_int_not_equal(own, id);
    /* The producer still reaches the live consumer. */
    fake_put_str(t->producer, V, "job");
    assert_int_equal(HC(enqueue_shared_queue, t->producer, id, V, 3), PW_OK);
    assert_int_equal(t->hc.posts, 1);
    assert_int_equal(hs.posts, 0);
    /* The canary's enqueue to the live queue is accepted and dropped. */
    fake_put_str(canary, V, "ghost");
    assert_int_equal(HC(enqueue_shared_queue, canary, id, V, 5), PW_OK);
    assert_int_equal(t->hc.posts, 1);
    uint32_t len;
    assert_int_equal(HC(dequeue_shared_queue, t->consumer, id, P, S), PW_OK);
    assert_memory_equal(fake_out(t->consumer, P, S, &len), "job", 3);
    assert_int_equal(HC(dequeue_shared_queue, t->consumer, id, P, S), PW_EMPTY);
    /* Its own queue works for it, and dies with it. */
    assert_int_equal(HC(enqueue_shared_queue, canary, own, V, 5), PW_OK);
    assert_int_equal(HC(dequeue_shared_queue, canary, own, P, S), PW_OK);
    pw_vm_free(canary);
    assert_int_equal(HC(enqueue_shared_queue, t->producer, own, V, 3), PW_NOT_FOUND);
    fake_host_free(&hs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(enqueue_wakes_the_registering_vm_through_its_own_host,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(the_latest_registrant_consumes_and_a_freed_vm_is_forgotten,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_full_queue_refuses_items_until_its_consumer_takes_some,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(an_item_that_cannot_be_delivered_stays_queued, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(concurrent_producers_lose_no_item_and_keep_each_ones_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_sandbox_neither_steals_nor_feeds_live_queues, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
