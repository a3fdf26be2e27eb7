;; trap.wat - a WASI command whose _start traps (unreachable) after printing nothing.
(module
  (func $inner unreachable)
  (func (export "_start") call $inner)
  (memory (export "memory") 1))
