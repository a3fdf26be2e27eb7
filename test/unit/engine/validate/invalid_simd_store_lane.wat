(module (memory 1)
  (func (param v128) (v128.store16_lane 8 (i32.const 0) (local.get 0))))
