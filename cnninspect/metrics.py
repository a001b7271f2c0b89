"""Numbers derived from a trace: mult-adds, feature maps, receptive field and jump, the
``--explain`` text (each size formula with its numbers filled in), and ``statistics``, which
computes them once per trace for everything that shows them. Pure functions, no torch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from cnninspect.engines.analytic import flatten_range, spatial_rule
from cnninspect.engines.records import LayerRecord, Trace
from cnninspect.spec.catalog import NORM_FAMILIES, SPATIAL_FAMILIES, Family
from cnninspect.spec.model import LayerSpec, attend_dims, expand
from cnninspect.text import JsonObject

FEATURE_MAP_FAMILIES = (
    Family.CONV,
    Family.CONV_TRANSPOSE,
    Family.LOCAL,
    Family.MAX_POOL,
    Family.AVG_POOL,
    Family.ADAPTIVE_POOL,
)
"""Layers whose output is an NCHW feature map, whatever they receive."""
WINDOWED = (Family.CONV, Family.LOCAL, Family.MAX_POOL, Family.AVG_POOL, Family.ADAPTIVE_POOL)
"""Layers whose output place reads a kernel-sized window of the input, a stride apart."""


# ---------------------------------------------------------------------------------------
# Explanations: each formula with its numbers filled in


def explain(record: LayerRecord) -> list[str]:
    """Lines showing how the layer's output size and parameters come about."""
    layer, shape = record.layer, record.input_shape
    kind = layer.kind
    if kind is None or record.output_shape is None:
        return []
    family = kind.family
    lines: list[str] = []
    if family in SPATIAL_FAMILIES and len(shape) > 2:
        names = _dim_names(len(shape) - 2)
        formulas: dict[str, list[str]] = {}
        for i, size in enumerate(shape[2:]):
            text = _spatial_formula(layer, len(shape) - 2, i, size)
            formulas.setdefault(text, []).append(names[i])
        lines += [f"{', '.join(dims)}: {text}" for text, dims in formulas.items()]
    elif family is Family.FLATTEN:
        span = flatten_range(layer, len(shape))
        assert span is not None
        start, end = span
        merged = shape[start : end + 1]
        if len(merged) > 1:
            lines.append(f"{' × '.join(map(str, merged))} = {math.prod(merged):,}")
    elif family is Family.ADAPTIVE_POOL:
        lines.append(f"output fixed at {'×'.join(str(s) for s in record.output_shape[2:])} whatever the input")
    elif family is Family.SPLIT and not record.mismatches:
        lines.append(_split_formula(layer, shape, record.output_shape))
    elif family is Family.ATTEND and not record.mismatches:
        lines += _attend_formulas(layer, record.output_shape)
    if record.params:
        lines.append(f"params: {_param_formula(record)}")
    return lines


def _split_formula(layer: LayerSpec, shape: tuple[int, ...], out: tuple[int, ...]) -> str:
    """``C: 128 in 2 chunks (torch.chunk), piece 1 = 128 / 2 = 64``."""
    dim = layer.get("dim") % len(shape)
    axis = "C" if dim == 1 else f"dimension {dim}"
    index, sizes = layer.get("index"), layer.get("sizes")
    if sizes is not None:
        listed = ", ".join(map(str, sizes))
        return f"{axis}: {shape[dim]} split into {listed} (torch.split), piece {index} = {out[dim]}"
    chunks, size = layer.get("chunks"), shape[dim]
    return f"{axis}: {size} in {chunks} chunks (torch.chunk), piece {index} = {size} / {chunks} = {out[dim]}"


def _attend_formulas(layer: LayerSpec, out: tuple[int, ...]) -> list[str]:
    """``C: 2 heads × (2·32 + 64) = 256 in, 2 × 64 = 128 out`` and the two matrix products."""
    heads, key_dim, head_dim = attend_dims(layer)
    area, places = layer.get("area"), math.prod(out[2:])
    total = _attend_mult_adds(layer, out)
    return [
        f"C: {heads} heads × (2·{key_dim} + {head_dim}) = {heads * (2 * key_dim + head_dim)} in, "
        f"{heads} × {head_dim} = {out[1]} out",
        f"mult-adds: batch {out[0]} × area {area} × {heads} heads × ({places} / {area})² × ({key_dim} + {head_dim}) "
        f"= {total:,}",
    ]


def _dim_names(dims: int) -> tuple[str, ...]:
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}[dims]


