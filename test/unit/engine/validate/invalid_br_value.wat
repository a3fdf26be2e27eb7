(module (func (result i32) (block (result i32) (br 0 (f32.const 1)))))
