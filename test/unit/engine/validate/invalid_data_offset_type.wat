(module (memory 1) (data (i64.const 0) "a"))
