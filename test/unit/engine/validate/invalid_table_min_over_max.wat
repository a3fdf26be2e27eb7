(module (table 3 2 funcref))
