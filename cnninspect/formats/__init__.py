"""Every command's output formats: text in, text out, never printed here.

choices.py (the ``--format`` choices), common.py (severity styles, JSON helpers), table.py (the
fixed-width text table), summary/ (summary's rows and formats), fixes.py (fix-fc's words),
lint.py, rules.py and sizes.py (those commands' formats), wrap.py (long lines broken at word
boundaries for a terminal).
"""
