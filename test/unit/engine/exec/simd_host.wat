;; Imports a host function with a v128 parameter: no host signature can have one.
(module (import "env" "f" (func (param v128) (result i32))))
