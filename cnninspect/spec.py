"""Spec sources → a validated ModelSpec with source positions.

Three sources give the same ModelSpec: a YAML file (read safely with ruamel.yaml), a flag
spec in PyTorch's call syntax (parsed with ``ast``, never evaluated), and the built-in
tutorial model. What-if overrides are applied here too, through the same validation.
"""

from __future__ import annotations

import ast
import difflib
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from cnninspect.catalog import NO_DEFAULT, ArgValueError, Family, LayerType, lookup
from cnninspect.errors import (
    ArgumentError,
    CnnInspectError,
    LayerTypeError,
    Location,
    SpecError,
    UsageError,
    YamlError,
)
from cnninspect.yamldoc import Document, Node, read_document

MAX_SPEC_BYTES = 1_000_000
"""Larger files are refused before parsing: no real model spec comes near this."""
BUILTIN_LABEL = "<built-in>"
"""How locations in the built-in tutorial model are printed."""
FLAG_LABEL = "--layers"
"""How locations in a flag spec are printed."""
DEFAULT_INPUT = (3, 32, 32)
"""The tutorial's CIFAR-sized input, used by a flag spec without ``--input``."""
TOP_LEVEL_KEYS = ("name", "input", "layers")
CONV_FAMILIES = (Family.CONV, Family.CONV_TRANSPOSE)
YAML_WORDS = {"true": True, "false": False, "null": None}
"""``--set`` values may be written as in YAML as well as in Python."""


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a spec, validated, with where each part was written."""

    index: int
    """Position in the model, from 0."""
    name: str
    """The layer's name; its index as text when the spec gives none (as nn.Sequential)."""
    type: str
    """The torch.nn class name, canonical case for catalog layers, as written otherwise."""
    args: dict[str, Any]
    """Keyword arguments as written (lists turned into tuples); defaults are not filled in."""
    location: Location
    """Where the layer starts."""
    positional: tuple[Any, ...] = ()
    """Positional arguments of a torch-only layer from a flag spec (catalog layers get names)."""
    arg_locations: dict[str, Location] = field(default_factory=dict)
    """Where each written argument's value starts."""

    @property
    def kind(self) -> LayerType | None:
        """The catalog entry, or None for a layer only the torch engine can size."""
        return lookup(self.type)

    def get(self, arg: str) -> Any:
        """The argument's value: as written, else PyTorch's default (None if required)."""
        if arg in self.args:
            return self.args[arg]
        kind = self.kind
        default = kind.default(arg) if kind and arg in kind.param_by_name else None
        return None if default is NO_DEFAULT else default

    @property
    def title(self) -> str:
        """How messages name the layer: its name, or ``layer 3`` when it has none."""
        return f"layer {self.index}" if self.name == str(self.index) else self.name

    def where(self, arg: str) -> Location:
        """Where an argument was written, or the layer's own place if it was not."""
        return self.arg_locations.get(arg, self.location)


@dataclass(frozen=True)
class ModelSpec:
    """A whole model: input shape, batch and layers, and where it came from."""

    name: str
    """The model's name (the file stem when the spec gives none)."""
    input: tuple[int, ...]
    """Shape of one sample, channels first (C, H, W for a 2-d CNN)."""
    layers: tuple[LayerSpec, ...]
    """Layers in order."""
    source: str
    """File path, ``--layers`` or ``<built-in>``."""
    batch: int = 1
    """Batch size of the dummy input."""
    input_location: Location | None = None
    """Where ``input`` was written."""
    overridden: tuple[str, ...] = ()
    """Overrides applied, as typed (``--kernel 5``), for reports."""

    @property
    def batched_input(self) -> tuple[int, ...]:
        """The dummy input's shape in PyTorch order, batch first."""
        return (self.batch, *self.input)

    @property
    def needs_torch(self) -> bool:
        """True when some layer is unknown to the analytic engine."""
        return any(layer.kind is None for layer in self.layers)


@dataclass(frozen=True)
class Overrides:
    """What-if changes from the command line, applied to any spec."""

    input: str | None = None
    """``--input`` as typed, e.g. ``3x64x64``."""
    batch: int | None = None
    """``--batch``."""
    kernel: int | None = None
    """``--kernel``: kernel_size of every conv layer."""
    stride: int | None = None
    """``--stride``: stride of every conv layer."""
    padding: str | None = None
    """``--padding``: an integer, ``same`` or ``valid`` for every conv layer."""
    sets: tuple[str, ...] = ()
    """``--set LAYER.FIELD=VALUE`` as typed, in order."""


