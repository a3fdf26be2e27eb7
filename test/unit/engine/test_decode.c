/*
 * test_decode.c - unit tests of the binary decoder (engine/decode.c): a valid module
 * decodes to the expected fields; malformed ones are rejected with the spec's wording
 * and a message naming the section, function and offset; no input crashes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "module.h"

/* The byte arrays below are laid out by hand, a section per line. */
/* clang-format off */
#define HEADER 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00

static char err[256];

static int decode(struct wasm_module *m, const uint8_t *b, size_t n)
{
    return wasm_decode(m, b, n, err, sizeof(err));
}

/* Decodes b, expects failure with a message containing want; returns nothing. */
static void expect_malformed_(const uint8_t *b, size_t n, const char *want)
{
    struct wasm_module m;
    int rc = decode(&m, b, n);

    if (rc != WASM_ERR_MALFORMED || !strstr(err, want))
        print_error("want \"%s\", got rc %d \"%s\"\n", want, rc, err);
    assert_int_equal(rc, WASM_ERR_MALFORMED);
    assert_non_null(strstr(err, want));
    assert_null(m.bytes); /* nothing left owned */
    wasm_module_release(&m);
}
#define expect_malformed(arr, want) expect_malformed_(arr, sizeof(arr), want)

static void expect_ok_(const uint8_t *b, size_t n)
{
    struct wasm_module m;
    int rc = decode(&m, b, n);

    if (rc != WASM_OK)
        print_error("unexpected: %s\n", err);
    assert_int_equal(rc, WASM_OK);
    wasm_module_release(&m);
}
#define expect_ok(arr) expect_ok_(arr, sizeof(arr))

/*
 * (module $m
 *   (type (func (param i32 i64) (result i32)))          ;; 0
 *   (type (func))                                       ;; 1
 *   (import "env" "f" (func (type 1)))                  ;; func 0
 *   (import "env" "g" (global i32))                     ;; global 0
 *   (func $add (type 0) (local i32 i32 f64) ...)        ;; func 1
 *   (table 2 funcref) (memory 1 3)
 *   (global (mut i64) (i64.const -2))                   ;; global 1
 *   (export "add" (func 1)) (export "mem" (memory 0))
 *   (start 0)
 *   (elem (i32.const 0) func 1 0)
 *   (data (i32.const 8) "hi") (data "xyz"))
 * with a datacount section and a name section.
 */
static const uint8_t valid_module[] = {
    HEADER,
    /* type */ 0x01, 0x0a, 0x02, 0x60, 0x02, 0x7f, 0x7e, 0x01, 0x7f, 0x60, 0x00, 0x00,
    /* import */ 0x02, 0x12, 0x02, 0x03, 'e', 'n', 'v', 0x01, 'f', 0x00, 0x01,
    0x03, 'e', 'n', 'v', 0x01, 'g', 0x03, 0x7f, 0x00,
    /* function */ 0x03, 0x02, 0x01, 0x00,
    /* table */ 0x04, 0x04, 0x01, 0x70, 0x00, 0x02,
    /* memory */ 0x05, 0x04, 0x01, 0x01, 0x01, 0x03,
    /* global */ 0x06, 0x06, 0x01, 0x7e, 0x01, 0x42, 0x7e, 0x0b,
    /* export */ 0x07, 0x0d, 0x02, 0x03, 'a', 'd', 'd', 0x00, 0x01, 0x03, 'm', 'e', 'm', 0x02,
    0x00,
    /* start */ 0x08, 0x01, 0x00,
    /* element */ 0x09, 0x08, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x02, 0x01, 0x00,
    /* datacount */ 0x0c, 0x01, 0x02,
    /* code: 1 body; locals 2 x i32, 1 x f64; local.get 0 local.get 1 i32.wrap_i64
       i32.add block (result i32) i32.const 1 end i32.add data.drop 1 end */
    0x0a, 0x17, 0x01, 0x15, 0x02, 0x02, 0x7f, 0x01, 0x7c, 0x20, 0x00, 0x20, 0x01, 0xa7,
    0x6a, 0x02, 0x7f, 0x41, 0x01, 0x0b, 0x6a, 0xfc, 0x09, 0x01, 0x0b,
    /* data */ 0x0b, 0x0d, 0x02, 0x00, 0x41, 0x08, 0x0b, 0x02, 'h', 'i', 0x01, 0x03, 'x', 'y',
    'z',
    /* custom "name": module "m", function 1 "add" */
    0x00, 0x11, 0x04, 'n', 'a', 'm', 'e', 0x00, 0x02, 0x01, 'm', 0x01, 0x06, 0x01, 0x01,
    0x03, 'a', 'd', 'd',
};

