(module
  (import "env" "f" (func (param i32) (result i32)))
  (import "env" "g" (func (param i64)))
)
