"""Ultralytics YOLO model YAMLs (YOLOv3 to YOLO26) → a ModelSpec, built by the rules Ultralytics'
own model parser follows.

A model is ``backbone`` then ``head``: rows ``[from, repeats, module, args]`` numbered from 0.
``from`` −1 is the row before; another negative counts back from the row; a non-negative one is
absolute. The scale comes from ``--scale``, else the file name (``yolov8n.yaml`` is ``yolov8.yaml``
at ``n``), else the first of ``scales`` (said in the title); legacy files give
``depth_multiple``/``width_multiple`` instead. Repeats become ``max(round(n·depth), 1)`` when
above 1 (Python's rounding, halves to even); the output channels of the modules Ultralytics
scales become ``ceil(min(c, max_channels)·width / 8)·8``. Each row is a group named as
Ultralytics names it (``model.22``) at the row's line, its layers as PyTorch nests them: a
module is one use of its block template (``modules.yaml``, see blocks.py), a head is composed
of branch templates (heads.py), a ``torch.nn`` row is its layer.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import PurePath
from typing import Any

from cnninspect.errors import GraphError, Location, SpecError, UnreadModel
from cnninspect.inputs.ultralytics import ULTRALYTICS_FORMAT
from cnninspect.inputs.ultralytics.blocks import (
    MODULES,
    Net,
    Params,
    Row,
    autopad,
    make_divisible,
    positive,
)
from cnninspect.inputs.ultralytics.families import MORE_MODULES
from cnninspect.inputs.ultralytics.heads import HEADS, cbfuse, detect, head_of
from cnninspect.spec.catalog import MAX_INTEGER, Family, lookup
from cnninspect.spec.model import INPUT, ItemSpec, ModelSpec
from cnninspect.spec.validate import make_layer
from cnninspect.spec.yamldoc import Document, Node, read_document
from cnninspect.text import did_you_mean, is_int, is_number, show_value

SCALE_IN_NAME = re.compile(r"yolo(e-)?[v]?\d+([nslmx])")
"""Where Ultralytics finds the scale letter in a file name (``yolov8n``, ``yolo11s-seg``)."""
"""A row's own layer (a Concat row is one layer)."""
# fmt: off
SCALED = frozenset({
    "Classify", "Conv", "ConvTranspose", "GhostConv", "Bottleneck", "GhostBottleneck", "SPP", "SPPF", "C2fPSA",
    "C2PSA", "DWConv", "Focus", "BottleneckCSP", "C1", "C2", "C2f", "C3k2", "RepNCSPELAN4", "ELAN1", "ADown",
    "AConv", "SPPELAN", "C2fAttn", "C3", "C3TR", "C3Ghost", "nn.ConvTranspose2d", "DWConvTranspose2d", "C3x",
    "RepC3", "PSA", "SCDown", "C2fCIB", "A2C2f"
})
# fmt: on
"""Modules whose first argument is their output channels, scaled by width (Classify's is nc: not scaled)."""
# fmt: off
REPEATED = frozenset({
    "BottleneckCSP", "C1", "C2", "C2f", "C3k2", "C2fAttn", "C3", "C3TR", "C3Ghost", "C3x", "RepC3", "C2fPSA",
    "C2fCIB", "C2PSA", "A2C2f"
})
# fmt: on
"""Modules that take the repeats as their third argument (the others are repeated as a Sequential)."""
REFUSED = {
    name: family
    for family, names in (
        ("RT-DETR", "RTDETRDecoder AIFI HGStem HGBlock RepC3"),
        ("YOLO-World", "WorldDetect ImagePoolingAttn C2fAttn"),
        ("YOLOE", "YOLOEDetect YOLOESegment YOLOESegment26"),
        ("YOLO26 depth", "Depth"),
        ("YOLO26 semantic segmentation", "SemanticSegment"),
        ("TorchVision", "TorchVision"),
    )
    for name in names.split()
}
"""Modules of model families this reader does not read: refused by name."""
TEMPLATED = {**MODULES, **MORE_MODULES}
"""Every row module that is a template of modules.yaml: how its arguments become the
template's parameters."""
ONE_INPUT = ("nn.Upsample", "nn.MaxPool2d", "nn.ZeroPad2d", "nn.Identity", "nn.ConvTranspose2d", "nn.BatchNorm2d")


