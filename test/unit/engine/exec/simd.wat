;; SIMD execution tests (test_simd.c): v128 values in params, results, locals, globals,
;; blocks, branches, select and calls, next to scalar values (frame layout), memory
;; access and its traps, and a vector loop.
(module
  (memory (export "mem") 1)
  (table 1 funcref)
  (elem (i32.const 0) $swap)
  (type $swap_t (func (param v128 v128) (result v128 v128)))
  (global $acc (export "acc") (mut v128) (v128.const i32x4 0 0 0 0))
  (global (export "k") v128 (v128.const i64x2 0x0706050403020100 0x0f0e0d0c0b0a0908))
  (global (export "count") (mut i32) (i32.const 0))

  ;; Scalars and vectors interleaved: (i32 v128 i64 v128) -> (v128 i32 v128).
  (func (export "mix") (param $n i32) (param $a v128) (param $m i64) (param $b v128)
                       (result v128 i32 v128)
    (local $t v128) (local $s i32)
    (local.set $s (i32.add (local.get $n) (i32.wrap_i64 (local.get $m))))
    (local.set $t (i32x4.add (local.get $a) (local.get $b)))
    (i32x4.replace_lane 3 (local.get $t) (local.get $s))
    (local.get $s)
    (i64x2.splat (local.get $m)))

  (func $swap (export "swap") (param v128 v128) (result v128 v128) (local.get 1) (local.get 0))

  ;; Blocks with v128 params and results, br_if and br_table carrying v128 values,
  ;; a loop with a v128 parameter, typed select, call and call_indirect. Each byte of x
  ;; gets 3 added (sel 0 or 2) or 5 (sel 1: br_table loops until $i is 5); sel 0 then
  ;; selects all ones instead. Returns that value xor x.
  (func (export "flow") (param $x v128) (param $sel i32) (result v128)
    (local $i i32)
    (local.get $x)
    (block $done (param v128) (result v128)
      (loop $l (param v128) (result v128)
        (i8x16.add (v128.const i8x16 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1))
        (local.tee $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (i32.const 3)))
        (br_table $done $l $done
          (select (local.get $sel) (i32.const 0) (i32.lt_u (local.get $i) (i32.const 5))))))
    (select (result v128) (v128.const i32x4 -1 -1 -1 -1) (local.get $sel))
    (call $swap (local.get $x))
    (call_indirect (type $swap_t) (i32.const 0))
    (v128.xor))

  ;; acc += v; count += 1; returns the new acc (v128 globals both ways).
  (func (export "accumulate") (param $v v128) (result v128)
    (global.set $acc (i16x8.add_sat_s (global.get $acc) (local.get $v)))
    (global.set 2 (i32.add (global.get 2) (i32.const 1)))
    (global.get $acc))

  ;; Sum of n i32 at p, four lanes at a time (n a multiple of 4).
  (func (export "sum") (param $p i32) (param $n i32) (result i32)
    (local $v v128) (local $end i32)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $out
      (loop $l
        (br_if $out (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $v (i32x4.add (local.get $v) (v128.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $l)))
    (i32.add (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
             (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v)))))

  (func (export "load") (param $p i32) (result v128) (v128.load offset=1 (local.get $p)))
  (func (export "store") (param $p i32) (param $v v128) (v128.store (local.get $p) (local.get $v)))
  (func (export "store_lane") (param $p i32) (param $v v128)
    (v128.store32_lane 2 (local.get $p) (local.get $v)))
  (func (export "load_splat") (param $p i32) (result v128) (v128.load16_splat (local.get $p)))
)
