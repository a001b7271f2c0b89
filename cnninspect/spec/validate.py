"""A layer's arguments checked against the catalog, as PyTorch's constructor would check them."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeAlias

from cnninspect.errors import ArgumentError, LayerTypeError, Location, SpecError
from cnninspect.spec.catalog import (
    MAX_INTEGER,
    NO_DEFAULT,
    ArgValue,
    ArgValueError,
    Family,
    LayerType,
    lookup,
)
from cnninspect.spec.model import GroupSpec, LayerSpec, expand, layer_title
from cnninspect.text import did_you_mean, is_int, is_number, show_value

CONV_FAMILIES = (Family.CONV, Family.CONV_TRANSPOSE)
_CLASS_NAME = re.compile(r"[A-Za-z_]\w*")
CacheKey: TypeAlias = tuple[str, tuple[tuple[str, object], ...]]
"""A layer type and its arguments as written, each value with its type (see ``_typed``)."""
_VALIDATED: dict[CacheKey, dict[str, ArgValue]] = {}
"""Arguments already validated, by layer type and arguments as written."""
MAX_CACHED = 10_000
INPUT_HINT = "write the input as [C, H, W] or CxHxW, e.g. [3, 32, 32] or 3x32x32"


def make_layer(
    index: int,
    name: str | None,
    type_name: str,
    args: dict[str, Any],
    where: Location,
    arg_locations: Mapping[str, Location],
    type_where: Location,
    positional: tuple[Any, ...] = (),
    **fields: Any,
) -> LayerSpec:
    """Validate one layer's arguments against the catalog (torch-only layers pass as written).
    ``name`` None: the layer is called by its index. ``fields`` are LayerSpec's other fields
    (``named``, ``scope``, ``inputs``, …)."""
    kind = lookup(type_name)  # most types are written as the catalog spells them
    if kind is None:
        type_name = _class_name(type_name, type_where)
        kind = lookup(type_name)
    fields.setdefault("named", name is not None)
    layer_name = name if name is not None else str(index)
    if kind is None:
        return LayerSpec(index, layer_name, type_name, args, where, positional, arg_locations, **fields)
    written = args
    if positional:
        by_position = dict(_name_positional(kind, positional, where))
        for key in args:
            if key in by_position:
                raise ArgumentError(
                    f"{kind.name} got {key} twice, by position and by name", arg_locations.get(key, where)
                )
        arg_locations = {**dict.fromkeys(by_position, where), **arg_locations}
        written = {**by_position, **args}
    cache_key = _cache_key(kind.name, written)
    validated = _VALIDATED.get(cache_key) if cache_key is not None else None
    if validated is None:
        title = layer_title(layer_name, fields["named"], fields.get("scope", ()))
        validated = {}
        for arg, value in written.items():
            param = kind.param_by_name.get(arg)
            if param is None:
                raise ArgumentError(
                    f"{kind.name} has no argument {arg!r}{did_you_mean(arg, list(kind.param_by_name))}",
                    arg_locations.get(arg, where),
                )
            if _too_large(value):
                raise ArgumentError(
                    f"{title}: {arg}: {show_value(value)[:40]} is too large; every size is at most {MAX_INTEGER:,}",
                    arg_locations.get(arg, where),
                )
            try:
                validated[arg] = param.check(value)
            except ArgValueError as error:
                raise ArgumentError(
                    f"{title}: {arg}: {error}, got {show_value(value)}", arg_locations.get(arg, where)
                ) from None
    layer = LayerSpec(index, layer_name, kind.name, validated, where, (), arg_locations, **fields)
    if not layer.called:
        _check_uncalled(layer, kind)
    if cache_key is None or cache_key not in _VALIDATED:
        _check_together(layer, kind)
        if cache_key is not None and len(_VALIDATED) < MAX_CACHED:
            _VALIDATED[cache_key] = validated
    return layer


def _class_name(written: str, where: Location) -> str:
    """A layer type as written, without spaces or a ``torch.nn.`` / ``nn.`` prefix; refused when it is
    not a class name."""
    name = written.strip()
    for prefix in ("torch.nn.", "nn."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    if not _CLASS_NAME.fullmatch(name):
        raise LayerTypeError(f"{name!r} is not a torch.nn class name", where)
    return name


def _too_large(value: object) -> bool:
    if isinstance(value, tuple):
        return any(_too_large(v) for v in value)
    return is_number(value) and math.isfinite(value) and abs(value) > MAX_INTEGER


def _cache_key(kind: str, args: dict[str, object]) -> CacheKey | None:
    """The same arguments validate the same way: a block used many times is checked once."""
    try:
        key = (kind, tuple(sorted((arg, _typed(value)) for arg, value in args.items())))
        hash(key)
    except TypeError:
        return None
    return key


def _typed(value: object) -> object:
    """A value with its type, so that true and 1 (equal in Python) never share a cache entry."""
    if isinstance(value, tuple):
        return tuple(_typed(v) for v in value)
    return (type(value).__name__, value)


def set_arg(layer: LayerSpec, arg: str, value: object) -> LayerSpec:
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


def _name_positional(kind: LayerType, positional: tuple[object, ...], where: Location) -> Iterator[tuple[str, object]]:
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
    if family is Family.SPLIT:
        chunks, sizes, index = layer.get("chunks"), layer.get("sizes"), layer.get("index")
        if (chunks is None) == (sizes is None):
            fail("chunks", "give exactly one of chunks (equal pieces, as torch.chunk) and sizes (as torch.split)")
        pieces = chunks if sizes is None else len(sizes)
        if not -pieces <= index < pieces:
            fail(
                "index", f"index {index} picks none of the {pieces} pieces; use 0 to {pieces - 1} (or -1 for the last)"
            )


def _check_uncalled(layer: LayerSpec, kind: LayerType) -> None:
    """Nothing flows into a layer forward never calls: its input size must be written, since none
    arrives to infer it from; a LocallyConnected2d's weights are made for the places that arrive."""
    if kind.family is Family.LOCAL:
        raise ArgumentError(
            f"{layer.title}: called: false, so no output places to count a LocallyConnected2d's weights by "
            "(it holds a set per place); remove called: false (from it, or the group holding it)",
            layer.location,
        )
    if kind.inferred and kind.inferred not in layer.args:
        raise ArgumentError(
            f"{layer.title}: called: false, so nothing flows in to infer {kind.inferred} from; "
            f"write {kind.inferred}: …",
            layer.location,
        )


