"""Property test: on random valid specs over every catalog layer type, both engines agree
on every layer's output shape and parameter counts."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnninspect.engines.analytic import infer_shapes, size_layer
from cnninspect.engines.torch import trace_spec
from cnninspect.errors import CnnInspectError, Location
from cnninspect.spec.catalog import LAYER_TYPES, MERGE_FAMILIES, Family, LayerType
from cnninspect.spec.model import ModelSpec
from cnninspect.spec.validate import make_layer

HERE = Location("test", 1, 1)
SPATIAL_FAMILIES = {
    Family.CONV,
    Family.CONV_TRANSPOSE,
    Family.LOCAL,
    Family.MAX_POOL,
    Family.AVG_POOL,
    Family.ADAPTIVE_POOL,
    Family.INSTANCE_NORM,
    Family.ZERO_PAD,
    Family.PIXEL_UNSHUFFLE,
}


def sizes(draw, dims: int, low: int, high: int):
    if draw(st.booleans()):
        return draw(st.integers(low, high))
    return [draw(st.integers(low, high)) for _ in range(dims)]


@st.composite
def layer_args(draw, kind: LayerType, shape: tuple[int, ...]):
    """Arguments for ``kind`` that are valid on their own (the shape may still not fit)."""
    dims = kind.dims or max(len(shape) - 2, 1)
    channels = shape[1] if len(shape) > 1 else shape[-1]
    family = kind.family
    args: dict = {}
    if family in (Family.CONV, Family.CONV_TRANSPOSE):
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if channels % g == 0]))
        args = {
            "out_channels": groups * draw(st.integers(1, 4)),
            "kernel_size": sizes(draw, dims, 1, 4),
            "stride": sizes(draw, dims, 1, 3),
            "padding": sizes(draw, dims, 0, 2),
            "dilation": sizes(draw, dims, 1, 2),
            "groups": groups,
            "bias": draw(st.booleans()),
        }
        if draw(st.booleans()):
            args["in_channels"] = channels
        if family is Family.CONV and draw(st.integers(0, 4)) == 0:
            args["padding"], args["stride"] = draw(st.sampled_from(["same", "valid"])), 1
        if family is Family.CONV_TRANSPOSE:
            args["output_padding"] = 0 if draw(st.booleans()) else 1
            args["stride"] = 2 if args["output_padding"] else args["stride"]
    elif family is Family.LOCAL:
        kernel = draw(st.integers(1, 4))
        args = {
            "out_channels": draw(st.integers(1, 4)),
            "kernel_size": kernel,
            "stride": sizes(draw, dims, 1, 3),
            "padding": sizes(draw, dims, 0, kernel // 2),
            "bias": draw(st.booleans()),
        }
        if draw(st.booleans()):
            args["in_channels"] = channels
    elif family in (Family.MAX_POOL, Family.AVG_POOL):
        kernel = draw(st.integers(1, 4))
        args = {"kernel_size": kernel, "padding": draw(st.integers(0, kernel // 2)), "ceil_mode": draw(st.booleans())}
        if draw(st.booleans()):
            args["stride"] = draw(st.integers(1, 3))
        if family is Family.MAX_POOL:
            args["dilation"] = draw(st.integers(1, 2))
    elif family is Family.ADAPTIVE_POOL:
        entry = st.integers(1, 4) if dims == 1 else st.one_of(st.none(), st.integers(1, 4))
        args = {"output_size": draw(st.one_of(st.integers(1, 4), st.lists(entry, min_size=dims, max_size=dims)))}
    elif family in (Family.BATCH_NORM, Family.INSTANCE_NORM):
        args = {"affine": draw(st.booleans())}
        if draw(st.booleans()):
            args["num_features"] = channels
    elif family is Family.GROUP_NORM:
        args = {
            "num_groups": draw(st.sampled_from([g for g in (1, 2, 3) if channels % g == 0])),
            "affine": draw(st.booleans()),
        }
    elif family is Family.LAYER_NORM:
        args = {
            "normalized_shape": list(shape[-draw(st.integers(1, min(2, len(shape) - 1))) :]),
            "elementwise_affine": draw(st.booleans()),
            "bias": draw(st.booleans()),
        }
    elif family is Family.LINEAR:
        args = {"out_features": draw(st.integers(1, 16)), "bias": draw(st.booleans())}
        if draw(st.booleans()):
            args["in_features"] = shape[-1]
    elif family is Family.FLATTEN:
        args = {"start_dim": draw(st.integers(1, len(shape) - 1))} if len(shape) > 2 else {}
    elif family is Family.ZERO_PAD:
        args = {
            "padding": draw(
                st.one_of(st.integers(0, 2), st.lists(st.integers(0, 2), min_size=2 * dims, max_size=2 * dims))
            )
        }
    elif family is Family.UPSAMPLE:
        mode = {3: "linear", 4: "bilinear", 5: "trilinear"}.get(len(shape), "nearest")
        args = {"mode": draw(st.sampled_from(["nearest", mode]))}
        if draw(st.booleans()):
            args["scale_factor"] = draw(st.sampled_from([0.5, 1.5, 2, 3]))
        else:
            args["size"] = draw(st.integers(1, 9))
    elif family is Family.PIXEL_UNSHUFFLE:
        # torch refuses sizes the factor does not divide
        factors = [f for f in (1, 2, 3) if all(s % f == 0 for s in shape[2:])]
        args = {"downscale_factor": draw(st.sampled_from(factors))}
    elif family is Family.SOFTMAX:
        args = {"dim": draw(st.integers(-len(shape) + 1, len(shape) - 1))}
    elif family is Family.SPLIT:
        dim = draw(st.integers(-len(shape) + 1, len(shape) - 1))
        size = shape[dim]
        if draw(st.booleans()):
            chunks = draw(st.sampled_from([n for n in range(1, size + 1) if size % n == 0]))
            args = {"chunks": chunks, "index": draw(st.integers(-chunks, chunks - 1))}
        else:
            cut = sorted(draw(st.sets(st.integers(1, size - 1), max_size=3))) if size > 1 else []
            sections = [b - a for a, b in zip([0, *cut], [*cut, size])]
            args = {"sizes": sections, "index": draw(st.integers(-len(sections), len(sections) - 1))}
        if dim != 1 or draw(st.booleans()):
            args["dim"] = dim
    elif family is Family.ATTEND:
        # channels = heads·(2·key_dim + head_dim), and area divides the places (else a mismatch)
        fitting = [
            (heads, key_dim, channels // heads - 2 * key_dim)
            for heads in range(1, channels + 1)
            if channels % heads == 0
            for key_dim in range(1, (channels // heads - 1) // 2 + 1)
        ]
        heads, key_dim, head_dim = draw(st.sampled_from(fitting or [(1, 1, 1)]))
        args = {"heads": heads, "head_dim": head_dim}
        if key_dim != head_dim or draw(st.booleans()):
            args["key_dim"] = key_dim
        places = math.prod(shape[2:])
        args["area"] = draw(st.sampled_from([a for a in range(1, min(places, 8) + 1) if places % a == 0]))
    return args


def fits_rank(kind: LayerType, rank: int) -> bool:
    if kind.family in MERGE_FAMILIES:
        return False  # several inputs: the graph property test draws them
    if kind.family in SPATIAL_FAMILIES:
        return rank == kind.dims + 2
    if kind.family is Family.BATCH_NORM:
        return rank in ((2, 3) if kind.dims == 1 else (kind.dims + 2,))
    if kind.family is Family.ELEMENTWISE and kind.dims:
        return rank in (kind.dims + 1, kind.dims + 2)
    if kind.family is Family.UPSAMPLE:
        return rank in (3, 4, 5)
    if kind.family is Family.ATTEND:
        return rank >= 3
    return rank >= 2


@st.composite
def valid_specs(draw):
    dims = draw(st.sampled_from([1, 2, 2, 3]))
    sample = (draw(st.integers(1, 6)), *(draw(st.integers(4, 12 if dims < 3 else 6)) for _ in range(dims)))
    batch = draw(st.integers(1, 2))
    shape = (batch, *sample)
    layers = []
    for _ in range(draw(st.integers(1, 6))):
        options = sorted(name for name, kind in LAYER_TYPES.items() if fits_rank(kind, len(shape)))
        kind = LAYER_TYPES[draw(st.sampled_from(options))]
        try:
            layer = make_layer(len(layers), None, kind.name, draw(layer_args(kind, shape)), HERE, {}, HERE)
        except CnnInspectError:
            continue  # an argument combination PyTorch refuses: not a valid spec
        if kind.family in (Family.INSTANCE_NORM, Family.GROUP_NORM) and math.prod(shape[2:]) < 2:
            continue  # per-sample statistics of one value: PyTorch refuses at run time (not modelled yet)
        record = size_layer(layer, shape)
        if record.mismatches or record.output_shape is None or 0 in record.output_shape:
            continue
        layers.append(replace(layer, trainable=draw(st.booleans())))
        called = kind.family is not Family.LOCAL  # its weights are made for the places that arrive
        if called and kind.inferred and record.in_size is not None and draw(st.integers(0, 3)) == 0:
            # the same layer again, its input size written: held, never called (nothing flows in)
            args = {**layer.args, kind.inferred: record.in_size}
            layers.append(make_layer(len(layers), None, kind.name, args, HERE, {}, HERE, called=False))
        shape = record.output_shape
    return ModelSpec("random", sample, tuple(layers), "test", batch=batch)


@pytest.mark.parametrize("device", ["cpu", "meta"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=valid_specs())
def test_engines_agree_layer_by_layer(spec, device):
    if not spec.layers:
        return
    analytic = infer_shapes(spec)
    torch = trace_spec(spec, device)
    assert [r.output_shape for r in torch.records] == [r.output_shape for r in analytic.records]
    assert [(r.weights, r.biases) for r in torch.records] == [(r.weights, r.biases) for r in analytic.records]
    assert [r.trainable for r in torch.records] == [r.trainable for r in analytic.records]
    assert [r.params if r.layer.trainable else 0 for r in analytic.records] == [r.trainable for r in analytic.records]


def test_the_generator_covers_every_catalog_type():
    covered = {kind.name for kind in LAYER_TYPES.values() if any(fits_rank(kind, r) for r in (3, 4, 5))}
    merges = {kind.name for kind in LAYER_TYPES.values() if kind.family in MERGE_FAMILIES}
    assert covered | merges == set(LAYER_TYPES) and merges == {"Add", "Concat", "Mul"}
