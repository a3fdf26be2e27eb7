(module (func (result i32)))
