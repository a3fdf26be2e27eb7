(module (func $f (drop (ref.func $f))))
