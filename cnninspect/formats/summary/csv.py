"""Summary as CSV: one row per layer, every field."""

from __future__ import annotations

import csv
import io

from cnninspect.formats.summary.report import SummaryReport

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
        writer.writerow(flat)
    return buffer.getvalue()
