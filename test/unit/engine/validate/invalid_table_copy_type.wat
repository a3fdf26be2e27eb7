(module (table $a 1 externref) (table $b 1 funcref)
  (func (table.copy $a $b (i32.const 0) (i32.const 0) (i32.const 0))))