static void valid_module_decodes_to_expected_fields(void **state)
{
    struct wasm_module m;

    assert_int_equal(decode(&m, valid_module, sizeof(valid_module)), WASM_OK);
    assert_int_equal(m.ntypes, 2);
    assert_int_equal(m.types[0].nparams, 2);
    assert_int_equal(m.types[0].params[0], WASM_I32);
    assert_int_equal(m.types[0].params[1], WASM_I64);
    assert_int_equal(m.types[0].nresults, 1);
    assert_int_equal(m.types[0].results[0], WASM_I32);
    assert_int_equal(m.types[1].nparams + m.types[1].nresults, 0);

    assert_int_equal(m.nimports, 2);
    assert_string_equal(m.imports[0].module, "env");
    assert_string_equal(m.imports[0].name, "f");
    assert_int_equal(m.imports[0].kind, WASM_EXTERN_FUNC);
    assert_int_equal(m.imports[1].kind, WASM_EXTERN_GLOBAL);
    assert_int_equal(m.imports[1].index, 0);

    assert_int_equal(m.nfuncs, 2);
    assert_int_equal(m.nfunc_imports, 1);
    assert_true(m.funcs[0].imported);
    assert_int_equal(m.funcs[0].type_index, 1);
    assert_false(m.funcs[1].imported);
    assert_int_equal(m.funcs[1].type_index, 0);
    assert_int_equal(m.funcs[1].nlocals, 3);
    assert_memory_equal(m.funcs[1].local_types, ((uint8_t[]){0x7f, 0x7f, 0x7c}), 3);
    assert_int_equal(m.funcs[1].body[0], 0x20);
    assert_int_equal(m.funcs[1].body_end[-1], 0x0b);
    assert_int_equal(m.funcs[1].body_end - m.funcs[1].body, 16);
    assert_int_equal(m.funcs[1].body_offset, m.funcs[1].body - m.bytes);
    assert_string_equal(m.funcs[1].name, "add");
    assert_null(m.funcs[0].name);
    assert_string_equal(m.name, "m");

    assert_int_equal(m.ntables, 1);
    assert_int_equal(m.tables[0].elemtype, WASM_FUNCREF);
    assert_int_equal(m.tables[0].limits.min, 2);
    assert_false(m.tables[0].limits.has_max);
    assert_int_equal(m.nmemories, 1);
    assert_int_equal(m.memories[0].limits.min, 1);
    assert_true(m.memories[0].limits.has_max);
    assert_int_equal(m.memories[0].limits.max, 3);

    assert_int_equal(m.nglobals, 2);
    assert_int_equal(m.nglobal_imports, 1);
    assert_true(m.globals[0].imported);
    assert_int_equal(m.globals[0].valtype, WASM_I32);
    assert_true(m.globals[1].mutable_);
    assert_int_equal(m.globals[1].valtype, WASM_I64);
    assert_int_equal(m.globals[1].init.op, WASM_CONST_I64);
    assert_int_equal(m.globals[1].init.bits, (uint64_t)-2);

    assert_int_equal(m.nexports, 2);
    assert_string_equal(m.exports[0].name, "add");
    assert_int_equal(m.exports[0].kind, WASM_EXTERN_FUNC);
    assert_int_equal(m.exports[0].index, 1);
    assert_int_equal(m.exports[1].kind, WASM_EXTERN_MEMORY);
    assert_true(m.has_start);
    assert_int_equal(m.start_index, 0);

    assert_int_equal(m.nelems, 1);
    assert_int_equal(m.elems[0].mode, WASM_SEGMENT_ACTIVE);
    assert_int_equal(m.elems[0].offset.op, WASM_CONST_I32);
    assert_int_equal(m.elems[0].count, 2);
    assert_int_equal(m.elems[0].items[0].op, WASM_CONST_REF_FUNC);
    assert_int_equal(m.elems[0].items[0].index, 1);
    assert_int_equal(m.elems[0].items[1].index, 0);
    /* Both functions are named outside bodies: by the export and the element segment. */
    assert_int_equal(m.func_declared[0], 1);
    assert_int_equal(m.func_declared[1], 1);

    assert_true(m.has_datacount);
    assert_int_equal(m.datacount, 2);
    assert_int_equal(m.ndatas, 2);
    assert_int_equal(m.datas[0].mode, WASM_SEGMENT_ACTIVE);
    assert_int_equal(m.datas[0].offset.bits, 8);
    assert_int_equal(m.datas[0].len, 2);
    assert_memory_equal(m.datas[0].bytes, "hi", 2);
    assert_int_equal(m.datas[1].mode, WASM_SEGMENT_PASSIVE);
    assert_memory_equal(m.datas[1].bytes, "xyz", 3);

    /* The module owns a copy: the body points into it, not into the caller's array. */
    assert_true(m.funcs[1].body > m.bytes && m.funcs[1].body < m.bytes + m.len);
    wasm_module_release(&m);
    assert_null(m.bytes);
}

