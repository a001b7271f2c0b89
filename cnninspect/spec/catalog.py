"""The torch.nn layers cnninspect knows without torch: their arguments, kinds and defaults.

Every entry mirrors the PyTorch constructor signature (names, order, defaults), so a spec
can use positional or keyword arguments exactly as ``nn.Conv2d(...)`` would. Any torch.nn
class that is not listed here still works, through the torch engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeAlias, TypeVar

from cnninspect.text import JsonObject, is_int, is_number

MAX_INTEGER = 2**31 - 1
"""No size, stride or count in a spec may pass this: larger values are refused when read."""
NO_DEFAULT = object()
"""Marks a required constructor argument."""
ArgValue: TypeAlias = int | float | str | tuple[int | float | None, ...] | None
"""An argument's value once a Check accepted it: a number, a string or a list (as a tuple)."""
Accepted = TypeVar("Accepted", bound=ArgValue, covariant=True)


class ArgValueError(ValueError):
    """A value does not fit an argument; the message says what would."""


@dataclass(frozen=True)
class Check(Generic[Accepted]):
    """How one argument's value is validated and normalised (lists become tuples)."""

    describe: str
    """What a valid value looks like, for error messages ("an integer ≥ 1")."""
    accept: Callable[[object], Accepted]
    """Returns the normalised value or raises ArgValueError."""
    schema: JsonObject
    """JSON Schema (draft-07) of a valid value."""

    def __call__(self, value: object) -> Accepted:
        return self.accept(value)


def integer(minimum: int | None = None) -> Check[int]:
    """A strict integer (no bools, no strings), optionally with a lower bound; never beyond
    MAX_INTEGER either way, so both engines judge every size the same."""
    text = "an integer" if minimum is None else f"an integer ≥ {minimum}"

    def accept(value: object) -> int:
        if not is_int(value) or (minimum is not None and value < minimum):
            raise ArgValueError(f"expected {text}")
        if abs(value) > MAX_INTEGER:
            raise ArgValueError(f"expected {text} and at most {MAX_INTEGER:,}; no real layer comes near")
        return int(value)

    schema: JsonObject = {"type": "integer", "maximum": MAX_INTEGER}
    if minimum is not None:
        schema["minimum"] = minimum
    return Check(text, accept, schema)


def ints(count: int, minimum: int | None, words: str = "") -> Check[int | tuple[int, ...]]:
    """An integer, or a list of exactly ``count`` integers (PyTorch's ``_ntuple`` rule)."""
    low = "" if minimum is None else f" ≥ {minimum}"
    text = f"an integer{low} or a list of {count} such integers"
    if words:
        text = f"{words}: {text}"
    single = integer(minimum)

    def accept(value: object) -> int | tuple[int, ...]:
        if isinstance(value, (list, tuple)):
            if len(value) != count:
                raise ArgValueError(f"expected {text}, got a list of {len(value)}")
            try:
                return tuple(single(item) for item in value)
            except ArgValueError:
                raise ArgValueError(f"expected {text}") from None
        try:
            return int(single(value))
        except ArgValueError:
            raise ArgValueError(f"expected {text}") from None

    item = single.schema
    schema: JsonObject = {"oneOf": [item, {"type": "array", "items": item, "minItems": count, "maxItems": count}]}
    return Check(text, accept, schema)


def int_list(minimum: int) -> Check[int | tuple[int, ...]]:
    """An integer or a non-empty list of integers of any length (LayerNorm's shape)."""
    text = f"an integer ≥ {minimum} or a list of them"
    single = integer(minimum)

    def accept(value: object) -> int | tuple[int, ...]:
        try:
            if isinstance(value, (list, tuple)) and value:
                return tuple(single(item) for item in value)
            return int(single(value))
        except ArgValueError:
            raise ArgValueError(f"expected {text}") from None

    schema: JsonObject = {"oneOf": [single.schema, {"type": "array", "items": single.schema, "minItems": 1}]}
    return Check(text, accept, schema)


def number(minimum: float | None = None, maximum: float | None = None, positive: bool = False) -> Check[float]:
    """An int or float, optionally bounded (bools rejected)."""
    parts = []
    if positive:
        parts.append("> 0")
    if minimum is not None:
        parts.append(f"≥ {minimum:g}")
    if maximum is not None:
        parts.append(f"≤ {maximum:g}")
    text = "a number" + (" " + " and ".join(parts) if parts else "")

    def accept(value: object) -> float | int:
        if not is_number(value) or not math.isfinite(value) or abs(value) > MAX_INTEGER:
            raise ArgValueError(f"expected {text}, finite")
        if (
            (positive and value <= 0)
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
        ):
            raise ArgValueError(f"expected {text}")
        return value

    schema: JsonObject = {"type": "number"}
    if positive:
        schema["exclusiveMinimum"] = 0
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return Check(text, accept, schema)


