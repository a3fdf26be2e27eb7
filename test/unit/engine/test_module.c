/*
 * test_module.c - unit tests of engine/module.c: wasm_module_load() status and messages
 * for malformed and invalid modules, and the import/export descriptions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wasm.h"

/* clang-format off */
#define HEADER 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00

/*
 * (module
 *   (type (func (param i32 i64) (result f32)))           ;; 0
 *   (type (func))                                        ;; 1
 *   (import "env" "log" (func (type 0)))
 *   (import "env" "tab" (table 1 5 externref))
 *   (import "env" "mem" (memory 2))
 *   (import "env" "g" (global (mut f64)))
 *   (func (type 1))
 *   (global i64 (i64.const 7))
 *   (export "run" (func 1)) (export "log2" (func 0)) (export "g2" (global 1))
 *   (export "m" (memory 0)) (export "t" (table 0)))
 */
static const uint8_t module_bytes[] = {
    HEADER,
    /* type */ 0x01, 0x0a, 0x02, 0x60, 0x02, 0x7f, 0x7e, 0x01, 0x7d, 0x60, 0x00, 0x00,
    /* import */ 0x02, 0x2c, 0x04,
    0x03, 'e', 'n', 'v', 0x03, 'l', 'o', 'g', 0x00, 0x00,
    0x03, 'e', 'n', 'v', 0x03, 't', 'a', 'b', 0x01, 0x6f, 0x01, 0x01, 0x05,
    0x03, 'e', 'n', 'v', 0x03, 'm', 'e', 'm', 0x02, 0x00, 0x02,
    0x03, 'e', 'n', 'v', 0x01, 'g', 0x03, 0x7c, 0x01,
    /* function */ 0x03, 0x02, 0x01, 0x01,
    /* global */ 0x06, 0x06, 0x01, 0x7e, 0x00, 0x42, 0x07, 0x0b,
    /* export */ 0x07, 0x1b, 0x05,
    0x03, 'r', 'u', 'n', 0x00, 0x01,
    0x04, 'l', 'o', 'g', '2', 0x00, 0x00,
    0x02, 'g', '2', 0x03, 0x01,
    0x01, 'm', 0x02, 0x00,
    0x01, 't', 0x01, 0x00,
    /* code */ 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b,
};

/* (func (result i32) (i64.const 0)): well-formed, but a type mismatch. */
static const uint8_t invalid_bytes[] = {
    HEADER,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
    0x03, 0x02, 0x01, 0x00,
    0x0a, 0x06, 0x01, 0x04, 0x00, 0x42, 0x00, 0x0b,
};
/* clang-format on */

static void load_describes_imports(void **state)
{
    struct wasm_extern_desc d;
    enum wasm_status st = WASM_ERR_ARG;
    char err[256] = "";
    wasm_module_t *m = wasm_module_load(module_bytes, sizeof(module_bytes), &st, err,
                                        sizeof(err));

    if (!m)
        print_error("load: %s\n", err);
    assert_non_null(m);
    assert_int_equal(st, WASM_OK);
    assert_int_equal(wasm_module_import_count(m), 4);

    assert_int_equal(wasm_module_import(m, 0, &d), WASM_OK);
    assert_string_equal(d.module, "env");
    assert_string_equal(d.name, "log");
    assert_int_equal(d.kind, WASM_EXTERN_FUNC);
    assert_int_equal(d.type.func.nparams, 2);
    assert_int_equal(d.type.func.params[1], WASM_I64);
    assert_int_equal(d.type.func.nresults, 1);
    assert_int_equal(d.type.func.results[0], WASM_F32);

    assert_int_equal(wasm_module_import(m, 1, &d), WASM_OK);
    assert_int_equal(d.kind, WASM_EXTERN_TABLE);
    assert_int_equal(d.type.table.elemtype, WASM_EXTERNREF);
    assert_int_equal(d.type.table.limits.min, 1);
    assert_true(d.type.table.limits.has_max);
    assert_int_equal(d.type.table.limits.max, 5);

    assert_int_equal(wasm_module_import(m, 2, &d), WASM_OK);
    assert_int_equal(d.kind, WASM_EXTERN_MEMORY);
    assert_int_equal(d.type.memory.min, 2);
    assert_false(d.type.memory.has_max);

    assert_int_equal(wasm_module_import(m, 3, &d), WASM_OK);
    assert_int_equal(d.kind, WASM_EXTERN_GLOBAL);
    assert_int_equal(d.type.global.valtype, WASM_F64);
    assert_true(d.type.global.mutable_);

    assert_int_equal(wasm_module_import(m, 4, &d), WASM_ERR_ARG);
    wasm_module_free(m);
}

static void load_describes_exports(void **state)
{
    struct wasm_extern_desc d;
    wasm_module_t *m = wasm_module_load(module_bytes, sizeof(module_bytes), NULL, NULL, 0);

    assert_non_null(m);
    assert_int_equal(wasm_module_export_count(m), 5);
    assert_int_equal(wasm_module_export(m, 0, &d), WASM_OK);
    assert_string_equal(d.name, "run");
    assert_null(d.module);
    assert_int_equal(d.kind, WASM_EXTERN_FUNC);
    assert_int_equal(d.type.func.nparams + d.type.func.nresults, 0);
    /* A re-exported import has the import's type. */
    assert_int_equal(wasm_module_export(m, 1, &d), WASM_OK);
    assert_int_equal(d.type.func.nparams, 2);
    assert_int_equal(wasm_module_export(m, 2, &d), WASM_OK);
    assert_int_equal(d.kind, WASM_EXTERN_GLOBAL);
    assert_int_equal(d.type.global.valtype, WASM_I64);
    assert_false(d.type.global.mutable_);
    assert_int_equal(wasm_module_export(m, 3, &d), WASM_OK);
    assert_int_equal(d.kind, WASM_EXTERN_MEMORY);
    assert_int_equal(wasm_module_export(m, 4, &d), WASM_OK);
    assert_int_equal(d.kind, WASM_EXTERN_TABLE);
    assert_int_equal(wasm_module_export(m, 5, &d), WASM_ERR_ARG);

    assert_true(wasm_module_has_export_func(m, "run"));
    assert_true(wasm_module_has_export_func(m, "log2"));
    assert_false(wasm_module_has_export_func(m, "g2")); /* a global */
    assert_false(wasm_module_has_export_func(m, "ru"));
    assert_false(wasm_module_has_export_func(m, "runs"));
    wasm_module_free(m);
}

static void malformed_module_fails_with_status_and_reason(void **state)
{
    enum wasm_status st = WASM_OK;
    char err[256] = "";
    wasm_module_t *m = wasm_module_load(module_bytes, 25, &st, err, sizeof(err));

    assert_null(m);
    assert_int_equal(st, WASM_ERR_MALFORMED);
    assert_non_null(strstr(err, "import section"));
}

static void invalid_module_fails_with_status_and_reason(void **state)
{
    enum wasm_status st = WASM_OK;
    char err[256] = "";
    wasm_module_t *m = wasm_module_load(invalid_bytes, sizeof(invalid_bytes), &st, err,
                                        sizeof(err));

    assert_null(m);
    assert_int_equal(st, WASM_ERR_INVALID);
    assert_non_null(strstr(err, "type mismatch"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(load_describes_imports),
        cmocka_unit_test(load_describes_exports),
        cmocka_unit_test(malformed_module_fails_with_status_and_reason),
        cmocka_unit_test(invalid_module_fails_with_status_and_reason),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