static bool is_section_boundary(size_t n)
{
    /* Walk the section headers of valid_module (all sizes are one-byte LEBs). */
    size_t pos = 8;

    while (pos < n)
        pos += 2 + valid_module[pos + 1];
    return pos == n;
}

static void every_truncation_is_rejected_cleanly(void **state)
{
    for (size_t n = 0; n < sizeof(valid_module); n++) {
        struct wasm_module m;
        int rc = decode(&m, valid_module, n);

        if (rc == WASM_OK) {
            /* Only whole sections can be cut off: after the type or import section
             * (before the function section, which needs code), or the name section. */
            assert_true(n >= 8 && is_section_boundary(n));
            assert_true(n <= 8 + 12 + 20 || n == sizeof(valid_module) - 19);
            wasm_module_release(&m);
        } else {
            assert_int_equal(rc, WASM_ERR_MALFORMED);
            assert_true(err[0] != '\0');
        }
    }
}

static void truncation_reports_unexpected_end(void **state)
{
    const uint8_t cut[] = {HEADER, 0x01, 0x04, 0x01, 0x60, 0x01};
    expect_malformed(cut, "length out of bounds");
    const uint8_t in_section[] = {HEADER, 0x01, 0x03, 0x01, 0x60, 0x01, 0x7f};
    expect_malformed(in_section, "type section at offset 0xd: unexpected end");
}

static void bad_header_is_rejected(void **state)
{
    const uint8_t empty[] = {0};
    const uint8_t short_magic[] = {0x00, 0x61, 0x73};
    const uint8_t bad_magic[] = {0x00, 0x41, 0x53, 0x4d, 0x01, 0x00, 0x00, 0x00};
    const uint8_t short_version[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00};
    const uint8_t bad_version[] = {0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00};
    const uint8_t ok[] = {HEADER};

    expect_malformed_(empty, 0, "unexpected end");
    expect_malformed(short_magic, "unexpected end");
    expect_malformed(bad_magic, "magic header not detected");
    expect_malformed(short_version, "unexpected end");
    expect_malformed(bad_version, "unknown binary version");
    expect_ok(ok);
    /* No message buffer: still a clean rejection. */
    struct wasm_module m;
    assert_int_equal(wasm_decode(&m, bad_magic, sizeof(bad_magic), NULL, 0), WASM_ERR_MALFORMED);
    assert_int_equal(wasm_decode(&m, valid_module, 30, NULL, 0), WASM_ERR_MALFORMED);
}

