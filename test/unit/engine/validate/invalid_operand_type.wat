(module (func (result i32) (i32.add (i32.const 1) (f64.const 2))))
