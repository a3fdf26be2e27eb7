;; Deadline tests (test_fuel.c): endless loops with and without host calls.
(module
  (import "env" "tick" (func $tick))
  (import "env" "reenter" (func $reenter))
  (import "env" "reenter_long" (func $reenter_long))
  (func (export "spin") (loop $l (br $l)))
  (func (export "spin_host") (loop $l (call $tick) (br $l)))
  (func (export "spin_reenter") (loop $l (call $reenter) (br $l)))
  (func (export "spin_reenter_long") (loop $l (call $reenter_long) (br $l)))
  (func (export "short") (result i32) (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
    (local.get $i))
  (func (export "count") (param $n i32) (result i32) (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i))
)
