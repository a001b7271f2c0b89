"""The torch engine: build each layer as a real nn.Module and run a dummy forward pass.

Torch is imported here only, inside the functions, so commands that never trace start fast.
Size checks run in forward pre-hooks (the same ``check_input`` rule as the analytic engine):
a mismatched layer gets a stand-in input of the size it declares, so the trace carries on
and every later mismatch is found in the same run. Hooks are removed in ``finally``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from cnninspect.errors import ArgumentError, LayerFailure, LayerTypeError
from cnninspect.records import LayerRecord, Trace
from cnninspect.shapes import check_input, infer_shapes, keeps_received
from cnninspect.spec import LayerSpec, ModelSpec, did_you_mean

if TYPE_CHECKING:
    import torch

CPU_TRACE_LIMIT = 64 * 2**20
"""Models whose parameters and activations fit in this many bytes are traced on the CPU:
a small CPU forward pass is faster than the meta device's first-use cost (see bench/)."""
CONTAINERS = ("Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Module", "Container")


class Engine(StrEnum):
    """How shapes are computed."""

    AUTO = "auto"
    """analytic when it knows every layer, else torch."""
    ANALYTIC = "analytic"
    """PyTorch's formulas in pure Python (shapes.py); torch is never imported."""
    TORCH = "torch"
    """Real modules and a dummy forward pass (this module)."""


def trace_with(spec: ModelSpec, engine: Engine) -> Trace:
    """Trace ``spec`` with the engine asked for."""
    if engine is Engine.ANALYTIC or (engine is Engine.AUTO and not spec.needs_torch):
        return infer_shapes(spec)
    return trace_spec(spec)


def trace_spec(spec: ModelSpec, device: str | None = None) -> Trace:
    """Trace ``spec`` through real PyTorch modules; ``device`` is ``cpu``, ``meta`` or None (choose)."""
    torch = import_torch()
    device = device or choose_device(spec)
    records: list[LayerRecord] = []
    x = (
        torch.zeros(spec.batched_input, device=device)
        if device == "cpu"
        else torch.empty(spec.batched_input, device=device)
    )
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for layer in spec.layers:
            x = _run_layer(torch, layer, x, device, records)
            if x is None:
                break
    return Trace(spec, tuple(records), "torch")


def choose_device(spec: ModelSpec) -> str:
    """CPU for small models, meta (no memory, no weight init) for the rest."""
    if spec.needs_torch:
        return "meta"
    estimate = infer_shapes(spec)
    return "cpu" if estimate.param_bytes + estimate.activation_bytes <= CPU_TRACE_LIMIT else "meta"


def _run_layer(torch: Any, layer: LayerSpec, x: torch.Tensor, device: str, records: list[LayerRecord]) -> Any:
    found: dict[str, Any] = {}
    mismatches, stand_in, in_size = check_input(layer, tuple(x.shape))
    if stand_in is None:
        records.append(LayerRecord(layer, tuple(x.shape), None, 0, 0, 0, mismatches, in_size))
        return None
    module = build_module(torch, layer, in_size, device)

    def pre_hook(_module: Any, inputs: tuple[Any, ...]) -> tuple[Any, ...] | None:
        # A mismatched layer runs on a stand-in of the size it declares, so the trace
        # (and the search for further mismatches) carries on.
        if tuple(inputs[0].shape) != stand_in:
            return (torch.zeros(stand_in, device=device) if device == "cpu" else torch.empty(stand_in, device=device),)
        return None

    def post_hook(_module: Any, _inputs: Any, output: Any) -> None:
        found["output"] = output

    handles = [module.register_forward_pre_hook(pre_hook), module.register_forward_hook(post_hook)]
    try:
        module(x)
    except Exception as error:
        raise LayerFailure(
            f"{layer.title} ({layer.type}) cannot take an input of shape {_shape(x.shape)}: {_first_line(error)}",
            layer.location,
        ) from None
    finally:
        for handle in handles:
            handle.remove()
    output = found.get("output")
    if not isinstance(output, torch.Tensor):
        raise LayerFailure(
            f"{layer.title} ({layer.type}) returns {type(output).__name__}, not one tensor; "
            "a layer list can only pass one tensor on",
            layer.location,
        )
    if keeps_received(layer):
        output = x
    weights, biases, trainable = count_parameters(module.named_parameters())
    records.append(
        LayerRecord(layer, tuple(x.shape), tuple(output.shape), weights, biases, trainable, mismatches, in_size)
    )
    return output


def count_parameters(named: Iterable[tuple[str, Any]]) -> tuple[int, int, int]:
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


def build_module(torch: Any, layer: LayerSpec, in_size: int | None, device: str) -> Any:
    """The nn.Module for one layer, with its inferred input size filled in, in eval mode."""
    cls = resolve_class(torch, layer)
    args = dict(layer.args)
    kind = layer.kind
    if kind is not None and kind.inferred and kind.inferred not in args and in_size is not None:
        args[kind.inferred] = in_size
    try:
        with torch.device(device):
            module = cls(*layer.positional, **args)
    except Exception as error:
        raise ArgumentError(
            f"{layer.title}: nn.{cls.__name__} refuses these arguments: {_first_line(error)}", layer.location
        ) from None
    return module.eval()


def resolve_class(torch: Any, layer: LayerSpec) -> Any:
    """The torch.nn class a layer names, matched case-insensitively."""
    nn = torch.nn
    classes = {
        name.lower(): getattr(nn, name)
        for name in dir(nn)
        if isinstance(getattr(nn, name), type) and issubclass(getattr(nn, name), nn.Module) and name not in CONTAINERS
    }
    cls = classes.get(layer.type.lower())
    if cls is None:
        names = sorted(c.__name__ for c in classes.values())
        raise LayerTypeError(f"torch.nn has no layer {layer.type!r}{did_you_mean(layer.type, names)}", layer.location)
    return cls


def import_torch() -> Any:
    """Import torch once, quietly (a missing NumPy is irrelevant to shape tracing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch
    return torch


def _shape(shape: Any) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
