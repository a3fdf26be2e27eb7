(module (start 2))
