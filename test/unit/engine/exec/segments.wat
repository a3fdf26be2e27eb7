;; An active data segment past the end of memory: instantiation traps after the first
;; segment was written (bulk-memory semantics).
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "ok")
  (data (i32.const 65535) "xx")
)
