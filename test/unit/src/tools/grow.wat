;; grow.wat - exits (proc_exit) with 0 when memory.grow by 8 pages succeeds, 1 when it
;; fails, so --max-pages is observable.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (func (export "_start")
    (call $exit (i32.eq (memory.grow (i32.const 8)) (i32.const -1))))
  (memory (export "memory") 1))
