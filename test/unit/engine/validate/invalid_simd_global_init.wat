(module (global v128 (i32.const 0)))
