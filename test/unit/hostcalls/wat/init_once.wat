;; test_vm.c: a reactor whose _initialize counts its runs, logs, and reads random bytes
;; and the clock (kept at 64 and 96); the proxy-wasm start sequence counts its own runs;
;; each request bumps a counter in memory (1024) and the third one traps.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 2)
  (global $inits (export "inits") (mut i32) (i32.const 0))
  (global $vm_starts (export "vm_starts") (mut i32) (i32.const 0))
  (data (i32.const 0) "initialized")
  (data (i32.const 16) "vm_start")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_initialize")
    (global.set $inits (i32.add (global.get $inits) (i32.const 1)))
    (drop (call $log (i32.const 2) (i32.const 0) (i32.const 11)))
    (drop (call $random (i32.const 64) (i32.const 16)))
    (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 96))))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (global.set $vm_starts (i32.add (global.get $vm_starts) (i32.const 1)))
    (drop (call $log (i32.const 2) (i32.const 16) (i32.const 8)))
    (i32.const 1))
  ;; Configured only when the runtime was initialised exactly once.
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (i32.eq (global.get $inits) (i32.const 1)))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (i32.store (i32.const 1024) (i32.add (i32.load (i32.const 1024)) (i32.const 1)))
    (if (i32.eq (i32.load (i32.const 1024)) (i32.const 3)) (then unreachable))
    (i32.const 0))
)