def numbers(most: int) -> Check[float | tuple[float, ...]]:
    """A positive number or a list of 1 to ``most`` of them, one per spatial dimension (Upsample's
    scale_factor; the trace checks the list's length against the input's rank)."""
    single = number(positive=True)
    text = f"a number > 0 or a list of 1 to {most} of them"

    def accept(value: object) -> float | tuple[float, ...]:
        try:
            if isinstance(value, (list, tuple)):
                if not 1 <= len(value) <= most:
                    raise ArgValueError(text)
                return tuple(single(item) for item in value)
            return single(value)
        except ArgValueError:
            raise ArgValueError(f"expected {text}") from None

    item = single.schema
    schema: JsonObject = {"oneOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": most}]}
    return Check(text, accept, schema)


def boolean() -> Check[bool]:
    """true or false, nothing that merely looks like one."""

    def accept(value: object) -> bool:
        if not isinstance(value, bool):
            raise ArgValueError("expected true or false")
        return value

    return Check("true or false", accept, {"type": "boolean"})


def choice(*values: str) -> Check[str]:
    """One of a fixed set of strings."""
    text = "one of " + ", ".join(repr(v) for v in values)

    def accept(value: object) -> str:
        if value not in values or not isinstance(value, str):
            raise ArgValueError(f"expected {text}")
        return value

    return Check(text, accept, {"enum": list(values)})


def either(first: Check[ArgValue], second: Check[ArgValue]) -> Check[ArgValue]:
    """A value accepted by either check."""
    text = f"{first.describe}, or {second.describe}"

    def accept(value: object) -> ArgValue:
        for check in (first, second):
            try:
                return check(value)
            except ArgValueError:
                pass
        raise ArgValueError(f"expected {text}")

    return Check(text, accept, {"oneOf": [first.schema, second.schema]})


def optional(inner: Check[ArgValue]) -> Check[ArgValue]:
    """``null`` or a value accepted by ``inner``."""
    text = f"{inner.describe}, or null"

    def accept(value: object) -> ArgValue:
        if value is None:
            return None
        try:
            return inner(value)
        except ArgValueError:
            raise ArgValueError(f"expected {text}") from None

    return Check(text, accept, {"oneOf": [{"type": "null"}, inner.schema]})


def output_size(count: int) -> Check[int | tuple[int | None, ...]]:
    """Adaptive pools: an integer ≥ 1, or a list of ``count`` entries each ≥ 1 or (2-d, 3-d) null."""
    if count == 1:
        return ints(1, 1)
    text = f"an integer ≥ 1 or a list of {count} integers ≥ 1 (null keeps that input size)"
    single = integer(1)

    def accept(value: object) -> int | tuple[int | None, ...]:
        try:
            if isinstance(value, (list, tuple)):
                if len(value) != count:
                    raise ArgValueError(text)
                return tuple(None if item is None else single(item) for item in value)
            return single(value)
        except ArgValueError:
            raise ArgValueError(f"expected {text}") from None

    item: JsonObject = {"oneOf": [single.schema, {"type": "null"}]}
    schema: JsonObject = {
        "oneOf": [single.schema, {"type": "array", "items": item, "minItems": count, "maxItems": count}]
    }
    return Check(text, accept, schema)


class Family(StrEnum):
    """Layers that share one size rule in the analytic engine."""

    CONV = "conv"
    CONV_TRANSPOSE = "conv_transpose"
    MAX_POOL = "max_pool"
    AVG_POOL = "avg_pool"
    ADAPTIVE_POOL = "adaptive_pool"
    BATCH_NORM = "batch_norm"
    INSTANCE_NORM = "instance_norm"
    GROUP_NORM = "group_norm"
    LAYER_NORM = "layer_norm"
    ELEMENTWISE = "elementwise"
    SOFTMAX = "softmax"
    FLATTEN = "flatten"
    LINEAR = "linear"
    ZERO_PAD = "zero_pad"
    UPSAMPLE = "upsample"
    PIXEL_UNSHUFFLE = "pixel_unshuffle"
    ADD = "add"
    CONCAT = "concat"
    MUL = "mul"
    SPLIT = "split"
    ATTEND = "attend"
    LOCAL = "local"


