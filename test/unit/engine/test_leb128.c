/*
 * test_leb128.c - unit tests of engine/leb128.h: values, widths, the spec's "integer
 * representation too long" / "integer too large" rules and end-of-buffer handling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "leb128.h"

/* Reads one integer from the literal bytes; *used gets the bytes consumed. */
static enum wasm_leb_status read(const char *bytes, size_t len, unsigned bits, bool is_signed,
                                 uint64_t *out, size_t *used)
{
    const uint8_t *p = (const uint8_t *)bytes;
    enum wasm_leb_status s = wasm_leb_read(&p, p + len, bits, is_signed, out);

    *used = (size_t)(p - (const uint8_t *)bytes);
    return s;
}

static void test_unsigned_values(void **state)
{
    uint64_t v;
    size_t used;

    (void)state;
    assert_int_equal(read("\x05", 1, 32, false, &v, &used), WASM_LEB_OK);
    assert_int_equal(v, 5);
    assert_int_equal(used, 1);
    assert_int_equal(read("\xe5\x8e\x26", 3, 32, false, &v, &used), WASM_LEB_OK);
    assert_int_equal(v, 624485);
    assert_int_equal(used, 3);
    assert_int_equal(read("\xff\xff\xff\xff\x0f", 5, 32, false, &v, &used), WASM_LEB_OK);
    assert_int_equal(v, 0xffffffffu);
    /* A non-minimal encoding within the byte limit is allowed. */
    assert_int_equal(read("\x80\x80\x80\x80\x00", 5, 32, false, &v, &used), WASM_LEB_OK);
    assert_int_equal(v, 0);
    assert_int_equal(used, 5);
}

static void test_signed_values(void **state)
{
    uint64_t v;
    size_t used;

    (void)state;
    assert_int_equal(read("\x7f", 1, 32, true, &v, &used), WASM_LEB_OK);
    assert_int_equal((int64_t)v, -1);
    assert_int_equal(read("\x40", 1, 33, true, &v, &used), WASM_LEB_OK);
    assert_int_equal((int64_t)v, -64);
    assert_int_equal(read("\xc0\xbb\x78", 3, 32, true, &v, &used), WASM_LEB_OK);
    assert_int_equal((int64_t)v, -123456);
    assert_int_equal(read("\x80\x80\x80\x80\x78", 5, 32, true, &v, &used), WASM_LEB_OK);
    assert_int_equal((int64_t)v, INT32_MIN);
    assert_int_equal(read("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7f", 10, 64, true, &v, &used),
                     WASM_LEB_OK);
    assert_int_equal((int64_t)v, INT64_MIN);
}

static void test_too_long(void **state)
{
    uint64_t v = 42;
    size_t used;

    (void)state;
    assert_int_equal(read("\x80\x80\x80\x80\x80\x00", 6, 32, false, &v, &used), WASM_LEB_TOO_LONG);
    assert_int_equal(used, 0); /* the position is left alone on failure */
    assert_int_equal(v, 42);
    assert_int_equal(read("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00", 11, 64, true, &v, &used),
                     WASM_LEB_TOO_LONG);
    assert_string_equal(wasm_leb_message(WASM_LEB_TOO_LONG), "integer representation too long");
}

static void test_too_large(void **state)
{
    uint64_t v;
    size_t used;

    (void)state;
    /* Unused bits of the last byte must be zero (unsigned) or copies of the sign. */
    assert_int_equal(read("\xff\xff\xff\xff\x1f", 5, 32, false, &v, &used), WASM_LEB_TOO_LARGE);
    assert_int_equal(read("\xff\xff\xff\xff\x4f", 5, 32, true, &v, &used), WASM_LEB_TOO_LARGE);
    assert_int_equal(read("\x80\x80\x80\x80\x70", 5, 32, true, &v, &used), WASM_LEB_TOO_LARGE);
    assert_int_equal(read("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7e", 10, 64, true, &v, &used),
                     WASM_LEB_TOO_LARGE);
    assert_string_equal(wasm_leb_message(WASM_LEB_TOO_LARGE), "integer too large");
}

static void test_end_of_buffer(void **state)
{
    uint64_t v;
    size_t used;

    (void)state;
    assert_int_equal(read("\x80\x80", 2, 32, false, &v, &used), WASM_LEB_END);
    assert_int_equal(used, 0);
    assert_int_equal(read("", 0, 32, false, &v, &used), WASM_LEB_END);
}

static void test_typed_wrappers(void **state)
{
    static const uint8_t bytes[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x7e, 0x7f};
    const uint8_t *p = bytes, *end = bytes + sizeof(bytes);
    uint32_t u;
    int32_t s;
    int64_t s64;

    (void)state;
    assert_int_equal(wasm_leb_u32(&p, end, &u), WASM_LEB_OK);
    assert_int_equal(u, 0xffffffffu);
    assert_int_equal(wasm_leb_s32(&p, end, &s), WASM_LEB_OK);
    assert_int_equal(s, -2);
    assert_int_equal(wasm_leb_s64(&p, end, &s64), WASM_LEB_OK);
    assert_int_equal(s64, -1);
    assert_ptr_equal(p, end);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsigned_values), cmocka_unit_test(test_signed_values),
        cmocka_unit_test(test_too_long),        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_end_of_buffer),   cmocka_unit_test(test_typed_wrappers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
