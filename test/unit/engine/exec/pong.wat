(module
  (import "ping" "tab" (table 1 funcref))
  (import "ping" "f" (func $f))
  (func $g (call $f))
  (elem (i32.const 0) $g)
)