SPATIAL_FAMILIES = (Family.CONV, Family.LOCAL, Family.CONV_TRANSPOSE, Family.MAX_POOL, Family.AVG_POOL, Family.ZERO_PAD,
                    Family.UPSAMPLE, Family.PIXEL_UNSHUFFLE)  # fmt: skip
"""Layers that compute each spatial size of their output from the input's by a rule of their own."""
NORM_FAMILIES = (Family.BATCH_NORM, Family.INSTANCE_NORM, Family.GROUP_NORM, Family.LAYER_NORM)
"""Normalisation layers: they keep the shape they receive."""
MERGE_FAMILIES = (Family.ADD, Family.CONCAT, Family.MUL)
"""Layers that take several inputs; they are cnninspect's, not torch.nn classes."""
OWN_FAMILIES = (*MERGE_FAMILIES, Family.SPLIT, Family.ATTEND)
"""cnninspect's own layers that hold no parameters: torch functions (``torch.cat``, ``torch.chunk``,
attention's matrix products), not torch.nn classes. (LocallyConnected2d, cnninspect's too, holds
weights.)"""


@dataclass(frozen=True)
class Param:
    """One constructor argument."""

    name: str
    """The keyword PyTorch uses."""
    check: Check[ArgValue]
    """Validation of a written value."""
    default: object = NO_DEFAULT
    """PyTorch's default; NO_DEFAULT when the argument is required."""
    keyword_only: bool = False
    """True for arguments after ``*`` in the signature (BatchNorm's ``bias``)."""


