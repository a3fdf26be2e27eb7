(module (memory 1) (func (f32.store (i32.const 0) (f64.const 1))))
