;; Bulk memory and table instructions with passive segments.
(module
  (memory 1)
  (table $t 4 funcref)
  (table $u 4 funcref)
  (data $d "abc")
  (elem $e func $f $f)
  (func $f
    (memory.init $d (i32.const 0) (i32.const 0) (i32.const 3))
    (data.drop $d)
    (memory.copy (i32.const 8) (i32.const 0) (i32.const 3))
    (memory.fill (i32.const 0) (i32.const 255) (i32.const 3))
    (table.init $u $e (i32.const 0) (i32.const 0) (i32.const 2))
    (table.copy $t $u (i32.const 0) (i32.const 0) (i32.const 2))
    (elem.drop $e)))