static void section_ids_and_order_are_checked(void **state)
{
    const uint8_t bad_id[] = {HEADER, 0x0d, 0x00};
    const uint8_t twice[] = {HEADER, 0x01, 0x01, 0x00, 0x01, 0x01, 0x00};
    const uint8_t reversed[] = {HEADER, 0x03, 0x01, 0x00, 0x01, 0x01, 0x00};
    const uint8_t datacount_after_code[] = {HEADER, 0x0a, 0x01, 0x00, 0x0c, 0x01, 0x00};
    const uint8_t datacount_before_code[] = {HEADER, 0x0c, 0x01, 0x00, 0x0a, 0x01, 0x00};
    const uint8_t customs_anywhere[] = {HEADER, 0x00, 0x02, 0x01, 'a', 0x01, 0x01, 0x00,
                                        0x00, 0x01, 0x00, 0x03, 0x01, 0x00};
    const uint8_t size_too_big[] = {HEADER, 0x01, 0x05, 0x00};
    const uint8_t size_too_small[] = {HEADER, 0x01, 0x02, 0x00, 0x00};

    expect_malformed(bad_id, "malformed section id");
    expect_malformed(twice, "unexpected content after last section");
    expect_malformed(reversed, "unexpected content after last section");
    expect_malformed(datacount_after_code, "unexpected content after last section");
    expect_ok(datacount_before_code);
    expect_ok(customs_anywhere);
    expect_malformed(size_too_big, "length out of bounds");
    expect_malformed(size_too_small, "section size mismatch");
}

static void leb128_limits_are_enforced(void **state)
{
    /* Memory min 2 in 5 bytes: fine. */
    const uint8_t long_ok[] = {HEADER, 0x05, 0x07, 0x01, 0x00, 0x82, 0x80, 0x80, 0x80, 0x00};
    const uint8_t too_long[] = {HEADER, 0x05, 0x08, 0x01, 0x00,
                                0x82, 0x80, 0x80, 0x80, 0x80, 0x00};
    const uint8_t unused_bits[] = {HEADER, 0x05, 0x07, 0x01, 0x00, 0x82, 0x80, 0x80, 0x80, 0x70};
    /* i32.const -1 in 5 bytes: sign bits fine; then with a bad sign extension. */
    const uint8_t s32_ok[] = {HEADER, 0x06, 0x0a, 0x01, 0x7f, 0x00,
                              0x41, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x0b};
    const uint8_t s32_bad[] = {HEADER, 0x06, 0x0a, 0x01, 0x7f, 0x00,
                               0x41, 0xff, 0xff, 0xff, 0xff, 0x4f, 0x0b};
    const uint8_t limits_flag[] = {HEADER, 0x05, 0x02, 0x01, 0x02};
    const uint8_t limits_flag_long[] = {HEADER, 0x05, 0x04, 0x01, 0x81, 0x00, 0x00};

    expect_ok(long_ok);
    expect_malformed(too_long, "integer representation too long");
    expect_malformed(unused_bits, "integer too large");
    expect_ok(s32_ok);
    expect_malformed(s32_bad, "integer too large");
    expect_malformed(limits_flag, "integer too large");
    expect_malformed(limits_flag_long, "integer representation too long");
}

static void names_must_be_utf8(void **state)
{
    /* export "\xc0\x80" (overlong NUL), "\xed\xa0\x80" (surrogate), "\xf4\x90\x80\x80"
       (above U+10FFFF), and a valid "é" and "\0". */
    const uint8_t overlong[] = {HEADER, 0x07, 0x06, 0x01, 0x02, 0xc0, 0x80, 0x02, 0x00};
    const uint8_t surrogate[] = {HEADER, 0x07, 0x07, 0x01, 0x03, 0xed, 0xa0, 0x80, 0x02, 0x00};
    const uint8_t too_big[] = {HEADER, 0x07, 0x08, 0x01, 0x04, 0xf4, 0x90, 0x80, 0x80,
                               0x02, 0x00};
    const uint8_t cut[] = {HEADER, 0x07, 0x05, 0x01, 0x01, 0xc3, 0x02, 0x00};
    const uint8_t custom_bad[] = {HEADER, 0x00, 0x02, 0x01, 0xff};
    const uint8_t fine[] = {HEADER, 0x07, 0x0a, 0x02, 0x02, 0xc3, 0xa9, 0x02, 0x00,
                            0x01, 0x00, 0x02, 0x00};
    struct wasm_module m;

    expect_malformed(overlong, "malformed UTF-8 encoding");
    expect_malformed(surrogate, "malformed UTF-8 encoding");
    expect_malformed(too_big, "malformed UTF-8 encoding");
    expect_malformed(cut, "malformed UTF-8 encoding");
    expect_malformed(custom_bad, "malformed UTF-8 encoding");
    assert_int_equal(decode(&m, fine, sizeof(fine)), WASM_OK);
    assert_string_equal(m.exports[0].name, "\xc3\xa9");
    assert_int_equal(m.exports[1].name_len, 1); /* "\0": kept, with its length */
    wasm_module_release(&m);
}

