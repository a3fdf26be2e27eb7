(module (func (result i32) (i32.trunc_sat_f64_s (f32.const 1))))