# ---------------------------------------------------------------------------------------
# YAML


@dataclass(frozen=True)
class SpecSource:
    """A spec and the text it was read from, for commands that edit it."""

    spec: ModelSpec
    """As written, before overrides."""
    text: str
    """The YAML or ``--layers`` text."""
    path: Path | None = None
    """The file, when there is one to write."""
    raw: bytes = b""
    """The file's bytes as read (to keep a byte-order mark and detect changes)."""


def load_source(path: Path | None, layers: str | None) -> SpecSource:
    """The spec a command names: a file, a ``--layers`` string, or the built-in model."""
    if path is not None and layers is not None:
        raise UsageError("give a SPEC file or --layers, not both")
    if layers is not None:
        return SpecSource(parse_layers(layers), layers)
    if path is not None:
        raw = read_source(path)
        text = decode_source(raw, str(path))
        return SpecSource(parse_yaml(text, str(path)), text, path, raw)
    text = builtin_text()
    return SpecSource(parse_yaml(text, BUILTIN_LABEL), text)


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate a YAML spec file."""
    return parse_yaml(decode_source(read_source(path), str(path)), str(path))


def read_source(path: str | Path) -> bytes:
    """A spec file's bytes, refused when unreadable or over the size limit."""
    label = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{label}: is a folder; give a spec file") from None
    except OSError as error:
        raise YamlError(f"cannot read the file: {error.strerror}", Location(label, 1, 1)) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise YamlError(
            f"file is {len(raw):,} bytes, over the {MAX_SPEC_BYTES:,}-byte limit for a spec",
            Location(label, 1, 1),
        )
    return raw


def decode_source(raw: bytes, label: str) -> str:
    """UTF-8 text without a byte-order mark; line endings untouched."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise YamlError("file is not UTF-8 text", Location(label, line, 1)) from None


def load_builtin() -> ModelSpec:
    """The tutorial's Example 1 model, shipped inside the package."""
    return parse_yaml(builtin_text(), BUILTIN_LABEL)


def builtin_text() -> str:
    """The built-in model's YAML."""
    return resources.files("cnninspect").joinpath("tutorial.yaml").read_text(encoding="utf-8")


def parse_yaml(text: str, label: str) -> ModelSpec:
    """Validate YAML text as a spec; ``label`` names it in locations."""
    return spec_from_document(read_document(text, label))


def spec_from_document(document: Document) -> ModelSpec:
    """Validate a parsed YAML document as a spec."""
    label, root = document.label, document.root.resolved()
    if root.kind != "map":
        raise SpecError("a spec is a mapping with name, input and layers", Location(label, 1, 1))
    entries = root.items()
    for key, (key_node, _) in entries.items():
        if key not in TOP_LEVEL_KEYS:
            raise SpecError(
                f"unknown key {key!r}{did_you_mean(key, TOP_LEVEL_KEYS)}; a spec has name, input and layers",
                document.where(key_node),
            )
    name = Path(label).stem
    if "name" in entries:
        name = document.data(entries["name"][1])
        if not isinstance(name, str):
            raise SpecError("name must be a string", document.where(entries["name"][1]))
    input_shape: tuple[int, ...] = ()
    input_location = None
    if "input" in entries:
        input_location = document.where(entries["input"][1])
        input_shape = parse_input(_plain(document.data(entries["input"][1])), input_location)
    if "layers" not in entries:
        raise SpecError("the spec has no layers; add a layers: list", Location(label, 1, 1))
    items = entries["layers"][1]
    if items.resolved().kind != "seq" or not items.resolved().children:
        raise SpecError("layers must be a non-empty list", document.where(items))
    layers = tuple(_yaml_layer(document, node, index) for index, node in enumerate(items.resolved().children))
    _check_unique_names(layers)
    return ModelSpec(name, input_shape, layers, label, input_location=input_location)


