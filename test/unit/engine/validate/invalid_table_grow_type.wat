(module (table 1 funcref) (func (drop (table.grow 0 (ref.null extern) (i32.const 1)))))
