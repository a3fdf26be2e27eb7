;; test_vm.c: reads the size of its WASI environment during _initialize (count at 256,
;; as wasi-libc caches environ on the first getenv) and again in proxy_on_configure (512).
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $env_sizes (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "initialized")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_initialize")
    (drop (call $log (i32.const 2) (i32.const 0) (i32.const 11)))
    (drop (call $env_sizes (i32.const 256) (i32.const 260))))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $env_sizes (i32.const 512) (i32.const 516)))
    (i32.const 1))
)
