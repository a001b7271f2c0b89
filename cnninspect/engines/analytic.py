"""The analytic engine: PyTorch's size and parameter formulas in pure Python.

No torch, no I/O. The torch engine uses ``check_input`` from here too, so both engines
judge mismatches by the same rule and differ only in how they compute what comes out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from cnninspect.engines.records import (
    AttendMismatch,
    Collapse,
    GroupsMismatch,
    LayerRecord,
    MergeMismatch,
    Mismatch,
    RankMismatch,
    SizeMismatch,
    SplitMismatch,
    TailMismatch,
    Trace,
)
from cnninspect.errors import UsageError
from cnninspect.spec.catalog import NORM_FAMILIES, SPATIAL_FAMILIES, Family
from cnninspect.spec.model import INPUT, LayerSpec, ModelSpec, attend_dims, expand

Shape = tuple[int, ...]
UPSAMPLE_RANKS = {"linear": (3,), "bilinear": (4,), "bicubic": (4,), "trilinear": (5,)}
MAX_COLLAPSE_SEARCH = 1 << 64
"""Far beyond any input that sizes capped at 2³¹ can need."""


def infer_shapes(spec: ModelSpec) -> Trace:
    """Trace a spec with formulas alone; raises UsageError for a layer only torch knows."""
    unknown = [layer for layer in spec.layers if layer.kind is None]
    if unknown:
        first = unknown[0]
        raise UsageError(
            f"{first.location}: {first.type} is not a layer the analytic engine knows; "
            "use --engine torch if it is a torch.nn class"
        )
    shapes = {INPUT: spec.batched_input}
    previous = INPUT
    records = []
    for layer in spec.layers:
        if not layer.called:
            records.append(uncalled_layer(layer))
            continue
        received = [shapes[name] for name in layer.inputs or (previous,)]
        record = merge_layer(layer, received) if layer.is_merge else size_layer(layer, received[0])
        records.append(record)
        if record.output_shape is None:
            break
        shapes[layer.name] = record.output_shape
        previous = layer.name
    return Trace(spec, tuple(records), "analytic")


def merge_layer(layer: LayerSpec, shapes: Sequence[Shape]) -> LayerRecord:
    """An Add, Concat or Mul: its output, or the mismatch and the shape the trace carries on with."""
    mismatch, out = check_merge(layer, shapes)
    return LayerRecord(
        layer=layer,
        input_shape=shapes[0],
        output_shape=out,
        mismatches=() if mismatch is None else (mismatch,),
        input_shapes=tuple(shapes),
    )


def check_merge(layer: LayerSpec, shapes: Sequence[Shape]) -> tuple[MergeMismatch | None, Shape]:
    """Whether a merge's inputs fit, and the output shape (on a mismatch: the first input's
    shape, with a Concat's joined dimension summed where the ranks allow)."""
    kind = layer.kind
    assert kind is not None
    first = shapes[0]
    received = tuple(shapes)
    if kind.family is Family.ADD:
        if any(shape != first for shape in shapes):
            return MergeMismatch(kind.family, received), first
        return None, first
    if kind.family is Family.MUL:
        out = broadcast(shapes)
        return (MergeMismatch(kind.family, received), first) if out is None else (None, out)
    dim = layer.get("dim")
    rank = len(first)
    if not -rank <= dim < rank or any(len(shape) != rank for shape in shapes):
        return MergeMismatch(kind.family, received, dim), first
    dim %= rank
    joined = (*first[:dim], sum(shape[dim] for shape in shapes), *first[dim + 1 :])
    others_differ = any(shape[:dim] + shape[dim + 1 :] != first[:dim] + first[dim + 1 :] for shape in shapes)
    return (MergeMismatch(kind.family, received, dim) if others_differ else None), joined


def broadcast(shapes: Sequence[Shape]) -> Shape | None:
    """PyTorch's broadcasting of several shapes, or None when they cannot broadcast."""
    rank = max(len(shape) for shape in shapes)
    padded = [(1,) * (rank - len(shape)) + tuple(shape) for shape in shapes]
    out = []
    for sizes in zip(*padded):
        wide = {size for size in sizes if size != 1}
        if len(wide) > 1:
            return None
        out.append(wide.pop() if wide else 1)
    return tuple(out)


