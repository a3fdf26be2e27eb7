;; invalid.wat - well-formed but invalid (i32.add of an i64): built with --no-check.
(module (func (result i32) (i32.add (i64.const 1) (i32.const 2))))
