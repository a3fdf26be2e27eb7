(module (func (result v128) (v128.load (i32.const 0))))
