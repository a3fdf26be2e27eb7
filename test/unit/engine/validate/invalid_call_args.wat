(module (func $f (param i32 i64)) (func (call $f (i64.const 1) (i32.const 2))))
