;; The Wasm start function (AssemblyScript style) traps: the start fails with the reason.
(module
  (memory (export "memory") 1)
  (func $init (i32.div_u (i32.const 1) (i32.const 0)) (drop))
  (start $init)
  (func (export "proxy_abi_version_0_2_1")))
