;; spectest.wat - the `spectest` module the spec tests import.
;; The runner registers the print functions as host functions under "spectest_host";
;; this module re-exports them with the memory, table and globals the tests expect, and
;; the runner makes its exports importable as "spectest" (wasm_linker_define_instance).
(module
  (import "spectest_host" "print" (func $print))
  (import "spectest_host" "print_i32" (func $print_i32 (param i32)))
  (import "spectest_host" "print_i64" (func $print_i64 (param i64)))
  (import "spectest_host" "print_f32" (func $print_f32 (param f32)))
  (import "spectest_host" "print_f64" (func $print_f64 (param f64)))
  (import "spectest_host" "print_i32_f32" (func $print_i32_f32 (param i32 f32)))
  (import "spectest_host" "print_f64_f64" (func $print_f64_f64 (param f64 f64)))
  (export "print" (func $print))
  (export "print_i32" (func $print_i32))
  (export "print_i64" (func $print_i64))
  (export "print_f32" (func $print_f32))
  (export "print_f64" (func $print_f64))
  (export "print_i32_f32" (func $print_i32_f32))
  (export "print_f64_f64" (func $print_f64_f64))
  (global (export "global_i32") i32 (i32.const 666))
  (global (export "global_i64") i64 (i64.const 666))
  (global (export "global_f32") f32 (f32.const 666.6))
  (global (export "global_f64") f64 (f64.const 666.6))
  (table (export "table") 10 20 funcref)
  (memory (export "memory") 1 2)
)
