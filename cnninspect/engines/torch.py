"""The torch engine: build each layer as a real nn.Module and run a dummy forward pass.

Torch is imported inside the functions only, so commands that never trace start fast.
Size checks run in forward pre-hooks (the same ``check_input`` rule as the analytic engine):
a mismatched layer gets a stand-in input of the size it declares, so the trace carries on
and every later mismatch is found in the same run. Hooks are removed in ``finally``.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING

from cnninspect.engines.analytic import check_input, check_merge, infer_shapes, keeps_received, output_shape
from cnninspect.engines.records import BYTES_PER_VALUE, LayerRecord, Trace
from cnninspect.errors import ArgumentError, LayerFailure, LayerTypeError, Location
from cnninspect.spec.catalog import OWN_FAMILIES
from cnninspect.spec.model import INPUT, LayerSpec, ModelSpec, attend_dims, expand
from cnninspect.text import did_you_mean, dims_text, first_line, shape_text

if TYPE_CHECKING:
    from torch import Tensor, nn

CPU_TRACE_LIMIT = 64 * 2**20
"""Models whose parameters and activations fit in this many bytes are traced on the CPU:
a small CPU forward pass is faster than the meta device's first-use cost (see bench/)."""
CPU_MULT_ADDS = 10**9
"""...and whose mult-adds stay under this many plus ``CPU_MULT_ADDS_PER_LAYER`` a layer: a
billion takes well under a second on one thread, less than the meta device's first use."""
CPU_MULT_ADDS_PER_LAYER = 10**6
"""A layer on meta costs milliseconds more than on the CPU (docs/engines.md), the time of a
million mult-adds or more: a deep model of small layers stays on the CPU."""
TENSOR_LIMIT = 2**63 - 1
"""The bytes one PyTorch tensor can span, even on meta: its storage size is a signed 64-bit count."""
CONTAINERS = ("Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Module", "Container")


@functools.cache
def import_torch() -> ModuleType:
    """Import torch once, quietly (a missing NumPy is irrelevant to shape tracing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch
    return torch


def trace_spec(spec: ModelSpec, device: str | None = None) -> Trace:
    """Trace ``spec`` through real PyTorch modules; ``device`` is ``cpu``, ``meta`` or None (choose).
    Each output is kept until the last layer that reads it has run."""
    torch = import_torch()
    estimate = None if spec.needs_torch else infer_shapes(spec)
    check_sizes(spec, estimate)
    device = device or choose_device(spec, estimate)
    records: list[LayerRecord] = []
    tensors: dict[str, Tensor] = {INPUT: blank(spec.batched_input, device)}
    last_use = {name: position for position, layer in enumerate(spec.layers) for name in _inputs(spec, position)}
    with torch.no_grad(), warnings.catch_warnings(), one_thread():
        warnings.simplefilter("ignore")
        for position, layer in enumerate(spec.layers):
            if not layer.called:
                records.append(_uncalled(layer, device))
                continue
            received = [tensors[name] for name in _inputs(spec, position)]
            output: Tensor | None
            if layer.is_merge:
                output = _run_merge(layer, received, device, records)
            elif layer.type == "Split":
                output = _run_split(layer, received[0], device, records)
            elif layer.type == "Attend":
                output = _run_attend(layer, received[0], device, records)
            elif layer.type == "LocallyConnected2d":
                output = _run_local(layer, received[0], device, records)
            else:
                output = _run_layer(layer, received[0], device, records)
            if output is None:
                break
            tensors[layer.name] = output
            for name in _inputs(spec, position):
                if last_use[name] == position and name != layer.name:
                    tensors.pop(name, None)
    return Trace(spec, tuple(records), "torch")


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, the caller's setting restored after. A dummy forward pass
    is tiny work: a second thread only adds waiting, and on a busy machine that wait was most of
    the trace (bench/run.py measures it)."""
    torch = import_torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _inputs(spec: ModelSpec, position: int) -> tuple[str, ...]:
    """The outputs a layer reads: its ``inputs``, else the last called layer's (none: forward never
    calls it)."""
    layer = spec.layers[position]
    if not layer.called:
        return ()
    if layer.inputs:
        return layer.inputs
    before = (spec.layers[p].name for p in range(position - 1, -1, -1) if spec.layers[p].called)
    return (next(before, INPUT),)


