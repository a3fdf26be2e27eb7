(module (type $t (func (param i64) (result i64)))
  (func (result i64) (i32.const 1) (block (type $t) (param i64) (result i64))))
