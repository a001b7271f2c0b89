"""Summary as CSV: one row per layer, every field."""

from __future__ import annotations

import csv
import io

from cnninspect.formats.summary.report import SummaryReport
from cnninspect.text import safe

CSV_FIELDS = (
    "index",
    "name",
    "type",
    "filters",
    "stride",
    "padding",
    "input_shape",
    "output_shape",
    "output",
    "weights",
    "biases",
    "params",
    "trainable",
    "mult_adds",
    "activation_bytes",
    "receptive_field",
    "jump",
    "notes",
    "findings",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is a formula to a spreadsheet (OWASP's CSV injection list)."""


def render_csv(report: SummaryReport) -> str:
    """One row per layer; shapes in PyTorch order as ``1x32x7x7``."""
    buffer = io.StringIO()
    fields = CSV_FIELDS + (("explain",) if report.explain else ())
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in report.rows:
        flat = row.to_json(report.explain)
        for key in ("input_shape", "output_shape", "receptive_field", "jump"):
            flat[key] = "" if flat[key] is None else "x".join(map(str, flat[key]))
        flat["findings"] = " ".join(flat["findings"])
        if report.explain:
            flat["explain"] = "; ".join(flat["explain"])
        writer.writerow({key: cell(value) if isinstance(value, str) else value for key, value in flat.items()})
    return buffer.getvalue()


def cell(text: str) -> str:
    """A text cell as a spreadsheet shows it, never runs it: control characters escaped, and a
    leading ``'`` before one that would start a formula (``=HYPERLINK(…)``, ``@SUM``, ``+``, ``-``),
    as OWASP advises."""
    text = safe(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