def _yaml_layer(document: Document, node: Node, index: int) -> LayerSpec:
    where = document.where(node)
    item = node.resolved()
    if item.kind == "scalar":
        value = document.data(item)
        if isinstance(value, str):
            return make_layer(index, None, value, {}, where, {}, where)
    if item.kind != "map":
        raise SpecError("a layer is a type name (ReLU) or a mapping with a type ({type: Conv2d, ...})", where)
    entries = item.items()
    if "type" not in entries:
        raise SpecError("this layer has no type; add type: Conv2d (or another torch.nn class)", where)
    type_name = document.data(entries["type"][1])
    type_where = document.where(entries["type"][1])
    if not isinstance(type_name, str):
        raise LayerTypeError("type must be a torch.nn class name such as Conv2d", type_where)
    name = None
    if "name" in entries:
        name = document.data(entries["name"][1])
        if not isinstance(name, (str, int)) or isinstance(name, bool):
            raise SpecError("name must be a string", document.where(entries["name"][1]))
    args = {k: _plain(document.data(v)) for k, (_, v) in entries.items() if k not in ("type", "name")}
    arg_locations = {k: document.where(v) for k, (_, v) in entries.items() if k not in ("type", "name")}
    return make_layer(index, None if name is None else str(name), type_name, args, where, arg_locations, type_where)


def _plain(value: Any) -> Any:
    """Lists → tuples, so specs compare and hash like data."""
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def make_layer(
    index: int,
    name: str | None,
    type_name: str,
    args: dict[str, Any],
    where: Location,
    arg_locations: dict[str, Location],
    type_where: Location,
    positional: tuple[Any, ...] = (),
) -> LayerSpec:
    """Validate one layer's arguments against the catalog (torch-only layers pass as written)."""
    type_name = type_name.strip()
    if type_name.startswith("torch.nn."):
        type_name = type_name[len("torch.nn.") :]
    elif type_name.startswith("nn."):
        type_name = type_name[len("nn.") :]
    if not re.fullmatch(r"[A-Za-z_]\w*", type_name):
        raise LayerTypeError(f"{type_name!r} is not a torch.nn class name", type_where)
    kind = lookup(type_name)
    layer_name = name if name is not None else str(index)
    if kind is None:
        return LayerSpec(index, layer_name, type_name, args, where, positional, arg_locations)
    named = dict(_name_positional(kind, positional, where))
    for key in args:
        if key in named:
            raise ArgumentError(f"{kind.name} got {key} twice, by position and by name", arg_locations.get(key, where))
    named_locations = {key: where for key in named}
    args = {**named, **args}
    arg_locations = {**named_locations, **arg_locations}
    validated = {}
    for key, value in args.items():
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
                f"{name or f'layer {index}'}: {key}: {error}, got {show_value(value)}", arg_locations.get(key, where)
            ) from None
    layer = LayerSpec(index, layer_name, kind.name, validated, where, (), arg_locations)
    _check_layer(layer, kind)
    return layer


def _name_positional(kind: LayerType, positional: tuple[Any, ...], where: Location) -> Iterator[tuple[str, Any]]:
    slots = [p.name for p in kind.params if not p.keyword_only]
    if len(positional) > len(slots):
        raise ArgumentError(
            f"{kind.name} takes at most {len(slots)} positional arguments ({', '.join(slots)}), got {len(positional)}",
            where,
        )
    yield from zip(slots, positional)


def _check_layer(layer: LayerSpec, kind: LayerType) -> None:
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


def expand(value: Any, dims: int) -> tuple[Any, ...]:
    """PyTorch's ``_ntuple``: a single value stands for every spatial dimension."""
    return tuple(value) if isinstance(value, tuple) else (value,) * dims


def _check_unique_names(layers: Sequence[LayerSpec]) -> None:
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
    hint = "write the input as [C, H, W] or CxHxW, e.g. [3, 32, 32] or 3x32x32"
    if isinstance(value, str):
        parts = re.split(r"\s*[x×,]\s*", value.strip().strip("[]()").strip())
        if not all(re.fullmatch(r"\d+", p) for p in parts):
            raise SpecError(f"input {value!r} is not a shape; {hint}", where)
        dims = tuple(int(p) for p in parts)
    elif isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        dims = tuple(int(v) for v in value)
    else:
        raise SpecError(f"input {show_value(value)} is not a shape; {hint}", where)
    if not 1 <= len(dims) <= 4 or any(d < 1 for d in dims):
        raise SpecError(f"input {show_value(value)} needs 1 to 4 sizes, each ≥ 1; {hint}", where)
    return dims


