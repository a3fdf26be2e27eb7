;; Fuel tests (test_fuel.c).
(module
  (func (export "spin") (loop $l (br $l)))
  (func $f (export "count") (param $n i32) (result i32) (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i))
  (func $r (export "recurse") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (call $r (i32.sub (local.get 0) (i32.const 1))))))
)
