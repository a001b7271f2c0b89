"""The model's records and the rules of the spec format, whatever file it was read from.

model.py (the records), catalog.py (the torch.nn layers known without torch), validate.py (a
layer's arguments against the catalog; input shapes), literal.py (Python literals read without
running anything), yamldoc.py (safe YAML with positions), items.py (a graph spec's items and
blocks read), graph.py and expr.py (from:, blocks, repeats and ``$`` expressions expanded),
overrides.py (what-if options), schema.py (JSON Schema of the format), tutorial.yaml (the
built-in model). Reading each file format is inputs/' work.
"""
