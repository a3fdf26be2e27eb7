/*
 * test_validate.c - unit tests of engine/validate.c.
 *
 * Modules come from the .wat files in test/unit/engine/validate/, converted at build time with
 * `wat2wasm --no-check` (so invalid ones are kept), plus a few hand-written binaries for
 * encoding errors inside bodies and exact error offsets. Each module is decoded with
 * wasm_decode() and then checked with wasm_validate(): valid_* must be accepted,
 * invalid_* rejected with the spec's wording in the message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "module.h"

#ifndef VALIDATE_WASM_DIR
#error "VALIDATE_WASM_DIR must name the directory of the converted .wat files"
#endif

struct validate_case {
    const char *name;    /* file name without .wasm */
    int status;          /* expected wasm_validate() result */
    const char *message; /* substring of the error message, NULL for valid modules */
};

static const struct validate_case cases[] = {
    {"valid_mvp", WASM_OK, NULL},
    {"valid_multi_value", WASM_OK, NULL},
    {"valid_reftypes", WASM_OK, NULL},
    {"valid_bulk", WASM_OK, NULL},
    {"valid_unreachable", WASM_OK, NULL},
    {"valid_globals", WASM_OK, NULL},
    {"valid_simd", WASM_OK, NULL},

    {"invalid_operand_type", WASM_ERR_INVALID, "type mismatch: expected i32, found f64"},
    {"invalid_empty_stack", WASM_ERR_INVALID, "type mismatch: expected i32, found nothing"},
    {"invalid_extra_value", WASM_ERR_INVALID, "type mismatch"},
    {"invalid_block_param", WASM_ERR_INVALID, "type mismatch: expected i64, found i32"},
    {"invalid_if_without_else", WASM_ERR_INVALID, "type mismatch"},
    {"invalid_br_value", WASM_ERR_INVALID, "type mismatch: expected i32, found f32"},
    {"invalid_br_table_arity", WASM_ERR_INVALID, "type mismatch"},
    {"invalid_unknown_label", WASM_ERR_INVALID, "unknown label 2"},
    {"invalid_unknown_local", WASM_ERR_INVALID, "unknown local 2"},
    {"invalid_local_set_type", WASM_ERR_INVALID, "type mismatch: expected f32, found i32"},
    {"invalid_unknown_global", WASM_ERR_INVALID, "unknown global 1"},
    {"invalid_global_immutable", WASM_ERR_INVALID, "global is immutable"},
    {"invalid_unknown_function", WASM_ERR_INVALID, "unknown function 3"},
    {"invalid_call_args", WASM_ERR_INVALID, "type mismatch: expected i64, found i32"},
    {"invalid_unknown_type", WASM_ERR_INVALID, "unknown type 7"},
    {"invalid_call_indirect_externref", WASM_ERR_INVALID, "type mismatch"},
    {"invalid_unknown_table", WASM_ERR_INVALID, "unknown table 1"},
    {"invalid_unknown_memory", WASM_ERR_INVALID, "unknown memory 0"},
    {"invalid_memory_grow_no_memory", WASM_ERR_INVALID, "unknown memory 0"},
    {"invalid_alignment", WASM_ERR_INVALID, "alignment must not be larger than natural"},
    {"invalid_store_type", WASM_ERR_INVALID, "type mismatch: expected f32, found f64"},
    {"invalid_unknown_data", WASM_ERR_INVALID, "unknown data segment 1"},
    {"invalid_unknown_elem", WASM_ERR_INVALID, "unknown elem segment 1"},
    {"invalid_table_init_type", WASM_ERR_INVALID, "type mismatch"},
    {"invalid_table_copy_type", WASM_ERR_INVALID, "type mismatch"},
    {"invalid_table_set_type", WASM_ERR_INVALID,
     "type mismatch: expected externref, found funcref"},
    {"invalid_select_reference", WASM_ERR_INVALID, "type mismatch"},
    {"invalid_select_arity", WASM_ERR_INVALID, "invalid result arity"},
    {"invalid_select_operands", WASM_ERR_INVALID, "type mismatch"},
    {"invalid_ref_is_null_number", WASM_ERR_INVALID, "type mismatch"},
    {"invalid_undeclared_ref", WASM_ERR_INVALID, "undeclared function reference"},
    {"invalid_global_init_type", WASM_ERR_INVALID, "type mismatch: expected i64, found i32"},
    {"invalid_global_init_defined_global", WASM_ERR_INVALID, "unknown global 0"},
    {"invalid_global_init_mutable", WASM_ERR_INVALID, "constant expression required"},
    {"invalid_data_offset_type", WASM_ERR_INVALID, "type mismatch"},
    {"invalid_data_unknown_memory", WASM_ERR_INVALID, "unknown memory 0"},
    {"invalid_elem_table_type", WASM_ERR_INVALID, "type mismatch"},
    {"invalid_elem_unknown_function", WASM_ERR_INVALID, "unknown function 4"},
    {"invalid_start_type", WASM_ERR_INVALID, "start function"},
    {"invalid_start_unknown", WASM_ERR_INVALID, "unknown function 2"},
    {"invalid_memory_too_large", WASM_ERR_INVALID,
     "memory size must be at most 65536 pages (4GiB)"},
    {"invalid_memory_max_too_large", WASM_ERR_INVALID,
     "memory size must be at most 65536 pages (4GiB)"},
    {"invalid_memory_min_over_max", WASM_ERR_INVALID,
     "size minimum must not be greater than maximum"},
    {"invalid_table_min_over_max", WASM_ERR_INVALID,
     "size minimum must not be greater than maximum"},
    {"invalid_multiple_memories", WASM_ERR_INVALID, "multiple memories"},
    {"invalid_duplicate_export", WASM_ERR_INVALID, "duplicate export name \"x\""},
    {"invalid_export_unknown", WASM_ERR_INVALID, "unknown global 0"},
    {"invalid_return_type", WASM_ERR_INVALID, "type mismatch: expected i64, found i32"},
    {"invalid_else_branch", WASM_ERR_INVALID, "type mismatch: expected i32, found i64"},
    {"invalid_loop_label_type", WASM_ERR_INVALID, "type mismatch: expected i32, found f32"},
    {"invalid_sat_trunc_type", WASM_ERR_INVALID, "type mismatch: expected f64, found f32"},
    {"invalid_memory_fill_type", WASM_ERR_INVALID, "type mismatch: expected i32, found i64"},
    {"invalid_simd_lane", WASM_ERR_INVALID, "invalid lane index 4 (at most 3)"},
    {"invalid_simd_shuffle_lane", WASM_ERR_INVALID, "invalid lane index 32 (at most 31)"},
    {"invalid_simd_store_lane", WASM_ERR_INVALID, "invalid lane index 8 (at most 7)"},
    {"invalid_simd_alignment", WASM_ERR_INVALID, "alignment must not be larger than natural"},
    {"invalid_simd_operand", WASM_ERR_INVALID, "type mismatch: expected i32, found i64"},
    {"invalid_simd_global_init", WASM_ERR_INVALID, "type mismatch: expected v128, found i32"},
    {"invalid_simd_no_memory", WASM_ERR_INVALID, "unknown memory 0"},
    {"invalid_table_grow_type", WASM_ERR_INVALID,
     "type mismatch: expected funcref, found externref"},
};

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