ACTIVATION_FAMILIES = (Family.ELEMENTWISE, Family.SOFTMAX)
"""What ``activation:`` may name: a layer that keeps its input's shape and holds nothing to size."""
MAX_REPEATS = 10_000
"""More repeats of one row than this are refused (and more than MAX_LAYERS layers in all)."""


def scale_from_name(label: str) -> str | None:
    """The scale letter Ultralytics reads from a file name, if it has one."""
    match = SCALE_IN_NAME.search(PurePath(label).stem)
    return match.group(2) if match else None


def read_ultralytics(text: str, label: str, scale: str | None = None) -> ModelSpec:
    """Read an Ultralytics model YAML at ``scale`` (None: from the file name, else the first)."""
    return _Reader(read_document(text, label), scale).build()


class _Reader:
    def __init__(self, document: Document, scale: str | None) -> None:
        self.document = document
        self.label = document.label
        root = document.root.resolved()
        if root.kind != "map":
            raise SpecError("an Ultralytics model YAML is a mapping with backbone: and head:", document.where(root))
        self.entries = root.items()
        self.notes: list[str] = []
        self.scale = scale
        self.net = Net()

    def value(self, key: str, default: Any = None) -> Any:
        pair = self.entries.get(key)
        return default if pair is None else self.document.data(pair[1])

    def where(self, key: str) -> Location:
        pair = self.entries.get(key)
        return self.document.where(pair[1]) if pair else Location(self.label, 1, 1)

    # -- the model's settings ------------------------------------------------------------------

    def multipliers(self) -> tuple[float, float, float]:
        """depth, width and max_channels at the chosen scale."""
        scales = self.value("scales")
        depth = self.value("depth_multiple", 1.0)
        width = self.value("width_multiple", 1.0)
        if not scales:
            if self.scale is not None:
                raise SpecError(
                    f"--scale {self.scale}: this file defines no scales: mapping; leave --scale out",
                    self.where("backbone"),
                )
            return self._number("depth_multiple", depth), self._number("width_multiple", width), math.inf
        if not isinstance(scales, dict):
            raise SpecError("scales: maps a letter to [depth, width, max_channels]", self.where("scales"))
        named = scale_from_name(self.label)
        chosen = self.scale or named
        if chosen is None:
            chosen = next(iter(scales))
            self.notes.append(
                f"scale {chosen} (no scale in the file name; --scale picks one of {', '.join(map(str, scales))})"
            )
        else:
            self.notes.append(f"scale {chosen}")
        if chosen not in scales:
            how = "--scale" if self.scale else f"the file name {PurePath(self.label).name!r}"
            raise SpecError(
                f"{how} asks for scale {chosen!r}, but scales: has {', '.join(map(str, scales))}", self.where("scales")
            )
        values = scales[chosen]
        if not (isinstance(values, list) and len(values) == 3 and all(_multiplier(v) for v in values)):
            raise SpecError(
                f"scales: {chosen}: needs [depth, width, max_channels], numbers above 0 and at most {MAX_INTEGER:,}",
                self.where("scales"),
            )
        self.scale = chosen
        return float(values[0]), float(values[1]), float(values[2])

    def _number(self, key: str, value: Any) -> float:
        if not _multiplier(value):
            raise SpecError(
                f"{key}: needs a number above 0 and at most {MAX_INTEGER:,}, got {show_value(value)}", self.where(key)
            )
        return float(value)

    def activation(self) -> tuple[str, dict[str, object]]:
        """``activation: nn.ReLU()`` as a torch.nn class and its arguments (default SiLU)."""
        written = self.value("activation")
        if written is None:
            return "SiLU", {}
        where = self.where("activation")
        try:
            call = ast.parse(str(written), mode="eval").body
        except SyntaxError:
            call = None
        name = ""
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            name = call.func.attr
        kind = lookup(name) if name else None
        if kind is None or not isinstance(call, ast.Call) or kind.family not in ACTIVATION_FAMILIES:
            raise SpecError(f"activation: {written!r} is not a torch.nn activation such as nn.ReLU()", where)
        if len(call.args) > len(kind.params):
            count = f"{len(kind.params)} argument{'s' if len(kind.params) != 1 else ''}"
            raise SpecError(f"activation: {written!r}: {kind.name} takes at most {count}", where)
        try:
            args = {kind.params[i].name: ast.literal_eval(a) for i, a in enumerate(call.args)}
            args.update({k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg})
        except (ValueError, TypeError, SyntaxError, RecursionError):
            raise SpecError(f"activation: {written!r}: its arguments must be plain values", where) from None
        make_layer(0, "activation", kind.name, args, where, {}, where)  # checked here, where it is written
        return kind.name, args

    # -- rows ------------------------------------------------------------------------------------

    def rows(self) -> list[Row]:
        nodes: list[Node] = []
        for key in ("backbone", "head"):
            pair = self.entries.get(key)
            if pair is None:
                raise SpecError(
                    f"an Ultralytics model YAML needs {key}: a list of [from, repeats, module, args]",
                    Location(self.label, 1, 1),
                )
            seq = pair[1].resolved()
            if seq.kind != "seq":
                raise SpecError(f"{key}: is a list of [from, repeats, module, args] rows", self.document.where(seq))
            nodes.extend(seq.children)
        return [self._row(i, node) for i, node in enumerate(nodes)]

    def _row(self, index: int, node: Node) -> Row:
        where = self.document.where(node)
        data = self.document.data(node)
        if not (isinstance(data, list) and len(data) == 4):
            raise SpecError(f"row {index}: a row is [from, repeats, module, args]", where)
        source, repeats, module, args = data
        refs = source if isinstance(source, list) else [source]
        if not refs or not all(is_int(r) for r in refs):
            raise SpecError(f"row {index}: from: needs a row index or a list of them, got {source!r}", where)
        absolute = []
        for ref in refs:
            target = -1 if index == 0 and ref == -1 else (index + ref if ref < 0 else ref)
            if ref == -1 and index == 0:
                absolute.append(-1)
                continue
            if target >= index:
                raise GraphError(
                    f"row {index}: from {ref} is row {target}, {'this row' if target == index else 'a later row'}; "
                    "a row reads rows above it (−1 is the row before)",
                    where,
                )
            if target < 0:
                raise GraphError(f"row {index}: from {ref} points before row 0 (it reaches back {-ref} rows)", where)
            absolute.append(target)
        if not is_int(repeats) or repeats < 1:
            raise SpecError(f"row {index}: repeats must be an integer ≥ 1, got {repeats!r}", where)
        if not isinstance(module, str):
            raise SpecError(f"row {index}: the module is a name such as Conv, got {module!r}", where)
        if not isinstance(args, list):
            raise SpecError(f"row {index}: args is a list such as [64, 3, 2], got {args!r}", where)
        return Row(index, tuple(absolute), isinstance(source, list), repeats, module, args, where)

    # -- the model -------------------------------------------------------------------------------

    def build(self) -> ModelSpec:
        depth, width, max_channels = self.multipliers()
        act, act_args = self.activation()
        if (act, act_args) != ("SiLU", {}):
            self.net.activation(act, act_args)
        nc = self.value("nc")
        kpt_shape = self.value("kpt_shape")
        reg_max = self.value("reg_max", 16)
        if not is_int(reg_max) or not 1 <= reg_max <= MAX_REPEATS:
            raise SpecError(f"reg_max: needs an integer ≥ 1, got {reg_max!r}", self.where("reg_max"))
        end2end = self.value("end2end") or False  # left out or null: off
        if not isinstance(end2end, bool):
            raise SpecError(f"end2end: needs true or false, got {show_value(end2end)}", self.where("end2end"))
        channels = self.value("channels", 3)
        if not is_int(channels) or channels < 1:
            raise SpecError(f"channels: needs an integer ≥ 1, got {channels!r}", self.where("channels"))
        names = {
            "nc": nc,
            "kpt_shape": kpt_shape,
            "reg_max": reg_max,
            "end2end": end2end,
            "scale": self.scale,
            "depth": depth,
            "width": width,
            "max_channels": max_channels,
        }
        rows = self.rows()
        ch: list[int] = []
        strides: list[Fraction] = []
        outputs: list[str] = []
        legacy = True
        classify = False
        pieces: dict[int, list[int]] = {}
        for row in rows:
            net = self.net
            net.where, net.row = row.where, row.index
            module = row.module
            self._known(row)
            args = [_substitute(a, names) for a in row.args]
            n = max(round(row.repeats * depth), 1) if row.repeats > 1 else row.repeats
            if n > MAX_REPEATS:
                raise SpecError(f"row {row.index}: {n:,} repeats; cnninspect builds at most {MAX_REPEATS:,}", row.where)
            inputs = [INPUT if s < 0 else self._output(s) for s in row.sources]
            c_in = [channels if s < 0 else ch[s] for s in row.sources]
            s_in = [Fraction(1) if s < 0 else strides[s] for s in row.sources]
            local = f"model.{row.index}"
            if module in HEADS or module.removesuffix("26") in HEADS:
                with _building(row, args):
                    head = head_of(row, module, args, c_in, s_in, nc, reg_max, end2end, legacy, width, max_channels)
                    outputs = detect(self.net, local, inputs, head)
                ch.append(c_in[0])
                strides.append(s_in[0])
                continue
            if module == "Concat":
                if not row.several:
                    raise SpecError(f"row {row.index}: Concat joins several rows: from: [-1, 6]", row.where)
                joined = tuple("input" if s < 0 else f"row {s}" for s in row.sources)
                net.layer(local, "Concat", {"dim": args[0] if args else 1}, inputs, joined)
                ch.append(sum(c_in))
                strides.append(s_in[0])
                continue
            if module == "CBFuse":
                cbfuse(self.net, row, args, inputs, s_in, pieces)
                ch.append(c_in[-1])
                strides.append(s_in[-1])
                continue
            if row.several:
                raise SpecError(
                    f"row {row.index}: {module} reads one row; only Concat and the heads read several", row.where
                )
            c1 = c_in[0]
            if module == "CBLinear":
                c2s = args[0] if args else None
                if not (isinstance(c2s, list) and c2s and all(is_int(c) and c > 0 for c in c2s)):
                    raise SpecError(f"row {row.index}: CBLinear's first argument lists its pieces' channels", row.where)
                with net.group(local, "CBLinear"):
                    k = args[1] if len(args) > 1 else 1
                    s = args[2] if len(args) > 2 else 1
                    net.layer(
                        "conv",
                        "Conv2d",
                        {
                            "in_channels": c1,
                            "out_channels": sum(c2s),
                            "kernel_size": k,
                            "stride": s,
                            "padding": autopad(k),
                            "bias": True,
                        },
                        inputs[0],
                    )
                pieces[row.index] = c2s
                ch.append(sum(c2s))
                strides.append(s_in[0] * s)
                continue
            if module in SCALED:
                if not args or not is_int(args[0]):
                    raise SpecError(f"row {row.index}: {module}'s first argument is its output channels", row.where)
                if args[0] > MAX_INTEGER:
                    raise SpecError(
                        f"row {row.index}: {module}'s first argument is too large; every size is at most "
                        f"{MAX_INTEGER:,}",
                        row.where,
                    )
                c2 = args[0] if module == "Classify" else make_divisible(min(args[0], max_channels) * width)
                args = [c1, c2, *args[1:]]
                if module in REPEATED:
                    args.insert(2, n)
                    n = 1
                if module == "C3k2":
                    legacy = False
                    if self.scale in ("m", "l", "x"):
                        args[3:4] = [True]
                if module == "C2fCIB":
                    legacy = False
                if module == "A2C2f":
                    legacy = False
                    if self.scale in ("l", "x"):
                        args.extend((True, 1.2))
                self._asserts(row, module, c1, c2, args)
            elif module == "ResNetLayer":
                if len(args) < 4 or not is_int(args[1]):
                    raise SpecError(f"row {row.index}: ResNetLayer takes [c1, c2, s, is_first, n]", row.where)
                c2 = args[1] if args[3] else args[1] * 4
            else:
                c2 = c1
            with _building(row, args):
                build = self._builder(row, module, args)
                if n > 1:
                    with net.group(local, "Sequential"):
                        x = inputs[0]
                        for copy in range(n):
                            x = build(str(copy), x)
                else:
                    build(local, inputs[0])
            classify = classify or module == "Classify"
            ch.append(c2)
            strides.append(s_in[0] * _stride(module, args) ** n)
        size = 224 if classify else 640
        return ModelSpec(
            name=PurePath(self.label).stem,
            input=(channels, size, size),
            layers=tuple(self.net.layers),
            source=self.label,
            groups=tuple(self.net.groups),
            format=ULTRALYTICS_FORMAT,
            overridden=tuple(self.notes),
            outputs=tuple(outputs),
            # flat, each layer naming what it reads: what export writes the forward pass from
            structure=tuple(
                ItemSpec(
                    name=x.name,
                    type=x.type,
                    args=x.args,
                    sources=x.inputs,
                    node_path=x.node_path,
                    trainable=x.trainable,
                    called=x.called,
                )
                for x in self.net.layers
            ),
        )

    def _output(self, row: int) -> str:
        """The name of the layer whose output is row ``row``'s."""
        name = f"model.{row}"
        for group in self.net.groups:
            if group.name == name:
                return group.output
        return name

    def _known(self, row: Row) -> None:
        module = row.module
        if module in REFUSED:
            raise UnreadModel(
                f"row {row.index}: {module} belongs to {REFUSED[module]} models, which cnninspect does not read "
                "(it reads YOLO detect, segment, pose, OBB and classify models)",
                row.where,
            )
        known = [*TEMPLATED, *HEADS, "Concat", "CBLinear", "CBFuse", *ONE_INPUT]
        if module not in known and module.removesuffix("26") not in HEADS:
            raise SpecError(f"row {row.index}: no module named {module!r}{did_you_mean(module, known)}", row.where)

    def _asserts(self, row: Row, module: str, c1: int, c2: int, args: list[Any]) -> None:
        e = args[7] if module == "A2C2f" and len(args) > 7 else 0.5
        if module == "A2C2f" and int(c2 * e) % 32:
            raise GraphError(
                f"row {row.index}: A2C2f's hidden channels int({c2}·{e}) = {int(c2 * e)} must be a multiple of 32 "
                "(its attention heads are 32 channels each)",
                row.where,
            )
        if module in ("C2PSA", "PSA") and c1 != c2:
            raise GraphError(
                f"row {row.index}: {module} gives as many channels as it receives, but it receives {c1} and its "
                f"first argument makes {c2}; change the argument so it comes to {c1} at this scale",
                row.where,
            )

    def _builder(self, row: Row, module: str, args: list[Any]) -> Callable[[str, str], str]:
        """A function (name, input) → output for one copy of the row's module."""
        net = self.net
        if module in TEMPLATED:
            params: Params = TEMPLATED[module](*args)
            return lambda local, x: net.module(module, local, x, params)
        torch_class = module.removeprefix("nn.")
        kind = lookup(torch_class)
        if kind is None:
            raise SpecError(f"row {row.index}: torch.nn.{torch_class} is not a layer cnninspect can size", row.where)
        named = {kind.params[i].name: value for i, value in enumerate(args) if value is not None}
        return lambda local, x: net.layer(local, kind.name, dict(named), x)


