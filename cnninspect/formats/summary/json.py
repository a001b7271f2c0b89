"""Summary as JSON: every field of every row, shapes in PyTorch order with the batch."""

from __future__ import annotations

from cnninspect.formats.common import finding_json, json_text
from cnninspect.formats.summary.report import SummaryReport, groups_with_rows
from cnninspect.formats.summary.rows import group_rows


def render_json(report: SummaryReport) -> str:
    """Everything, shapes in PyTorch order with the batch."""
    trace = report.trace
    document = {
        "model": trace.spec.name,
        "source": trace.spec.source,
        "engine": trace.engine,
        "input": list(trace.spec.batched_input),
        "overrides": list(trace.spec.overridden),
        "complete": trace.complete,
        "layers": [row.to_json(report.explain) for row in report.rows],
        "groups": [
            {
                "name": row.name,
                "type": row.type,
                "depth": row.depth,
                "output_shape": None if row.output_shape is None else list(row.output_shape),
                "params": row.params,
                "mult_adds": row.mult_adds,
                "layers": list(group.layers),
            }
            for row, group in zip(group_rows(trace.spec, report.rows), groups_with_rows(report))
        ],
        "totals": report.stats.totals.to_json(),
        "findings": [finding_json(f) for f in report.findings],
    }
    if trace.ran_on is not None:
        # a --model: every input (``input`` is the first), and where the forward pass ran
        document["inputs"] = [list(shape) for shape in trace.input_shapes]
        document["device"] = trace.ran_on
        document["notes"] = list(trace.engine_notes)
    return json_text(document)
