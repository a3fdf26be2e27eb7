(module (func (result i32) (if (result i32) (i32.const 0) (then (i32.const 1)) (else (i64.const 1)))))
