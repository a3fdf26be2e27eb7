;; Linker tests (test_linker.c): a module whose memory, table, global and function are
;; imported by consumer.wat.
(module
  (memory (export "mem") 1 2)
  (table (export "tab") 2 funcref)
  (global (export "glob") (mut i32) (i32.const 5))
  (func $get (export "get") (param i32) (result i32) (i32.load (local.get 0)))
  (elem (i32.const 0) $get)
)
