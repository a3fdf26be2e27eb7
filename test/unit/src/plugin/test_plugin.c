/*
 * test_plugin.c - src/plugin's workers on real test plugins: ticks on a worker's virtual
 * clock, and queue wake-ups that cross workers (posted from anywhere, delivered on the
 * consumer's own worker, dropped when that VM is gone).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <event2/event.h>

#include "config/config.h"
#include "plugin/internal.h"

/* What an observer saw: event kinds and the plugins' log lines. */
struct seen {
    int ticks, queue_ready, started;
    char logs[4096];
};

static void observe(void *arg, const struct plugin_event *ev)
{
    struct seen *s = arg;
    if (ev->kind == PLUGIN_EV_TICK)
        s->ticks++;
    else if (ev->kind == PLUGIN_EV_QUEUE_READY)
        s->queue_ready++;
    else if (ev->kind == PLUGIN_EV_STARTED)
        s->started++;
    else if (ev->kind == PLUGIN_EV_LOG) {
        size_t n = strlen(s->logs);
        snprintf(s->logs + n, sizeof(s->logs) - n, "%s\n", ev->text);
    }
}

static struct cfg_plugin plugin(const char *name, const char *file, const char *root_id,
                                const char *vm_id, const char *config)
{
    return (struct cfg_plugin){
        .name = name,
        .file = file,
        .root_id = root_id,
        .vm_id = vm_id,
        .configuration = config,
        .configuration_len = strlen(config),
        .vm_configuration = "",
        .failure_policy = CFG_FAIL_CLOSED,
    };
}

static struct plugin_set *set_of(const struct cfg_plugin *p, size_t n, unsigned workers)
{
    const struct cfg_plugin *ps[4];
    struct cfg_errors errors = {0};
    for (size_t i = 0; i < n; i++)
        ps[i] = &p[i];
    struct plugin_set_options opt = {.n_workers = workers};
    struct plugin_set *set = plugin_set_new(NULL, ps, n, &opt, &errors);
    for (size_t i = 0; i < errors.count; i++)
        print_error("%s\n", errors.items[i]);
    cfg_errors_free(&errors);
    assert_non_null(set);
    return set;
}

static void ticks_follow_the_virtual_clock(void **state)
{
    struct cfg_plugin p = plugin("h", WASP_TEST_PLUGIN_DIR "/hc_headers.wasm", "", "", "c");
    struct plugin_set *set = set_of(&p, 1, 1);
    struct event_base *base = event_base_new();
    struct plugin_worker *w = plugin_worker_new(base, 0, NULL, NULL, true, NULL);
    struct seen seen = {0};
    plugin_worker_set_observer(w, &(struct plugin_observer){observe, &seen});
    plugin_worker_bind(w);
    plugin_worker_serve(w, set);
    assert_int_equal(seen.started, 1);
    /* hc_headers asks for a tick every 4 ms. */
    while (plugin_worker_step(w, 10))
        ;
    assert_int_equal(seen.ticks, 2);
    assert_int_equal(plugin_worker_now_ms(w), 10);
    while (plugin_worker_step(w, 12))
        ;
    assert_int_equal(seen.ticks, 3);
    plugin_worker_free(w);
    plugin_set_unref(set);
    event_base_free(base);
}

/* Runs a worker's loop until nothing is left to do now. */
static void run(struct event_base *base, struct plugin_worker *w)
{
    do {
        event_base_loop(base, EVLOOP_NONBLOCK);
    } while (plugin_worker_has_mail(w));
}

static void queue_wakeups_reach_the_consumers_worker_or_are_dropped(void **state)
{
    /* The consumer's VM on two workers; the one that registered last consumes. */
    struct cfg_plugin p =
        plugin("q", WASP_TEST_PLUGIN_DIR "/hc_queue.wasm", "consumer", "unit-queues", "");
    struct plugin_set *set = set_of(&p, 1, 2);
    struct event_base *ba = event_base_new(), *bb = event_base_new();
    struct plugin_worker *a = plugin_worker_new(ba, 0, NULL, NULL, true, NULL);
    struct plugin_worker *b = plugin_worker_new(bb, 1, NULL, NULL, true, NULL);
    struct seen sa = {0}, sb = {0};
    plugin_worker_set_observer(a, &(struct plugin_observer){observe, &sa});
    plugin_worker_set_observer(b, &(struct plugin_observer){observe, &sb});
    plugin_worker_set_log_level(b, PW_LOG_TRACE);
    plugin_worker_serve(a, set);
    plugin_worker_serve(b, set);
    struct plugin_vm *pvm = set->per_worker[1]->slots[0].vm;
    assert_non_null(pvm);
    uint32_t ctx = pw_root_context_id(pvm->roots[0].root);

    /* A wake-up posted for b's VM (as an enqueue on any thread does) runs there. */
    plugin_host_ops.post_queue_ready(b, pvm->vm, ctx, 1);
    run(ba, a);
    assert_int_equal(sa.queue_ready, 0);
    run(bb, b);
    assert_int_equal(sb.queue_ready, 1);
    assert_non_null(strstr(sb.logs, "drained"));

    /* A wake-up for a VM that is gone by the time b reads its mailbox is dropped. */
    plugin_host_ops.post_queue_ready(b, pvm->vm, ctx, 1);
    plugin_worker_serve(b, NULL); /* no stream: b's VMs are freed now */
    assert_int_equal(plugin_worker_live(b), 0);
    run(bb, b);
    assert_int_equal(sb.queue_ready, 1);

    plugin_worker_free(a);
    plugin_worker_free(b);
    plugin_set_unref(set);
    event_base_free(ba);
    event_base_free(bb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ticks_follow_the_virtual_clock),
        cmocka_unit_test(queue_wakeups_reach_the_consumers_worker_or_are_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