/* Decodes bytes (which must be well-formed) and validates them; err gets the message. */
static int decode_and_validate(const uint8_t *bytes, size_t len, char *err, size_t errlen)
{
    struct wasm_module m;
    int rc;

    memset(&m, 0, sizeof(m));
    rc = wasm_decode(&m, bytes, len, err, errlen);
    if (rc != WASM_OK) {
        print_error("decode failed: %s\n", err);
        wasm_module_release(&m);
        return -1;
    }
    rc = wasm_validate(&m, err, errlen);
    wasm_module_release(&m);
    return rc;
}

static int validate_file(const char *name, char *err, size_t errlen)
{
    char path[512];
    uint8_t *bytes;
    size_t len = 0;
    int rc;

    snprintf(path, sizeof(path), "%s/%s.wasm", VALIDATE_WASM_DIR, name);
    bytes = read_file(path, &len);
    assert_non_null(bytes);
    rc = decode_and_validate(bytes, len, err, errlen);
    free(bytes);
    return rc;
}

static void test_case(void **state)
{
    const struct validate_case *c = *state;
    char err[256] = "";
    int rc = validate_file(c->name, err, sizeof(err));

    if (rc != c->status)
        print_error("%s: status %d, message \"%s\"\n", c->name, rc, err);
    assert_int_equal(rc, c->status);
    if (c->message) {
        if (!strstr(err, c->message))
            print_error("%s: message \"%s\" lacks \"%s\"\n", c->name, err, c->message);
        assert_non_null(strstr(err, c->message));
    } else {
        assert_string_equal(err, "");
    }
}

/* ---- Hand-written binaries -------------------------------------------------------- */

enum build_flags {
    RESULT_I32 = 1,  /* the function's type is [] -> [i32] instead of [] -> [] */
    WITH_MEMORY = 2, /* a one-page memory */
    WITH_DATA = 4,   /* a data count section and one passive data segment */
};

/*
 * A module of one function whose body (locals count included, under 128 bytes) is given.
 * Returns the length; *body_at gets the offset of the body's first byte in the module.
 */