def _uncalled(layer: LayerSpec, device: str) -> LayerRecord:
    """A layer forward never calls: the module built from the sizes written and its parameters
    counted, nothing run. cnninspect's own layers (merges, Split) are no torch.nn module and hold nothing."""
    if layer.kind is not None and layer.kind.family in OWN_FAMILIES:
        return LayerRecord.uncalled(layer, 0, 0, 0, None)
    module = build_module(layer, None, device)
    weights, biases, trainable = (0, 0, 0) if layer.shares else count_parameters(module.named_parameters())
    in_size = layer.args.get(layer.kind.inferred) if layer.kind and layer.kind.inferred else None
    return LayerRecord.uncalled(layer, weights, biases, trainable, in_size)


def _run_merge(layer: LayerSpec, received: list[Tensor], device: str, records: list[LayerRecord]) -> Tensor:
    """Add, Concat or Mul with torch's own operators; on a mismatch, a stand-in of the shape the
    analytic engine carries on with, so both engines report the same and the trace goes on."""
    import torch

    shapes = [tuple(x.shape) for x in received]
    mismatch, carried = check_merge(layer, shapes)
    _check_tensor(layer, "outputs", carried)  # after a layer only torch knows, not checked before
    if mismatch is not None:
        output = blank(carried, device)
    elif layer.type == "Concat":
        output = torch.cat(received, dim=layer.get("dim"))
    else:
        output = received[0]
        for other in received[1:]:
            output = torch.add(output, other) if layer.type == "Add" else torch.mul(output, other)
    records.append(
        LayerRecord(
            layer=layer,
            input_shape=shapes[0],
            output_shape=tuple(output.shape),
            mismatches=() if mismatch is None else (mismatch,),
            input_shapes=tuple(shapes),
        )
    )
    return output


def _run_split(layer: LayerSpec, x: Tensor, device: str, records: list[LayerRecord]) -> Tensor | None:
    """A Split with torch.chunk or torch.split; when they do not fit, the piece is the one the
    analytic engine carries on with, so both engines report the same."""
    import torch

    shape = tuple(x.shape)
    mismatches, stand_in, _ = check_input(layer, shape)
    if stand_in is None:
        records.append(LayerRecord(layer=layer, input_shape=shape, output_shape=None, mismatches=mismatches))
        return None
    dim, sizes = layer.get("dim"), layer.get("sizes")
    if mismatches:  # the piece the analytic engine carries on with (a stand-in to cut could be huge)
        output = blank(output_shape(layer, stand_in), device)
    elif sizes is None:
        output = torch.chunk(x, layer.get("chunks"), dim)[layer.get("index")]
    else:
        output = torch.split(x, list(sizes), dim)[layer.get("index")]
    records.append(LayerRecord(layer=layer, input_shape=shape, output_shape=tuple(output.shape), mismatches=mismatches))
    return output


def _run_attend(layer: LayerSpec, x: Tensor, device: str, records: list[LayerRecord]) -> Tensor | None:
    """An Attend with torch's matrix products and softmax; when its input does not fit, the output
    the analytic engine carries on with."""
    shape = tuple(x.shape)
    mismatches, stand_in, _ = check_input(layer, shape)
    if stand_in is None:
        records.append(LayerRecord(layer=layer, input_shape=shape, output_shape=None, mismatches=mismatches))
        return None
    if mismatches:
        output = blank(output_shape(layer, stand_in), device)
    else:
        output = attend(x, *attend_dims(layer), layer.get("area"))
    records.append(LayerRecord(layer=layer, input_shape=shape, output_shape=tuple(output.shape), mismatches=mismatches))
    return output


