;; Imports a function the host does not have: loading must name it.
(module
  (import "env" "proxy_make_coffee" (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1")))
