(module (table 1 externref) (func $f (table.set 0 (i32.const 0) (ref.func $f))) (elem declare func $f))
