(module (func (param i32) (local f32) (drop (local.get 2))))