def attend(qkv: Tensor, heads: int, key_dim: int, head_dim: int, area: int) -> Tensor:
    """Attention of a qkv map (batch, heads·(2·key_dim + head_dim), *places): each head's channels
    are its query, key and value in that order, the places (flattened, in order) are cut into
    ``area`` equal runs, and in each run every place's query weighs every place's value by the
    softmax of its scores (query · key / √key_dim). Gives the weighed values, heads·head_dim
    channels, in the layout of the input's places."""
    import torch

    batch, places = qkv.shape[0], math.prod(qkv.shape[2:])
    run = places // area
    # (batch, area, heads, channels of a head, places of a run)
    parts = qkv.reshape(batch, heads, 2 * key_dim + head_dim, area, run).permute(0, 3, 1, 2, 4)
    query, key, value = torch.split(parts, [key_dim, key_dim, head_dim], dim=3)
    weights = torch.matmul((query * key_dim**-0.5).transpose(-2, -1), key).softmax(dim=-1)  # (…, run, run)
    out = torch.matmul(value, weights.transpose(-2, -1))  # (batch, area, heads, head_dim, run)
    return out.permute(0, 2, 3, 1, 4).reshape(batch, heads * head_dim, *qkv.shape[2:])


def _run_local(layer: LayerSpec, x: Tensor, device: str, records: list[LayerRecord]) -> Tensor | None:
    """A LocallyConnected2d: its weights and biases made for the places its input gives (on meta
    they hold no memory), counted as PyTorch counts them, and run with unfold and einsum."""
    import torch

    shape = tuple(x.shape)
    mismatches, stand_in, in_size = check_input(layer, shape)
    if stand_in is None or in_size is None:
        records.append(LayerRecord(layer=layer, input_shape=shape, output_shape=None, mismatches=mismatches))
        return None
    places = output_shape(layer, stand_in)[2:]
    kernel = expand(layer.get("kernel_size"), 2)
    out_channels = layer.get("out_channels")
    weight = blank((math.prod(places), out_channels, in_size * math.prod(kernel)), device)
    bias = blank((out_channels, *places), device) if layer.get("bias") else None
    source = x if shape == stand_in else blank(stand_in, device)
    with torch.no_grad():
        output = locally_connected(source, weight, bias, kernel, layer.get("stride"), layer.get("padding"))
    weights, biases = (0, 0) if layer.shares else (weight.numel(), 0 if bias is None else bias.numel())
    records.append(
        LayerRecord(
            layer=layer,
            input_shape=shape,
            output_shape=tuple(output.shape),
            weights=weights,
            biases=biases,
            trainable=weights + biases if layer.trainable else 0,
            mismatches=mismatches,
            in_size=in_size,
        )
    )
    return output


def locally_connected(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    kernel: tuple[int, ...],
    stride: int | tuple[int, ...],
    padding: int | tuple[int, ...],
) -> Tensor:
    """A convolution whose every output place has its own weights: ``weight`` is (places,
    out_channels, in_channels·kernel²), in the order torch's unfold gives the places and each
    window's values; ``bias`` (out_channels, out_h, out_w)."""
    import torch

    windows = torch.nn.functional.unfold(x, kernel, stride=stride, padding=padding)  # (batch, C·k², places)
    out_h, out_w = (
        (size + 2 * pad - k) // step + 1
        for size, pad, k, step in zip(x.shape[2:], expand(padding, 2), kernel, expand(stride, 2))
    )
    out = torch.einsum("bkp,pok->bop", windows, weight).reshape(x.shape[0], weight.shape[1], out_h, out_w)
    return out if bias is None else out + bias


def choose_device(spec: ModelSpec, estimate: Trace | None = None) -> str:
    """CPU for small models, meta (no memory, no weight init, no arithmetic) for the rest. Small is
    judged on the analytic trace (``estimate``, made when not given): the memory a CPU trace needs,
    the largest layer's parameters (each module is dropped once it has run) plus the outputs alive
    at once (each dropped after its last reader), and the mult-adds it would compute. An Attend
    holds its scores instead of parameters: a run² matrix per run and head."""
    from cnninspect.metrics import mult_adds  # the one count of mult-adds; metrics sits above engines

    if spec.needs_torch:
        return "meta"
    estimate = estimate or infer_shapes(spec)
    largest = max((_held_values(record) for record in estimate.records), default=0) * BYTES_PER_VALUE
    if largest + _peak_activations(estimate) > CPU_TRACE_LIMIT:
        return "meta"
    work = sum(mult_adds(record) or 0 for record in estimate.records)
    return "cpu" if work <= CPU_MULT_ADDS + CPU_MULT_ADDS_PER_LAYER * len(estimate.records) else "meta"


