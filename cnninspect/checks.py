"""Checks: the rules run over a trace. Trace records in, findings out; never prints.

Size errors (CNN2xx) come from the mismatches the engines record at each layer; warnings
(CNN3xx) from patterns across neighbouring records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from cnninspect import rules
from cnninspect.engines.module import ModelTrace
from cnninspect.engines.records import LayerRecord, Mismatch, Problem, Trace
from cnninspect.inputs import format_named
from cnninspect.metrics import feature_maps
from cnninspect.rules import Finding
from cnninspect.spec.catalog import Family
from cnninspect.spec.model import LayerSpec, expand
from cnninspect.text import dims_text, feature_map, shape_text, show_value

PROBLEM_RULES = {
    Problem.IN_FEATURES: rules.LINEAR_IN_FEATURES,
    Problem.IN_CHANNELS: rules.CONV_IN_CHANNELS,
    Problem.NUM_FEATURES: rules.NORM_NUM_FEATURES,
    Problem.COLLAPSE: rules.SPATIAL_COLLAPSE,
    Problem.RANK: rules.INPUT_RANK,
    Problem.ADD: rules.ADD_SHAPE_MISMATCH,
    Problem.CONCAT: rules.CONCAT_SHAPE_MISMATCH,
    Problem.MUL: rules.MUL_BROADCAST,
    Problem.SPLIT: rules.SPLIT_CHANNELS,
}
"""The rule each kind of size problem is reported under."""
MERGE_PROBLEMS = (Problem.ADD, Problem.CONCAT, Problem.MUL)
SIZE_SETTING = (Family.CONV, Family.CONV_TRANSPOSE, Family.LINEAR, Family.CONCAT)
"""Layers whose output size is their own choice: where a size comes from."""
SEARCH_SIZES = 64
"""How far from the given input a Concat finding looks for input sizes that work."""
DIM_WORDS = {3: ("length",), 4: ("height", "width"), 5: ("depth", "height", "width")}
AXIS_UNITS = {"length": "step", "height": "row", "width": "column", "depth": "slice", "size": "value"}


def find_problems(trace: Trace, search: bool = True) -> list[Finding]:
    """Every finding in a trace, in layer order: size errors first at each layer, then warnings.
    ``search`` lets a Concat finding trace the spec again to name input sizes that work (sizes,
    which tries every size itself, turns it off)."""
    findings = []
    records = trace.records
    maps = feature_maps(trace)
    for index, record in enumerate(records):
        findings += _size_problems(trace, index, search)
        family = record.layer.kind.family if record.layer.kind else None
        source = trace.producers[index]
        arriving = source is not None and maps[source]
        if family is Family.LINEAR and arriving and len(record.input_shape) >= 3 and not record.mismatches:
            findings.append(_linear_on_feature_map(record))
        findings += _truncations(trace, index)
        readers = [records[i] for i in trace.consumers[index]]
        if readers and all(_bias_before_norm(record, reader) for reader in readers):
            findings.append(_bias_finding(record, readers[0]))
    returned = trace.output_shape
    if returned and _batch_changed(trace, returned):
        findings.append(_batch_finding(trace, returned))
    notes = [Finding(rules.FORMAT_SEMANTICS, note.location, "", note.message) for note in trace.spec.notes]
    return notes + findings + _unmet_requirements(trace)


def _unmet_requirements(trace: Trace) -> list[Finding]:
    """CNN210: a value the file's format demands of a layer (a YOLO head's filters), at the value."""
    return [
        Finding(
            rules.DETECTION_HEAD_FILTERS,
            layer.arg_locations.get(need.arg, layer.location),
            layer.name,
            f"{layer.title}: {need.written_as} is {layer.get(need.arg)} but {need.because}; "
            f"set {need.written_as}={need.value}",
            (need.arg, need.value),
        )
        for need, layer in trace.spec.unmet_requirements()
    ]


def _batch_changed(trace: Trace, returned: tuple[int, ...]) -> bool:
    """A spec's output is batch first. A --model's may not be (an LSTM without batch_first returns
    time first): there the engine checked that no output dimension follows the batch size."""
    if isinstance(trace, ModelTrace):
        return trace.batch_mixed
    return returned[0] != trace.spec.batch


def _batch_finding(trace: Trace, returned: tuple[int, ...]) -> Finding:
    """CNN206, at the user's reshape that made the output's batch dimension when the engine found it,
    else at the first layer that receives another batch size (else the last)."""
    batch = trace.spec.batch
    record = next((r for r in trace.records if r.input_shape and r.input_shape[0] != batch), trace.records[-1])
    reshape = trace.reshape if isinstance(trace, ModelTrace) else None
    if reshape is not None:
        where = f"this line reshapes {shape_text(reshape.before)} into {shape_text(reshape.after)}"
    else:
        where = f"{record.layer.title} receives {shape_text(record.input_shape)}"
    return Finding(
        rules.BATCH_SIZE_CHANGED,
        record.layer.location if reshape is None else reshape.location,
        record.layer.name,
        f"the model takes a batch of {batch} but returns {returned[0]} {shape_text(returned)}: samples are mixed "
        f"up on the way ({where}); keep the batch dimension apart, e.g. x.view(x.size(0), -1), or give an "
        "--input of the size the code expects",
    )


def _size_problems(trace: Trace, index: int, search: bool) -> list[Finding]:
    """CNN201–205 at one layer; collapsed dimensions of the same size are one finding."""
    findings = []
    record = trace.records[index]
    collapsed: dict[tuple[int, int], list[int]] = {}
    for mismatch in record.mismatches:
        if mismatch.problem is Problem.COLLAPSE:
            assert mismatch.dim is not None
            collapsed.setdefault((mismatch.received, mismatch.fits), []).append(mismatch.dim)
            continue
        if mismatch.problem in MERGE_PROBLEMS:
            tolerated = format_named(trace.spec.format).tolerated_merge(record.layer, mismatch.received)
            if tolerated is not None:  # legal in the file's own tool: what it does, as a warning
                findings.append(_at(rules.FORMAT_SEMANTICS, record.layer, tolerated))
                continue
            message, fix = _merge_message(trace, index, mismatch, search), None
        else:
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


def _truncations(trace: Trace, index: int) -> list[Finding]:
    """CNN302: real input rows or columns at the end that no window reaches."""
    record = trace.records[index]
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
    findings = []
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
    if isinstance(trace, ModelTrace):
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
    if m.problem is Problem.SPLIT:
        return _split_message(trace, index, m), None
    hint = input_layout_hint(trace, index, m)
    if m.problem is Problem.RANK:
        return (
            f"{name}: {record.layer.type} needs a {_ranks(m.declared)} input but receives "
            f"{len(m.received)}-d {shape_text(m.received)}; {hint or 'the trace stops here'}",
            None,
        )
    if hint is not None:
        return f"{name}: {m.arg} is {m.declared} but it receives {m.received} from the input; {hint}", None
    origin = origin_text(trace, index)
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


def _split_message(trace: Trace, index: int, m: Mismatch) -> str:
    """CNN211: what torch.chunk would really give, or what the sizes add up to, and the remedy."""
    layer = trace.records[index].layer
    size = m.received
    cut = f"{size} channels" if m.dim == 1 else f"dimension {m.dim} of size {size}"
    origin = origin_text(trace, index)
    if m.arg == "sizes":
        return (
            f"{layer.title}: sizes {show_value(m.declared)} add up to {sum(m.declared)} but it receives {cut}"
            f"{origin}; make them add up to {size}"
        )
    chunks, piece = m.declared, -(-size // m.declared)
    pieces = [piece] * (size // piece) + ([size % piece] if size % piece else [])
    fewer = f" ({len(pieces)} pieces, not {chunks})" if len(pieces) < chunks else ""
    lower = size - size % chunks
    multiples = f"{lower} or {m.fits}" if lower else f"{m.fits}"
    listed = ", ".join(map(str, pieces[:-1])) + f" and {pieces[-1]}"
    return (
        f"{layer.title}: chunks: {chunks} does not divide {cut}{origin}: torch.chunk would give pieces of "
        f"{listed}{fewer}; make them a multiple of {chunks} ({multiples})"
    )


def input_layout_hint(trace: Trace, index: int, m: Mismatch) -> str | None:
    """When a mismatch at a layer reading the model's input comes from an input written in the wrong
    layout — channels last (``32x32x3``) or with the batch (``1x3x32x32``) — the corrected input,
    instead of a fix that would bend the layer to the mistake."""
    spec, record = trace.spec, trace.records[index]
    if _nearest(trace, index) is not None or record.input_shape != spec.batched_input:
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


def origin_text(trace: Trace, index: int) -> str:
    """Where a layer's input size comes from: `` (32×7×7 from conv2)`` or `` (from conv1)``."""
    source = origin(trace, index)
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


