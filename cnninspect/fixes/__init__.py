"""fix-fc's work: what must change, and writing it where it lives.

plan.py (the fix plans from a trace, with the arithmetic), files.py (diff, atomic write, nothing
lost), python.py (fixes in the user's Python source, for ``--model``), config.py (fixes in the
Hydra config a ``--model FILE.yaml:NODE`` was built from). Writing into a spec file is each
input format's own ``edits`` (inputs/).
"""
