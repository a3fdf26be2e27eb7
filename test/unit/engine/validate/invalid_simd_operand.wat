(module (func (param v128 i64) (result v128) (i32x4.shl (local.get 0) (local.get 1))))
