/*
 * test_log.c - unit tests of hostcalls/log.c: Envoy's log line format, level filtering,
 * proxy_get_log_level, the time hostcall and the tick period.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake.h"

#define MSG 0x100u
#define OUT 0x300u

static void log_lines_have_envoys_prefix(void **state)
{
    struct fake_env *e = *state;
    uint32_t n = fake_put_str(e->vm, MSG, "hello there");

    assert_int_equal(HC(log, e->vm, PW_LOG_WARN, MSG, n), PW_OK);
    assert_int_equal(e->host.nlog, 1);
    assert_string_equal(e->host.log[0], "wasm log plug rid vm1: hello there");
    assert_int_equal(e->host.log_levels[0], PW_LOG_WARN);
    /* Before any root context (during _start): the VM's name, no root id. */
    fake_enter(e->vm, NULL, PW_CB_START);
    assert_int_equal(HC(log, e->vm, PW_LOG_INFO, MSG, 5), PW_OK);
    assert_string_equal(e->host.log[1], "wasm log vm1 vm1: hello");
}

static void levels_are_checked_and_filtered(void **state)
{
    struct fake_env *e = *state;
    uint32_t n = fake_put_str(e->vm, MSG, "x");

    assert_int_equal(HC(log, e->vm, 6, MSG, n), PW_BAD_ARGUMENT);
    e->host.level = PW_LOG_ERROR;
    assert_int_equal(HC(log, e->vm, PW_LOG_INFO, MSG, n), PW_OK);
    assert_int_equal(e->host.nlog, 0); /* below the host's level */
    assert_int_equal(HC(get_log_level, e->vm, OUT), PW_OK);
    assert_int_equal(fake_u32(e->vm, OUT), PW_LOG_ERROR);
    assert_int_equal(HC(log, e->vm, PW_LOG_INFO, 0xfff0, 0x100), PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(get_log_level, e->vm, 0xfffe), PW_INVALID_MEMORY_ACCESS);
}

static void time_and_tick_period_go_through_the_host(void **state)
{
    struct fake_env *e = *state;

    assert_int_equal(HC(get_current_time_nanoseconds, e->vm, OUT), PW_OK);
    assert_int_equal(fake_u64(e->vm, OUT), e->host.now_ns);
    assert_int_equal(HC(get_current_time_nanoseconds, e->vm, 0xfffc), PW_INVALID_MEMORY_ACCESS);
    /* From a stream, the period is set for its root context. */
    assert_int_equal(HC(set_tick_period_milliseconds, e->vm, 250), PW_OK);
    assert_int_equal(e->host.tick_period, 250);
    assert_int_equal(e->root->tick_period_ms, 250);
    /* Ending the root stops its timer. */
    pw_stream_end(e->stream);
    e->stream = NULL;
    pw_root_free(e->root);
    e->root = NULL;
    assert_int_equal(e->host.tick_period, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(log_lines_have_envoys_prefix, fake_env_setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(levels_are_checked_and_filtered, fake_env_setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(time_and_tick_period_go_through_the_host, fake_env_setup,
                                        fake_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
