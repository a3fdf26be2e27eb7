/*
 * test_buffers.c - unit tests of hostcalls/buffers.c: splices, the buffer hostcalls, which
 * buffer exists in which callback, and bad guest pointers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake.h"

#define D 0x100u /* data */
#define P 0x300u
#define S 0x304u
#define F 0x308u /* flags */
#define OOB 0xfffeu

static void splice_covers_prepend_append_replace_and_the_middle(void **state)
{
    struct pw_buf b = {0};

    pw_buf_set(&b, "hello world", 11);
    pw_buf_splice(&b, 0, 0, ">", 1);   /* prepend */
    pw_buf_splice(&b, 100, 0, "<", 1); /* start past the end: append */
    assert_int_equal(b.len, 13);
    assert_memory_equal(b.data, ">hello world<", 13);
    pw_buf_splice(&b, 1, 5, "HEY", 3); /* splice in the middle */
    assert_memory_equal(b.data, ">HEY world<", 11);
    pw_buf_splice(&b, 5, 1000, "", 0); /* size clamped to the end */
    assert_int_equal(b.len, 5);
    pw_buf_splice(&b, 0, 5, "all new", 7); /* full replace */
    assert_memory_equal(b.data, "all new", 7);
    pw_buf_free(&b);
}

static void get_bytes_clamps_to_the_buffer(void **state)
{
    struct fake_env *e = *state;
    uint32_t len;

    e->fs.has_buf[0] = true;
    pw_buf_set(&e->fs.bufs[0], "0123456789", 10);
    assert_int_equal(HC(get_buffer_bytes, e->vm, 0, 2, 5, P, S), PW_OK);
    const uint8_t *p = fake_out(e->vm, P, S, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(p, "23456", 5);
    assert_int_equal(HC(get_buffer_bytes, e->vm, 0, 8, 100, P, S), PW_OK);
    p = fake_out(e->vm, P, S, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(p, "89", 2);
    assert_int_equal(HC(get_buffer_bytes, e->vm, 0, 10, 4, P, S), PW_OK);
    assert_int_equal(fake_u32(e->vm, S), 0);
    assert_int_equal(HC(get_buffer_bytes, e->vm, 0, 0xffffffffu, 2, P, S), PW_BAD_ARGUMENT);
    assert_int_equal(HC(get_buffer_bytes, e->vm, 9, 0, 2, P, S), PW_BAD_ARGUMENT);
    /* No response body yet. */
    assert_int_equal(HC(get_buffer_bytes, e->vm, 1, 0, 2, P, S), PW_NOT_FOUND);
}

static void set_bytes_splices_the_hosts_buffer(void **state)
{
    struct fake_env *e = *state;
    struct pw_buf *b = &e->fs.bufs[0];

    e->fs.has_buf[0] = true;
    pw_buf_set(b, "abcdef", 6);
    fake_put(e->vm, D, "XY", 2);
    assert_int_equal(HC(set_buffer_bytes, e->vm, 0, 0, 0, D, 2), PW_OK);
    assert_memory_equal(b->data, "XYabcdef", 8);
    assert_int_equal(HC(set_buffer_bytes, e->vm, 0, 8, 0, D, 2), PW_OK);
    assert_memory_equal(b->data, "XYabcdefXY", 10);
    assert_int_equal(HC(set_buffer_bytes, e->vm, 0, 3, 2, D, 1), PW_OK);
    assert_int_equal(b->len, 9);
    assert_memory_equal(b->data, "XYaXdefXY", 9);
    assert_int_equal(HC(set_buffer_bytes, e->vm, 0, 0, 100, D, 2), PW_OK);
    assert_int_equal(b->len, 2);
    /* A body that went out, or that the phase has not got: the write is acknowledged and
     * dropped (the Rust SDK panics on any other status), with a warning per body. */
    e->fs.read_only[0] = true;
    assert_int_equal(HC(set_buffer_bytes, e->vm, 0, 0, 0, D, 2), PW_OK);
    assert_int_equal(b->len, 2);
    assert_true(fake_logged(&e->host, "proxy_set_buffer_bytes(request_body): it is read-only "
                                      "now (it went on); the change is ignored"));
    assert_int_equal(HC(set_buffer_bytes, e->vm, 1, 0, 0, D, 2), PW_OK);
    assert_false(e->fs.has_buf[1]);
    assert_true(fake_logged(&e->host, "proxy_set_buffer_bytes(response_body): it does not "
                                      "exist in this phase"));
    /* Configurations and the callout body are read-only; a root has no stream body. */
    assert_int_equal(HC(set_buffer_bytes, e->vm, 7, 0, 0, D, 2), PW_BAD_ARGUMENT);
    fake_enter(e->vm, &e->root->ctx, PW_CB_TICK);
    assert_int_equal(HC(set_buffer_bytes, e->vm, 0, 0, 0, D, 2), PW_NOT_FOUND);
    fake_enter(e->vm, &e->stream->ctx, PW_CB_REQUEST_BODY);
    assert_int_equal(HC(set_buffer_bytes, e->vm, 0, 0, 0, OOB, 4), PW_INVALID_MEMORY_ACCESS);
}

static void status_reports_size_and_end_of_stream(void **state)
{
    struct fake_env *e = *state;

    e->fs.has_buf[1] = true;
    e->fs.eos = true;
    pw_buf_set(&e->fs.bufs[1], "abc", 3);
    assert_int_equal(HC(get_buffer_status, e->vm, 1, S, F), PW_OK);
    assert_int_equal(fake_u32(e->vm, S), 3);
    assert_int_equal(fake_u32(e->vm, F), 1);
    assert_int_equal(HC(get_buffer_status, e->vm, 0, S, F), PW_NOT_FOUND);
    assert_int_equal(HC(get_buffer_status, e->vm, 1, OOB, F), PW_INVALID_MEMORY_ACCESS);
}

static void configurations_are_buffers_6_and_7_in_their_callbacks_only(void **state)
{
    struct fake_env *e = *state;
    uint32_t len;

    pw_buf_set(&e->vm->configuration, "vmcfg", 5);
    fake_enter(e->vm, &e->root->ctx, PW_CB_VM_START);
    assert_int_equal(HC(get_buffer_bytes, e->vm, 6, 0, 100, P, S), PW_OK);
    assert_memory_equal(fake_out(e->vm, P, S, &len), "vmcfg", 5);
    assert_int_equal(HC(get_buffer_bytes, e->vm, 7, 0, 100, P, S), PW_NOT_FOUND);
    fake_enter(e->vm, &e->root->ctx, PW_CB_CONFIGURE);
    assert_int_equal(HC(get_buffer_bytes, e->vm, 7, 0, 100, P, S), PW_OK);
    assert_int_equal(len = fake_u32(e->vm, S), 3);
    assert_memory_equal(fake_out(e->vm, P, S, &len), "cfg", 3);
    /* 0.1.0's proxy_get_configuration gives the same. */
    assert_int_equal(HC(get_configuration, e->vm, P, S), PW_OK);
    assert_memory_equal(fake_out(e->vm, P, S, &len), "cfg", 3);
    fake_enter(e->vm, &e->root->ctx, PW_CB_TICK);
    assert_int_equal(HC(get_buffer_bytes, e->vm, 6, 0, 100, P, S), PW_NOT_FOUND);
    assert_int_equal(HC(get_configuration, e->vm, P, S), PW_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(splice_covers_prepend_append_replace_and_the_middle),
        cmocka_unit_test_setup_teardown(get_bytes_clamps_to_the_buffer, fake_env_setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(set_bytes_splices_the_hosts_buffer, fake_env_setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(status_reports_size_and_end_of_stream, fake_env_setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(configurations_are_buffers_6_and_7_in_their_callbacks_only,
                                        fake_env_setup, fake_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