def origin(trace: Trace, index: int) -> Origin:
    """The last layer on the way into ``index`` that changed the shape (following each layer's
    first input), and for a Linear the dimensions flattened into its features (by a Flatten
    layer, or by a model's own ``x.view``)."""
    records = trace.records
    record = records[index]

    def changed(position: int | None) -> int | None:
        """Back past layers that pass their input's size on (an activation, a norm, an Add); a conv
        or Linear sets the size itself, even when it happens to keep it."""
        while (
            position is not None
            and records[position].output_shape == records[position].input_shape
            and (kind := records[position].layer.kind) is not None
            and kind.family not in SIZE_SETTING
        ):
            position = _nearest(trace, position)
        return position

    previous = changed(_nearest(trace, index))
    flatten = None
    if previous is not None and records[previous].layer.type == "Flatten":
        flatten = records[previous]
        previous = changed(_nearest(trace, previous))
    source = records[previous].layer.title if previous is not None else "the input"
    if record.layer.type != "Linear":
        return Origin(source)
    if flatten is not None and len(flatten.input_shape) > 2:
        return Origin(source, tuple(flatten.input_shape[1:]), True)
    before = records[previous].output_shape if previous is not None else None
    if before and len(before) > 2 and math.prod(before[1:]) == record.input_shape[-1]:
        return Origin(source, tuple(before[1:]))
    return Origin(source)


