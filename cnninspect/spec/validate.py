"""A layer's arguments checked against the catalog, as PyTorch's constructor would check them."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from cnninspect.errors import ArgumentError, LayerTypeError, Location, SpecError
from cnninspect.spec.catalog import NO_DEFAULT, ArgValueError, Family, LayerType, lookup
from cnninspect.spec.model import LayerSpec, expand
from cnninspect.text import did_you_mean, is_int, show_value

CONV_FAMILIES = (Family.CONV, Family.CONV_TRANSPOSE)
INPUT_HINT = "write the input as [C, H, W] or CxHxW, e.g. [3, 32, 32] or 3x32x32"


def make_layer(
    index: int,
    name: str | None,
    type_name: str,
    args: dict[str, Any],
    where: Location,
    arg_locations: dict[str, Location],
    type_where: Location,
    positional: tuple[Any, ...] = (),
    *,
    named: bool | None = None,
    scope: tuple[str, ...] = (),
) -> LayerSpec:
    """Validate one layer's arguments against the catalog (torch-only layers pass as written).
    ``name`` None: the layer is called by its index."""
    type_name = type_name.strip()
    for prefix in ("torch.nn.", "nn."):
        if type_name.startswith(prefix):
            type_name = type_name[len(prefix) :]
            break
    if not re.fullmatch(r"[A-Za-z_]\w*", type_name):
        raise LayerTypeError(f"{type_name!r} is not a torch.nn class name", type_where)
    kind = lookup(type_name)
    layer = LayerSpec(
        index,
        name if name is not None else str(index),
        type_name,
        args,
        where,
        positional,
        arg_locations,
        named=name is not None if named is None else named,
        scope=scope,
    )
    if kind is None:
        return layer
    by_position = dict(_name_positional(kind, positional, where))
    for key in args:
        if key in by_position:
            raise ArgumentError(f"{kind.name} got {key} twice, by position and by name", arg_locations.get(key, where))
    arg_locations = {**dict.fromkeys(by_position, where), **arg_locations}
    validated = {}
    for key, value in {**by_position, **args}.items():
        param = kind.param_by_name.get(key)
        if param is None:
            raise ArgumentError(
                f"{kind.name} has no argument {key!r}{did_you_mean(key, list(kind.param_by_name))}",
                arg_locations.get(key, where),
            )
        try:
            validated[key] = param.check(value)
        except ArgValueError as error:
            raise ArgumentError(
                f"{layer.title}: {key}: {error}, got {show_value(value)}", arg_locations.get(key, where)
            ) from None
    layer = replace(layer, type=kind.name, args=validated, positional=(), arg_locations=arg_locations)
    _check_together(layer, kind)
    return layer


def set_arg(layer: LayerSpec, arg: str, value: Any) -> LayerSpec:
    """The layer with one argument changed, validated again (torch-only layers as given)."""
    if layer.kind is None:
        return replace(layer, args={**layer.args, arg: value})
    changed = make_layer(
        layer.index,
        layer.name,
        layer.type,
        {**layer.args, arg: value},
        layer.location,
        layer.arg_locations,
        layer.location,
        named=layer.named,
        scope=layer.scope,
    )
    return replace(layer, args=changed.args)


def _name_positional(kind: LayerType, positional: tuple[Any, ...], where: Location) -> Iterator[tuple[str, Any]]:
    slots = [p.name for p in kind.params if not p.keyword_only]
    if len(positional) > len(slots):
        raise ArgumentError(
            f"{kind.name} takes at most {len(slots)} positional arguments ({', '.join(slots)}), got {len(positional)}",
            where,
        )
    yield from zip(slots, positional)


def _check_together(layer: LayerSpec, kind: LayerType) -> None:
    """Rules that involve several arguments, as PyTorch enforces them at construction."""
    for param in kind.params:
        if param.default is NO_DEFAULT and param.name not in layer.args and param.name != kind.inferred:
            raise ArgumentError(f"{layer.title}: {kind.name} needs {param.name}; add {param.name}: …", layer.location)
    family = kind.family

    def fail(arg: str, message: str) -> None:
        raise ArgumentError(f"{layer.title}: {message}", layer.where(arg))

    if family in CONV_FAMILIES:
        groups = layer.get("groups")
        for arg in ("in_channels", "out_channels"):
            value = layer.get(arg)
            if value is not None and value % groups:
                fail("groups", f"{arg} ({value}) must be divisible by groups ({groups})")
        if family is Family.CONV and layer.get("padding") == "same" and _any_over_one(layer.get("stride")):
            fail("padding", "padding='same' needs stride 1 (PyTorch refuses strided 'same' convolutions)")
        if family is Family.CONV_TRANSPOSE:
            stride, dilation, out_pad = (
                expand(layer.get(a), kind.dims) for a in ("stride", "dilation", "output_padding")
            )
            if any(o >= max(s, d) for o, s, d in zip(out_pad, stride, dilation)):
                fail("output_padding", "output_padding must be smaller than stride or dilation")
    if family in (Family.MAX_POOL, Family.AVG_POOL):
        kernel, padding = expand(layer.get("kernel_size"), kind.dims), expand(layer.get("padding"), kind.dims)
        if any(2 * p > k for p, k in zip(padding, kernel)):
            fail(
                "padding",
                f"padding {show_value(layer.get('padding'))} is more than half the kernel size "
                f"{show_value(layer.get('kernel_size'))}; PyTorch refuses it",
            )
    if family is Family.GROUP_NORM:
        channels = layer.get("num_channels")
        if channels is not None and channels % layer.get("num_groups"):
            fail("num_groups", f"num_channels ({channels}) must be divisible by num_groups ({layer.get('num_groups')})")
    if family is Family.UPSAMPLE and (layer.get("size") is None) == (layer.get("scale_factor") is None):
        fail("size", "give exactly one of size and scale_factor")


def _any_over_one(value: Any) -> bool:
    return any(v != 1 for v in value) if isinstance(value, tuple) else value != 1


def check_unique_names(layers: Sequence[LayerSpec]) -> None:
    """Two layers with one name would make every reference and every report ambiguous."""
    seen: dict[str, LayerSpec] = {}
    for layer in layers:
        if layer.name in seen:
            first = seen[layer.name]
            raise SpecError(
                f"two layers are named {layer.name!r} (the first at line {first.location.line}); rename one",
                layer.location,
            )
        seen[layer.name] = layer


def parse_input(value: Any, where: Location) -> tuple[int, ...]:
    """``[3, 32, 32]`` or ``"3x32x32"`` → (3, 32, 32): one sample, channels first, no batch."""
    if isinstance(value, str):
        parts = re.split(r"\s*[x×,]\s*", value.strip().strip("[]()").strip())
        if not all(re.fullmatch(r"\d+", p) for p in parts):
            raise SpecError(f"input {value!r} is not a shape; {INPUT_HINT}", where)
        dims = tuple(int(p) for p in parts)
    elif isinstance(value, (list, tuple)) and all(is_int(v) for v in value):
        dims = tuple(int(v) for v in value)
    else:
        raise SpecError(f"input {show_value(value)} is not a shape; {INPUT_HINT}", where)
    if not 1 <= len(dims) <= 4 or any(d < 1 for d in dims):
        raise SpecError(f"input {show_value(value)} needs 1 to 4 sizes, each ≥ 1; {INPUT_HINT}", where)
    return dims
