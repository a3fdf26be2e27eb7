;; Host-call round trips for scripts/bench/limits (limits_bench): the same counting loop
;; with and without a call to a trivial import in its body, and a trivial export for
;; host -> guest calls.
(module
  (import "env" "inc" (func $inc (param i32) (result i32)))
  (func (export "calls") (param $n i32) (result i32) (local $x i32)
    (loop $l
      (local.set $x (call $inc (local.get $x)))
      (br_if $l (i32.lt_u (local.get $x) (local.get $n))))
    (local.get $x))
  (func (export "nocalls") (param $n i32) (result i32) (local $x i32)
    (loop $l
      (local.set $x (i32.add (local.get $x) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $x) (local.get $n))))
    (local.get $x))
  (func (export "noop") (param i32) (result i32) (local.get 0))
)
