"""What several rules share: where a layer's input comes from, the words for dimensions, and the
builders of their example specs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnninspect.engines.records import GroupsMismatch, Mismatch, RankMismatch, SizeMismatch, Trace
from cnninspect.rules.base import ArgFix, Finding, Rule
from cnninspect.spec.catalog import Family
from cnninspect.spec.model import LayerSpec
from cnninspect.text import dims_text, shape_text, show_value

SIZE_SETTING = (Family.CONV, Family.CONV_TRANSPOSE, Family.LINEAR, Family.CONCAT)
"""Layers whose output size is their own choice: where a size comes from."""
DIM_WORDS = {3: ("length",), 4: ("height", "width"), 5: ("depth", "height", "width")}
"""The spatial dimensions' names, by tensor rank."""

CONV = "{type: Conv2d, name: conv1, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}"
"""An example layer: the tutorial's first conv."""
CONV_NO_BIAS = "{type: Conv2d, name: conv1, out_channels: 16, kernel_size: 3, bias: false}"
"""An example layer: a conv without bias, as one before a norm should be."""


def spec_text(layers: str, input: str = "[3, 32, 32]") -> str:
    """An example spec: ``layers`` one per line (each stripped), under ``input``."""
    return f"input: {input}\nlayers:\n" + "".join(f"  - {line.strip()}\n" for line in layers.strip().splitlines())


def graph_text(layers: str, input: str = "[3, 32, 32]") -> str:
    """An example spec whose ``layers`` lines are written out as they are, indented once."""
    return f"input: {input}\nlayers:\n" + "".join(f"  {line}\n" for line in layers.splitlines())


def at(rule: Rule, layer: LayerSpec, message: str, fix: ArgFix | None = None) -> Finding:
    """A finding at a layer's place."""
    return Finding(rule, layer.location, layer.name, message, fix)


def input_layout_hint(trace: Trace, index: int, m: Mismatch) -> str | None:
    """When a mismatch at a layer reading the model's input comes from an input written in the wrong
    layout — channels last (``32x32x3``) or with the batch (``1x3x32x32``) — the corrected input,
    instead of a fix that would bend the layer to the mistake."""
    spec, record = trace.spec, trace.records[index]
    if nearest(trace, index) is not None or record.input_shape != spec.batched_input:
        return None
    sample = spec.input
    option = any(applied.startswith("--input") for applied in spec.overridden)

    def written(shape: tuple[int, ...]) -> str:
        return f"--input {'x'.join(map(str, shape))}" if option else f"input: {show_value(shape)}"

    if (
        isinstance(m, SizeMismatch)
        and m.arg == "in_channels"
        and len(sample) >= 2
        and m.declared == sample[-1] != sample[0]
    ):
        channels_first = (sample[-1], *sample[:-1])
        return (
            f"the input {dims_text(sample)} looks channels-last (H×W×C), but cnninspect reads C×H×W: "
            f"{written(channels_first)}"
        )
    if isinstance(m, RankMismatch) and len(sample) > 1 and len(sample) in m.allowed:
        return (
            f"the input {dims_text(sample)} has one size too many: it is one sample, without the batch "
            f"(--batch sets that): {written(sample[1:])}"
        )
    return None


def unflattened_hint(trace: Trace, index: int, m: Mismatch) -> str | None:
    """When a Linear's in_features differs from what arrives because it gets a feature map nobody
    flattened (it reads one row of pixels), the Flatten it lacks: never a fix to that row's width."""
    record = trace.records[index]
    shape = record.input_shape
    if not isinstance(m, SizeMismatch) or m.arg != "in_features" or len(shape) < 3:
        return None
    from cnninspect.metrics import feature_maps, receives_map  # only for this mismatch: lint seldom needs them

    if not receives_map(trace, index, feature_maps(trace)):
        return None
    features = math.prod(shape[1:])
    then = f": flattened, it receives {features:,}, as written" if features == m.declared else (
        f", and set in_features: {features} (what it receives flattened)"
    )
    return (
        f"it gets the {len(shape)}-d feature map {shape_text(shape)} unflattened, and a Linear reads only its last "
        f"dimension ({shape[-1]} values); add Flatten before it{then}"
    )


def wrong_input(trace: Trace) -> str | None:
    """The layer at which the model's input shows itself written in the wrong layout (channels last,
    or with the batch), if it does: every size after it follows from the mistake."""
    for index, record in enumerate(trace.records):
        if any(input_layout_hint(trace, index, m) is not None for m in record.mismatches):
            return record.layer.name
    return None


def size_message(trace: Trace, index: int, m: SizeMismatch) -> tuple[str, ArgFix | None]:
    """The words of a written input size that differs from what arrives (a Linear, conv or norm), and its fix
    unless the input itself looks written in the wrong layout."""
    name = trace.records[index].layer.title
    hint = input_layout_hint(trace, index, m)
    if hint is not None:
        return f"{name}: {m.arg} is {m.declared} but it receives {m.received} from the input; {hint}", None
    unflattened = unflattened_hint(trace, index, m)
    if unflattened is not None:
        return f"{name}: {m.arg} is {m.declared} but {unflattened}", None
    origin = origin_text(trace, index)
    return (
        f"{name}: {m.arg} is {m.declared} but it receives {m.received}{origin}; set {m.arg}: {m.received}",
        ArgFix(m.arg, m.received),
    )


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
            position = nearest(trace, position)
        return position

    previous = changed(nearest(trace, index))
    flatten = None
    if previous is not None and records[previous].layer.type == "Flatten":
        flatten = records[previous]
        previous = changed(nearest(trace, previous))
    source = records[previous].layer.title if previous is not None else "the input"
    if record.layer.type != "Linear":
        return Origin(source)
    if flatten is not None and len(flatten.input_shape) > 2:
        return Origin(source, tuple(flatten.input_shape[1:]), True)
    before = records[previous].output_shape if previous is not None else None
    if before and len(before) > 2 and math.prod(before[1:]) == record.input_shape[-1]:
        return Origin(source, tuple(before[1:]))
    return Origin(source)


def nearest(trace: Trace, index: int) -> int | None:
    """The record a record's input most likely comes from, for messages: its producer; in a --model
    trace, the record before when the model's own code made the input (``x.view``)."""
    return trace.nearest(index)


def merge_names(layer: LayerSpec) -> list[str]:
    """A merge's inputs as the spec names them (a --model's by their last name part)."""
    return list(layer.sources) or [name.rsplit(".", 1)[-1] for name in layer.inputs]


def groups_message(trace: Trace, index: int, m: GroupsMismatch) -> str:
    """The words of channels, left to inference, that the groups cannot split (a conv or GroupNorm)."""
    name = trace.records[index].layer.title
    return (
        f"{name}: receives {m.received} channels{origin_text(trace, index)}, which {m.split}={m.divisor} cannot "
        f"split; make them a multiple of {m.divisor} (e.g. {m.fits})"
    )
