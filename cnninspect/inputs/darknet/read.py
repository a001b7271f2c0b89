"""darknet ``.cfg`` files (YOLOv2/v3/v4 and their tiny variants) → a ModelSpec, read as darknet's
own parser reads them, with every layer and option at its line and column.

Each darknet layer becomes a group named by its index, as darknet prints them (``0``, ``1``, …),
holding the torch.nn layers it amounts to: ``[convolutional]`` is ``0.conv`` (no bias when
``batch_normalize=1``), ``0.bn`` and ``0.act``; ``[route]`` is a Concat (or a pick), and
``[shortcut]`` an Add. The rules darknet's parser follows: ``pad=1`` means padding ``size/2``
unless ``padding=`` is given; a ``[maxpool]``'s padding defaults to ``size − 1`` in all
(``out = (w + padding − size)/stride + 1``, so ``size=2 stride=1`` keeps 13×13); route and
shortcut indices count layers from 0 without ``[net]``, a negative one relative to the layer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from cnninspect.errors import ArgumentError, GraphError, Location, SpecError
from cnninspect.spec.catalog import MAX_INTEGER
from cnninspect.spec.model import INPUT, GroupSpec, ItemSpec, LayerSpec, ModelSpec, Requirement
from cnninspect.spec.validate import make_layer, parse_input
from cnninspect.text import did_you_mean

SECTION = re.compile(r"\[\s*([A-Za-z_]\w*)\s*\]")
ACTIVATIONS = {
    "leaky": ("LeakyReLU", {"negative_slope": 0.1}),
    "relu": ("ReLU", {}),
    "relu6": ("ReLU6", {}),
    "logistic": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "mish": ("Mish", {}),
    "swish": ("SiLU", {}),
    "linear": None,
}
"""darknet's activations and the torch.nn class each one is (linear: none)."""
LAYERS = ("convolutional", "maxpool", "avgpool", "upsample", "route", "shortcut", "yolo", "region",
          "dropout", "connected", "softmax", "reorg")  # fmt: skip
ALIASES = {"conv": "convolutional", "max": "maxpool", "avg": "avgpool", "conn": "connected", "soft": "softmax",
           "network": "net"}  # fmt: skip
"""The short section names darknet also reads (its names are case-sensitive, as here)."""
DARKNET_FORMAT = "darknet"
"""The format's name, and the first step of every layer's ``node_path``."""
OPTION_OF = {"out_channels": "filters", "kernel_size": "size", "stride": "stride", "padding": "padding",
             "groups": "groups", "dilation": "dilation", "out_features": "output", "scale_factor": "stride",
             "p": "probability"}  # fmt: skip
"""The option a torch.nn argument is written as, for edits."""


@dataclass
class Option:
    """One ``key=value`` line."""

    value: str
    where: Location
    """Where the value starts."""
    start: int
    """The value's span in the text, for edits."""
    end: int


@dataclass
class Section:
    """One ``[name]`` and its options."""

    name: str
    where: Location
    index: int
    """Its position among the sections, ``[net]`` included (for edits)."""
    options: dict[str, Option] = field(default_factory=dict)


def starts_with_net(text: str) -> bool:
    """Text whose first section (after comments) is darknet's ``[net]``."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            return SECTION.fullmatch(stripped) is not None and stripped.strip("[] ") in ("net", "network")
    return False


def read_sections(text: str, label: str) -> list[Section]:
    """The file's sections, options at their places; a line darknet would not read is refused."""
    sections: list[Section] = []
    offset = 0
    for number, line in enumerate(re.findall(r"[^\n]*\n|[^\n]+$", text), start=1):  # \n only, as darknet
        start = offset
        offset += len(line)
        body = line.rstrip("\r\n")
        stripped = body.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        indent = len(body) - len(body.lstrip())
        if stripped.startswith("["):
            match = SECTION.fullmatch(stripped)
            if match is None:
                raise SpecError(
                    f"{stripped!r} is not a section header such as [convolutional]", Location(label, number, indent + 1)
                )
            written = match.group(1)
            sections.append(Section(ALIASES.get(written, written), Location(label, number, indent + 1), len(sections)))
            continue
        if "=" not in stripped:
            raise SpecError(
                f"{stripped[:40]!r} is neither a [section] nor a key=value option", Location(label, number, indent + 1)
            )
        if not sections:
            raise SpecError("an option before the first [section]", Location(label, number, indent + 1))
        key, _, value = body.partition("=")
        key = key.strip()
        value_start = len(key) + len(body[: body.index("=")]) - len(key) + 1
        value_start += len(value) - len(value.lstrip())
        value = value.strip()
        if key in sections[-1].options:
            first = sections[-1].options[key].where.line
            raise SpecError(
                f"{key} is given twice in this section (first at line {first})", Location(label, number, indent + 1)
            )
        sections[-1].options[key] = Option(
            value, Location(label, number, value_start + 1), start + value_start, start + value_start + len(value)
        )
    if not sections or sections[0].name != "net":
        raise SpecError("a darknet .cfg starts with [net] (width, height, channels)", Location(label, 1, 1))
    return sections