def size_layer(layer: LayerSpec, shape: Shape) -> LayerRecord:
    """One layer's record: checks, output shape and parameter counts."""
    mismatches, stand_in, in_size = check_input(layer, shape)
    if stand_in is None:
        return LayerRecord(layer=layer, input_shape=shape, output_shape=None, mismatches=mismatches, in_size=in_size)
    out = shape if keeps_received(layer) else output_shape(layer, stand_in)
    weights, biases = (0, 0) if layer.shares else count_params(layer, in_size, out)  # shared: counted once
    return LayerRecord(
        layer=layer,
        input_shape=shape,
        output_shape=out,
        weights=weights,
        biases=biases,
        trainable=weights + biases if layer.trainable else 0,
        mismatches=mismatches,
        in_size=in_size,
    )


def uncalled_layer(layer: LayerSpec) -> LayerRecord:
    """A layer forward never calls (``called: false``): its parameters, from the input size written
    (nothing flows in), no shapes."""
    kind = layer.kind
    assert kind is not None
    in_size = layer.args.get(kind.inferred) if kind.inferred else None
    if kind.family is Family.LAYER_NORM:
        in_size = math.prod(expand(layer.get("normalized_shape"), 1))
    weights, biases = (0, 0) if layer.shares else count_params(layer, in_size)
    return LayerRecord.uncalled(layer, weights, biases, weights + biases if layer.trainable else 0, in_size)


def keeps_received(layer: LayerSpec) -> bool:
    """True for norm layers: with a wrong declared size they pass on what they received, since
    they keep shapes and the declaration is the mistake, not the tensor; so later layers are
    judged on the truth."""
    return layer.kind is not None and layer.kind.family in NORM_FAMILIES


# ---------------------------------------------------------------------------------------
# What a layer accepts


def check_input(layer: LayerSpec, shape: Shape) -> tuple[tuple[Mismatch, ...], Shape | None, int | None]:
    """Compare what arrives with what the layer declares.

    Returns the mismatches, the stand-in shape the layer is run on so the trace carries on
    (the received shape with the declared sizes put in; None when the rank is wrong and the
    trace must stop), and the input-size argument the layer is built with.
    """
    kind = layer.kind
    if kind is None:
        return (), shape, None
    family = kind.family
    rank_problem = _check_rank(layer, shape)
    if rank_problem:
        return (rank_problem,), None, None
    mismatches: list[Mismatch] = []
    stand_in = list(shape)
    in_size: int | None = None
    if family is Family.LINEAR:
        in_size = _declared_or_received(layer, "in_features", shape[-1], mismatches)
        stand_in[-1] = in_size
    elif family in (Family.CONV, Family.CONV_TRANSPOSE, Family.LOCAL):
        grouped = "" if family is Family.LOCAL else "groups"  # a LocallyConnected2d has no groups
        in_size = _declared_or_received(layer, "in_channels", shape[1], mismatches, grouped)
        stand_in[1] = in_size
    elif family in (Family.BATCH_NORM, Family.INSTANCE_NORM):
        in_size = _declared_or_received(layer, "num_features", shape[1], mismatches)
        stand_in[1] = in_size
    elif family is Family.GROUP_NORM:
        in_size = _declared_or_received(layer, "num_channels", shape[1], mismatches, "num_groups")
        stand_in[1] = in_size
    elif family is Family.LAYER_NORM:
        normalized = expand(layer.get("normalized_shape"), 1)
        tail = tuple(shape[len(shape) - len(normalized) :])
        if tail != normalized:
            mismatches.append(TailMismatch(normalized, tail))
            stand_in[len(shape) - len(normalized) :] = normalized
        in_size = math.prod(normalized)
    elif family is Family.SPLIT:
        split = check_split(layer, shape)
        if split is not None:
            mismatches.append(split)
            stand_in[split.dim] = split.fits
    elif family is Family.ATTEND:
        need = attend_channels(layer)
        if shape[1] != need:
            mismatches.append(AttendMismatch("channels", need, shape[1]))
            stand_in[1] = need
        if math.prod(shape[2:]) % layer.get("area"):
            mismatches.append(AttendMismatch("area", layer.get("area"), math.prod(shape[2:])))
    if family in SPATIAL_FAMILIES:
        rule = spatial_rule(layer, len(shape) - 2)
        for i in range(2, len(shape)):
            if rule(i - 2, stand_in[i]) < 1:
                smallest = smallest_input(rule, i - 2)
                mismatches.append(Collapse(i, stand_in[i], smallest))
                stand_in[i] = smallest
    return tuple(mismatches), tuple(stand_in), in_size


