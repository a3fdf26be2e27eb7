(module (export "g" (global 0)))