def _nearest(trace: Trace, index: int) -> int | None:
    """The record a record's input most likely comes from, for messages: its producer; in a --model
    trace, the record before when the model's own code made the input (``x.view``)."""
    return trace.nearest(index) if isinstance(trace, ModelTrace) else trace.producers[index]


# ---------------------------------------------------------------------------------------
# Merges


def _merge_message(trace: Trace, index: int, m: Mismatch, search: bool) -> str:
    """CNN207–209: which inputs differ, both shapes, and what would make them fit."""
    record = trace.records[index]
    layer = record.layer
    shapes: tuple[tuple[int, ...], ...] = m.received
    names = list(layer.sources) or [name.rsplit(".", 1)[-1] for name in layer.inputs]
    first, main = shapes[0], names[0]
    if m.problem is Problem.MUL:
        other = next(i for i in range(1, len(shapes)) if not _broadcasts(first, shapes[i]))
        side, b = names[other], shapes[other]
        axis = next(
            len(first) - k for k in range(1, min(len(first), len(b)) + 1)
            if first[-k] != b[-k] and 1 not in (first[-k], b[-k])
        )  # fmt: skip
        size_b = b[axis - (len(first) - len(b))]
        return (
            f"{layer.title}: Mul cannot broadcast {main} {shape_text(first)} with {side} {shape_text(b)}: "
            f"dimension {axis} is {first[axis]} against {size_b}; make them equal, or 1 on one side "
            "(a gate is (N, C, 1, 1))"
        )
    other = next(i for i in range(1, len(shapes)) if _differs(m, first, shapes[i]))
    side, b = names[other], shapes[other]
    if m.problem is Problem.ADD:
        remedy = _equalise(first, b, side)
        if side in layer.switched_off:
            remedy += f" ({side}, which would be that projection, is switched off here by its if:)"
        return (
            f"{layer.title}: Add inputs differ: {main} gives {feature_map(first)} but {side} gives "
            f"{feature_map(b)}; {remedy}"
        )
    if len(first) != len(b):
        return (
            f"{layer.title}: Concat inputs differ in rank: {main} gives {shape_text(first)} but {side} gives "
            f"{shape_text(b)}; give them the same number of dimensions"
        )
    dim = m.dim % len(first) if m.dim is not None and -len(first) <= m.dim < len(first) else 1
    words = DIM_WORDS.get(len(first), ("size",) * len(first))
    differ = [words[i - 2] if i >= 2 else f"dimension {i}" for i in range(len(first)) if i != dim and first[i] != b[i]]
    joined = "channels" if dim == 1 else f"dimension {dim}"
    text = (
        f"{layer.title}: Concat joins {joined}, but {main} gives {feature_map(first)} and {side} gives "
        f"{feature_map(b)}: they differ in {' and '.join(differ)}"
    )
    spatial = all(i >= 2 for i in range(len(first)) if i != dim and first[i] != b[i])
    if not spatial:
        return f"{text}; crop or pad one side to match"
    remedies = _crop_or_pad(trace, layer, names, shapes, dim)
    sizes = _working_inputs(trace) if search else []
    if sizes:
        remedies.insert(0, f"inputs of {' or '.join(map(dims_text, sizes))} work (cnninspect sizes lists every size)")
    return f"{text}; {', or '.join(remedies or ['crop or pad one side to match'])}"