static void section_counts_must_agree(void **state)
{
    const uint8_t func_no_code[] = {HEADER, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
                                    0x03, 0x02, 0x01, 0x00};
    /* Found by the fuzzer: sections after the missing code section hid the mismatch. */
    const uint8_t func_data_no_code[] = {HEADER, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
                                         0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01,
                                         0x0b, 0x03, 0x01, 0x01, 0x00};
    const uint8_t code_no_func[] = {HEADER, 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b};
    const uint8_t datacount_mismatch[] = {HEADER, 0x0c, 0x01, 0x01, 0x0b, 0x05, 0x02,
                                          0x01, 0x00, 0x01, 0x00};
    const uint8_t datacount_no_data[] = {HEADER, 0x0c, 0x01, 0x01};

    expect_malformed(func_no_code, "function and code section have inconsistent lengths");
    expect_malformed(func_data_no_code,
                     "function and code section have inconsistent lengths");
    expect_malformed(code_no_func, "function and code section have inconsistent lengths");
    expect_malformed(datacount_mismatch,
                     "data count and data section have inconsistent lengths");
    expect_malformed(datacount_no_data,
                     "data count and data section have inconsistent lengths");
}

/* A module with one function of type 0 = (func), a memory, and the given body. */
#define ONE_FUNC(...)                                                                    \
    HEADER, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01,  \
        0x00, 0x01, 0x0a, (uint8_t)(sizeof((uint8_t[]){__VA_ARGS__}) + 2), 0x01,            \
        (uint8_t)sizeof((uint8_t[]){__VA_ARGS__}), __VA_ARGS__

static void bodies_are_checked(void **state)
{
    const uint8_t ok[] = {ONE_FUNC(0x00, 0x02, 0x40, 0x03, 0x7f, 0x0b, 0x0b, 0x0b)};
    const uint8_t illegal[] = {ONE_FUNC(0x00, 0xff, 0x0b)};
    const uint8_t bad_fc[] = {ONE_FUNC(0x00, 0xfc, 0x12, 0x0b)};
    const uint8_t no_end[] = {ONE_FUNC(0x00, 0x01)};
    const uint8_t unbalanced[] = {ONE_FUNC(0x00, 0x02, 0x40, 0x0b)};
    const uint8_t after_end[] = {ONE_FUNC(0x00, 0x0b, 0x01)};
    const uint8_t grow_reserved[] = {ONE_FUNC(0x00, 0x41, 0x00, 0x40, 0x01, 0x1a, 0x0b)};
    const uint8_t size_reserved[] = {ONE_FUNC(0x00, 0x3f, 0x80, 0x00, 0x1a, 0x0b)};
    const uint8_t copy_reserved[] = {ONE_FUNC(0x00, 0x41, 0x00, 0x41, 0x00, 0x41, 0x00,
                                              0xfc, 0x0a, 0x00, 0x01, 0x0b)};
    const uint8_t bad_reftype[] = {ONE_FUNC(0x00, 0xd0, 0x7f, 0x1a, 0x0b)};
    const uint8_t bad_blocktype[] = {ONE_FUNC(0x00, 0x02, 0x7a, 0x0b, 0x0b)};
    const uint8_t bad_select[] = {ONE_FUNC(0x00, 0x1c, 0x01, 0x01, 0x0b)};
    const uint8_t big_locals[] = {ONE_FUNC(0x02, 0xff, 0xff, 0x01, 0x7f, 0xff, 0xff,
                                           0x01, 0x7f, 0x0b)};
    const uint8_t huge_locals[] = {ONE_FUNC(0x02, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0x02,
                                            0x7e, 0x0b)};
    const uint8_t bad_local_type[] = {ONE_FUNC(0x01, 0x01, 0x40, 0x0b)};
    const uint8_t sat_and_signext[] = {ONE_FUNC(0x00, 0x43, 0, 0, 0, 0, 0xfc, 0x00, 0xc0,
                                                0x1a, 0x0b)};

    expect_ok(ok);
    expect_malformed(illegal, "code section: function 0 at offset 0x1c: illegal opcode");
    expect_malformed(bad_fc, "illegal opcode");
    expect_malformed(no_end, "unexpected end");
    expect_malformed(unbalanced, "unexpected end");
    expect_malformed(after_end, "section size mismatch");
    expect_malformed(grow_reserved, "zero byte expected");
    expect_malformed(size_reserved, "zero byte expected");
    expect_malformed(copy_reserved, "zero byte expected");
    expect_malformed(bad_reftype, "malformed reference type");
    expect_malformed(bad_blocktype, "malformed block type");
    expect_malformed(bad_select, "malformed value type");
    expect_malformed(big_locals, "too many locals");
    expect_malformed(huge_locals, "too many locals");
    expect_malformed(bad_local_type, "malformed value type");
    expect_ok(sat_and_signext);
}

