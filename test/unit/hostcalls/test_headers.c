/*
 * test_headers.c - unit tests of hostcalls/headers.c: the pairs encoding, the header-map
 * hostcalls, their phase rules and their handling of bad guest pointers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake.h"

#define K 0x100u    /* key */
#define V 0x200u    /* value */
#define P 0x300u    /* return pointer */
#define S 0x304u    /* return size */
#define M 0x1000u   /* a serialized map */
#define OOB 0xfffeu /* a pointer whose 4-byte access leaves the 64 KiB memory */

#define setup fake_env_setup
#define teardown fake_env_teardown

static void pairs_encoding_matches_the_abi_example(void **state)
{
    static const uint8_t expect[] = {2, 0, 0, 0, 1, 0,   0, 0,   1, 0,   0, 0,   1,   0, 0,
                                     0, 2, 0, 0, 0, 'a', 0, '1', 0, 'b', 0, '2', '2', 0};
    struct pw_map m = {0}, back = {0};
    uint8_t out[sizeof(expect)];

    pw_map_add(&m, "a", 1, "1", 1);
    pw_map_add(&m, "b", 1, "22", 2);
    assert_int_equal(pw_map_serialized_size(&m), sizeof(expect));
    pw_map_serialize(&m, out);
    assert_memory_equal(out, expect, sizeof(expect));
    assert_int_equal(pw_map_parse(expect, sizeof(expect), &back), PW_OK);
    assert_int_equal(back.count, 2);
    assert_string_equal(pw_map_value(&back, "b"), "22");
    pw_map_free(&m);
    pw_map_free(&back);
}

static void malformed_pairs_are_rejected_and_leave_an_empty_map(void **state)
{
    uint8_t good[] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'k', 0, 'v', 0};
    uint8_t bad[sizeof(good) + 1];
    struct pw_map m = {0};

    assert_int_equal(pw_map_parse(good, sizeof(good), &m), PW_OK);
    assert_int_equal(m.count, 1);
    /* missing NUL after the key */
    memcpy(bad, good, sizeof(good));
    bad[13] = 'x';
    assert_int_equal(pw_map_parse(bad, sizeof(good), &m), PW_BAD_ARGUMENT);
    assert_int_equal(m.count, 0);
    /* trailing byte */
    memcpy(bad, good, sizeof(good));
    bad[sizeof(good)] = 0;
    assert_int_equal(pw_map_parse(bad, sizeof(bad), &m), PW_BAD_ARGUMENT);
    /* count larger than the buffer */
    memcpy(bad, good, sizeof(good));
    bad[0] = 200;
    assert_int_equal(pw_map_parse(bad, sizeof(good), &m), PW_BAD_ARGUMENT);
    /* the two encodings of the empty map */
    assert_int_equal(pw_map_parse(good, 0, &m), PW_OK);
    assert_int_equal(pw_map_parse((const uint8_t *)"", 1, &m), PW_OK);
    assert_int_equal(m.count, 0);
    pw_map_free(&m);
}

static void keys_are_lower_cased_and_matched_case_insensitively(void **state)
{
    struct fake_env *e = *state;
    uint32_t len;

    assert_string_equal(e->fs.maps[0].items[1].key, "x-foo");
    uint32_t kl = fake_put_str(e->vm, K, "X-FOO");
    assert_int_equal(HC(get_header_map_value, e->vm, 0, K, kl, P, S), PW_OK);
    const uint8_t *v = fake_out(e->vm, P, S, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "one", 3); /* the first value */
}

static void missing_key_is_not_found_in_0_2_and_empty_in_0_1(void **state)
{
    struct fake_env *e = *state;
    uint32_t kl = fake_put_str(e->vm, K, "absent");

    assert_int_equal(HC(get_header_map_value, e->vm, 0, K, kl, P, S), PW_NOT_FOUND);
    ((struct pw_module *)e->vm->module)->abi = PW_ABI_0_1_0;
    fake_put(e->vm, S, "\xff\xff\xff\xff", 4);
    assert_int_equal(HC(get_header_map_value, e->vm, 0, K, kl, P, S), PW_OK);
    assert_int_equal(fake_u32(e->vm, S), 0);
}

static void get_pairs_returns_the_serialized_map(void **state)
{
    struct fake_env *e = *state;
    uint32_t len;

    assert_int_equal(HC(get_header_map_pairs, e->vm, 0, P, S), PW_OK);
    const uint8_t *p = fake_out(e->vm, P, S, &len);
    assert_int_equal(len, pw_map_serialized_size(&e->fs.maps[0]));
    struct pw_map back = {0};
    assert_int_equal(pw_map_parse(p, len, &back), PW_OK);
    assert_int_equal(back.count, 3);
    assert_string_equal(back.items[0].key, ":path");
    assert_string_equal(back.items[2].value, "two");
    pw_map_free(&back);
    assert_int_equal(HC(get_header_map_size, e->vm, 0, S), PW_OK);
    assert_int_equal(fake_u32(e->vm, S), len);
}

