"""``summary`` in every format: one typed row per layer, rendered as a table, json, markdown or csv.

The table is for people: every name and shape whole, the columns chosen to fit the terminal,
a marker on every row with a finding and the finding itself below, one line each. The
machine formats carry every field of every row, whatever the width.

rows.py (the row model: a row per layer and per group, the tree, folded runs), columns.py
(``--columns``: each column's cell, the order they make way in), report.py (the report, its
statistics computed once, title and footer), numbers.py (``432.1 k``, ``1.5 KiB``), and one
module per format: table.py, json.py, markdown.py, csv.py. ``RENDERERS`` maps each choice of
``--format`` to its renderer.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from cnninspect.formats.choices import SummaryFormat
from cnninspect.formats.summary.columns import COLUMNS, DEFAULT_COLUMNS, DROP_ORDER, choose_columns
from cnninspect.formats.summary.csv import render_csv
from cnninspect.formats.summary.json import render_json
from cnninspect.formats.summary.markdown import render_markdown
from cnninspect.formats.summary.numbers import human_bytes, short_number
from cnninspect.formats.summary.report import SummaryReport, footer_lines, title_text, tree
from cnninspect.formats.summary.rows import SummaryRow, fold, group_rows, summary_rows
from cnninspect.formats.summary.table import render_table
from cnninspect.metrics import Totals, totals

__all__ = [
    "COLUMNS",
    "DEFAULT_COLUMNS",
    "DROP_ORDER",
    "RENDERERS",
    "SummaryFormat",
    "SummaryReport",
    "SummaryRow",
    "Totals",
    "choose_columns",
    "fold",
    "footer_lines",
    "group_rows",
    "human_bytes",
    "render_csv",
    "render_json",
    "render_markdown",
    "render_table",
    "short_number",
    "summary_rows",
    "title_text",
    "totals",
    "tree",
]

RENDERERS: dict[SummaryFormat, Callable[[SummaryReport], str | Text]] = {
    SummaryFormat.TABLE: render_table,
    SummaryFormat.JSON: render_json,
    SummaryFormat.MARKDOWN: render_markdown,
    SummaryFormat.CSV: render_csv,
}
"""Every summary format: the table is styled Text for a console, the others plain text for stdout."""
