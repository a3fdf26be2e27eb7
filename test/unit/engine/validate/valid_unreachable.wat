;; Code after unreachable/br/return is typed against an unknown (polymorphic) stack.
(module
  (func (result i32)
    (unreachable) (i32.add) (drop) (select) (i32.const 0) (select) (ref.is_null))
  (func (result f64)
    (block (result i64) (br 0 (i64.const 1)) (f32.add) (drop) (i64.const 0))
    (drop)
    (return (f64.const 0)) (i32.const 1) (br_table 0 0))
  (func (param i32) (result i32)
    (block $a (result i32)
      (block $b (result i32)
        (br_table $a $b (unreachable))))))
