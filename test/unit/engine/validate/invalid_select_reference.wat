(module (func (param externref) (drop (select (local.get 0) (local.get 0) (i32.const 1)))))
