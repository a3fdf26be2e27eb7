;; Exports both proxy_on_memory_allocate and malloc (as TinyGo does): the host must use
;; proxy_on_memory_allocate (the spec's allocator); this malloc traps. proxy_on_configure
;; reads the plugin configuration (buffer 7), which needs the allocator, and logs it.
(module
  (import "env" "proxy_get_buffer_bytes" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 4096))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $n)))
    (local.get $p))
  (func (export "malloc") (param i32) (result i32)
    unreachable)
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    ;; data** at 0, size* at 4
    (if (i32.ne (call $get (i32.const 7) (i32.const 0) (local.get $size)
                           (i32.const 0) (i32.const 4)) (i32.const 0))
      (then (return (i32.const 0))))
    (drop (call $log (i32.const 2) (i32.load (i32.const 0)) (i32.load (i32.const 4))))
    (i32.const 1)))
