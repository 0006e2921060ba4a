"""The pages people see: the recipient's signing page, its bundled assets and its words."""