static void add_replace_remove_edit_the_hosts_map(void **state)
{
    struct fake_env *e = *state;
    struct pw_map *m = &e->fs.maps[0];
    uint32_t kl = fake_put_str(e->vm, K, "X-Foo"), vl = fake_put_str(e->vm, V, "three");

    assert_int_equal(HC(add_header_map_value, e->vm, 0, K, kl, V, vl), PW_OK);
    assert_int_equal(m->count, 4);
    assert_int_equal(HC(replace_header_map_value, e->vm, 0, K, kl, V, vl), PW_OK);
    assert_int_equal(m->count, 2); /* duplicates collapsed into one */
    assert_string_equal(pw_map_value(m, "x-foo"), "three");
    assert_int_equal(HC(remove_header_map_value, e->vm, 0, K, kl), PW_OK);
    assert_int_equal(m->count, 1);
    assert_null(pw_map_value(m, "x-foo"));
    /* removing an absent key is OK */
    assert_int_equal(HC(remove_header_map_value, e->vm, 0, K, kl), PW_OK);
    /* replace of an absent key adds it */
    kl = fake_put_str(e->vm, K, "New");
    assert_int_equal(HC(replace_header_map_value, e->vm, 0, K, kl, V, vl), PW_OK);
    assert_string_equal(pw_map_value(m, "new"), "three");
}

static void set_pairs_replaces_the_map_and_rejects_malformed_input(void **state)
{
    struct fake_env *e = *state;
    struct pw_map src = {0};
    uint8_t buf[64];

    pw_map_add(&src, "a", 1, "b", 1);
    size_t n = pw_map_serialized_size(&src);
    pw_map_serialize(&src, buf);
    fake_put(e->vm, M, buf, n);
    assert_int_equal(HC(set_header_map_pairs, e->vm, 0, M, n), PW_OK);
    assert_int_equal(e->fs.maps[0].count, 1);
    assert_string_equal(pw_map_value(&e->fs.maps[0], "a"), "b");
    /* Truncated: BAD_ARGUMENT, and the map is not wiped (unlike cpp-host). */
    assert_int_equal(HC(set_header_map_pairs, e->vm, 0, M, n - 1), PW_BAD_ARGUMENT);
    assert_int_equal(e->fs.maps[0].count, 1);
    /* Two pairs, the second truncated: the first was parsed already and is dropped
     * with its storage (the sanitizer build catches a leak here), the map stays. */
    pw_map_add(&src, "c", 1, "d", 1);
    n = pw_map_serialized_size(&src);
    pw_map_serialize(&src, buf);
    fake_put(e->vm, M, buf, n);
    assert_int_equal(HC(set_header_map_pairs, e->vm, 0, M, n - 1), PW_BAD_ARGUMENT);
    assert_int_equal(e->fs.maps[0].count, 1);
    assert_int_equal(HC(send_local_response, e->vm, 403, M, 0, M, 0, M, n - 1, -1),
                     PW_BAD_ARGUMENT);
    assert_int_equal(e->fs.local_replies, 0);
    pw_map_free(&src);
}