@contextmanager
def _building(row: Row, args: list[Any]) -> Iterator[None]:
    """A module Ultralytics could not build from these arguments (too few, a wrong kind) is one line at its row."""
    try:
        yield
    except (TypeError, ValueError, ZeroDivisionError, IndexError, OverflowError, AttributeError):
        raise SpecError(
            f"row {row.index}: {row.module} cannot be built from the arguments {row.args!r} "
            f"(as parse_model passes them: {args!r})",
            row.where,
        ) from None


def _multiplier(value: object) -> bool:
    """A scale's depth, width or max_channels: above 0, and small enough that a size times it is a number."""
    return positive(value) and isinstance(value, (int, float)) and value <= MAX_INTEGER


def _stride(module: str, args: list[Any]) -> Fraction:
    """How much a module shrinks H and W (a fraction for an upsample)."""
    if module in ("Conv", "DWConv", "GhostConv", "SCDown", "Focus") and len(args) > 3 and is_int(args[3]):
        return Fraction(args[3])
    if module in ("ADown", "AConv"):
        return Fraction(2)
    if module == "nn.MaxPool2d" and args:
        stride = args[1] if len(args) > 1 and args[1] is not None else args[0]
        return Fraction(stride) if is_int(stride) else Fraction(1)
    if module == "nn.Upsample" and len(args) > 1 and is_number(args[1]):
        return 1 / Fraction(args[1])
    if module == "nn.ConvTranspose2d" and len(args) > 3 and is_int(args[3]):
        return 1 / Fraction(args[3])
    if module == "ResNetLayer" and len(args) > 3:
        return Fraction(4) if args[3] else Fraction(args[2]) if is_int(args[2]) else Fraction(1)
    return Fraction(1)


def _substitute(value: Any, names: dict[str, Any]) -> Any:
    """A string argument as parse_model reads it: one of its variables (``nc``), else a Python
    literal (``None``, ``True``), else the string itself (``nearest``)."""
    if not isinstance(value, str):
        return value
    if value in names:
        return names[value]
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return value
