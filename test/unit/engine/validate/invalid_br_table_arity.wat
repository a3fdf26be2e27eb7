(module (func (param i32) (result i32)
  (block $a (result i32) (block $b (br_table $a $b (i32.const 1) (local.get 0))))))