@dataclass(frozen=True)
class LayerType:
    """A torch.nn class the analytic engine can size without torch."""

    name: str
    """The class name in torch.nn, e.g. ``Conv2d``."""
    family: Family
    """Which size rule applies."""
    params: tuple[Param, ...]
    """Constructor arguments in signature order."""
    dims: int = 0
    """Number of spatial dimensions (1, 2 or 3), 0 when the layer has none."""
    inferred: str | None = None
    """The input-size argument that may be left out and is then inferred."""
    param_by_name: dict[str, Param] = field(init=False, repr=False, compare=False)
    defaults: dict[str, object] = field(init=False, repr=False, compare=False)
    """PyTorch's default of each argument that has one (a required argument is not in it)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "param_by_name", {p.name: p for p in self.params})
        object.__setattr__(self, "defaults", {p.name: p.default for p in self.params if p.default is not NO_DEFAULT})


POSITIVE = integer(1)
INPLACE = Param("inplace", boolean(), False)
PADDING_MODE = Param("padding_mode", choice("zeros", "reflect", "replicate", "circular"), "zeros")


def _conv(dims: int) -> LayerType:
    size = ints(dims, 1)
    return LayerType(
        f"Conv{dims}d",
        Family.CONV,
        (
            Param("in_channels", POSITIVE),
            Param("out_channels", POSITIVE),
            Param("kernel_size", size),
            Param("stride", size, 1),
            Param("padding", either(ints(dims, 0), choice("same", "valid")), 0),
            Param("dilation", size, 1),
            Param("groups", POSITIVE, 1),
            Param("bias", boolean(), True),
            PADDING_MODE,
        ),
        dims,
        "in_channels",
    )


def _conv_transpose(dims: int) -> LayerType:
    size = ints(dims, 1)
    return LayerType(
        f"ConvTranspose{dims}d",
        Family.CONV_TRANSPOSE,
        (
            Param("in_channels", POSITIVE),
            Param("out_channels", POSITIVE),
            Param("kernel_size", size),
            Param("stride", size, 1),
            Param("padding", ints(dims, 0), 0),
            Param("output_padding", ints(dims, 0), 0),
            Param("groups", POSITIVE, 1),
            Param("bias", boolean(), True),
            Param("dilation", size, 1),
            Param("padding_mode", choice("zeros"), "zeros"),
        ),
        dims,
        "in_channels",
    )


def _max_pool(dims: int) -> LayerType:
    size = ints(dims, 1)
    return LayerType(
        f"MaxPool{dims}d",
        Family.MAX_POOL,
        (
            Param("kernel_size", size),
            Param("stride", optional(size), None),
            Param("padding", ints(dims, 0), 0),
            Param("dilation", size, 1),
            Param("return_indices", choice_false("return_indices"), False),
            Param("ceil_mode", boolean(), False),
        ),
        dims,
    )


def sections() -> Check[tuple[int, ...]]:
    """A non-empty list of integers ≥ 1 (the sizes ``torch.split`` cuts a dimension into)."""
    text = "a list of integers ≥ 1"
    single = integer(1)

    def accept(value: object) -> tuple[int, ...]:
        if not isinstance(value, (list, tuple)) or not value:
            raise ArgValueError(f"expected {text}")
        try:
            return tuple(single(item) for item in value)
        except ArgValueError:
            raise ArgValueError(f"expected {text}") from None

    return Check(text, accept, {"type": "array", "items": single.schema, "minItems": 1})


def choice_false(name: str) -> Check[bool]:
    """Only ``false``: the value true would make the layer return a tuple."""

    def accept(value: object) -> bool:
        if value is not False:
            raise ArgValueError(f"expected false ({name}=true returns a tuple, which a sequential spec cannot pass on)")
        return False

    return Check("false", accept, {"const": False})


def _avg_pool(dims: int) -> LayerType:
    size = ints(dims, 1)
    params = [
        Param("kernel_size", size),
        Param("stride", optional(size), None),
        Param("padding", ints(dims, 0), 0),
        Param("ceil_mode", boolean(), False),
        Param("count_include_pad", boolean(), True),
    ]
    if dims > 1:
        params.append(Param("divisor_override", optional(integer(1)), None))
    return LayerType(f"AvgPool{dims}d", Family.AVG_POOL, tuple(params), dims)


def _adaptive(kind: str, dims: int) -> LayerType:
    params = [Param("output_size", output_size(dims))]
    if kind == "Max":
        params.append(Param("return_indices", choice_false("return_indices"), False))
    return LayerType(f"Adaptive{kind}Pool{dims}d", Family.ADAPTIVE_POOL, tuple(params), dims)


def _norm(family: Family, dims: int) -> LayerType:
    """BatchNormNd and InstanceNormNd share a signature; only the defaults differ."""
    batch = family is Family.BATCH_NORM
    return LayerType(
        f"{'BatchNorm' if batch else 'InstanceNorm'}{dims}d",
        family,
        (
            Param("num_features", POSITIVE),
            Param("eps", number(positive=True), 1e-5),
            Param("momentum", optional(number(0, 1)), 0.1),
            Param("affine", boolean(), batch),
            Param("track_running_stats", boolean(), batch),
            Param("bias", boolean(), True, keyword_only=True),
        ),
        dims,
        "num_features",
    )


def _zero_pad(dims: int) -> LayerType:
    return LayerType(f"ZeroPad{dims}d", Family.ZERO_PAD, (Param("padding", ints(2 * dims, None)),), dims)


def _activation(name: str, *params: Param) -> LayerType:
    return LayerType(name, Family.ELEMENTWISE, params)


DROPOUT_P = Param("p", number(0, 1), 0.5)

_TYPES: list[LayerType] = [
    *(_conv(d) for d in (1, 2, 3)),
    *(_conv_transpose(d) for d in (1, 2, 3)),
    *(_max_pool(d) for d in (1, 2, 3)),
    *(_avg_pool(d) for d in (1, 2, 3)),
    *(_adaptive(kind, d) for kind in ("Avg", "Max") for d in (1, 2, 3)),
    *(_norm(family, d) for family in (Family.BATCH_NORM, Family.INSTANCE_NORM) for d in (1, 2, 3)),
    *(_zero_pad(d) for d in (1, 2, 3)),
    LayerType(
        "GroupNorm",
        Family.GROUP_NORM,
        (
            Param("num_groups", POSITIVE),
            Param("num_channels", POSITIVE),
            Param("eps", number(positive=True), 1e-5),
            Param("affine", boolean(), True),
            Param("bias", boolean(), True, keyword_only=True),
        ),
        inferred="num_channels",
    ),
    LayerType(
        "LayerNorm",
        Family.LAYER_NORM,
        (
            Param("normalized_shape", int_list(1)),
            Param("eps", number(positive=True), 1e-5),
            Param("elementwise_affine", boolean(), True),
            Param("bias", boolean(), True),
        ),
    ),
    LayerType(
        "Linear",
        Family.LINEAR,
        (Param("in_features", POSITIVE), Param("out_features", POSITIVE), Param("bias", boolean(), True)),
        inferred="in_features",
    ),
    LayerType("Flatten", Family.FLATTEN, (Param("start_dim", integer(), 1), Param("end_dim", integer(), -1))),
    LayerType(
        "Upsample",
        Family.UPSAMPLE,
        (
            Param("size", optional(int_list(1)), None),
            Param("scale_factor", optional(numbers(3)), None),
            Param("mode", choice("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"), "nearest"),
            Param("align_corners", optional(boolean()), None),
            Param("recompute_scale_factor", optional(boolean()), None),
        ),
    ),
    # Each factor × factor patch becomes factor² channels (darknet's [reorg] has this shape).
    LayerType("PixelUnshuffle", Family.PIXEL_UNSHUFFLE, (Param("downscale_factor", POSITIVE),), 2),
    LayerType("Softmax", Family.SOFTMAX, (Param("dim", optional(integer()), None),)),
    # Merges: not torch.nn classes; torch.add, torch.cat and torch.mul in the torch engine and in export.
    LayerType("Add", Family.ADD, ()),
    LayerType("Concat", Family.CONCAT, (Param("dim", integer(), 1),)),
    LayerType("Mul", Family.MUL, ()),
    # Split: torch.chunk (chunks) or torch.split (sizes) along dim, and the piece at index.
    LayerType(
        "Split",
        Family.SPLIT,
        (
            Param("chunks", optional(POSITIVE), None),
            Param("index", integer()),
            Param("dim", integer(), 1),
            Param("sizes", optional(sections()), None),
        ),
    ),
    # Attend: the attention of a qkv map, per head key_dim query, key_dim key and head_dim value
    # channels (key_dim None: head_dim), its places cut into `area` equal runs that attend within
    # themselves; gives the attended values, heads·head_dim channels.
    LayerType(
        "Attend",
        Family.ATTEND,
        (
            Param("heads", POSITIVE),
            Param("head_dim", POSITIVE),
            Param("key_dim", optional(POSITIVE), None),
            Param("area", POSITIVE, 1),
        ),
    ),
    # LocallyConnected2d: a Conv2d whose every output place has its own weights and bias (darknet's
    # [local]): out_channels × in_channels × kernel² weights and out_channels biases per place.
    LayerType(
        "LocallyConnected2d",
        Family.LOCAL,
        (
            Param("in_channels", POSITIVE),
            Param("out_channels", POSITIVE),
            Param("kernel_size", ints(2, 1)),
            Param("stride", ints(2, 1), 1),
            Param("padding", ints(2, 0), 0),
            Param("bias", boolean(), True),
        ),
        2,
        "in_channels",
    ),
    LayerType("LogSoftmax", Family.SOFTMAX, (Param("dim", optional(integer()), None),)),
    LayerType("Identity", Family.ELEMENTWISE, ()),
    *(LayerType(name, Family.ELEMENTWISE, (DROPOUT_P, INPLACE)) for name in ("Dropout", "AlphaDropout")),
    # Channel-wise dropout: the rank is checked (batched or unbatched), the shape kept.
    *(LayerType(f"Dropout{d}d", Family.ELEMENTWISE, (DROPOUT_P, INPLACE), d) for d in (1, 2, 3)),
    LayerType("FeatureAlphaDropout", Family.ELEMENTWISE, (DROPOUT_P, INPLACE)),
    *(_activation(name, INPLACE) for name in ("ReLU", "ReLU6", "SELU", "SiLU", "Mish", "Hardswish", "Hardsigmoid")),
    *(_activation(name) for name in ("Sigmoid", "Tanh", "Softsign", "Tanhshrink", "LogSigmoid")),
    _activation("LeakyReLU", Param("negative_slope", number(), 0.01), INPLACE),
    _activation("ELU", Param("alpha", number(), 1.0), INPLACE),
    _activation("CELU", Param("alpha", number(), 1.0), INPLACE),
    _activation("GELU", Param("approximate", choice("none", "tanh"), "none")),
    _activation("Hardtanh", Param("min_val", number(), -1.0), Param("max_val", number(), 1.0), INPLACE),
    _activation("Softplus", Param("beta", number(), 1.0), Param("threshold", number(), 20.0)),
    _activation("Hardshrink", Param("lambd", number(0), 0.5)),
    _activation("Softshrink", Param("lambd", number(0), 0.5)),
]

LAYER_TYPES: dict[str, LayerType] = {t.name: t for t in _TYPES}
"""Every layer type the analytic engine knows, by torch.nn class name."""

_BY_LOWER = {name.lower(): name for name in LAYER_TYPES}


def lookup(name: str) -> LayerType | None:
    """The catalog entry for a class name, matched case-insensitively; None if torch-only."""
    found = LAYER_TYPES.get(name)  # most names are written as torch.nn spells them
    if found is not None:
        return found
    canonical = _BY_LOWER.get(name.lower())
    return LAYER_TYPES[canonical] if canonical else None
