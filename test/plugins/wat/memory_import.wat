;; Imports its memory: this host gives plugins no memory, so loading says so.
(module
  (import "env" "memory" (memory 1))
  (func (export "proxy_abi_version_0_2_1")))
