"""Checks: the rules run over a trace. Trace records in, findings out; never prints.

Size errors (CNN2xx) come from the mismatches the engines record at each layer; warnings
(CNN3xx) from patterns across neighbouring records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cnninspect import rules
from cnninspect.engines.records import LayerRecord, Mismatch, Problem, Trace
from cnninspect.rules import Finding
from cnninspect.spec.catalog import Family
from cnninspect.spec.model import LayerSpec, ModelSpec, expand
from cnninspect.text import dims_text, shape_text, show_value

PROBLEM_RULES = {
    Problem.IN_FEATURES: rules.LINEAR_IN_FEATURES,
    Problem.IN_CHANNELS: rules.CONV_IN_CHANNELS,
    Problem.NUM_FEATURES: rules.NORM_NUM_FEATURES,
    Problem.COLLAPSE: rules.SPATIAL_COLLAPSE,
    Problem.RANK: rules.INPUT_RANK,
}
"""The rule each kind of size problem is reported under."""
DIM_WORDS = {3: ("length",), 4: ("height", "width"), 5: ("depth", "height", "width")}
AXIS_UNITS = {"length": "step", "height": "row", "width": "column", "depth": "slice", "size": "value"}
FEATURE_MAP_FAMILIES = (
    Family.CONV,
    Family.CONV_TRANSPOSE,
    Family.MAX_POOL,
    Family.AVG_POOL,
    Family.ADAPTIVE_POOL,
)


def find_problems(trace: Trace) -> list[Finding]:
    """Every finding in a trace, in layer order: size errors first at each layer, then warnings."""
    findings = []
    feature_map = False
    for index, record in enumerate(trace.records):
        findings += _size_problems(trace, index)
        family = record.layer.kind.family if record.layer.kind else None
        if family is Family.LINEAR and feature_map and len(record.input_shape) >= 3 and not record.mismatches:
            findings.append(_linear_on_feature_map(record))
        if family in FEATURE_MAP_FAMILIES:
            feature_map = True
        elif family is Family.FLATTEN:
            feature_map = False
        findings += _truncations(record)
        following = trace.records[index + 1] if index + 1 < len(trace.records) else None
        if following is not None and _bias_before_norm(record, following):
            findings.append(_bias_finding(record, following))
    returned = trace.output_shape
    if returned and returned[0] != trace.spec.batch:
        findings.append(_batch_finding(trace, returned))
    return findings


def _batch_finding(trace: Trace, returned: tuple[int, ...]) -> Finding:
    """CNN206, placed at the first layer that receives another batch size (else the last)."""
    batch = trace.spec.batch
    record = next((r for r in trace.records if r.input_shape and r.input_shape[0] != batch), trace.records[-1])
    return _at(
        rules.BATCH_SIZE_CHANGED,
        record.layer,
        f"the model takes a batch of {batch} but returns {returned[0]} {shape_text(returned)}: samples are mixed "
        f"up on the way ({record.layer.title} receives {shape_text(record.input_shape)}); keep the batch "
        "dimension apart, e.g. x.view(x.size(0), -1), or give an --input of the size the code expects",
    )


def _size_problems(trace: Trace, index: int) -> list[Finding]:
    """CNN201–205 at one layer; collapsed dimensions of the same size are one finding."""
    findings = []
    record = trace.records[index]
    collapsed: dict[tuple[int, int], list[int]] = {}
    for mismatch in record.mismatches:
        if mismatch.problem is Problem.COLLAPSE:
            assert mismatch.dim is not None
            collapsed.setdefault((mismatch.received, mismatch.fits), []).append(mismatch.dim)
            continue
        message, fix = _describe(trace, index, mismatch)
        rule = PROBLEM_RULES[mismatch.problem]
        findings.append(_at(rule, record.layer, message, fix))
    for (size, fits), dims in collapsed.items():
        message = _collapse_message(record, size, fits, dims)
        findings.append(_at(PROBLEM_RULES[Problem.COLLAPSE], record.layer, message))
    return findings


def _at(rule: rules.Rule, layer: LayerSpec, message: str, fix: tuple[str, Any] | None = None) -> Finding:
    """A finding at a layer's place."""
    return Finding(rule, layer.location, layer.name, message, fix)


