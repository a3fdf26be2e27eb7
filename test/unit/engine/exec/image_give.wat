;; test_image.c: hands out a reference to one of its own functions (see image_take.wat).
(module
  (func $get (result i32) (i32.const 5))
  (elem declare func $get)
  (func (export "give") (result funcref) (ref.func $get))
)
