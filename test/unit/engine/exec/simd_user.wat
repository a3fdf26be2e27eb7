;; Imports simd.wat's $swap (registered as "simd") and calls it across instances.
(module
  (import "simd" "swap" (func $swap (param v128 v128) (result v128 v128)))
  (func (export "swap_sub") (param v128 v128) (result v128)
    (call $swap (local.get 0) (local.get 1))
    (i64x2.sub)))
