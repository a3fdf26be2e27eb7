;; _start calls proc_exit(1): the start fails.
(module
  (import "wasi_unstable" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_start") (call $exit (i32.const 1))))
