"""CNN209 mul-broadcast: the inputs of a Mul cannot broadcast."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import MergeMismatch
from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import at, merge_names
from cnninspect.spec.catalog import Family
from cnninspect.text import shape_text

_GATE = """input: [16, 8, 8]
layers:
  - {{type: Conv2d, name: conv, out_channels: 16, kernel_size: 3, padding: 1}}
  - {{type: AdaptiveAvgPool2d, name: squeeze, output_size: 1}}
  - {{type: Conv2d, name: excite, out_channels: {gate}, kernel_size: 1}}
  - {{type: Sigmoid, name: gate}}
  - {{type: Mul, name: scale, from: [conv, gate]}}
"""


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """A Mul whose inputs cannot broadcast: both shapes and the first dimension that differs."""
    record = scan.trace.records[index]
    layer = record.layer
    for m in record.mismatches:
        if not (isinstance(m, MergeMismatch) and m.family is Family.MUL):
            continue
        names, shapes = merge_names(layer), m.shapes
        first = shapes[0]
        other = next(i for i in range(1, len(shapes)) if not _broadcasts(first, shapes[i]))
        side, b = names[other], shapes[other]
        axis = next(
            len(first) - k for k in range(1, min(len(first), len(b)) + 1)
            if first[-k] != b[-k] and 1 not in (first[-k], b[-k])
        )  # fmt: skip
        size_b = b[axis - (len(first) - len(b))]
        yield at(
            MUL_BROADCAST,
            layer,
            f"{layer.title}: Mul cannot broadcast {names[0]} {shape_text(first)} with {side} {shape_text(b)}: "
            f"dimension {axis} is {first[axis]} against {size_b}; make them equal, or 1 on one side "
            "(a gate is (N, C, 1, 1))",
        )


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(x == y or 1 in (x, y) for x, y in zip(reversed(a), reversed(b)))


MUL_BROADCAST = Rule(
    code="CNN209",
    name="mul-broadcast",
    severity=Severity.ERROR,
    summary="The inputs of a Mul cannot broadcast.",
    explanation="""Mul multiplies element-wise with PyTorch's broadcasting: each dimension must be equal
    or 1 on one side. A squeeze-and-excitation gate is (N, C, 1, 1) and scales a (N, C, H, W)
    feature map; a gate with another channel count cannot.""",
    failing=Example(_GATE.format(gate=8)),
    passing=Example(_GATE.format(gate=16)),
    check=check,
    families=(Family.MUL,),
)