def check_sizes(spec: ModelSpec, estimate: Trace | None) -> None:
    """Refuse, before anything is built, a trace with a tensor larger than PyTorch can hold (the
    input; with the analytic ``estimate``, every output, stand-in and layer's parameters): one
    line, at the input or the layer, instead of PyTorch's overflow in the middle of the trace."""
    if _bytes(spec.batched_input) > TENSOR_LIMIT:
        written = [applied for applied in spec.overridden if applied.startswith(("--input", "--batch"))]
        batch = f" at batch {spec.batch:,}" if spec.batch > 1 else ""
        what = f"{' and '.join(written) + ': ' if written else ''}the input {dims_text(spec.input)}{batch}"
        raise _too_large(what, _bytes(spec.batched_input), "a smaller input", None if written else spec.input_location)
    for record in estimate.records if estimate is not None else ():
        layer = record.layer
        _check_tensor(layer, "outputs", record.output_shape)
        if record.mismatches:
            _check_tensor(layer, "declares an input of", check_input(layer, record.input_shape)[1])
        if record.params * BYTES_PER_VALUE > TENSOR_LIMIT:
            what = f"{layer.title} ({layer.type}) has {record.params:,} parameters"
            raise _too_large(what, record.params * BYTES_PER_VALUE, "smaller sizes", layer.location)


def _check_tensor(layer: LayerSpec, what: str, shape: tuple[int, ...] | None) -> None:
    if shape is not None and _bytes(shape) > TENSOR_LIMIT:
        what = f"{layer.title} ({layer.type}) {what} {shape_text(shape)}"
        raise _too_large(what, _bytes(shape), "smaller sizes", layer.location)


def _too_large(what: str, size: int, smaller: str, location: Location | None) -> LayerFailure:
    return LayerFailure(
        f"{what}: {size:,} bytes, past the 2⁶³ − 1 bytes a PyTorch tensor can hold; use --engine analytic "
        f"(sizes without tensors) or {smaller}",
        location,
    )


def _bytes(shape: tuple[int, ...]) -> int:
    return math.prod(shape) * BYTES_PER_VALUE


