(module (func (drop (ref.is_null (i32.const 1)))))
