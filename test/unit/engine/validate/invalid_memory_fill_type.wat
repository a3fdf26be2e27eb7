(module (memory 1) (func (memory.fill (i32.const 0) (i64.const 0) (i32.const 1))))
