"""CNN205 input-rank: a tensor with a number of dimensions the layer cannot take."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import RankMismatch
from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import at, input_layout_hint, spec_text
from cnninspect.text import shape_text


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """A layer given a tensor of the wrong rank: where the trace stops."""
    record = scan.trace.records[index]
    for m in record.mismatches:
        if isinstance(m, RankMismatch):
            hint = input_layout_hint(scan.trace, index, m)
            yield at(
                INPUT_RANK,
                record.layer,
                f"{record.layer.title}: {record.layer.type} needs a {_ranks(m.allowed)} input but receives "
                f"{len(m.received)}-d {shape_text(m.received)}; {hint or 'the trace stops here'}",
            )


def _ranks(ranks: tuple[int, ...]) -> str:
    options = [f"{r}-d" for r in ranks]
    return " or ".join(options) if len(options) <= 3 else f"{options[0]} to {options[-1]}"


INPUT_RANK = Rule(
    code="CNN205",
    name="input-rank",
    severity=Severity.ERROR,
    summary="A layer receives a tensor with the wrong number of dimensions.",
    explanation="""Conv2d needs (N, C, H, W), Linear needs features last, Flatten's dims must exist. The
    trace cannot guess a shape, so it stops at this layer.""",
    failing=Example(spec_text("Flatten\n{type: Conv2d, out_channels: 8, kernel_size: 3}")),
    passing=Example(spec_text("{type: Conv2d, out_channels: 8, kernel_size: 3}\nFlatten")),
    check=check,
)