static size_t build_module(uint8_t *out, const uint8_t *body, size_t body_len, int flags,
                           size_t *body_at)
{
    static const uint8_t header[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
    static const uint8_t type_void[] = {0x01, 0x04, 0x01, 0x60, 0x00, 0x00};
    static const uint8_t type_i32[] = {0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f};
    static const uint8_t funcs[] = {0x03, 0x02, 0x01, 0x00};
    static const uint8_t memory[] = {0x05, 0x03, 0x01, 0x00, 0x01};
    static const uint8_t datacount[] = {0x0c, 0x01, 0x01};
    static const uint8_t data[] = {0x0b, 0x04, 0x01, 0x01, 0x01, 0x61};
    size_t n = 0;

#define APPEND(a) (memcpy(out + n, a, sizeof(a)), n += sizeof(a))
    APPEND(header);
    if (flags & RESULT_I32)
        APPEND(type_i32);
    else
        APPEND(type_void);
    APPEND(funcs);
    if (flags & WITH_MEMORY)
        APPEND(memory);
    if (flags & WITH_DATA)
        APPEND(datacount);
    out[n++] = 0x0a;
    out[n++] = (uint8_t)(body_len + 2);
    out[n++] = 0x01;
    out[n++] = (uint8_t)body_len;
    *body_at = n;
    memcpy(out + n, body, body_len);
    n += body_len;
    if (flags & WITH_DATA)
        APPEND(data);
#undef APPEND
    return n;
}

static void test_error_names_function_and_offset(void **state)
{
    /* locals: 0; i32.const 1; f64.const 0; i32.add; end */
    static const uint8_t body[] = {0x00, 0x41, 0x01, 0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0x6a, 0x0b};
    uint8_t module[256];
    char err[256], want[256];
    size_t body_at, n = build_module(module, body, sizeof(body), RESULT_I32, &body_at);

    (void)state;
    assert_int_equal(decode_and_validate(module, n, err, sizeof(err)), WASM_ERR_INVALID);
    /* The i32.add is the 13th byte of the body (index 12). */
    snprintf(want, sizeof(want),
             "function 0 at offset 0x%zx: type mismatch: expected i32, found f64", body_at + 12);
    assert_string_equal(err, want);
}

static void test_constexpr_error_names_offset(void **state)
{
    /* (global i64 (i32.const 0)): header 8 bytes, section id and size, count, i64, const. */
    char err[256] = "";

    (void)state;
    assert_int_equal(validate_file("invalid_global_init_type", err, sizeof(err)), WASM_ERR_INVALID);
    assert_string_equal(err, "global 0 at offset 0xd: type mismatch: expected i64, found i32");
}

/*
 * The decoder rejects encoding errors in bodies before validation; the validator checks
 * them again so it is safe on any input. These tests decode a well-formed module, then
 * break one byte of the body (or a field) in the decoded copy and validate that.
 */
struct patch {
    size_t index;  /* index in the body (after the locals count) */
    uint8_t value; /* new byte */
    bool drop_datacount;
};

static int validate_patched(const uint8_t *body, size_t len, int flags, struct patch p, char *err,
                            size_t errlen)
{
    uint8_t module[256];
    size_t body_at, n = build_module(module, body, len, flags, &body_at);
    struct wasm_module m;
    int rc;

    memset(&m, 0, sizeof(m));
    rc = wasm_decode(&m, module, n, err, errlen);
    if (rc != WASM_OK) {
        print_error("decode failed: %s\n", err);
        wasm_module_release(&m);
        return -1;
    }
    m.bytes[body_at + p.index] = p.value;
    if (p.drop_datacount)
        m.has_datacount = false;
    rc = wasm_validate(&m, err, errlen);
    wasm_module_release(&m);
    return rc;
}

static void test_illegal_opcode_is_malformed(void **state)
{
    static const uint8_t body[] = {0x00, 0x01, 0x0b}; /* nop, patched to 0x06 (try) */
    char err[256];

    (void)state;
    assert_int_equal(
        validate_patched(body, sizeof(body), 0, (struct patch){1, 0x06, false}, err, sizeof(err)),
        WASM_ERR_MALFORMED);
    assert_non_null(strstr(err, "illegal opcode 0x06"));
}

static void test_else_outside_if(void **state)
{
    static const uint8_t body[] = {0x00, 0x01, 0x0b}; /* nop, patched to else */
    char err[256];

    (void)state;
    assert_int_equal(
        validate_patched(body, sizeof(body), 0, (struct patch){1, 0x05, false}, err, sizeof(err)),
        WASM_ERR_MALFORMED);
    assert_non_null(strstr(err, "else without a matching if"));
}

static void test_memory_grow_reserved_byte(void **state)
{
    /* i32.const 0; memory.grow 0x00 (patched to 0x01); drop; end */
    static const uint8_t body[] = {0x00, 0x41, 0x00, 0x40, 0x00, 0x1a, 0x0b};
    char err[256];

    (void)state;
    assert_int_equal(validate_patched(body, sizeof(body), WITH_MEMORY,
                                      (struct patch){4, 0x01, false}, err, sizeof(err)),
                     WASM_ERR_MALFORMED);
    assert_non_null(strstr(err, "zero byte expected"));
}

static void test_memory_init_needs_data_count(void **state)
{
    /* i32.const 0 x3; memory.init 0 0; end -- then the data count section is dropped */
    static const uint8_t body[] = {0x00, 0x41, 0x00, 0x41, 0x00, 0x41,
                                   0x00, 0xfc, 0x08, 0x00, 0x00, 0x0b};
    char err[256];

    (void)state;
    assert_int_equal(validate_patched(body, sizeof(body), WITH_MEMORY | WITH_DATA,
                                      (struct patch){8, 0x08, true}, err, sizeof(err)),
                     WASM_ERR_MALFORMED);
    assert_non_null(strstr(err, "data count section required"));
}

static void test_immediate_leb_too_long(void **state)
{
    /* i32.const 0 in 5 bytes (the 5th patched to continue); nop; drop; end */
    static const uint8_t body[] = {0x00, 0x41, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x1a, 0x0b};
    char err[256];

    (void)state;
    assert_int_equal(
        validate_patched(body, sizeof(body), 0, (struct patch){6, 0x80, false}, err, sizeof(err)),
        WASM_ERR_MALFORMED);
    assert_non_null(strstr(err, "integer representation too long"));
}

static void test_missing_function_end(void **state)
{
    /* block; end; end -- the last end patched to nop leaves the function open */
    static const uint8_t body[] = {0x00, 0x02, 0x40, 0x0b, 0x0b};
    char err[256];

    (void)state;
    assert_int_equal(
        validate_patched(body, sizeof(body), 0, (struct patch){4, 0x01, false}, err, sizeof(err)),
        WASM_ERR_MALFORMED);
    assert_non_null(strstr(err, "unexpected end"));
}

static void test_deep_nesting(void **state)
{
    /* 3000 nested blocks: the stacks grow as needed (and the walk stays iterative). */
    enum { DEPTH = 3000 };
    uint8_t *module = malloc(DEPTH * 3 + 64);
    static const uint8_t head[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01,
                                   0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00};
    uint32_t body_size = 1 + DEPTH * 3 + 1, sec_size = body_size + 1 + 3;
    size_t n = 0;
    char err[256] = "";

    (void)state;
    assert_non_null(module);
    memcpy(module, head, sizeof(head));
    n = sizeof(head);
    /* Sizes above 127 need multi-byte LEBs (3 bytes each here). */
    module[n++] = 0x0a;
    module[n++] = (uint8_t)(0x80 | (sec_size & 0x7f));
    module[n++] = (uint8_t)(0x80 | ((sec_size >> 7) & 0x7f));
    module[n++] = (uint8_t)(sec_size >> 14);
    module[n++] = 0x01;
    module[n++] = (uint8_t)(0x80 | (body_size & 0x7f));
    module[n++] = (uint8_t)(0x80 | ((body_size >> 7) & 0x7f));
    module[n++] = (uint8_t)(body_size >> 14);
    module[n++] = 0x00; /* no locals */
    for (int i = 0; i < DEPTH; i++) {
        module[n++] = 0x02;
        module[n++] = 0x40;
    }
    for (int i = 0; i < DEPTH; i++)
        module[n++] = 0x0b;
    module[n++] = 0x0b;
    assert_int_equal(decode_and_validate(module, n, err, sizeof(err)), WASM_OK);
    assert_string_equal(err, "");
    free(module);
}

int main(void)
{
    enum { NCASES = sizeof(cases) / sizeof(cases[0]) };
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_error_names_function_and_offset),
        cmocka_unit_test(test_constexpr_error_names_offset),
        cmocka_unit_test(test_illegal_opcode_is_malformed),
        cmocka_unit_test(test_else_outside_if),
        cmocka_unit_test(test_memory_grow_reserved_byte),
        cmocka_unit_test(test_memory_init_needs_data_count),
        cmocka_unit_test(test_immediate_leb_too_long),
        cmocka_unit_test(test_missing_function_end),
        cmocka_unit_test(test_deep_nesting),
    };
    enum { NFIXED = sizeof(fixed) / sizeof(fixed[0]) };
    struct CMUnitTest tests[NCASES + NFIXED];

    /* One named test per module file, then the hand-written ones. */
    for (size_t i = 0; i < NCASES; i++) {
        memset(&tests[i], 0, sizeof(tests[i]));
        tests[i].name = cases[i].name;
        tests[i].test_func = test_case;
        tests[i].initial_state = (void *)&cases[i];
    }
    memcpy(&tests[NCASES], fixed, sizeof(fixed));
    return _cmocka_run_group_tests("validate", tests, NCASES + NFIXED, NULL, NULL);
}
