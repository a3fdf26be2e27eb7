(module (type $t (func)) (table 1 externref) (func (call_indirect (type $t) (i32.const 0))))
