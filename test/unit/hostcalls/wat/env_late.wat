;; test_vm.c: reads its WASI environment only in proxy_on_configure (count at 512).
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $env_sizes (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_initialize"))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $env_sizes (i32.const 512) (i32.const 516)))
    (i32.const 1))
)
