;; test_image.c: keeps a function of another instance (image_give.wat) in a global, which
;; an image cannot hold: a clone could not tell which instance it belongs to.
(module
  (import "prov" "give" (func $give (result funcref)))
  (global $g (mut funcref) (ref.null func))
  (func (export "take") (global.set $g (call $give)))
)