static void simd_instructions_decode(void **state)
{
    /* v128.const twice, i8x16.shuffle, v128.load32_lane, i8x16.extract_lane_u, drop (the
       decoder checks encodings only, not types). */
    const uint8_t ok[] = {ONE_FUNC(0x00, 0xfd, 0x0c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                   14, 15, 16, 0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0xfd, 0x0d, 0, 17, 2, 19, 4, 21, 6, 23, 8, 25, 10, 27,
                                   12, 29, 14, 31, 0x41, 0x00, 0xfd, 0x56, 0x02, 0x08, 0x03,
                                   0xfd, 0x16, 0x0f, 0x1a, 0x0b)};
    const uint8_t gap[] = {ONE_FUNC(0x00, 0xfd, 0x9a, 0x01, 0x0b)};        /* 0x9a: none */
    const uint8_t relaxed[] = {ONE_FUNC(0x00, 0xfd, 0x80, 0x02, 0x0b)};    /* 0x100 */
    const uint8_t short_const[] = {ONE_FUNC(0x00, 0xfd, 0x0c, 1, 2, 3, 0x0b)};
    const uint8_t no_lane[] = {ONE_FUNC(0x00, 0xfd, 0x15)};
    /* (global v128 (v128.const ...)) is one simple constant expression. */
    const uint8_t global[] = {HEADER, 0x06, 0x16, 0x01, 0x7b, 0x00, 0xfd, 0x0c, 1, 0, 0, 0, 0,
                              0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0x80, 0x0b};
    struct wasm_module m;

    expect_ok(ok);
    expect_malformed(gap, "illegal opcode");
    expect_malformed(relaxed, "illegal opcode");
    expect_malformed(short_const, "unexpected end");
    expect_malformed(no_lane, "unexpected end");
    assert_int_equal(decode(&m, global, sizeof(global)), WASM_OK);
    assert_int_equal(m.globals[0].valtype, WASM_V128);
    assert_int_equal(m.globals[0].init.op, WASM_CONST_V128);
    assert_true(m.globals[0].init.bits == 1);
    assert_true(m.globals[0].init.bits_hi == 0x8000000000000002ull);
    wasm_module_release(&m);
}

static void data_count_section_required_with_data(void **state)
{
    /* memory.init 0 without a data count, with a data section: malformed. */
    const uint8_t with_data[] = {ONE_FUNC(0x00, 0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc,
                                          0x08, 0x00, 0x00, 0x0b),
                                 0x0b, 0x03, 0x01, 0x01, 0x00};
    /* data.drop 0 and no data section at all: well-formed (the validator rejects the
       unknown data segment). */
    const uint8_t no_data[] = {ONE_FUNC(0x00, 0xfc, 0x09, 0x00, 0x0b)};

    expect_malformed(with_data, "data count section required");
    expect_ok(no_data);
}