def _linear_on_feature_map(record: LayerRecord) -> Finding:
    shape = record.input_shape
    return _at(
        rules.LINEAR_ON_FEATURE_MAP,
        record.layer,
        f"{record.layer.title}: Linear gets the {len(shape)}-d feature map {shape_text(shape)} and mixes only its "
        f"last dimension ({shape[-1]} values); add Flatten before it",
    )


def _truncations(record: LayerRecord) -> list[Finding]:
    """CNN302: real input rows or columns that no window reaches."""
    layer, shape = record.layer, record.input_shape
    kind = layer.kind
    if kind is None or record.output_shape is None or record.mismatches or len(shape) < 3:
        return []
    if kind.family not in (Family.CONV, Family.MAX_POOL, Family.AVG_POOL) or layer.get("ceil_mode"):
        return []
    padding = layer.get("padding")
    if padding == "same":
        return []
    dims = len(shape) - 2
    kernel, dilation = expand(layer.get("kernel_size"), dims), expand(layer.get("dilation") or 1, dims)
    stride = kernel if layer.get("stride") is None else expand(layer.get("stride"), dims)
    pad = (0,) * dims if padding == "valid" else expand(padding, dims)
    dropped: dict[tuple[int, int], list[int]] = {}
    for i in range(dims):
        span = shape[2 + i] + 2 * pad[i] - dilation[i] * (kernel[i] - 1) - 1
        left = span % stride[i]
        if span >= 0 and left > pad[i]:
            dropped.setdefault((left - pad[i], left), []).append(i)
    findings = []
    words = DIM_WORDS.get(len(shape), ("size",) * dims)
    for (count, left), axes in dropped.items():
        units = " and ".join(AXIS_UNITS[words[i]] if count == 1 else AXIS_UNITS[words[i]] + "s" for i in axes)
        amount = "" if count == 1 else f"{count} "
        i = axes[0]
        reach = f"{kernel[i]}" if dilation[i] == 1 else f"{dilation[i]}·({kernel[i]} − 1) − 1"
        remedy = "set ceil_mode: true, or pick input sizes that divide evenly"
        if kind.family is Family.CONV:
            remedy = f"pad {count} more, or pick input sizes that divide evenly"
        findings.append(
            _at(
                rules.FLOOR_TRUNCATION,
                layer,
                f"{layer.title}: the last {amount}{units} of its {dims_text(shape[2:])} input "
                "never reach a window "
                f"(({shape[2 + i]} + 2·{pad[i]} − {reach}) mod {stride[i]} = {left} > padding {pad[i]}); {remedy}",
            )
        )
    return findings


def _bias_before_norm(record: LayerRecord, following: LayerRecord) -> bool:
    kind, after = record.layer.kind, following.layer.kind
    return (
        kind is not None
        and after is not None
        and kind.family in (Family.CONV, Family.CONV_TRANSPOSE)
        and after.family in (Family.BATCH_NORM, Family.INSTANCE_NORM)
        and bool(record.layer.get("bias"))
        and record.output_shape is not None
    )


def _bias_finding(record: LayerRecord, following: LayerRecord) -> Finding:
    count = record.biases
    return _at(
        rules.CONV_BIAS_BEFORE_NORM,
        record.layer,
        f"{record.layer.title}: its {count} bias values are cancelled by {following.layer.title} "
        f"({following.layer.type} subtracts each channel's mean); set bias: false",
        ("bias", False),
    )


def _collapse_message(record: LayerRecord, size: int, fits: int, dims: list[int]) -> str:
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