# ---------------------------------------------------------------------------------------
# Flag spec: PyTorch call syntax, parsed with ast, never evaluated

_NAME_PREFIX = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*(?=[A-Za-z_])")


def parse_layers(text: str, input_shape: tuple[int, ...] | None = None) -> ModelSpec:
    """``"Conv2d(3,16,3,stride=2) ReLU() ..."`` → ModelSpec; ``name=Layer(...)`` names a layer."""
    layers = [_flag_layer(index, name, piece, offset) for index, (offset, name, piece) in enumerate(flag_calls(text))]
    if not layers:
        raise UsageError('--layers is empty; give layers such as "Conv2d(3,16,3) ReLU() Flatten()"')
    _check_unique_names(layers)
    return ModelSpec("layers", input_shape or DEFAULT_INPUT, tuple(layers), FLAG_LABEL)


def flag_calls(text: str) -> Iterator[tuple[int, str | None, str]]:
    """Each layer call of a flag spec: (offset of the call in ``text``, name or None, call text)."""
    for offset, piece in _split_calls(text):
        name = None
        prefix = _NAME_PREFIX.match(piece)
        if prefix and "(" not in piece[: prefix.end()]:
            name = prefix.group(1)
            offset += prefix.end()
            piece = piece[prefix.end() :]
        yield offset, name, piece


def _split_calls(text: str) -> Iterator[tuple[int, str]]:
    """Cut at whitespace, commas or ``->`` outside brackets and quotes."""
    depth, quote, start = 0, "", None
    for i, ch in enumerate(text + " "):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if depth <= 0 and not quote and (ch.isspace() or ch in ",;" or text.startswith("->", i)):
            if start is not None:
                yield start, text[start:i]
                start = None
            continue
        if start is None and not (ch == ">" and text[i - 1 : i] == "-"):
            start = i
    if start is not None:  # an unclosed bracket or quote: let the parser say where
        yield start, text[start:]


def _flag_location(offset: int, col: int = 0) -> Location:
    return Location(FLAG_LABEL, 1, offset + col + 1)


def _flag_layer(index: int, name: str | None, piece: str, offset: int) -> LayerSpec:
    where = _flag_location(offset)
    try:
        node = ast.parse(piece.strip(), mode="eval").body
    except SyntaxError as error:
        raise UsageError(
            f"cannot read {piece.strip()!r}: {error.msg}; write layers as Conv2d(3, 16, 3, stride=2)",
            _flag_location(offset, (error.offset or 1) - 1),
        ) from None
    call_args: list[ast.expr] = []
    keywords: list[ast.keyword] = []
    if isinstance(node, ast.Call):
        func, call_args, keywords = node.func, node.args, node.keywords
    else:
        func = node
    type_name = _dotted(func)
    if type_name is None:
        raise UsageError(f"{piece.strip()!r} is not a layer call such as ReLU() or nn.Conv2d(3, 16, 3)", where)
    positional = tuple(literal_value(arg, offset) for arg in call_args)
    args: dict[str, Any] = {}
    arg_locations = {}
    for keyword in keywords:
        if keyword.arg is None:
            raise UsageError("**kwargs cannot be read without running code; write the arguments out", where)
        args[keyword.arg] = literal_value(keyword.value, offset)
        arg_locations[keyword.arg] = _flag_location(offset, keyword.value.col_offset)
    return make_layer(index, name, type_name, args, where, arg_locations, where, positional)


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


_ARITHMETIC: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Mult: operator.mul,
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.FloorDiv: operator.floordiv,
}


