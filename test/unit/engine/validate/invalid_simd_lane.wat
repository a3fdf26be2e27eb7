(module (func (param v128) (result i32) (i32x4.extract_lane 4 (local.get 0))))
