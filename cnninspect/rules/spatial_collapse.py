"""CNN204 spatial-collapse: a kernel larger than its padded input, an output size below 1."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import Collapse, LayerRecord
from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import DIM_WORDS, at, spec_text
from cnninspect.spec.catalog import SPATIAL_FAMILIES
from cnninspect.text import show_value


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """The dimensions a layer collapses; those of the same size are one finding."""
    record = scan.trace.records[index]
    collapsed: dict[tuple[int, int], list[int]] = {}
    for m in record.mismatches:
        if isinstance(m, Collapse):
            collapsed.setdefault((m.received, m.fits), []).append(m.dim)
    for (size, fits), dims in collapsed.items():
        yield at(SPATIAL_COLLAPSE, record.layer, message(record, size, fits, dims))


def message(record: LayerRecord, size: int, fits: int, dims: list[int]) -> str:
    """Which dimensions are too small for the layer's settings, and the smallest size that works."""
    words = DIM_WORDS.get(len(record.input_shape), ("size",) * 8)
    named = " and ".join(words[d - 2] for d in dims)
    layer = record.layer
    settings = ", ".join(
        f"{arg.replace('_size', '')} {show_value(layer.get(arg))}"
        for arg in ("kernel_size", "stride", "padding", "dilation")
        if layer.kind and arg in layer.kind.param_by_name and layer.get(arg) is not None
    )
    return (
        f"{layer.title}: {named} {size} {'is' if len(dims) == 1 else 'are'} too small for this {layer.type} "
        f"({settings}): the output would be empty; it needs at least {fits} — use a smaller kernel, "
        "more padding or a larger --input"
    )


SPATIAL_COLLAPSE = Rule(
    code="CNN204",
    name="spatial-collapse",
    severity=Severity.ERROR,
    summary="A kernel is larger than its padded input: an output size below 1.",
    explanation="""H_out = ⌊(H_in + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1 must stay ≥ 1.
    The trace carries on as if the smallest workable input had arrived.""",
    failing=Example(spec_text("{type: Conv2d, out_channels: 8, kernel_size: 5}", input="[1, 4, 4]")),
    passing=Example(spec_text("{type: Conv2d, out_channels: 8, kernel_size: 5, padding: 1}", input="[1, 4, 4]")),
    check=check,
    families=SPATIAL_FAMILIES,
)