def _spatial_formula(layer: LayerSpec, dims: int, i: int, size: int) -> str:
    kind = layer.kind
    assert kind is not None
    family = kind.family

    def value(arg: str) -> Any:
        return expand(layer.get(arg), dims)[i]

    out = spatial_rule(layer, dims)(i, size)
    if family is Family.CONV:
        if layer.get("padding") == "same":
            return f"padding='same' keeps {size}"
        pad = 0 if layer.get("padding") == "valid" else value("padding")
        return f"{_floor_text(size, pad, value('kernel_size'), value('dilation'), value('stride'), False)} = {out}"
    if family is Family.LOCAL:
        return f"{_floor_text(size, value('padding'), value('kernel_size'), 1, value('stride'), False)} = {out}"
    if family in (Family.MAX_POOL, Family.AVG_POOL):
        stride = value("kernel_size") if layer.get("stride") is None else value("stride")
        dilation = value("dilation") if family is Family.MAX_POOL else 1
        text = _floor_text(size, value("padding"), value("kernel_size"), dilation, stride, layer.get("ceil_mode"))
        return f"{text} = {out}"
    if family is Family.CONV_TRANSPOSE:
        s, p, d, k, op = (value(a) for a in ("stride", "padding", "dilation", "kernel_size", "output_padding"))
        return f"({size} − 1)·{s} − 2·{p} + {d}·({k} − 1) + {op} + 1 = {out}"
    if family is Family.ZERO_PAD:
        return f"{size} + padding = {out}"
    if family is Family.PIXEL_UNSHUFFLE:
        return f"⌊{size} / {layer.get('downscale_factor')}⌋ = {out}"
    if layer.get("size") is not None:
        return f"size {out}"
    return f"⌊{size} · {value('scale_factor')}⌋ = {out}"


def _floor_text(size: int, pad: int, kernel: int, dilation: int, stride: int, ceil: bool) -> str:
    reach = f"{kernel}" if dilation == 1 else f"{dilation}·({kernel} − 1) − 1"
    inner = f"({size} + 2·{pad} − {reach}) / {stride}"
    return f"⌈{inner}⌉ + 1" if ceil else f"⌊{inner}⌋ + 1"


def _param_formula(record: LayerRecord) -> str:
    layer, in_size = record.layer, record.in_size
    kind = layer.kind
    assert kind is not None
    bias = f" + {record.biases:,}" if record.biases else ""
    if kind.family in (Family.CONV, Family.CONV_TRANSPOSE):
        kernel = "×".join(str(k) for k in expand(layer.get("kernel_size"), kind.dims))
        groups = layer.get("groups")
        out = layer.get("out_channels")
        if kind.family is Family.CONV:
            count, depth = out, (in_size or 0) // groups
        else:
            count, depth = in_size, out // groups
        return f"{count} × ({kernel}×{depth}){bias} = {record.params:,}"
    if kind.family is Family.LINEAR:
        return f"{in_size:,} × {layer.get('out_features'):,}{bias} = {record.params:,}"
    if kind.family is Family.LOCAL and record.output_shape is not None:
        kernel = "×".join(str(k) for k in expand(layer.get("kernel_size"), kind.dims))
        places = math.prod(record.output_shape[2:])
        weights = f"{places} places × {layer.get('out_channels')} × ({kernel}×{in_size})"
        return f"{weights}{bias} = {record.params:,}"
    return f"{record.weights:,}{bias} = {record.params:,}"


# ---------------------------------------------------------------------------------------
# Compute and reach: mult-adds, receptive field and jump


def mult_adds(record: LayerRecord) -> int | None:
    """Multiply-accumulates of one layer's forward pass over the whole batch, each counting 1,
    bias additions included (as torchinfo counts them); None when unknown (a torch-only layer
    with parameters).

    Conv: every output position computes C_out dot products of C_in/groups × kernel, plus a
    bias: positions × params. LocallyConnected2d: the same products, but each position's own
    weights, so batch × params. ConvTranspose: every *input* position scatters its C_in × C_out /
    groups × kernel products, plus a bias per output. Attend: two matrix products per head and
    run of N/area places, (N/area)² × key_dim for the scores and (N/area)² × head_dim for the
    values they weigh (not the softmax or the scaling, which FlopCounterMode does not count either).
    Linear: rows × params. Norm layers: one multiply-add per output element (the scale and shift),
    when affine. Everything else: 0.
    A ``--model`` row carries its own count, made op by op as it ran (engines/model/).
    """
    if record.uncounted_ops or record.counted_mult_adds is not None:
        return record.counted_mult_adds
    out = record.output_shape
    if out is None:
        return 0
    kind = record.layer.kind
    if kind is None:
        return None if record.params else 0
    family = kind.family
    if family is Family.CONV:
        return out[0] * math.prod(out[2:]) * record.params
    if family is Family.LOCAL:  # each output value: its own C_in × kernel products and bias
        return out[0] * record.params
    if family is Family.CONV_TRANSPOSE:
        inputs = record.input_shape[0] * math.prod(record.input_shape[2:])
        return inputs * record.weights + out[0] * math.prod(out[2:]) * record.biases
    if family is Family.LINEAR:
        return math.prod(out[:-1]) * record.params
    if family in NORM_FAMILIES:
        return math.prod(out) if record.params else 0
    if family is Family.ATTEND:
        return _attend_mult_adds(record.layer, out)
    return 0