def _held_values(record: LayerRecord) -> int:
    """The values a layer holds while it runs, besides what it reads and gives: its parameters, or an
    Attend's scores (batch × area × heads × (places / area)²)."""
    layer, out = record.layer, record.output_shape
    if layer.type != "Attend" or out is None:
        return record.params
    area, places = int(layer.get("area")), math.prod(out[2:])
    return out[0] * area * attend_dims(layer)[0] * (places // area) ** 2


def _peak_activations(trace: Trace) -> int:
    """The most bytes of outputs alive at one time during a trace that frees as it goes."""
    spec = trace.spec
    last_use = {name: position for position, _ in enumerate(spec.layers) for name in _inputs(spec, position)}
    alive = {INPUT: math.prod(spec.batched_input) * BYTES_PER_VALUE}
    peak = sum(alive.values())
    for position, record in enumerate(trace.records):
        alive[record.layer.name] = record.output_bytes
        peak = max(peak, sum(alive.values()))
        for name in _inputs(spec, position):
            if last_use.get(name) == position and name != record.layer.name:
                alive.pop(name, None)
    return peak


def blank(shape: tuple[int, ...], device: str, like: Tensor | None = None) -> Tensor:
    """A dummy tensor: zeros on the CPU (deterministic), no data at all on meta."""
    import torch

    dtype = None if like is None else like.dtype
    if device == "cpu":
        return torch.zeros(shape, device=device, dtype=dtype)
    return torch.empty(shape, device=device, dtype=dtype)


def _run_layer(layer: LayerSpec, x: Tensor, device: str, records: list[LayerRecord]) -> Tensor | None:
    import torch

    shape = tuple(x.shape)
    mismatches, stand_in, in_size = check_input(layer, shape)
    if stand_in is None:
        records.append(LayerRecord(layer=layer, input_shape=shape, output_shape=None, mismatches=mismatches))
        return None
    _check_tensor(layer, "declares an input of", stand_in)
    module = build_module(layer, in_size, device)
    # A mismatched layer runs on a stand-in of the size it declares, so the trace (and the
    # search for further mismatches) carries on.
    try:
        output = module(x if shape == stand_in else blank(stand_in, device))
    except Exception as error:
        raise LayerFailure(
            f"{layer.title} ({layer.type}) cannot take an input of shape {shape_text(shape)}: {first_line(error)}",
            layer.location,
        ) from error
    if not isinstance(output, torch.Tensor):
        raise LayerFailure(
            f"{layer.title} ({layer.type}) returns {type(output).__name__}, not one tensor; "
            "a layer list can only pass one tensor on",
            layer.location,
        )
    if keeps_received(layer):
        output = x
    weights, biases, trainable = (0, 0, 0) if layer.shares else count_parameters(module.named_parameters())
    records.append(
        LayerRecord(
            layer=layer,
            input_shape=shape,
            output_shape=tuple(output.shape),
            weights=weights,
            biases=biases,
            trainable=trainable,
            mismatches=mismatches,
            in_size=in_size,
        )
    )
    return output


def count_parameters(named: Iterable[tuple[str, nn.Parameter]]) -> tuple[int, int, int]:
    """(weights, biases, trainable) of named parameters: every parameter not named bias is a weight."""
    weights = biases = trainable = 0
    for name, parameter in named:
        count = parameter.numel()
        if name.rsplit(".", 1)[-1] == "bias":
            biases += count
        else:
            weights += count
        trainable += count if parameter.requires_grad else 0
    return weights, biases, trainable


def build_module(layer: LayerSpec, in_size: int | None, device: str) -> nn.Module:
    """The nn.Module for one layer, with its inferred input size filled in, in eval mode."""
    torch = import_torch()
    cls = resolve_class(layer)
    args = dict(layer.args)
    kind = layer.kind
    if kind is not None and kind.inferred and kind.inferred not in args and in_size is not None:
        args[kind.inferred] = in_size
    if kind is None:
        _check_construction(layer, cls, args)
    try:
        with torch.device(device):
            module = cls(*layer.positional, **args)
    except Exception as error:
        raise ArgumentError(
            f"{layer.title}: nn.{cls.__name__} refuses these arguments: {first_line(error)}", layer.location
        ) from error
    if not layer.trainable:
        module.requires_grad_(False)
    return module.eval()


def _check_construction(layer: LayerSpec, cls: type[nn.Module], args: dict[str, object]) -> None:
    """Refuse, before anything is built, what would take the trace off the meta device or can
    never pass one tensor on (an RNN returns (output, hidden), whatever its size)."""
    nn = import_torch().nn
    try:
        bound = inspect.signature(cls).bind_partial(*layer.positional, **args).arguments
    except TypeError:
        bound = args  # the constructor itself will say what is wrong
    for placed in ("device", "dtype"):
        if placed in bound:
            raise ArgumentError(
                f"{layer.title}: {placed} is chosen by cnninspect's trace (the meta device, float32); remove it",
                layer.where(placed),
            )
    if issubclass(cls, (nn.RNNBase, nn.MultiheadAttention)):
        raise LayerFailure(
            f"{layer.title}: nn.{cls.__name__} returns a tuple (output and state or weights), and a layer in a "
            "spec passes one tensor on; trace a model holding it with --model",
            layer.location,
        )


def resolve_class(layer: LayerSpec) -> type[nn.Module]:
    """The torch.nn class a layer names, matched case-insensitively."""
    classes = _classes()
    cls = classes.get(layer.type.lower())
    if cls is None:
        names = sorted(c.__name__ for c in classes.values())
        raise LayerTypeError(f"torch.nn has no layer {layer.type!r}{did_you_mean(layer.type, names)}", layer.location)
    return cls


@functools.cache
def _classes() -> dict[str, type[nn.Module]]:
    """torch.nn's layer classes by lower-case name."""
    nn = import_torch().nn
    return {
        name.lower(): value
        for name, value in vars(nn).items()
        if isinstance(value, type) and issubclass(value, nn.Module) and name not in CONTAINERS
    }
