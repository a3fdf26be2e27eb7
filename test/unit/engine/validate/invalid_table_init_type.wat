(module (table 1 externref) (elem funcref (ref.null func))
  (func (table.init 0 0 (i32.const 0) (i32.const 0) (i32.const 0))))
