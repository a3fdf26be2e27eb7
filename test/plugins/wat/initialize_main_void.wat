;; A reactor with _initialize then __main_void (Rust >= 1.67's main export; no main):
;; both run, in that order, before proxy_on_vm_start. It also exports _start, which must
;; not run when _initialize exists (it traps if it does). proxy_on_configure returns
;; false when the order is wrong.
(module
  (memory (export "memory") 1)
  (global $order (mut i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_initialize")
    (global.set $order (i32.const 1)))
  (func (export "__main_void") (result i32)
    (if (i32.eq (global.get $order) (i32.const 1))
      (then (global.set $order (i32.const 2))))
    (i32.const 0))
  (func (export "_start")
    unreachable)
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (i32.eq (global.get $order) (i32.const 2))))
