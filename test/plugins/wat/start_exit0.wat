;; A WASI command (TinyGo style): _start ends with proc_exit(0), which is success; the
;; plugin then works (adds a request header) and logs through fd_write to stdout.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "x-started")
  (data (i32.const 32) "yes")
  (data (i32.const 48) "hello from _start\n")
  (global $started (mut i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "_start")
    ;; iovec at 96: {48, 18}
    (i32.store (i32.const 96) (i32.const 48))
    (i32.store (i32.const 100) (i32.const 18))
    (drop (call $fd_write (i32.const 1) (i32.const 96) (i32.const 1) (i32.const 104)))
    (global.set $started (i32.const 1))
    (call $exit (i32.const 0))
    (unreachable))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (global.get $started)
      (then (drop (call $add (i32.const 0) (i32.const 16) (i32.const 9) (i32.const 32) (i32.const 3)))))
    (i32.const 0)))
