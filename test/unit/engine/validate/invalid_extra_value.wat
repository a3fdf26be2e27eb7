(module (func (block (i32.const 1))))
