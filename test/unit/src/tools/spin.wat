;; spin.wat - a WASI command that never ends: only fuel stops it.
(module
  (func (export "_start") (loop $l br $l))
  (memory (export "memory") 1))