def _any_over_one(value: object) -> bool:
    return any(v != 1 for v in value) if isinstance(value, tuple) else value != 1


def check_unique_names(layers: Sequence[LayerSpec | GroupSpec]) -> None:
    """Two layers with one name would make every reference and every report ambiguous."""
    seen: dict[str, LayerSpec | GroupSpec] = {}
    for layer in layers:
        if layer.name in seen:
            first = seen[layer.name]
            raise SpecError(
                f"two layers are named {layer.name!r} (the first at line {first.location.line}); rename one",
                layer.location,
            )
        seen[layer.name] = layer


def parse_input(value: object, where: Location) -> tuple[int, ...]:
    """``[3, 32, 32]`` or ``"3x32x32"`` → (3, 32, 32): one sample, channels first, no batch."""
    if isinstance(value, str):
        parts = re.split(r"\s*[x×,]\s*", value.strip().strip("[]()").strip())
        if not all(re.fullmatch(r"\d{1,12}", p) for p in parts):
            raise SpecError(f"input {value[:40]!r} is not a shape; {INPUT_HINT}", where)
        dims = tuple(int(p) for p in parts)
    elif isinstance(value, (list, tuple)) and all(is_int(v) for v in value):
        dims = tuple(int(v) for v in value)
    else:
        raise SpecError(f"input {show_value(value)} is not a shape; {INPUT_HINT}", where)
    if not 1 <= len(dims) <= 4 or any(not 1 <= d <= MAX_INTEGER for d in dims):
        raise SpecError(
            f"input {show_value(value)[:60]} needs 1 to 4 sizes, each from 1 to {MAX_INTEGER:,}; {INPUT_HINT}", where
        )
    return dims
