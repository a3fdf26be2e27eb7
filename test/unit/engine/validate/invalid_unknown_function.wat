(module (func (call 3)))
