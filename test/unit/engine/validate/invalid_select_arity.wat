(module (func (drop (drop (select (result i32 i32)
  (i32.const 1) (i32.const 1) (i32.const 1) (i32.const 1) (i32.const 1))))))
