"""CNN207 add-shape-mismatch: the inputs of an Add differ in shape."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import MergeMismatch
from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.format_semantics import tolerated
from cnninspect.rules.shared import at, merge_names
from cnninspect.spec.catalog import Family
from cnninspect.text import feature_map

_RESIDUAL = """input: [16, 32, 32]
layers:
  - {{type: Conv2d, name: conv, out_channels: {out}, kernel_size: 3, stride: {stride}, padding: 1}}
  - {{type: Add, name: add, from: [conv, input]}}
"""


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """An Add whose inputs differ: both shapes, and what would give the other side the first's."""
    if tolerated(scan, index) is not None:
        return  # legal in the file's own tool: format-semantics says what it does
    record = scan.trace.records[index]
    layer = record.layer
    for m in record.mismatches:
        if not (isinstance(m, MergeMismatch) and m.family is Family.ADD):
            continue
        names, first = merge_names(layer), m.shapes[0]
        other = next(i for i in range(1, len(m.shapes)) if m.shapes[i] != first)
        side, b = names[other], m.shapes[other]
        remedy = _equalise(first, b, side)
        if side in layer.switched_off:
            remedy += f" ({side}, which would be that projection, is switched off here by its if:)"
        yield at(
            ADD_SHAPE_MISMATCH,
            layer,
            f"{layer.title}: Add inputs differ: {names[0]} gives {feature_map(first)} but {side} gives "
            f"{feature_map(b)}; {remedy}",
        )


def _equalise(main: tuple[int, ...], side: tuple[int, ...], name: str) -> str:
    """What would give ``side`` the shape of ``main``: more channels, or a strided 1×1 projection."""
    if len(main) != len(side) or len(main) < 3:
        return f"{name} must give {feature_map(main)} too"
    channels, have = main[1], side[1]
    if main[2:] == side[2:]:
        return (
            f"give {name} {channels} channels: out_channels: {channels} on the conv before it, or a 1×1 "
            f"Conv2d({have}, {channels}, kernel_size=1) on that side"
        )
    stride = next(
        (f for f in range(2, max(side[2:]) + 1) if all(-(-s // f) == m for s, m in zip(side[2:], main[2:]))), None
    )
    if stride is None:
        return f"{name} must give {feature_map(main)} too"
    return (
        f"give {name} a 1×1 projection with stride {stride} and out_channels {channels}: Conv2d({have}, {channels}, "
        f"kernel_size=1, stride={stride}) and BatchNorm2d({channels}), as ResNet's downsample"
    )


ADD_SHAPE_MISMATCH = Rule(
    code="CNN207",
    name="add-shape-mismatch",
    severity=Severity.ERROR,
    summary="The inputs of an Add differ in shape.",
    explanation="""A residual Add needs both sides equal: the same channels and the same height and width.
    The classic mistake is a block that changes channels or stride while its skip does not: give the
    skip a 1×1 projection with the same stride and out_channels (ResNet's downsample), or make the
    main path keep the shape. Add, Concat and Mul are cnninspect's merge layers, not torch.nn classes.""",
    failing=Example(_RESIDUAL.format(out=32, stride=2)),
    passing=Example(_RESIDUAL.format(out=16, stride=1)),
    check=check,
    families=(Family.ADD,),
)
