;; proxy_on_request_headers with an i64 parameter: refused at load with the type.
(module
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_request_headers") (param i64) (result i32) (i32.const 0)))