static void segments_and_const_exprs_decode(void **state)
{
    /* All 8 element segment encodings, one each; a table; one function. */
    const uint8_t elems[] = {
        HEADER, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
        0x04, 0x04, 0x01, 0x70, 0x00, 0x01,
        0x09, 0x32, 0x08,
        0x00, 0x41, 0x00, 0x0b, 0x01, 0x00,             /* 0: active, funcidx */
        0x01, 0x00, 0x01, 0x00,                         /* 1: passive */
        0x02, 0x00, 0x41, 0x00, 0x0b, 0x00, 0x01, 0x00, /* 2: active table 0 */
        0x03, 0x00, 0x01, 0x00,                         /* 3: declarative */
        0x04, 0x41, 0x00, 0x0b, 0x01, 0xd2, 0x00, 0x0b, /* 4: active, exprs */
        0x05, 0x70, 0x01, 0xd0, 0x70, 0x0b,             /* 5: passive, exprs */
        0x06, 0x00, 0x41, 0x00, 0x0b, 0x70, 0x00,       /* 6: active table 0, exprs */
        0x07, 0x70, 0x01, 0xd2, 0x00, 0x0b,             /* 7: declarative, exprs */
        0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b,
    };
    const uint8_t bad_flags[] = {HEADER, 0x09, 0x02, 0x01, 0x08};
    const uint8_t bad_elemkind[] = {HEADER, 0x09, 0x04, 0x01, 0x01, 0x01, 0x00};
    const uint8_t bad_const_op[] = {HEADER, 0x09, 0x07, 0x01, 0x05, 0x70, 0x01, 0xf3, 0x00,
                                    0x0b};
    /* (global i32 (i32.add (i32.const 1) (i32.const 2))): well-formed, kept raw. */
    const uint8_t nonconst[] = {HEADER, 0x06, 0x09, 0x01, 0x7f, 0x00, 0x41, 0x01, 0x41,
                                0x02, 0x6a, 0x0b};
    const uint8_t bad_mut[] = {HEADER, 0x06, 0x06, 0x01, 0x7f, 0x02, 0x41, 0x00, 0x0b};
    const uint8_t bad_import_kind[] = {HEADER, 0x02, 0x04, 0x01, 0x00, 0x00, 0x04};
    struct wasm_module m;

    assert_int_equal(decode(&m, elems, sizeof(elems)), WASM_OK);
    assert_int_equal(m.nelems, 8);
    assert_int_equal(m.elems[0].mode, WASM_SEGMENT_ACTIVE);
    assert_int_equal(m.elems[1].mode, WASM_SEGMENT_PASSIVE);
    assert_int_equal(m.elems[2].mode, WASM_SEGMENT_ACTIVE);
    assert_int_equal(m.elems[3].mode, WASM_SEGMENT_DECLARATIVE);
    assert_int_equal(m.elems[4].items[0].op, WASM_CONST_REF_FUNC);
    assert_int_equal(m.elems[5].items[0].op, WASM_CONST_REF_NULL);
    assert_int_equal(m.elems[5].items[0].index, WASM_FUNCREF);
    assert_int_equal(m.elems[6].count, 0);
    assert_int_equal(m.elems[7].mode, WASM_SEGMENT_DECLARATIVE);
    assert_int_equal(m.func_declared[0], 1);
    wasm_module_release(&m);

    expect_malformed(bad_flags, "malformed elements segment kind");
    expect_malformed(bad_elemkind, "malformed element kind");
    expect_malformed(bad_const_op, "illegal opcode");
    assert_int_equal(decode(&m, nonconst, sizeof(nonconst)), WASM_OK);
    assert_int_equal(m.globals[0].init.op, WASM_CONST_EXPR);
    assert_int_equal(m.globals[0].init.expr_end - m.globals[0].init.expr, 6);
    wasm_module_release(&m);
    expect_malformed(bad_mut, "malformed mutability");
    expect_malformed(bad_import_kind, "malformed import kind");
}

