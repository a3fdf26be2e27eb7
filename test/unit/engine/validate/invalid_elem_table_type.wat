(module (table 1 externref) (func $f) (elem (i32.const 0) funcref (ref.func $f)))
