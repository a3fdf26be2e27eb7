;; test_linker.c: calls bouncing between two instances forever (through a shared table
;; and an imported function) must end in "call stack exhausted", not a crash.
(module
  (type $v (func))
  (table (export "tab") 1 funcref)
  (func (export "f") (call_indirect (type $v) (i32.const 0)))
)
