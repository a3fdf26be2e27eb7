;; test_image.c: an instance whose start function changes every kind of state an image
;; captures (memory over a data segment, globals, a table, a funcref global, dropped
;; segments), and exports to observe and change that state in each clone.
(module
  (import "env" "host" (func $host (result i32)))
  (import "env" "started" (func $started))
  (memory 1 8)
  (table $t 4 funcref)
  (global $counter (mut i32) (i32.const 0))
  (global $fr (mut funcref) (ref.null func))
  (data (i32.const 16) "hello")
  (data $later "passive!")       ;; data 1: still there after start
  (data $gone "dropped")         ;; data 2: dropped by start
  (elem (i32.const 0) $seven)    ;; table[0] = $seven (active: dropped at instantiation)
  (elem $pelem func $counter_get $host) ;; elem 1: passive, still there after start
  (elem $pgone func $seven)      ;; elem 2: dropped by start

  (func $seven (result i32) (i32.const 7))
  (func $counter_get (export "counter") (result i32) (global.get $counter))

  ;; Runs once, when the first instance is made.
  (func $start
    (call $started)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (i32.store8 (i32.const 16) (i32.const 0x48))          ;; "hello" -> "Hello"
    (drop (memory.grow (i32.const 1)))                    ;; 2 pages in the image
    (i32.store (i32.const 70000) (i32.const 0xdeadbeef))  ;; page 1, after a grow
    (global.set $fr (ref.func $counter_get))
    (table.set $t (i32.const 1) (ref.func $host))         ;; an import in the table
    (data.drop $gone)
    (elem.drop $pgone))
  (start $start)

  (func (export "inc") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.get $counter))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load32") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "call_table") (param i32) (result i32)
    (call_indirect (result i32) (local.get 0)))
  ;; Calls the function the funcref global holds, through table slot 3.
  (func (export "call_global") (result i32)
    (table.set $t (i32.const 3) (global.get $fr))
    (call_indirect (result i32) (i32.const 3)))
  ;; table[2..3] = passive elem 1 ($counter_get, $host); traps once elem 1 is dropped.
  (func (export "init_elem")
    (table.init $t $pelem (i32.const 2) (i32.const 0) (i32.const 2)))
  (func (export "init_gone_elem") (table.init $t $pgone (i32.const 2) (i32.const 0) (i32.const 1)))
  (func (export "drop_elem") (elem.drop $pelem))
  ;; memory[32..40] = data 1; data 2 was dropped at start: that one traps.
  (func (export "init_data") (memory.init $later (i32.const 32) (i32.const 0) (i32.const 8)))
  (func (export "init_gone_data") (memory.init $gone (i32.const 32) (i32.const 0) (i32.const 1)))
  (func (export "write_then_trap") (param i32)
    (i32.store8 (local.get 0) (i32.const 0x77))
    (global.set $counter (i32.const 1000))
    unreachable)
)
