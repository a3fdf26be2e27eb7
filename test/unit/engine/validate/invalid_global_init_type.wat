(module (global i64 (i32.const 0)))
