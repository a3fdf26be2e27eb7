;; test_vm.c: a start section and a command-style _start that ends in proc_exit(0), each
;; counting its runs; configured only when each ran exactly once.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $section (mut i32) (i32.const 0))
  (global $starts (mut i32) (i32.const 0))
  (func $section_start (global.set $section (i32.add (global.get $section) (i32.const 1))))
  (start $section_start)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "_start")
    (global.set $starts (i32.add (global.get $starts) (i32.const 1)))
    (call $exit (i32.const 0)))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (i32.and (i32.eq (global.get $section) (i32.const 1))
             (i32.eq (global.get $starts) (i32.const 1))))
)
