(module (table 1 funcref) (elem func) (func (elem.drop 1)))