static void malformed_name_section_is_ignored(void **state)
{
    /* Function names subsection whose size runs past the section: names dropped. */
    const uint8_t bad_names[] = {HEADER, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
                                 0x03, 0x02, 0x01, 0x00,
                                 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b,
                                 0x00, 0x0c, 0x04, 'n', 'a', 'm', 'e',
                                 0x00, 0x02, 0x01, 'm', 0x01, 0x09, 0x01};
    struct wasm_module m;

    assert_int_equal(decode(&m, bad_names, sizeof(bad_names)), WASM_OK);
    assert_null(m.name);
    assert_null(m.funcs[0].name);
    wasm_module_release(&m);
}

static void large_module_decodes(void **state)
{
    /* 20000 functions with a 3-byte body each, plus locals: linear time, all fields. */
    enum { N = 20000 };
    static uint8_t b[8 + 6 + 7 + N + 7 + 6 * N];
    size_t pos = 0;
    struct wasm_module m;

    memcpy(b, (uint8_t[]){HEADER}, 8);
    pos = 8;
    memcpy(b + pos, (uint8_t[]){0x01, 0x04, 0x01, 0x60, 0x00, 0x00}, 6);
    pos += 6;
    /* function section: size = 3 (count LEB) + N */
    b[pos++] = 0x03;
    b[pos++] = (uint8_t)(0x80 | ((3 + N) & 0x7f));
    b[pos++] = (uint8_t)(0x80 | (((3 + N) >> 7) & 0x7f));
    b[pos++] = (uint8_t)(((3 + N) >> 14) & 0x7f);
    b[pos++] = (uint8_t)(0x80 | (N & 0x7f));
    b[pos++] = (uint8_t)(0x80 | ((N >> 7) & 0x7f));
    b[pos++] = (uint8_t)((N >> 14) & 0x7f);
    memset(b + pos, 0, N);
    pos += N;
    /* code section: each body = size 5: 1 group of 3 i64 locals, nop, end */
    b[pos++] = 0x0a;
    b[pos++] = (uint8_t)(0x80 | ((3 + 6 * N) & 0x7f));
    b[pos++] = (uint8_t)(0x80 | (((3 + 6 * N) >> 7) & 0x7f));
    b[pos++] = (uint8_t)(((3 + 6 * N) >> 14) & 0x7f);
    b[pos++] = (uint8_t)(0x80 | (N & 0x7f));
    b[pos++] = (uint8_t)(0x80 | ((N >> 7) & 0x7f));
    b[pos++] = (uint8_t)((N >> 14) & 0x7f);
    for (int i = 0; i < N; i++) {
        memcpy(b + pos, (uint8_t[]){0x05, 0x01, 0x03, 0x7e, 0x01, 0x0b}, 6);
        pos += 6;
    }
    assert_int_equal(decode(&m, b, pos), WASM_OK);
    assert_int_equal(m.nfuncs, N);
    assert_int_equal(m.funcs[N - 1].nlocals, 3);
    assert_int_equal(m.funcs[N - 1].local_types[2], WASM_I64);
    wasm_module_release(&m);
}

/* clang-format on */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_module_decodes_to_expected_fields),
        cmocka_unit_test(every_truncation_is_rejected_cleanly),
        cmocka_unit_test(truncation_reports_unexpected_end),
        cmocka_unit_test(bad_header_is_rejected),
        cmocka_unit_test(section_ids_and_order_are_checked),
        cmocka_unit_test(leb128_limits_are_enforced),
        cmocka_unit_test(names_must_be_utf8),
        cmocka_unit_test(section_counts_must_agree),
        cmocka_unit_test(bodies_are_checked),
        cmocka_unit_test(simd_instructions_decode),
        cmocka_unit_test(data_count_section_required_with_data),
        cmocka_unit_test(segments_and_const_exprs_decode),
        cmocka_unit_test(malformed_name_section_is_ignored),
        cmocka_unit_test(large_module_decodes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
