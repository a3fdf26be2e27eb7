(module (func (local f32) (local.set 0 (i32.const 1))))
