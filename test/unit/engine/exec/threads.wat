;; test_threads.c: a loop and loads, run by many instances on several threads.
(module
  (memory 1)
  (func (export "count") (param $n i32) (param $tag i32) (result i32) (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
)