def literal_value(node: ast.expr, offset: int = 0) -> Any:
    """A constant, tuple or list, or integer arithmetic such as ``32*8*8``; nothing is run."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(literal_value(item, offset) for item in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = literal_value(node.operand, offset)
        if _is_number(value):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = literal_value(node.left, offset), literal_value(node.right, offset)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right)) and not (
            isinstance(node.op, ast.FloorDiv) and right == 0
        ):
            return _ARITHMETIC[type(node.op)](left, right)
    raise UsageError(
        f"{ast.unparse(node)!r} is not a plain value; use numbers, strings, True/False/None, "
        "tuples and integer arithmetic",
        _flag_location(offset, node.col_offset),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------
# What-if overrides


def apply_overrides(spec: ModelSpec, overrides: Overrides) -> ModelSpec:
    """A new spec with the command line's what-if changes, validated like the spec itself."""
    applied: list[str] = []
    input_shape = spec.input
    if overrides.input is not None:
        input_shape = parse_input(overrides.input, Location("--input", 1, 1))
        applied.append(f"--input {overrides.input}")
    if not input_shape:
        raise SpecError(
            "the spec gives no input shape; add input: [3, 32, 32] or pass --input 3x32x32", Location(spec.source, 1, 1)
        )
    batch = spec.batch
    if overrides.batch is not None:
        if overrides.batch < 1:
            raise UsageError("--batch must be at least 1")
        batch = overrides.batch
        applied.append(f"--batch {batch}")
    layers = list(spec.layers)
    for option, arg, value in (
        ("--kernel", "kernel_size", overrides.kernel),
        ("--stride", "stride", overrides.stride),
        ("--padding", "padding", _padding_value(overrides.padding)),
    ):
        if value is None:
            continue
        targets = [i for i, layer in enumerate(layers) if layer.kind and layer.kind.family in CONV_FAMILIES]
        if not targets:
            raise UsageError(f"{option}: the spec has no Conv or ConvTranspose layer to change")
        for i in targets:
            layers[i] = _override_arg(layers[i], arg, value, option)
        applied.append(f"{option} {value}")
    for text in overrides.sets:
        target, arg, value = _parse_set(text, layers)
        layers[target] = _override_arg(layers[target], arg, value, f"--set {text}")
        applied.append(f"--set {text}")
    return replace(
        spec, input=input_shape, batch=batch, layers=tuple(layers), overridden=spec.overridden + tuple(applied)
    )


def _padding_value(text: str | None) -> int | str | None:
    if text is None:
        return None
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    if text in ("same", "valid"):
        return text
    raise UsageError(f"--padding {text!r}: expected an integer ≥ 0, same or valid")


def _override_arg(layer: LayerSpec, arg: str, value: Any, option: str) -> LayerSpec:
    try:
        return set_arg(layer, arg, value)
    except CnnInspectError as error:
        raise UsageError(f"{option}: {error.message}") from None


def set_arg(layer: LayerSpec, arg: str, value: Any) -> LayerSpec:
    """The layer with one argument changed, validated again (torch-only layers as given)."""
    if layer.kind is None:
        return replace(layer, args={**layer.args, arg: value})
    return make_layer(
        layer.index,
        layer.name,
        layer.type,
        {**layer.args, arg: value},
        layer.location,
        layer.arg_locations,
        layer.location,
    )


def _parse_set(text: str, layers: Sequence[LayerSpec]) -> tuple[int, str, Any]:
    match = re.fullmatch(r"\s*([^.=\s]+)\.(\w+)\s*=(.*)", text)
    if not match:
        raise UsageError(f"--set {text!r}: write LAYER.FIELD=VALUE, e.g. --set fc.in_features=1568")
    layer_name, arg, raw = match.groups()
    by_name = {layer.name: layer.index for layer in layers}
    if layer_name not in by_name:
        raise UsageError(
            f"--set {text}: no layer named {layer_name!r}{did_you_mean(layer_name, list(by_name))} "
            f"(layers: {', '.join(by_name)})"
        )
    if arg in ("type", "name"):
        raise UsageError(f"--set {text}: only arguments can be set, not the layer's {arg}")
    raw = raw.strip()
    try:
        value = YAML_WORDS[raw] if raw in YAML_WORDS else literal_value(ast.parse(raw, mode="eval").body, 0)
    except (SyntaxError, UsageError):
        value = raw  # a bare word such as same
    return by_name[layer_name], arg, value


# ---------------------------------------------------------------------------------------
# shared helpers


def did_you_mean(word: str, options: Sequence[str]) -> str:
    """``"; did you mean 'Conv2d'?"`` when a close match exists, else ``""``."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def show_value(value: Any) -> str:
    """A value as it would be written in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)