def parse_darknet(text: str, label: str) -> ModelSpec:
    """A darknet .cfg as a ModelSpec."""
    sections = read_sections(text, label)
    return _Builder(label, sections).build()


class _Builder:
    def __init__(self, label: str, sections: list[Section]) -> None:
        self.label = label
        self.net = sections[0]
        self.sections = sections[1:]
        self.layers: list[LayerSpec] = []
        self.groups: list[GroupSpec] = []
        self.structure: list[ItemSpec] = []
        self.outputs: list[str] = []
        """The leaf whose output is darknet layer i's output."""
        self.requirements: list[Requirement] = []
        self.heads: list[str] = []
        """The detection heads, which the network returns."""

    def build(self) -> ModelSpec:
        net = self.net
        channels = self._int(net, "channels", 3, minimum=1)
        height = self._int(net, "height", 416, minimum=1)
        width = self._int(net, "width", 416, minimum=1)
        sample = parse_input([channels, height, width], net.where)
        for index, section in enumerate(self.sections):
            self._layer(index, section)
        if not self.layers:
            raise SpecError("the .cfg has no layers after [net]; add [convolutional] and the others", net.where)
        return ModelSpec(
            name=_name(self.label),
            input=sample,
            layers=tuple(self.layers),
            source=self.label,
            input_location=net.where,
            groups=tuple(self.groups),
            structure=tuple(self.structure),
            format=DARKNET_FORMAT,
            requirements=tuple(self.requirements),
            outputs=tuple(self.heads) if len(self.heads) > 1 else (),
        )

    # -- sections ----------------------------------------------------------------------------

    def _layer(self, index: int, section: Section) -> None:
        if section.name not in LAYERS:
            known = did_you_mean(section.name, LAYERS)
            raise SpecError(f"[{section.name}] is not a darknet layer cnninspect reads{known}", section.where)
        name = str(index)
        previous = self.outputs[-1] if self.outputs else INPUT
        handler = getattr(self, f"_{section.name}")
        handler(index, name, section, previous)

    def _convolutional(self, index: int, name: str, section: Section, previous: str) -> None:
        size = self._int(section, "size", 1, minimum=1)
        normalize = self._int(section, "batch_normalize", 0) != 0
        padding = self._int(section, "padding", 0, minimum=0)
        half = self._int(section, "pad", 0) != 0  # darknet: pad=1 wins over padding=
        if half:
            padding = size // 2
        args: dict[str, Any] = {"out_channels": self._int(section, "filters", 1, minimum=1), "kernel_size": size}
        for arg, value, default, written in (
            ("stride", self._int(section, "stride", 1, minimum=1), 1, "stride"),
            ("padding", padding, 0, "pad" if "pad" in section.options else "padding"),
            ("groups", self._int(section, "groups", 1, minimum=1), 1, "groups"),
            ("dilation", self._int(section, "dilation", 1, minimum=1), 1, "dilation"),
            ("bias", not normalize, True, ""),
        ):
            if value != default or written in section.options:  # defaults not written left out, as in nn.Conv2d(…)
                args[arg] = value
        places = {"out_channels": "filters", "kernel_size": "size", "stride": "stride", "padding": "pad",
                  "groups": "groups", "dilation": "dilation"}  # fmt: skip
        parts = [("conv", "Conv2d", args, places)]
        if normalize:
            parts.append(("bn", "BatchNorm2d", {}, {}))
        parts += self._activation(section, "logistic")
        conv = len(self.layers)
        self._group(index, name, section, previous, parts)
        self.layers[conv] = replace(self.layers[conv], half_padding=half)

    def _maxpool(self, index: int, name: str, section: Section, previous: str) -> None:
        stride = self._int(section, "stride", 1, minimum=1)
        size = self._int(section, "size", stride, minimum=1)
        padding = self._int(section, "padding", size - 1, minimum=0)
        parts: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []
        if padding:  # darknet pads `padding` in all, the smaller half before
            before, after = padding // 2, padding - padding // 2
            parts.append(("pad", "ZeroPad2d", {"padding": (before, after, before, after)}, {"padding": "padding"}))
        parts.append(
            ("pool", "MaxPool2d", {"kernel_size": size, "stride": stride}, {"kernel_size": "size", "stride": "stride"})
        )
        self._group(index, name, section, previous, parts)

    def _avgpool(self, index: int, name: str, section: Section, previous: str) -> None:
        self._group(index, name, section, previous, [("pool", "AdaptiveAvgPool2d", {"output_size": 1}, {})])

    def _upsample(self, index: int, name: str, section: Section, previous: str) -> None:
        stride = self._int(section, "stride", 2, minimum=1)
        self._group(
            index, name, section, previous, [("up", "Upsample", {"scale_factor": stride}, {"scale_factor": "stride"})]
        )

    def _dropout(self, index: int, name: str, section: Section, previous: str) -> None:
        probability = self._float(section, "probability", 0.5)
        self._group(index, name, section, previous, [("drop", "Dropout", {"p": probability}, {"p": "probability"})])

    def _softmax(self, index: int, name: str, section: Section, previous: str) -> None:
        self._group(index, name, section, previous, [("softmax", "Softmax", {"dim": 1}, {})])

    def _connected(self, index: int, name: str, section: Section, previous: str) -> None:
        parts = [
            ("flatten", "Flatten", {}, {}),
            ("fc", "Linear", {"out_features": self._int(section, "output", 1, minimum=1)}, {"out_features": "output"}),
        ]
        parts += self._activation(section, "logistic")
        self._group(index, name, section, previous, parts)

    def _route(self, index: int, name: str, section: Section, previous: str) -> None:
        written = self._references(index, section, "layers")
        groups = self._int(section, "groups", 1, minimum=1)
        if groups > 1:  # YOLOv4-tiny: piece group_id of the channels cut in `groups`, a Split
            group_id = self._int(section, "group_id", 0, minimum=0)
            if group_id >= groups:
                raise ArgumentError(
                    f"group_id={group_id} does not exist; groups={groups} are numbered 0 to {groups - 1}",
                    section.options["group_id"].where,
                )
            if len(written) > 1:
                raise ArgumentError(
                    "[route] groups= with several layers: cnninspect reads groups= on one layer only",
                    section.options["groups"].where,
                )
            places = {"chunks": "groups", "index": "group_id"}
            self._leaf(name, section, "Split", {"chunks": groups, "index": group_id}, written, places)
            return
        self._leaf(
            name,
            section,
            "Identity" if len(written) == 1 else "Concat",
            {} if len(written) == 1 else {"dim": 1},
            written,
        )

    def _shortcut(self, index: int, name: str, section: Section, previous: str) -> None:
        written = [(previous, "-1", str(index - 1)), *self._references(index, section, "from")]
        activation = self._activation(section, "linear")
        if not activation:
            self._leaf(name, section, "Add", {}, written)
            return
        # a group of the Add and its activation; export writes them as two steps, the second under
        # the darknet layer's name, which later routes and shortcuts read
        self._leaf(f"{name}.add", section, "Add", {}, written, output=False, scope=(name,))
        _, kind, args, places = activation[0]
        self._leaf(f"{name}.act", section, kind, args, [], places, inputs=(f"{name}.add",), scope=(name,), item=name)
        self.groups.append(
            GroupSpec(
                name=name,
                type=section.name,
                location=section.where,
                scope=(),
                layers=(f"{name}.add", f"{name}.act"),
                output=f"{name}.act",
                node_path=(DARKNET_FORMAT, section.index),
            )
        )

    def _reorg(self, index: int, name: str, section: Section, previous: str) -> None:
        """YOLOv2's passthrough: each stride × stride patch becomes stride² channels (the shape of
        PixelUnshuffle; darknet orders the channels its own way, which no size depends on)."""
        stride = self._int(section, "stride", 1, minimum=1)
        parts = [("reorg", "PixelUnshuffle", {"downscale_factor": stride}, {"downscale_factor": "stride"})]
        self._group(index, name, section, previous, parts)

    def _yolo(self, index: int, name: str, section: Section, previous: str) -> None:
        self._head(index, name, section, previous)

    def _region(self, index: int, name: str, section: Section, previous: str) -> None:
        self._head(index, name, section, previous)

    def _head(self, index: int, name: str, section: Section, previous: str) -> None:
        """A detection head: the tensor passes through; the conv before it must give exactly
        (classes + 5) × len(mask) filters ([yolo]) or (classes + coords + 1) × num ([region])."""
        classes = self._int(section, "classes", 20 if section.name == "region" else 80, minimum=1)
        if section.name == "yolo":
            num = self._int(section, "num", 1, minimum=1)
            count = num
            if "mask" in section.options:
                mask = self._ints(section, "mask")
                if max(mask) >= num:
                    raise ArgumentError(
                        f"mask: anchor {max(mask)} does not exist; num={num} anchors are numbered 0 to {num - 1}",
                        section.options["mask"].where,
                    )
                count = len(mask)
            expected, formula = (classes + 5) * count, f"(classes + 5) × len(mask) = ({classes} + 5) × {count}"
        else:
            coords, num = self._int(section, "coords", 4, minimum=0), self._int(section, "num", 1, minimum=1)
            expected = (classes + coords + 1) * num
            formula = f"(classes + coords + 1) × num = ({classes} + {coords} + 1) × {num}"
        before = self.sections[index - 1] if index else None
        if before is None or before.name != "convolutional":
            raise SpecError(f"[{section.name}] must follow a [convolutional] layer", section.where)
        self.requirements.append(
            Requirement(
                layer=f"{index - 1}.conv",
                arg="out_channels",
                written_as="filters",
                value=expected,
                because=f"[{section.name}] at line {section.where.line} needs {formula} = {expected}",
            )
        )
        self._leaf(name, section, "Identity", {}, [])
        self.heads.append(name)

    # -- building --------------------------------------------------------------------------

    def _activation(self, section: Section, default: str) -> list[tuple[str, str, dict[str, Any], dict[str, str]]]:
        option = section.options.get("activation")
        written = option.value if option else default
        if written not in ACTIVATIONS:
            where = option.where if option else section.where
            raise ArgumentError(
                f"activation {written!r} is not one cnninspect reads{did_you_mean(written, list(ACTIVATIONS))}", where
            )
        torch_class = ACTIVATIONS[written]
        return [] if torch_class is None else [("act", torch_class[0], dict(torch_class[1]), {})]

    def _group(
        self,
        index: int,
        name: str,
        section: Section,
        previous: str,
        parts: list[tuple[str, str, dict[str, Any], dict[str, str]]],
    ) -> None:
        """Darknet layer ``name`` as a group of torch.nn layers named ``name.part``."""
        start = len(self.layers)
        items = []
        current = previous
        for part, kind, args, places in parts:
            qualified = f"{name}.{part}"
            self._append(qualified, kind, args, section, places, (current,), (name,))
            items.append(ItemSpec(name=part, type=kind, args=args, node_path=(DARKNET_FORMAT, section.index, part)))
            current = qualified
        self.groups.append(
            GroupSpec(
                name=name,
                type=section.name,
                location=section.where,
                scope=(),
                layers=tuple(layer.name for layer in self.layers[start:]),
                output=current,
                node_path=(DARKNET_FORMAT, section.index),
            )
        )
        self.structure.append(
            ItemSpec(name=name, type=None, args={}, items=tuple(items), node_path=(DARKNET_FORMAT, section.index))
        )
        self.outputs.append(current)

    def _leaf(
        self,
        name: str,
        section: Section,
        kind: str,
        args: dict[str, Any],
        sources: list[tuple[str, str, str]],
        places: dict[str, str] | None = None,
        output: bool = True,
        inputs: tuple[str, ...] = (),
        scope: tuple[str, ...] = (),
        item: str | None = None,
    ) -> None:
        """A darknet layer that is one torch.nn layer (a route, a shortcut, a head), or a part of
        an activated shortcut. ``sources``: (the leaf read, the index as written, the darknet layer
        it is); ``item``: the name export knows it by, when not ``name``."""
        inputs = inputs or tuple(leaf for leaf, _, _ in sources) or ((self.outputs[-1] if self.outputs else INPUT),)
        written = tuple(text for _, text, _ in sources)
        self._append(name, kind, args, section, places or {}, inputs, scope, written)
        item_sources = tuple(layer for _, _, layer in sources)
        self.structure.append(
            ItemSpec(
                name=item or name,
                type=kind,
                args=args,
                sources=item_sources,
                node_path=(DARKNET_FORMAT, section.index, name.partition(".")[2]),
            )
        )
        if output:
            self.outputs.append(name)

    def _append(
        self,
        name: str,
        kind: str,
        args: dict[str, Any],
        section: Section,
        places: dict[str, str],
        inputs: tuple[str, ...],
        scope: tuple[str, ...],
        written: tuple[str, ...] = (),
    ) -> None:
        locations = {arg: section.options[key].where for arg, key in places.items() if key in section.options}
        # a merge is placed at the indices it reads (layers=, from=): what a finding there is about
        refs = section.options.get("layers") or section.options.get("from")
        layer = make_layer(
            len(self.layers),
            name,
            kind,
            args,
            refs.where if written and refs is not None else section.where,
            locations,
            section.where,
            scope=scope,
            inputs=inputs,
            sources=written,
            # one place per layer (the section, and the part in it), so no fix thinks a value shared
            node_path=(DARKNET_FORMAT, section.index, name.partition(".")[2]),
        )
        self.layers.append(layer)

    # -- values ------------------------------------------------------------------------------

    def _references(self, index: int, section: Section, key: str) -> list[tuple[str, str, str]]:
        """``layers=-1, 8``: each index resolved (negative: counted back from this layer), as
        (the leaf giving that layer's output, the index as written, the layer's name)."""
        if key not in section.options:
            raise SpecError(f"[{section.name}] needs {key}=", section.where)
        option = section.options[key]
        resolved = []
        for text in (part.strip() for part in option.value.split(",")):
            if not re.fullmatch(r"-?[0-9]{1,9}", text):
                raise ArgumentError(f"{key}: {text!r} is not a layer index", option.where)
            number = int(text)
            target = index + number if number < 0 else number
            if not 0 <= target < index:
                raise GraphError(
                    f"{key}: {text} points at layer {target}, but layer {index} can only read layers 0 to {index - 1}",
                    option.where,
                )
            resolved.append((self.outputs[target], text, str(target)))
        return resolved

    def _int(self, section: Section, key: str, default: int, minimum: int | None = None) -> int:
        option = section.options.get(key)
        if option is None:
            return default
        if not re.fullmatch(r"[-+]?[0-9]+", option.value):
            raise ArgumentError(f"{key}={option.value[:20]} is not an integer", option.where)
        if len(option.value) > 10 or abs(int(option.value)) > MAX_INTEGER:
            raise ArgumentError(f"{key}={option.value[:20]} is too large (at most {MAX_INTEGER:,})", option.where)
        value = int(option.value)
        if minimum is not None and value < minimum:
            raise ArgumentError(f"{key}={value} must be at least {minimum}", option.where)
        return value

    def _ints(self, section: Section, key: str) -> list[int]:
        option = section.options[key]
        parts = [part.strip() for part in option.value.split(",") if part.strip()]
        if not parts or not all(re.fullmatch(r"[0-9]{1,9}", part) for part in parts):
            raise ArgumentError(f"{key}={option.value[:20]} is not a list of integers", option.where)
        return [int(part) for part in parts]

    def _float(self, section: Section, key: str, default: float) -> float:
        option = section.options.get(key)
        if option is None:
            return default
        try:
            if not option.value.isascii():
                raise ValueError
            value = float(option.value)
        except ValueError:
            raise ArgumentError(f"{key}={option.value[:20]} is not a number", option.where) from None
        if not math.isfinite(value):
            raise ArgumentError(f"{key}={option.value[:20]} is not a finite number", option.where)
        return value


def _name(label: str) -> str:
    stem = label.replace("\\", "/").rsplit("/", 1)[-1]
    return stem.rsplit(".", 1)[0] or "darknet"
