(module (func $a) (func $b) (global i32 (i32.const 0))
  (export "x" (func $a)) (export "y" (func $b)) (export "x" (global 0)))