def check_split(layer: LayerSpec, shape: Shape) -> SplitMismatch | None:
    """A Split's chunks must divide the size it cuts (torch.chunk would give unequal pieces, or
    fewer); its sizes must add up to it (torch.split refuses). The mismatch's ``fits`` is the
    size the trace carries on with: the next multiple of chunks, or the sum of sizes."""
    dim = layer.get("dim") % len(shape)
    received, chunks, sizes = shape[dim], layer.get("chunks"), layer.get("sizes")
    if sizes is not None:
        total = sum(sizes)
        return None if total == received else SplitMismatch("sizes", sizes, received, total, dim)
    if received % chunks == 0:
        return None
    return SplitMismatch("chunks", chunks, received, -(-received // chunks) * chunks, dim)


def attend_channels(layer: LayerSpec) -> int:
    """The channels of the qkv map an Attend reads: per head, key_dim query, key_dim key and
    head_dim value channels."""
    heads, key_dim, head_dim = attend_dims(layer)
    return heads * (2 * key_dim + head_dim)


def split_size(layer: LayerSpec, size: int) -> int:
    """The size of the piece a Split takes from a dimension of ``size`` it fits."""
    sizes = layer.get("sizes")
    return size // layer.get("chunks") if sizes is None else int(sizes[layer.get("index")])


def _declared_or_received(layer: LayerSpec, arg: str, received: int, out: list[Mismatch], split: str = "") -> int:
    """The input size a layer is built with: as written (a mismatch when it is not what arrives), else
    what arrives, raised to a multiple of the ``split`` argument's value when that cannot divide it."""
    declared = layer.args.get(arg)
    if declared is not None:
        if declared != received:
            out.append(SizeMismatch(arg, declared, received))
        return int(declared)
    divisor = layer.get(split) if split else 1
    if received % divisor:
        fits = -(-received // divisor) * divisor
        out.append(GroupsMismatch(arg, received, split, divisor, fits))
        return fits
    return received


def _check_rank(layer: LayerSpec, shape: Shape) -> RankMismatch | None:
    kind = layer.kind
    assert kind is not None
    family, rank = kind.family, len(shape)
    allowed: tuple[int, ...] | None = None
    if family in (
        Family.CONV,
        Family.CONV_TRANSPOSE,
        Family.LOCAL,
        Family.MAX_POOL,
        Family.AVG_POOL,
        Family.ADAPTIVE_POOL,
        Family.INSTANCE_NORM,
        Family.ZERO_PAD,
        Family.PIXEL_UNSHUFFLE,
    ):
        allowed = (kind.dims + 2,)
    elif family is Family.BATCH_NORM:
        allowed = (2, 3) if kind.dims == 1 else (kind.dims + 2,)
    elif family is Family.ELEMENTWISE and kind.dims:
        allowed = (kind.dims + 1, kind.dims + 2)
    elif family in (Family.GROUP_NORM, Family.LINEAR):
        allowed = tuple(range(2, max(rank, 2) + 1))
    elif family is Family.LAYER_NORM:
        allowed = tuple(range(len(expand(layer.get("normalized_shape"), 1)) + 1, max(rank, 2) + 1))
    elif family is Family.UPSAMPLE:
        allowed = UPSAMPLE_RANKS.get(layer.get("mode"), (3, 4, 5))
        for arg in ("size", "scale_factor"):
            value = layer.get(arg)
            if isinstance(value, tuple):
                allowed = tuple(r for r in allowed if r == len(value) + 2)
    elif family is Family.FLATTEN:
        top = max(rank, _rank_with(layer.get("start_dim")), _rank_with(layer.get("end_dim")))
        allowed = tuple(r for r in range(1, top + 1) if flatten_range(layer, r) is not None)
    elif family is Family.ATTEND:  # batch, channels and one spatial dimension or more
        allowed = tuple(range(3, max(rank, 3) + 1))
    elif family in (Family.SOFTMAX, Family.SPLIT):
        dim = layer.get("dim")
        allowed = None if dim is None else tuple(r for r in range(1, max(rank, _rank_with(dim)) + 1) if -r <= dim < r)
    if allowed is None or rank in allowed:
        return None
    return RankMismatch(allowed, shape)


def _rank_with(dim: int) -> int:
    """The fewest dimensions a tensor needs for ``dim`` to exist (5 and -6 both need 6)."""
    return dim + 1 if dim >= 0 else -dim


def flatten_range(layer: LayerSpec, rank: int) -> tuple[int, int] | None:
    """Flatten's (start, end) dimensions for a tensor of this rank; None when they do not exist."""
    start, end = layer.get("start_dim"), layer.get("end_dim")
    if not (-rank <= start < rank and -rank <= end < rank):
        return None
    start, end = start % rank, end % rank
    return (start, end) if start <= end else None


# ---------------------------------------------------------------------------------------
# Spatial sizes


def spatial_rule(layer: LayerSpec, dims: int) -> Callable[[int, int], int]:
    """``rule(i, size)``: the output size of spatial dimension ``i`` for input ``size``."""
    kind = layer.kind
    assert kind is not None
    family = kind.family

    def get(arg: str) -> tuple[Any, ...]:
        return expand(layer.get(arg), dims)

    if family is Family.LOCAL:
        kernel, stride, pad = get("kernel_size"), get("stride"), get("padding")
        return lambda i, size: (size + 2 * pad[i] - kernel[i]) // stride[i] + 1
    if family is Family.CONV:
        kernel, stride, dilation = get("kernel_size"), get("stride"), get("dilation")
        padding = layer.get("padding")
        if padding == "same":
            return lambda i, size: size
        pad = (0,) * dims if padding == "valid" else expand(padding, dims)
        return lambda i, size: (size + 2 * pad[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
    if family is Family.CONV_TRANSPOSE:
        kernel, stride, dilation, pad, out_pad = (
            get(a) for a in ("kernel_size", "stride", "dilation", "padding", "output_padding")
        )
        return lambda i, size: (size - 1) * stride[i] - 2 * pad[i] + dilation[i] * (kernel[i] - 1) + out_pad[i] + 1
    if family in (Family.MAX_POOL, Family.AVG_POOL):
        kernel, pad = get("kernel_size"), get("padding")
        stride = kernel if layer.get("stride") is None else get("stride")
        dilation = get("dilation") if family is Family.MAX_POOL else (1,) * dims
        ceil = layer.get("ceil_mode")
        if family is Family.AVG_POOL and dims == 3:
            # avg_pool3d also refuses an unpadded input smaller than the kernel.
            return lambda i, size: 0 if size < kernel[i] else pool_size(size, kernel[i], stride[i], pad[i], 1, ceil)
        return lambda i, size: pool_size(size, kernel[i], stride[i], pad[i], dilation[i], ceil)
    if family is Family.ZERO_PAD:
        padding = layer.get("padding")
        pairs = expand(padding, 2 * dims)
        # ZeroPad's tuple runs from the last dimension backwards: (left, right, top, bottom, ...).
        return lambda i, size: size + pairs[2 * (dims - 1 - i)] + pairs[2 * (dims - 1 - i) + 1]
    if family is Family.PIXEL_UNSHUFFLE:
        factor = layer.get("downscale_factor")
        return lambda i, size: size // factor
    if family is Family.UPSAMPLE:
        if layer.get("size") is not None:
            target = expand(layer.get("size"), dims)
            return lambda i, size: target[i]
        scale = expand(layer.get("scale_factor"), dims)
        return lambda i, size: math.floor(size * float(scale[i]))
    raise ValueError(f"{layer.type} has no spatial rule")


def pool_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil: bool) -> int:
    """PyTorch's ``pooling_output_shape``, ceil_mode included."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def smallest_input(rule: Callable[[int, int], int], i: int) -> int:
    """The smallest input size of spatial dimension ``i`` that gives an output ≥ 1 (output sizes
    only grow with the input: doubling, then bisection)."""
    high = 1
    while rule(i, high) < 1:
        high *= 2
        if high > MAX_COLLAPSE_SEARCH:
            raise ValueError("no input size gives an output")
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if rule(i, middle) >= 1 else (middle, high)
    return high


def smallest_model_input(spec: ModelSpec) -> Shape:
    """The spec's input with each spatial size lowered or raised to the smallest that no
    layer collapses (output sizes only grow with the input, so a bisection finds it)."""
    best = list(spec.input)
    for dim in range(1, len(spec.input)):
        high = 1
        while not _survives(spec, dim, high):
            if high >= MAX_COLLAPSE_SEARCH:
                raise ValueError("no input size survives every layer")
            high *= 2
        low = high // 2  # fails (or 0)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if _survives(spec, dim, middle) else (middle, high)
        best[dim] = high
    return tuple(best)


def _survives(spec: ModelSpec, dim: int, size: int) -> bool:
    """True when no layer collapses sample dimension ``dim`` at input size ``size``."""
    trial = replace(spec, input=(*spec.input[:dim], size, *spec.input[dim + 1 :]), batch=1)
    records = infer_shapes(trial).records
    return not any(isinstance(m, Collapse) and m.dim == dim + 1 for r in records for m in r.mismatches)


def output_shape(layer: LayerSpec, shape: Shape) -> Shape:
    """The output shape of a catalog layer for an input it accepts."""
    kind = layer.kind
    assert kind is not None
    family = kind.family
    batch = shape[0]
    if family in (Family.CONV, Family.CONV_TRANSPOSE, Family.LOCAL):
        rule = spatial_rule(layer, len(shape) - 2)
        return (batch, layer.get("out_channels"), *(rule(i, s) for i, s in enumerate(shape[2:])))
    if family is Family.PIXEL_UNSHUFFLE:
        factor = layer.get("downscale_factor")
        return (batch, shape[1] * factor * factor, *(s // factor for s in shape[2:]))
    if family in SPATIAL_FAMILIES:
        rule = spatial_rule(layer, len(shape) - 2)
        return (*shape[:2], *(rule(i, s) for i, s in enumerate(shape[2:])))
    if family is Family.ADAPTIVE_POOL:
        target = expand(layer.get("output_size"), kind.dims)
        return (*shape[:2], *(s if t is None else t for t, s in zip(target, shape[2:])))
    if family is Family.LINEAR:
        return (*shape[:-1], layer.get("out_features"))
    if family is Family.FLATTEN:
        span = flatten_range(layer, len(shape))
        assert span is not None
        start, end = span
        return (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])
    if family is Family.SPLIT:
        dim = layer.get("dim") % len(shape)
        return (*shape[:dim], split_size(layer, shape[dim]), *shape[dim + 1 :])
    if family is Family.ATTEND:
        heads, _, head_dim = attend_dims(layer)
        return (batch, heads * head_dim, *shape[2:])
    return shape


# ---------------------------------------------------------------------------------------
# Parameters


def count_params(layer: LayerSpec, in_size: int | None, output: Shape | None = None) -> tuple[int, int]:
    """(weights, biases) of a catalog layer built with input size ``in_size``; a LocallyConnected2d's
    also depend on its output's places (``output``: its output shape), each with its own weights and bias."""
    kind = layer.kind
    assert kind is not None
    family = kind.family
    if family is Family.LOCAL:
        assert in_size is not None and output is not None
        places, channels = math.prod(output[2:]), layer.get("out_channels")
        kernel = math.prod(expand(layer.get("kernel_size"), kind.dims))
        return places * channels * in_size * kernel, places * channels if layer.get("bias") else 0
    if family in (Family.CONV, Family.CONV_TRANSPOSE):
        assert in_size is not None
        out, groups = layer.get("out_channels"), layer.get("groups")
        kernel = math.prod(expand(layer.get("kernel_size"), kind.dims))
        weights = (out * (in_size // groups) if family is Family.CONV else in_size * (out // groups)) * kernel
        return weights, out if layer.get("bias") else 0
    if family is Family.LINEAR:
        assert in_size is not None
        out = layer.get("out_features")
        return in_size * out, out if layer.get("bias") else 0
    if family in (Family.BATCH_NORM, Family.INSTANCE_NORM, Family.GROUP_NORM, Family.LAYER_NORM):
        affine = layer.get("elementwise_affine" if family is Family.LAYER_NORM else "affine")
        assert in_size is not None
        if not affine:
            return 0, 0
        return in_size, in_size if layer.get("bias") else 0
    return 0, 0
