(module (type $t (func (param i32)))
  (func (i32.const 0) (loop (type $t) (param i32) (drop) (br 0 (f32.const 1)))))
