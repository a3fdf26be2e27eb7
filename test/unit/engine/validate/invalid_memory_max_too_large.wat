(module (memory 1 65537))