static void a_map_not_available_reads_empty_and_ignores_writes(void **state)
{
    struct fake_env *e = *state;
    uint32_t kl = fake_put_str(e->vm, K, "k");

    /* Response headers during the request: no map. */
    fake_put(e->vm, P, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
    assert_int_equal(HC(get_header_map_pairs, e->vm, 2, P, S), PW_OK);
    assert_int_equal(fake_u32(e->vm, P), 0);
    assert_int_equal(fake_u32(e->vm, S), 0);
    assert_int_equal(HC(get_header_map_size, e->vm, 2, S), PW_OK);
    assert_int_equal(fake_u32(e->vm, S), 0);
    assert_int_equal(HC(get_header_map_value, e->vm, 2, K, kl, P, S), PW_NOT_FOUND);
    /* A stream's write to it is acknowledged and dropped (the Rust SDK panics on any
     * other status), with one warning in the plugin's log per map. */
    assert_int_equal(HC(add_header_map_value, e->vm, 2, K, kl, V, 0), PW_OK);
    assert_int_equal(HC(replace_header_map_value, e->vm, 2, K, kl, V, 0), PW_OK);
    assert_int_equal(HC(remove_header_map_value, e->vm, 2, K, kl), PW_OK);
    assert_int_equal(HC(set_header_map_pairs, e->vm, 2, P, 0), PW_OK);
    assert_false(e->fs.has_map[2]);
    assert_true(fake_logged(&e->host, "proxy_add_header_map_value(response_headers): it does "
                                      "not exist in this phase; the change is ignored"));
    int warnings = 0;
    for (int i = 0; i < e->host.nlog; i++)
        warnings += strstr(e->host.log[i], "the change is ignored") != NULL;
    assert_int_equal(warnings, 1);
    /* Callout maps outside on_http_call_response, gRPC maps: empty too; writes to them
     * are NOT_FOUND (no stream map is involved). */
    assert_int_equal(HC(get_header_map_pairs, e->vm, 6, P, S), PW_OK);
    assert_int_equal(HC(get_header_map_value, e->vm, 4, K, kl, P, S), PW_NOT_FOUND);
    assert_int_equal(HC(add_header_map_value, e->vm, 6, K, kl, V, 0), PW_NOT_FOUND);
    /* From a root context there is no stream map at all. */
    fake_enter(e->vm, &e->root->ctx, PW_CB_TICK);
    assert_int_equal(HC(get_header_map_value, e->vm, 0, K, kl, P, S), PW_NOT_FOUND);
    assert_int_equal(HC(add_header_map_value, e->vm, 0, K, kl, V, 0), PW_NOT_FOUND);
    /* An unknown map type is a bad argument. */
    assert_int_equal(HC(get_header_map_pairs, e->vm, 8, P, S), PW_BAD_ARGUMENT);
}

static void maps_are_read_only_when_sent_or_while_the_stream_ends(void **state)
{
    struct fake_env *e = *state;
    uint32_t kl = fake_put_str(e->vm, K, "k");

    uint32_t before = e->fs.maps[0].count;
    e->fs.read_only[0] = true; /* already sent */
    assert_int_equal(HC(add_header_map_value, e->vm, 0, K, kl, V, 0), PW_OK);
    assert_int_equal(e->fs.maps[0].count, before); /* ignored */
    assert_true(fake_logged(&e->host, "proxy_add_header_map_value(request_headers): it is "
                                      "read-only now (it went on); the change is ignored"));
    e->fs.read_only[0] = false;
    e->stream->ctx.ending = true; /* on_done / on_log / on_delete */
    e->stream->ctx.write_warned = 0;
    assert_int_equal(HC(replace_header_map_value, e->vm, 0, K, kl, V, 0), PW_OK);
    assert_int_equal(e->fs.maps[0].count, before);
    assert_true(fake_logged(&e->host, "proxy_replace_header_map_value(request_headers): the "
                                      "stream has ended, it is read-only"));
    kl = fake_put_str(e->vm, K, ":path");
    assert_int_equal(HC(get_header_map_value, e->vm, 0, K, kl, P, S), PW_OK);
    e->stream->ctx.ending = false;
}

static void bad_guest_pointers_are_invalid_memory_access(void **state)
{
    struct fake_env *e = *state;

    assert_int_equal(HC(get_header_map_value, e->vm, 0, OOB, 16, P, S), PW_INVALID_MEMORY_ACCESS);
    uint32_t kl = fake_put_str(e->vm, K, "x-foo");
    assert_int_equal(HC(get_header_map_value, e->vm, 0, K, kl, OOB, S), PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(get_header_map_pairs, e->vm, 0, P, OOB), PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(set_header_map_pairs, e->vm, 0, 0xffff0000ull, 100),
                     PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(add_header_map_value, e->vm, 0, K, kl, 0xfff0, 0x100),
                     PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(get_header_map_size, e->vm, 0, OOB), PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(e->fs.maps[0].count, 3); /* nothing changed */
}

static void allocator_failure_is_internal_failure(void **state)
{
    struct fake_env *e = *state;

    e->vm->inst->alloc_fails = true;
    assert_int_equal(HC(get_header_map_pairs, e->vm, 0, P, S), PW_INTERNAL_FAILURE);
    e->vm->inst->alloc_fails = false;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pairs_encoding_matches_the_abi_example),
        cmocka_unit_test(malformed_pairs_are_rejected_and_leave_an_empty_map),
        cmocka_unit_test_setup_teardown(keys_are_lower_cased_and_matched_case_insensitively, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(missing_key_is_not_found_in_0_2_and_empty_in_0_1, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(get_pairs_returns_the_serialized_map, setup, teardown),
        cmocka_unit_test_setup_teardown(add_replace_remove_edit_the_hosts_map, setup, teardown),
        cmocka_unit_test_setup_teardown(set_pairs_replaces_the_map_and_rejects_malformed_input,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_map_not_available_reads_empty_and_ignores_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(maps_are_read_only_when_sent_or_while_the_stream_ends,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(bad_guest_pointers_are_invalid_memory_access, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(allocator_failure_is_internal_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
