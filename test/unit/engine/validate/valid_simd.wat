;; Fixed-width SIMD: v128 params, locals, results, globals and blocks; one instruction of
;; every immediate kind (memarg, memarg + lane, lane, shuffle, const) and a typed select.
(module
  (memory 1)
  (global $g (mut v128) (v128.const i32x4 1 2 3 4))
  (global $h v128 (v128.const f32x4 1.5 -0 nan inf))
  (func (export "f") (param $a v128) (param $x i32) (result v128 i32)
    (local $t v128)
    (local.set $t (v128.load offset=16 align=16 (local.get $x)))
    (local.set $t (v128.load32_lane 1 (local.get $x) (local.get $t)))
    (v128.store64_lane align=8 1 (local.get $x) (local.get $t))
    (local.set $t (i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31
                     (local.get $t) (local.get $a)))
    (local.set $t (f64x2.replace_lane 1 (local.get $t)
                     (f64x2.extract_lane 0 (local.get $a))))
    (global.set $g (v128.bitselect (local.get $t) (global.get $h) (local.get $a)))
    (block (result v128)
      (select (local.get $t) (i32x4.splat (local.get $x)) (local.get $x)))
    (i8x16.bitmask (i16x8.narrow_i32x4_s (local.get $t) (local.get $a)))))
