;; A WASI reactor with _initialize then main(argc, argv): both run, in that order, before
;; proxy_on_vm_start; main's argc is 0. Records the order in a global, checked in
;; proxy_on_configure (returns false when wrong).
(module
  (memory (export "memory") 1)
  (global $order (mut i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_initialize")
    (global.set $order (i32.const 1)))
  (func (export "main") (param $argc i32) (param $argv i32) (result i32)
    (if (i32.eq (global.get $order) (i32.const 1))
      (then (global.set $order (i32.add (i32.const 2) (local.get $argc)))))
    (i32.const 0))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (i32.eq (global.get $order) (i32.const 2))))
