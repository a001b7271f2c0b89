"""CNN208 concat-shape-mismatch: the inputs of a Concat differ on a dimension other than the one joined."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from cnninspect.engines.records import MergeMismatch, Trace
from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import DIM_WORDS, at, merge_names
from cnninspect.spec.catalog import Family
from cnninspect.spec.model import LayerSpec
from cnninspect.text import dims_text, feature_map, shape_text

SEARCH_SIZES = 64
"""How far from the given input a finding looks for input sizes that work."""
SEARCH_MAX_LAYERS = 1_000
"""Larger specs skip that search: it traces the whole spec up to 384 times, for every such finding."""
_SKIP_CONCAT = """input: [3, {size}, {size}]
layers:
  - {{type: Conv2d, name: enc, out_channels: 8, kernel_size: 3, padding: 1}}
  - {{type: MaxPool2d, name: pool, kernel_size: 2, ceil_mode: true}}
  - {{type: ConvTranspose2d, name: up, out_channels: 8, kernel_size: 2, stride: 2}}
  - {{type: Concat, name: cat, from: [enc, up]}}
"""


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """A Concat whose inputs differ off the joined dimension (or in rank)."""
    record = scan.trace.records[index]
    for m in record.mismatches:
        if isinstance(m, MergeMismatch) and m.family is Family.CONCAT:
            yield at(CONCAT_SHAPE_MISMATCH, record.layer, _message(scan, record.layer, m, merge_names(record.layer)))


def _message(scan: Scan, layer: LayerSpec, m: MergeMismatch, names: list[str]) -> str:
    """Which inputs differ and where; when only spatial sizes differ, the ZeroPad that crops or pads
    one side and the input sizes that work."""
    title = layer.title
    shapes = m.shapes
    first, main = shapes[0], names[0]
    rank = len(first)
    if m.dim is not None and not -rank <= m.dim < rank and all(len(shape) == rank for shape in shapes):
        return (
            f"{title}: Concat joins dimension {m.dim}, but its inputs have {rank} dimensions, "
            f"{shape_text(first)}; set dim: to one from {-rank} to {rank - 1}"
            + (" (1 joins the channels)" if rank > 1 else "")
        )
    other = next(i for i in range(1, len(shapes)) if _differs(m, first, shapes[i]))
    side, b = names[other], shapes[other]
    if len(first) != len(b):
        return (
            f"{title}: Concat inputs differ in rank: {main} gives {shape_text(first)} but {side} gives "
            f"{shape_text(b)}; give them the same number of dimensions"
        )
    dim = m.dim % len(first) if m.dim is not None and -len(first) <= m.dim < len(first) else 1
    words = DIM_WORDS.get(len(first), ("size",) * len(first))
    differ = [words[i - 2] if i >= 2 else f"dimension {i}" for i in range(len(first)) if i != dim and first[i] != b[i]]
    joined = "channels" if dim == 1 else f"dimension {dim}"
    text = (
        f"{title}: Concat joins {joined}, but {main} gives {feature_map(first)} and {side} gives "
        f"{feature_map(b)}: they differ in {' and '.join(differ)}"
    )
    spatial = all(i >= 2 for i in range(len(first)) if i != dim and first[i] != b[i])
    if not spatial:
        return f"{text}; crop or pad one side to match"
    hint = _format_remedy(scan.trace, layer, shapes)
    if hint is not None:
        return f"{text}; {hint}"
    remedies = _crop_or_pad(scan.trace, layer, names, shapes, dim)
    sizes = _working_inputs(scan.trace) if scan.search else []
    if sizes:
        remedies.insert(0, f"inputs of {' or '.join(map(dims_text, sizes))} work (cnninspect sizes lists every size)")
    return f"{text}; {', or '.join(remedies or ['crop or pad one side to match'])}"


def _format_remedy(trace: Trace, layer: LayerSpec, shapes: tuple[tuple[int, ...], ...]) -> str | None:
    """The input format's own remedy, when it knows the usual cause (an Ultralytics ``from`` index
    pointing at the wrong scale)."""
    from cnninspect.inputs import format_named  # the registry loads only when a Concat does not fit

    outputs = {r.layer.name: r.output_shape for r in trace.records if r.output_shape is not None}
    return format_named(trace.spec.format).merge_remedy(trace.spec, layer, shapes, outputs)


def _differs(m: MergeMismatch, first: tuple[int, ...], other: tuple[int, ...]) -> bool:
    if len(first) != len(other):
        return first != other
    dim = (m.dim or 1) % len(first)
    return first[:dim] + first[dim + 1 :] != other[:dim] + other[dim + 1 :]


def _working_inputs(trace: Trace) -> list[tuple[int, ...]]:
    """The nearest input sizes, smaller and larger, at which every merge fits: one spatial size
    moved alone when that is enough (a 416×420 input whose height fits keeps it: 416×416), else all
    moved together; empty when the spec has a layer only torch knows."""
    from cnninspect.engines.analytic import infer_shapes  # loaded only when a Concat does not fit

    spec = trace.spec
    if spec.needs_torch or len(spec.input) < 2 or len(spec.layers) > SEARCH_MAX_LAYERS:
        return []

    def nearest(moved: range) -> list[tuple[int, ...]]:
        found = []
        for step in (-1, 1):
            for delta in range(1, SEARCH_SIZES + 1):
                sample = tuple(size + step * delta if i in moved else size for i, size in enumerate(spec.input))
                if min(sample) < 1:
                    break
                trial = infer_shapes(replace(spec, input=sample, batch=1))
                if not any(isinstance(m, MergeMismatch) for r in trial.records for m in r.mismatches):
                    found.append(sample[1:])
                    break
        return found

    spatial = range(1, len(spec.input))
    alone = [sample for i in spatial for sample in nearest(range(i, i + 1))] if len(spatial) > 1 else []
    return alone or nearest(spatial)


def _crop_or_pad(
    trace: Trace, layer: LayerSpec, names: list[str], shapes: tuple[tuple[int, ...], ...], dim: int
) -> list[str]:
    """The ZeroPad that crops the larger inputs to the smallest size (a negative padding, as the 2015
    U-Net crops its skips), or pads the smaller ones to the largest; an odd difference leaves the
    extra row or column at the end. None for a format that cannot hold such a layer (darknet)."""
    from cnninspect.inputs import format_named  # the registry loads only when a Concat does not fit

    rank = len(shapes[0])
    if not format_named(trace.spec.format).any_torch_layer or not 3 <= rank <= 5:
        return []
    if any(len(shape) != rank for shape in shapes):
        return []
    axes = [i for i in range(2, rank) if i != dim]
    low = [min(s[i] for s in shapes) for i in range(rank)]
    high = [max(s[i] for s in shapes) for i in range(rank)]

    def zero_pad(shape: tuple[int, ...], target: list[int]) -> str:
        pairs: list[int] = []
        for i in reversed(range(2, rank)):  # ZeroPad's order: the last dimension first, (left, right, top, ...)
            change = target[i] - shape[i] if i in axes else 0
            first = abs(change) // 2 * (-1 if change < 0 else 1)
            pairs += [first, change - first]
        value = str(pairs[0]) if len(set(pairs)) == 1 else f"({', '.join(map(str, pairs))})"
        return f"ZeroPad{rank - 2}d({value})"

    def change(target: list[int]) -> str:
        return " and ".join(
            f"{name} to {dims_text([target[i] for i in axes])} with {zero_pad(shape, target)}"
            for name, shape in zip(names, shapes)
            if any(shape[i] != target[i] for i in axes)
        )

    return [f"crop {change(low)} before {layer.title}", f"pad {change(high)}"]


CONCAT_SHAPE_MISMATCH = Rule(
    code="CNN208",
    name="concat-shape-mismatch",
    severity=Severity.ERROR,
    summary="The inputs of a Concat differ on a dimension other than the one joined.",
    explanation="""Concat joins its inputs along dim (default 1, the channels); every other dimension must
    be equal. A U-Net breaks here on an input size that its poolings do not divide: one side is a row
    shorter than the other. The finding names input sizes that work (cnninspect sizes lists them all)
    and the ZeroPad2d that crops the larger side (a negative padding, as the 2015 U-Net crops its
    skips) or pads the smaller one. In an Ultralytics model YAML the usual cause is a from index
    left pointing at the wrong scale after a row was inserted above: the finding names the strides
    the row reads and says to check its from indices.""",
    failing=Example(_SKIP_CONCAT.format(size=15)),
    passing=Example(_SKIP_CONCAT.format(size=16)),
    check=check,
    families=(Family.CONCAT,),
)
