(module (func (result i64) (return (i32.const 1))))
