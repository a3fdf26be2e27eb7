;; test_vm.c: a start section that never returns.
(module
  (memory 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func $spin (loop $l (br $l)))
  (start $spin)
)
