;; test_vm.c: an initialisation that traps.
(module
  (memory 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func $boom (export "_initialize") unreachable)
)