def _describe(trace: Trace, index: int, m: Mismatch) -> tuple[str, tuple[str, Any] | None]:
    records = trace.records
    record = records[index]
    name = record.layer.title
    hint = input_layout_hint(trace.spec, record, m)
    if m.problem is Problem.RANK:
        return (
            f"{name}: {record.layer.type} needs a {_ranks(m.declared)} input but receives "
            f"{len(m.received)}-d {shape_text(m.received)}; {hint or 'the trace stops here'}",
            None,
        )
    if hint is not None:
        return f"{name}: {m.arg} is {m.declared} but it receives {m.received} from the input; {hint}", None
    origin = origin_text(records, index)
    if m.declared is None:
        divisor = record.layer.get("groups") if m.problem is Problem.IN_CHANNELS else record.layer.get("num_groups")
        split = "groups" if m.problem is Problem.IN_CHANNELS else "num_groups"
        return (
            f"{name}: receives {m.received} channels{origin}, which {split}={divisor} cannot split; "
            f"make them a multiple of {divisor} (e.g. {m.fits})",
            None,
        )
    received = m.received
    if m.arg == "normalized_shape":
        return (
            f"{name}: normalized_shape is {show_value(m.declared)} but the input ends in {show_value(received)}; "
            f"set normalized_shape: {show_value(received)}",
            (m.arg, received),
        )
    return (
        f"{name}: {m.arg} is {m.declared} but it receives {received}{origin}; set {m.arg}: {received}",
        (m.arg, received),
    )


def input_layout_hint(spec: ModelSpec, record: LayerRecord, m: Mismatch) -> str | None:
    """When the first layer's mismatch comes from an input written in the wrong layout — channels
    last (``32x32x3``) or with the batch (``1x3x32x32``) — the corrected input, instead of a
    fix that would bend the layer to the mistake."""
    if record.input_shape != spec.batched_input:
        return None
    sample = spec.input
    option = any(applied.startswith("--input") for applied in spec.overridden)

    def written(shape: tuple[int, ...]) -> str:
        return f"--input {'x'.join(map(str, shape))}" if option else f"input: {show_value(shape)}"

    if m.problem is Problem.IN_CHANNELS and len(sample) >= 2 and m.declared == sample[-1] != sample[0]:
        channels_first = (sample[-1], *sample[:-1])
        return (
            f"the input {dims_text(sample)} looks channels-last (H×W×C), but cnninspect reads C×H×W: "
            f"{written(channels_first)}"
        )
    if m.problem is Problem.RANK and len(sample) > 1 and len(sample) in m.declared:
        return (
            f"the input {dims_text(sample)} has one size too many: it is one sample, without the batch "
            f"(--batch sets that): {written(sample[1:])}"
        )
    return None


def origin_text(records: Sequence[LayerRecord], index: int) -> str:
    """Where a layer's input size comes from: `` (32×7×7 from conv2)`` or `` (from conv1)``."""
    source = origin(records, index)
    if source.merged is not None:
        return f" ({dims_text(source.merged)} from {source.layer})"
    return f" (from {source.layer})"


@dataclass(frozen=True)
class Origin:
    """Where a layer's input comes from."""

    layer: str
    """The last layer before it that changed the shape, or ``the input``."""
    merged: tuple[int, ...] | None = None
    """For a Linear: the dimensions flattened into its features on the way (else None)."""
    flatten: bool = False
    """True when a Flatten layer did the flattening (not the model's own code)."""


def origin(records: Sequence[LayerRecord], index: int) -> Origin:
    """The last layer before ``index`` that changed the shape, and for a Linear the dimensions
    flattened into its features (by a Flatten layer, or by a model's own ``x.view``)."""
    record = records[index]
    previous = index - 1
    flatten = None
    while previous >= 0 and records[previous].output_shape == records[previous].input_shape:
        previous -= 1
    if previous >= 0 and records[previous].layer.type == "Flatten":
        flatten = records[previous]
        previous -= 1
        while previous >= 0 and records[previous].output_shape == records[previous].input_shape:
            previous -= 1
    source = records[previous].layer.title if previous >= 0 else "the input"
    if record.layer.type != "Linear":
        return Origin(source)
    if flatten is not None and len(flatten.input_shape) > 2:
        return Origin(source, tuple(flatten.input_shape[1:]), True)
    before = records[previous].output_shape if previous >= 0 else None
    if before and len(before) > 2 and math.prod(before[1:]) == record.input_shape[-1]:
        return Origin(source, tuple(before[1:]))
    return Origin(source)


def _ranks(ranks: Any) -> str:
    options = [f"{r}-d" for r in ranks]
    return " or ".join(options) if len(options) <= 3 else f"{options[0]} to {options[-1]}"
