;; test_image.c: keeps a function of another instance (image_give.wat) in a global or a
;; table, which an image cannot hold: a clone could not tell which instance it belongs to.
(module
  (import "prov" "give" (func $give (result funcref)))
  (global $g (mut funcref) (ref.null func))
  (table $t 1 funcref)
  (func (export "take") (global.set $g (call $give)))
  (func (export "take_table") (table.set $t (i32.const 0) (call $give)))
)