def _differs(m: Mismatch, first: tuple[int, ...], other: tuple[int, ...]) -> bool:
    if m.problem is Problem.ADD or len(first) != len(other):
        return first != other
    dim = (m.dim or 1) % len(first)
    return first[:dim] + first[dim + 1 :] != other[:dim] + other[dim + 1 :]


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(x == y or 1 in (x, y) for x, y in zip(reversed(a), reversed(b)))


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


def _working_inputs(trace: Trace) -> list[tuple[int, ...]]:
    """The nearest input sizes, smaller and larger, at which every merge fits: one spatial size
    moved alone when that is enough (a 416×420 input whose height fits keeps it: 416×416), else all
    moved together; empty when the spec has a layer only torch knows."""
    from cnninspect.engines.analytic import infer_shapes

    spec = trace.spec
    if spec.needs_torch or len(spec.input) < 2:
        return []

    def nearest(moved: range) -> list[tuple[int, ...]]:
        found = []
        for step in (-1, 1):
            for delta in range(1, SEARCH_SIZES + 1):
                sample = tuple(size + step * delta if i in moved else size for i, size in enumerate(spec.input))
                if min(sample) < 1:
                    break
                trial = infer_shapes(replace(spec, input=sample, batch=1))
                if not any(m.problem in MERGE_PROBLEMS for r in trial.records for m in r.mismatches):
                    found.append(sample[1:])
                    break
        return found

    spatial = range(1, len(spec.input))
    alone = [sample for i in spatial for sample in nearest(range(i, i + 1))] if len(spatial) > 1 else []
    return alone or nearest(spatial)


def _crop_or_pad(
    trace: Trace, layer: LayerSpec, names: list[str], shapes: tuple[tuple[int, ...], ...], dim: int
) -> list[str]:
    """CNN208's other remedies: the ZeroPad that crops the larger inputs to the smallest size (a
    negative padding, as the 2015 U-Net crops its skips), or pads the smaller ones to the largest;
    an odd difference leaves the extra row or column at the end. None for a format that cannot hold
    such a layer (darknet)."""
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

    def size(target: list[int]) -> str:
        return dims_text([target[i] for i in axes])

    def change(target: list[int]) -> str:
        return " and ".join(
            f"{name} to {size(target)} with {zero_pad(shape, target)}"
            for name, shape in zip(names, shapes)
            if any(shape[i] != target[i] for i in axes)
        )

    return [f"crop {change(low)} before {layer.title}", f"pad {change(high)}"]


def _ranks(ranks: Any) -> str:
    options = [f"{r}-d" for r in ranks]
    return " or ".join(options) if len(options) <= 3 else f"{options[0]} to {options[-1]}"