def _attend_mult_adds(layer: LayerSpec, out: tuple[int, ...]) -> int:
    """batch × area × heads × (N / area)² × (key_dim + head_dim), N the places of ``out``."""
    heads, key_dim, head_dim = attend_dims(layer)
    area, places = int(layer.get("area")), math.prod(out[2:])
    return out[0] * area * heads * (places // area) ** 2 * (key_dim + head_dim)


def feature_maps(trace: Trace) -> list[bool]:
    """Per record: whether its output is an NCHW feature map, the layout H×W×C describes. A conv's or
    pool's output is one; so is what a layer passes on from one while keeping its layout (a norm,
    an activation, an upsample, a merge, a torch-only layer of a spec; a --model's module that is
    not in the catalog only when it keeps the shape).
    A Linear, a Flatten, and ops that reshape or permute it end it. The model's input is one when
    it has two spatial dimensions or more."""
    maps: list[bool] = []
    for index, record in enumerate(trace.records):
        out, kind = record.output_shape, record.layer.kind
        arriving = receives_map(trace, index, maps)
        if out is None or len(out) < 3:
            maps.append(False)
        elif kind is not None and kind.family in FEATURE_MAP_FAMILIES:
            maps.append(True)
        elif kind is None:
            maps.append(arriving and record.passes_layout)
        else:
            maps.append(arriving and kind.family not in (Family.FLATTEN, Family.LINEAR))
    return maps


def receives_map(trace: Trace, index: int, maps: Sequence[bool]) -> bool:
    """Whether record ``index`` receives a feature map, given ``maps`` (feature_maps) up to it: its
    producer gives one, or it reads the model's input and that has two spatial dimensions or more."""
    source = trace.producers[index]
    if source is not None:
        return maps[source]
    return len(trace.spec.batched_input) >= 4 and reads_input(trace, index)


def reads_input(trace: Trace, index: int) -> bool:
    """The record reads the model's input (in a spec: it has no producer; in a ``--model`` trace the
    engine knows, since a record may also read a tensor the model's own code made)."""
    return trace.reads_input(index)


Reach = tuple[tuple[Fraction, ...], tuple[Fraction, ...]]


def receptive_fields(trace: Trace) -> list[Reach | None]:
    """Per record: the receptive field (input pixels one output value sees, per spatial
    dimension) and the jump (input pixels between neighbouring outputs); None once the
    spatial layout is gone (after Flatten) or unknown (a ``--model`` row whose input the model's
    own code made by an op that changed its shape).

    rf_out = rf_in + dilation·(kernel − 1)·jump_in, jump_out = jump_in·stride; transposed
    convolutions and upsampling divide the jump instead; an Attend's window is what one of its
    runs spans (the whole map when area is 1). In a graph each layer continues from
    the layer it reads; a merge sees as far as the farthest-seeing of its inputs.
    """
    dims = len(trace.spec.input) - 1
    start: Reach = ((Fraction(1),) * dims, (Fraction(1),) * dims)
    position = {record.layer.name: index for index, record in enumerate(trace.records)}
    reaches: list[Reach | None] = []
    for index, record in enumerate(trace.records):
        source = trace.producers[index]
        arriving = reaches[source] if source is not None else start if reads_input(trace, index) else None
        out = record.output_shape
        kind = record.layer.kind
        layout_lost = out is None or len(out) != dims + 2 or (kind is None and out != record.input_shape)
        if arriving is None or layout_lost:
            reaches.append(None)
            continue
        rf, jump = arriving
        if record.layer.is_merge:
            merged = [reaches[position[n]] if n in position else start for n in record.layer.inputs]
            if any(reach is None for reach in merged):
                reaches.append(None)
                continue
            rf = tuple(max(values) for values in zip(*(reach[0] for reach in merged if reach is not None)))
        elif kind is not None and kind.family in WINDOWED:
            kernel, stride, dilation = _window(record, dims)
            rf = tuple(r + d * (k - 1) * j for r, k, d, j in zip(rf, kernel, dilation, jump))
            jump = tuple(j * s for j, s in zip(jump, stride))
        elif kind is not None and kind.family is Family.CONV_TRANSPOSE:
            kernel, stride, dilation = _window(record, dims)
            jump = tuple(j / s for j, s in zip(jump, stride))
            rf = tuple(r + d * (k - 1) * j for r, k, d, j in zip(rf, kernel, dilation, jump))
        elif kind is not None and kind.family is Family.PIXEL_UNSHUFFLE:
            factor = record.layer.get("downscale_factor")  # a factor × factor window at stride factor
            rf = tuple(r + (factor - 1) * j for r, j in zip(rf, jump))
            jump = tuple(j * factor for j in jump)
        elif kind is not None and kind.family is Family.ATTEND:  # a place sees every place of its run
            extents = run_extents(record.input_shape[2:], record.layer.get("area"))
            rf = tuple(r + (e - 1) * j for r, e, j in zip(rf, extents, jump))
        elif kind is not None and kind.family is Family.UPSAMPLE and out is not None:
            jump = tuple(j * Fraction(i, o) for j, i, o in zip(jump, record.input_shape[2:], out[2:]))
        reaches.append((rf, jump))
    return reaches


def run_extents(spatial: Sequence[int], area: int) -> tuple[int, ...]:
    """Per spatial dimension, the most places one of an Attend's ``area`` runs spans (the runs cut
    the places flattened in order, so a run of whole rows spans every column): its window."""
    run = math.prod(spatial) // area
    extents = []
    for k, size in enumerate(spatial):
        block = math.prod(spatial[k + 1 :])  # flattened places per step along dimension k
        widest = 1
        for r in range(area if run else 0):
            first, last = r * run // block, ((r + 1) * run - 1) // block
            count = last - first + 1
            widest = max(widest, size if first % size + count > size else count)
            if widest == size:
                break
        extents.append(widest)
    return tuple(extents)


def _window(record: LayerRecord, dims: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(kernel, stride, dilation) per spatial dimension; an adaptive pool's from its sizes."""
    layer = record.layer
    kind = layer.kind
    assert kind is not None and record.output_shape is not None
    if kind.family is Family.ADAPTIVE_POOL:
        sizes = list(zip(record.input_shape[2:], record.output_shape[2:]))
        strides = tuple(i // o for i, o in sizes)
        kernels = tuple(i - (o - 1) * s for (i, o), s in zip(sizes, strides))
        return kernels, strides, (1,) * dims
    kernel = expand(layer.get("kernel_size"), dims)
    stride = kernel if layer.get("stride") is None else expand(layer.get("stride"), dims)
    dilation = expand(layer.get("dilation"), dims) if "dilation" in kind.param_by_name else (1,) * dims
    return kernel, stride, dilation


# ---------------------------------------------------------------------------------------
# Statistics: the numbers above, computed once per trace


@dataclass(frozen=True)
class Totals:
    """The footer's numbers."""

    params: int
    """All parameters."""
    weights: int
    """Weight values."""
    biases: int
    """Bias values."""
    trainable: int
    """Parameters with requires_grad."""
    param_bytes: int
    """Parameter memory, float32."""
    activation_bytes: int
    """Every layer's output, float32."""
    mult_adds: int | None
    """None when some layer's count is unknown."""

    @property
    def non_trainable(self) -> int:
        """Parameters without requires_grad."""
        return self.params - self.trainable

    def to_json(self) -> JsonObject:
        """The totals as JSON data."""
        return {
            "mult_adds": self.mult_adds,
            "params": self.params,
            "weights": self.weights,
            "biases": self.biases,
            "trainable": self.trainable,
            "non_trainable": self.non_trainable,
            "param_bytes": self.param_bytes,
            "activation_bytes": self.activation_bytes,
        }


def totals(trace: Trace, counts: Sequence[int | None] | None = None) -> Totals:
    """Sums over every record; ``counts``, each record's mult-adds, when already known."""
    if counts is None:
        counts = [mult_adds(r) for r in trace.records]
    return Totals(
        params=trace.total_params,
        weights=sum(r.weights for r in trace.records),
        biases=sum(r.biases for r in trace.records),
        trainable=trace.trainable_params,
        param_bytes=trace.param_bytes,
        activation_bytes=trace.activation_bytes,
        mult_adds=None if None in counts else sum(c or 0 for c in counts),
    )


@dataclass(frozen=True)
class Statistics:
    """Every number derived from one trace, computed once (``statistics``) and handed to whatever
    shows them: the rows, the footer, the totals."""

    mult_adds: tuple[int | None, ...]
    """Per record: its mult-adds (``mult_adds``)."""
    feature_maps: tuple[bool, ...]
    """Per record: whether its output is a feature map (``feature_maps``)."""
    reaches: tuple[Reach | None, ...]
    """Per record: receptive field and jump (``receptive_fields``)."""
    totals: Totals
    """Sums over every record."""


def statistics(trace: Trace) -> Statistics:
    """A trace's statistics, each computed once."""
    counts = tuple(mult_adds(r) for r in trace.records)
    return Statistics(
        mult_adds=counts,
        feature_maps=tuple(feature_maps(trace)),
        reaches=tuple(receptive_fields(trace)),
        totals=totals(trace, counts),
    )
