"""Spec sources → one validated ModelSpec.

model.py (the records), catalog.py (the torch.nn layers known without torch), validate.py (a
layer's arguments against the catalog), yamldoc.py (safe YAML with positions), load.py (YAML
files and the built-in model), flags.py (``--layers``), overrides.py (what-if options),
schema.py (JSON Schema of the format).
"""
