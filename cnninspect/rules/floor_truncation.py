"""CNN302 floor-truncation: a conv or pool that never reads the last rows or columns of its input."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import Trace
from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import DIM_WORDS, at, spec_text
from cnninspect.spec.catalog import Family
from cnninspect.spec.model import expand
from cnninspect.text import dims_text

AXIS_UNITS = {"length": "step", "height": "row", "width": "column", "depth": "slice", "size": "value"}
"""What one unit of each dimension is called."""


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """Real input rows or columns at the end that no window reaches."""
    trace = scan.trace
    record = trace.records[index]
    layer, shape = record.layer, record.input_shape
    kind = layer.kind
    if kind is None or record.output_shape is None or record.mismatches or len(shape) < 3:
        return
    if kind.family not in (Family.CONV, Family.MAX_POOL, Family.AVG_POOL) or layer.get("ceil_mode"):
        return
    padding = layer.get("padding")
    if padding == "same":
        return
    dims = len(shape) - 2
    kernel, dilation = expand(layer.get("kernel_size"), dims), expand(layer.get("dilation") or 1, dims)
    stride = kernel if layer.get("stride") is None else expand(layer.get("stride"), dims)
    pad = (0,) * dims if padding == "valid" else expand(padding, dims)
    zeros = _zeros_after(trace, index, dims)
    dropped: dict[tuple[int, int], list[int]] = {}
    for i in range(dims):
        span = shape[2 + i] + 2 * pad[i] - dilation[i] * (kernel[i] - 1) - 1
        left = span % stride[i]
        # A window narrower than the stride (ResNet's 1×1 stride-2 projection) skips rows all
        # along by design; only windows that tile the input leave the last rows unread by mistake.
        tiles = dilation[i] * (kernel[i] - 1) + 1 >= stride[i]
        if tiles and span >= 0 and left > pad[i] + zeros[i]:
            dropped.setdefault((left - pad[i], left), []).append(i)
    words = DIM_WORDS.get(len(shape), ("size",) * dims)
    for (count, left), axes in dropped.items():
        units = " and ".join(AXIS_UNITS[words[i]] if count == 1 else AXIS_UNITS[words[i]] + "s" for i in axes)
        amount = "" if count == 1 else f"{count} "
        i = axes[0]
        reach = f"{kernel[i]}" if dilation[i] == 1 else f"{dilation[i]}·({kernel[i]} − 1) − 1"
        conv = kind.family is Family.CONV
        remedy = f"{f'pad {count} more' if conv else 'set ceil_mode: true'}, or pick input sizes that divide evenly"
        matched = _matched_by(trace, index)
        if matched is not None:  # either change gives another output size: fatal where a branch must match it
            change = "more padding" if conv else "ceil_mode"
            remedy = f"pick input sizes that divide evenly ({change} would change its output size{matched})"
        yield at(
            FLOOR_TRUNCATION,
            layer,
            f"{layer.title}: the last {amount}{units} of its {dims_text(shape[2:])} input "
            "never reach a window "
            f"(({shape[2 + i]} + 2·{pad[i]} − {reach}) mod {stride[i]} = {left} > padding {pad[i]}); {remedy}",
        )


def _zeros_after(trace: Trace, index: int, dims: int) -> tuple[int, ...]:
    """Per dimension, the rows or columns of zeros a ZeroPad layer feeding this one added at the
    end: dropping those loses nothing (darknet's max-pools pad like this)."""
    producer = trace.producers[index]
    layer = trace.records[producer].layer if producer is not None else None
    if layer is None or layer.kind is None or layer.kind.family is not Family.ZERO_PAD:
        return (0,) * dims
    padding = layer.get("padding")
    if isinstance(padding, int):
        return (max(padding, 0),) * dims
    # torch order: (left, right, top, bottom, front, back) from the last dimension back; a negative
    # one crops (darknet's [crop]) and adds none
    return tuple(max(padding[2 * (dims - 1 - i) + 1], 0) for i in range(dims))


def _matched_by(trace: Trace, index: int) -> str | None:
    """Why a layer's output size may not change: it reaches a merge through layers that keep its size
    (``, which add's other input must match``), or it is a --model's, whose branches join in the
    model's own code, unseen. None when nothing must match it."""
    if not trace.merges_seen:
        return ", which another branch may have to match"
    records, seen, todo = trace.records, set(), [index]
    while todo:
        position = todo.pop()
        for reader in trace.consumers[position]:
            layer = records[reader].layer
            if layer.is_merge:
                return f", which {layer.title}'s other input must match"
            if reader not in seen and records[reader].output_shape == records[reader].input_shape:
                seen.add(reader)
                todo.append(reader)
    return None


FLOOR_TRUNCATION = Rule(
    code="CNN302",
    name="floor-truncation",
    severity=Severity.WARNING,
    summary="A conv or pool never reads the last rows or columns of its input.",
    explanation="""The output size is floored: when (H + 2·padding − dilation·(kernel − 1) − 1) mod
    stride is larger than the padding, real input rows (not just padding) fall off the end
    and are silently dropped. Pick sizes that divide evenly, more padding, or ceil_mode for
    pools. Windows narrower than the stride (a 1×1 stride-2 projection) skip rows by design and
    are not flagged.""",
    failing=Example(spec_text("{type: MaxPool2d, name: pool, kernel_size: 2}", input="[3, 31, 31]")),
    passing=Example(spec_text("{type: MaxPool2d, name: pool, kernel_size: 2, ceil_mode: true}", input="[3, 31, 31]")),
    check=check,
    families=(Family.CONV, Family.MAX_POOL, Family.AVG_POOL),
)
