(module (func $s (param i32)) (start $s))
