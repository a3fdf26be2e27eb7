(module (table 1 funcref) (func (drop (table.size 1))))
