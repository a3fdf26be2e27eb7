(module (func (param v128)))
