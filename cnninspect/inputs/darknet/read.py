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

from dataclasses import replace

from cnninspect.errors import ArgumentError, GraphError, SpecError
from cnninspect.inputs.darknet.cfg import (
    DARKNET_FORMAT,
    INPUT_HINT,
    INTEGER,
    Section,
    float_option,
    int_list,
    int_option,
    read_sections,
)
from cnninspect.spec.model import INPUT, GroupSpec, ItemSpec, LayerSpec, ModelSpec, Note, Requirement
from cnninspect.spec.validate import make_layer, parse_input
from cnninspect.text import did_you_mean

ACTIVATIONS = {
    "leaky": ("LeakyReLU", {"negative_slope": 0.1}),
    "relu": ("ReLU", {}),
    "relu6": ("ReLU6", {}),
    "logistic": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "mish": ("Mish", {}),
    "swish": ("SiLU", {}),
    "ramp": ("LeakyReLU", {"negative_slope": 0.1}),
    "linear": None,
}
"""darknet's activations and the torch.nn class each one is (linear: none). ``ramp`` has none: its
x·(x>0) + 0.1·x keeps the shape, as the LeakyReLU(0.1) it is read as, but gives 1.1·x for x > 0
(a format-semantics note says so)."""
RAMP = (
    "activation=ramp{others}: darknet computes x·(x>0) + 0.1·x (1.1·x above 0, 0.1·x below), which no torch.nn "
    "class does; cnninspect reads it as LeakyReLU(0.1), the same shape and no parameters, which gives x "
    "above 0"
)
LAYERS = ("convolutional", "local", "maxpool", "avgpool", "local_avgpool", "upsample", "route", "shortcut", "yolo",
          "region", "Gaussian_yolo", "detection", "dropout", "connected", "softmax", "cost", "contrastive", "batchnorm",
          "crop", "reorg", "reorg3d", "scale_channels", "sam")  # fmt: skip
INPUT_KEYS = ("channels", "height", "width")
"""The [net] keys that give the input, C×H×W; darknet refuses a file without them."""
RECURRENT = ("rnn", "lstm", "gru", "crnn", "conv_lstm")
"""darknet's recurrent layers, which cnninspect does not read."""
NOT_MODELLED = {
    "convolutional": ("stride_x", "stride_y", "antialiasing", "sway", "rotate", "stretch", "stretch_sway"),
    "maxpool": ("stride_x", "stride_y", "maxpool_depth", "out_channels", "antialiasing"),
    "local_avgpool": ("stride_x", "stride_y"),
    "shortcut": ("weights_type",),
    "reorg": ("reverse", "flatten"),
    "reorg3d": ("reverse",),
    "scale_channels": ("scale_wh",),
}
"""Options that change a layer's sizes or parameters in ways cnninspect does not model: a section
that sets one (to other than 0 or none) is refused, never read without it. A key darknet does not
read in the section (keys.py) is not one: darknet ignores it, and a note says so."""
Part = tuple[str, str, dict[str, object], dict[str, str]]
"""One torch.nn layer of a darknet layer: (part name, class, arguments, the option each argument is written as)."""
OPTION_OF = {"out_channels": "filters", "kernel_size": "size", "stride": "stride", "padding": "padding",
             "groups": "groups", "dilation": "dilation", "out_features": "output", "scale_factor": "stride",
             "p": "probability"}  # fmt: skip
"""The option a torch.nn argument is written as, for edits."""


def parse_darknet(text: str, label: str) -> ModelSpec:
    """A darknet .cfg as a ModelSpec."""
    notes: list[Note] = []
    sections = read_sections(text, label, notes)
    return _Builder(label, sections, notes).build()


class _Builder:
    def __init__(self, label: str, sections: list[Section], notes: list[Note]) -> None:
        self.label = label
        self.notes = notes
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
        self.input: tuple[int, ...] = ()
        """C×H×W from [net]; empty when it does not give all three (then --input must)."""
        self.ramped = False
        """Whether the note on activation=ramp is made (once per file)."""

    def build(self) -> ModelSpec:
        net = self.net
        sample: tuple[int, ...] = ()  # darknet stops without all three: "No input parameters supplied"
        if all(key in net.options for key in INPUT_KEYS):
            sample = parse_input([int_option(net, key, 1, minimum=1) for key in INPUT_KEYS], net.where)
        self.input = sample
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
            input_hint=INPUT_HINT,
            requirements=tuple(self.requirements),
            outputs=tuple(self.heads) if len(self.heads) > 1 else (),
            notes=tuple(self.notes),
        )

    # -- sections ----------------------------------------------------------------------------

    def _layer(self, index: int, section: Section) -> None:
        if section.name in RECURRENT:
            raise SpecError(
                f"[{section.name}] is a recurrent layer; cnninspect reads darknet's convolutional networks, not its "
                "[rnn], [lstm], [gru], [crnn] or [conv_lstm] ones",
                section.where,
            )
        if section.name not in LAYERS:
            known = did_you_mean(section.name, LAYERS)
            raise SpecError(f"[{section.name}] is not a darknet layer cnninspect reads{known}", section.where)
        for key in NOT_MODELLED.get(section.name, ()):
            option = section.options.get(key)
            if option is not None and option.value not in ("0", "none"):
                raise ArgumentError(
                    f"{key}={option.value[:20]} changes this [{section.name}]'s sizes or parameters in a way "
                    "cnninspect does not model; it cannot read the layer",
                    option.where,
                )
        name = str(index)
        previous = self.outputs[-1] if self.outputs else INPUT
        handler = getattr(self, f"_{section.name}")
        handler(index, name, section, previous)

    def _convolutional(self, index: int, name: str, section: Section, previous: str) -> None:
        size = int_option(section, "size", 1, minimum=1)
        normalize = int_option(section, "batch_normalize", 0) != 0
        padding = int_option(section, "padding", 0, minimum=0)
        half = int_option(section, "pad", 0) != 0  # darknet: pad=1 wins over padding=
        if half:
            padding = size // 2
        dilation = int_option(section, "dilation", 1, minimum=1) if size > 1 else 1  # AlexeyAB: 1 for a 1×1
        padding *= dilation  # darknet pads pad·dilation, so a dilated 3×3 with pad=1 keeps H×W
        args: dict[str, object] = {"out_channels": int_option(section, "filters", 1, minimum=1), "kernel_size": size}
        for arg, value, default, written in (
            ("stride", int_option(section, "stride", 1, minimum=1), 1, "stride"),
            ("padding", padding, 0, "pad" if "pad" in section.options else "padding"),
            ("groups", int_option(section, "groups", 1, minimum=1), 1, "groups"),
            ("dilation", dilation, 1, "dilation"),
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
        self.layers[conv] = replace(self.layers[conv], half_padding=half and dilation == 1)
        if "share_index" in section.options:  # the weights (and BatchNorm) of another conv, counted there
            shared = self._shared_conv(index, section)
            for position in range(conv, conv + (2 if normalize else 1)):
                part = self.layers[position].name.rpartition(".")[2]
                self.layers[position] = replace(self.layers[position], shares=f"{shared}.{part}")

    def _shared_conv(self, index: int, section: Section) -> int:
        """The [convolutional] whose weights ``share_index=`` names (negative: counted back)."""
        option = section.options["share_index"]
        number = int_option(section, "share_index", 0)
        target = number if number >= 0 else index + number
        if not 0 <= target < index or self.sections[target].name != "convolutional":
            raise ArgumentError(
                f"share_index={number} must name an earlier [convolutional] (layers 0 to {index - 1})", option.where
            )
        other = self.sections[target]
        for key, default in (("filters", 1), ("size", 1), ("groups", 1), ("batch_normalize", 0)):
            if int_option(section, key, default) != int_option(other, key, default):
                raise ArgumentError(
                    f"share_index={number} names layer {target}, whose {key}= differs; darknet refuses to share "
                    "weights of another shape",
                    option.where,
                )
        return target

    def _local(self, index: int, name: str, section: Section, previous: str) -> None:
        """A locally connected layer: a conv with its own weights and bias at every output place.
        darknet counts (h − size)/stride + 1 places without ``pad``, (h − 1)/stride + 1 with it,
        and pads by the value of ``pad`` itself: the two agree when pad = (size − 1)/2."""
        size = int_option(section, "size", 1, minimum=1)
        stride = int_option(section, "stride", 1, minimum=1)
        pad = int_option(section, "pad", 0, minimum=0)
        if pad and 2 * pad + 1 != size:
            raise ArgumentError(
                f"pad={pad} with size={size}: darknet's [local] counts (h − 1)/stride + 1 places but pads by "
                f"{pad}, which agree only when pad=(size − 1)/2; cnninspect reads pad=0 or pad={(size - 1) // 2}"
                if size % 2
                else f"pad={pad} with an even size={size}: darknet's [local] counts (h − 1)/stride + 1 places but "
                "pads by pad, which no even size agrees with; cnninspect reads pad=0 here",
                section.options["pad"].where,
            )
        args: dict[str, object] = {"out_channels": int_option(section, "filters", 1, minimum=1), "kernel_size": size}
        if stride != 1 or "stride" in section.options:
            args["stride"] = stride
        if pad or "pad" in section.options:
            args["padding"] = pad
        places = {"out_channels": "filters", "kernel_size": "size", "stride": "stride", "padding": "pad"}
        parts = [("local", "LocallyConnected2d", args, places), *self._activation(section, "logistic")]
        self._group(index, name, section, previous, parts)

    def _maxpool(self, index: int, name: str, section: Section, previous: str) -> None:
        self._pool(index, name, section, previous, "MaxPool2d")

    def _local_avgpool(self, index: int, name: str, section: Section, previous: str) -> None:
        """AlexeyAB's windowed average pool: the sizes of a [maxpool]."""
        self._pool(index, name, section, previous, "AvgPool2d")

    def _pool(self, index: int, name: str, section: Section, previous: str, kind: str) -> None:
        stride = int_option(section, "stride", 1, minimum=1)
        size = int_option(section, "size", stride, minimum=1)
        padding = int_option(section, "padding", size - 1, minimum=0)
        parts: list[Part] = []
        if padding:  # darknet pads `padding` in all, the smaller half before
            before, after = padding // 2, padding - padding // 2
            parts.append(("pad", "ZeroPad2d", {"padding": (before, after, before, after)}, {"padding": "padding"}))
        parts.append(
            ("pool", kind, {"kernel_size": size, "stride": stride}, {"kernel_size": "size", "stride": "stride"})
        )
        self._group(index, name, section, previous, parts)

    def _avgpool(self, index: int, name: str, section: Section, previous: str) -> None:
        self._group(index, name, section, previous, [("pool", "AdaptiveAvgPool2d", {"output_size": 1}, {})])

    def _upsample(self, index: int, name: str, section: Section, previous: str) -> None:
        stride = int_option(section, "stride", 2, minimum=1)
        self._group(
            index, name, section, previous, [("up", "Upsample", {"scale_factor": stride}, {"scale_factor": "stride"})]
        )

    def _dropout(self, index: int, name: str, section: Section, previous: str) -> None:
        probability = float_option(section, "probability", 0.5)
        self._group(index, name, section, previous, [("drop", "Dropout", {"p": probability}, {"p": "probability"})])

    def _softmax(self, index: int, name: str, section: Section, previous: str) -> None:
        self._group(index, name, section, previous, [("softmax", "Softmax", {"dim": 1}, {})])

    def _cost(self, index: int, name: str, section: Section, previous: str) -> None:
        """The training loss: the tensor passes through."""
        self._leaf(name, section, "Identity", {}, [])

    def _contrastive(self, index: int, name: str, section: Section, previous: str) -> None:
        """AlexeyAB's contrastive loss: the tensor passes through."""
        self._leaf(name, section, "Identity", {}, [])

    def _batchnorm(self, index: int, name: str, section: Section, previous: str) -> None:
        self._group(index, name, section, previous, [("bn", "BatchNorm2d", {}, {})])

    def _crop(self, index: int, name: str, section: Section, previous: str) -> None:
        """The centre crop_width × crop_height of the input (darknet crops at random while
        training), as a ZeroPad2d with negative padding. It reads the input's size, so cnninspect
        reads it as the first layer only."""
        if index:
            raise SpecError(
                "a [crop] reads the input's size, so cnninspect reads it only as the first layer", section.where
            )
        if not self.input:
            raise SpecError(f"a [crop] reads the input's size: give {INPUT_HINT}", self.net.where)
        _, height, width = self.input
        crop = {"height": int_option(section, "crop_height", 1, minimum=1),
                "width": int_option(section, "crop_width", 1, minimum=1)}  # fmt: skip
        for axis, size in (("height", height), ("width", width)):
            if crop[axis] > size:
                option = section.options.get(f"crop_{axis}")
                raise ArgumentError(
                    f"crop_{axis}={crop[axis]} is larger than the input's {axis} {size}", (option or section).where
                )
        top, left = (height - crop["height"]) // 2, (width - crop["width"]) // 2
        bottom, right = height - crop["height"] - top, width - crop["width"] - left
        parts: list[Part] = [("crop", "ZeroPad2d", {"padding": (-left, -right, -top, -bottom)}, {})]
        self._group(index, name, section, previous, parts)

    def _connected(self, index: int, name: str, section: Section, previous: str) -> None:
        args: dict[str, object] = {"out_features": int_option(section, "output", 1, minimum=1)}
        normalize = int_option(section, "batch_normalize", 0) != 0
        if normalize:
            args["bias"] = False  # the BatchNorm holds the shift
        parts = [("flatten", "Flatten", {}, {}), ("fc", "Linear", args, {"out_features": "output"})]
        if normalize:
            parts.append(("bn", "BatchNorm1d", {}, {}))
        parts += self._activation(section, "logistic")
        self._group(index, name, section, previous, parts)

    def _route(self, index: int, name: str, section: Section, previous: str) -> None:
        written = self._references(index, section, "layers")
        groups = int_option(section, "groups", 1, minimum=1)
        if groups > 1:  # YOLOv4-tiny: piece group_id of the channels cut in `groups`
            group_id = int_option(section, "group_id", 0, minimum=0)
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
        PixelUnshuffle; darknet orders the channels its own way, which no size depends on).
        AlexeyAB's [reorg3d] has the same shape. pjreddie's ``extra=n``: the input flat and n values
        more, left 0, whatever the stride (a ConstantPad1d, which only the torch engine sizes)."""
        stride = int_option(section, "stride", 1, minimum=1)
        parts: list[Part] = [("reorg", "PixelUnshuffle", {"downscale_factor": stride}, {"downscale_factor": "stride"})]
        extra = int_option(section, "extra", 0, minimum=0) if section.name == "reorg" else 0
        if extra:  # pjreddie's: its input flat and `extra` values more, left 0 (go.cfg's pass move)
            pad: Part = ("extra", "ConstantPad1d", {"padding": (0, extra), "value": 0.0}, {})
            parts = [("flatten", "Flatten", {}, {}), pad]
        self._group(index, name, section, previous, parts)

    _reorg3d = _reorg

    def _scale_channels(self, index: int, name: str, section: Section, previous: str) -> None:
        """Squeeze-and-excitation: layer from= times the previous layer's one value per channel."""
        written = [(previous, "-1", str(index - 1)), *self._references(index, section, "from")]
        self._leaf(name, section, "Mul", {}, written)

    _sam = _scale_channels  # spatial attention: layer from= times the previous layer, value by value

    def _detection(self, index: int, name: str, section: Section, previous: str) -> None:
        """YOLOv1's head: the [connected] before it gives side² × ((1 + coords) × num + classes) values."""
        side, num = int_option(section, "side", 7, minimum=1), int_option(section, "num", 1, minimum=1)
        coords, classes = int_option(section, "coords", 1, minimum=0), int_option(section, "classes", 1, minimum=1)
        expected = side * side * ((1 + coords) * num + classes)
        if index and self.sections[index - 1].name == "connected":
            formula = f"side² × ((1 + coords) × num + classes) = {side}² × ((1 + {coords}) × {num} + {classes})"
            self._demand(index, section, ("fc", "out_features", "output"), expected, formula)
        self._leaf(name, section, "Identity", {}, [])
        self.heads.append(name)

    def _yolo(self, index: int, name: str, section: Section, previous: str) -> None:
        self._head(index, name, section, previous)

    def _region(self, index: int, name: str, section: Section, previous: str) -> None:
        self._head(index, name, section, previous)

    def _Gaussian_yolo(self, index: int, name: str, section: Section, previous: str) -> None:
        self._head(index, name, section, previous)

    def _head(self, index: int, name: str, section: Section, previous: str) -> None:
        """A detection head: the tensor passes through; the conv before it must give exactly
        (classes + 5) × len(mask) filters ([yolo]) or (classes + coords + 1) × num ([region])."""
        classes = int_option(section, "classes", 20 if section.name == "region" else 80, minimum=1)
        if section.name in ("yolo", "Gaussian_yolo"):
            values = 5 if section.name == "yolo" else 9  # Gaussian: a mean and a variance per coordinate
            num = int_option(section, "num", 1, minimum=1)
            count = num
            if "mask" in section.options:
                mask = int_list(section, "mask")
                if max(mask) >= num:  # darknet reads past its anchors without a word
                    pairs = section.options["anchors"].value.count(",") // 2 + 1 if "anchors" in section.options else 0
                    remedy = f"set num={pairs}, the anchors= given" if pairs > max(mask) else "correct the mask"
                    self.notes.append(
                        Note(
                            section.options["mask"].where,
                            f"mask: anchor {max(mask)} does not exist; num={num} anchors are numbered 0 to {num - 1}, "
                            f"so darknet reads values past them that are not anchors; {remedy}",
                        )
                    )
                count = len(mask)
            expected = (classes + values) * count
            formula = f"(classes + {values}) × len(mask) = ({classes} + {values}) × {count}"
        else:
            coords, num = int_option(section, "coords", 4, minimum=0), int_option(section, "num", 1, minimum=1)
            expected = (classes + coords + 1) * num
            formula = f"(classes + coords + 1) × num = ({classes} + {coords} + 1) × {num}"
        before = self.sections[index - 1] if index else None
        if before is None or before.name != "convolutional":
            raise SpecError(f"[{section.name}] must follow a [convolutional] layer", section.where)
        self._demand(index, section, ("conv", "out_channels", "filters"), expected, formula)
        self._leaf(name, section, "Identity", {}, [])
        self.heads.append(name)

    def _demand(self, index: int, section: Section, target: tuple[str, str, str], value: int, formula: str) -> None:
        """A head's demand on the layer before it: (its part, the argument, how the .cfg spells it)."""
        part, arg, written_as = target
        self.requirements.append(
            Requirement(
                layer=f"{index - 1}.{part}",
                arg=arg,
                written_as=written_as,
                value=value,
                because=f"[{section.name}] at line {section.where.line} needs {formula} = {value}",
            )
        )

    # -- building --------------------------------------------------------------------------

    def _activation(self, section: Section, default: str) -> list[Part]:
        option = section.options.get("activation")
        written = option.value if option else default
        if written not in ACTIVATIONS:
            where = option.where if option else section.where
            raise ArgumentError(
                f"activation {written!r} is not one cnninspect reads{did_you_mean(written, list(ACTIVATIONS))}", where
            )
        torch_class = ACTIVATIONS[written]
        if written == "ramp" and not self.ramped:  # one note, at the first ramp, for the file
            self.ramped = True
            ramps = [s for s in self.sections if "activation" in s.options and s.options["activation"].value == "ramp"]
            more = len(ramps) - 1
            said = f" (here and in {more} more layer{'s' if more > 1 else ''})" if more else ""
            self.notes.append(Note((option or section).where, RAMP.format(others=said)))
        return [] if torch_class is None else [("act", torch_class[0], dict(torch_class[1]), {})]

    def _group(
        self,
        index: int,
        name: str,
        section: Section,
        previous: str,
        parts: list[Part],
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
        args: dict[str, object],
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
        args: dict[str, object],
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
            match = INTEGER.fullmatch(text)  # atoi: "180 ###P6" is 180
            if match is None or len(match.group(1).lstrip("+-")) > 9:
                raise ArgumentError(f"{key}: {text!r} is not a layer index", option.where)
            number = int(match.group(1))
            target = index + number if number < 0 else number
            if not 0 <= target < index:
                raise GraphError(
                    f"{key}: {text} points at layer {target}, but layer {index} can only read layers 0 to {index - 1}",
                    option.where,
                )
            resolved.append((self.outputs[target], text, str(target)))
        return resolved


def _name(label: str) -> str:
    stem = label.replace("\\", "/").rsplit("/", 1)[-1]
    return stem.rsplit(".", 1)[0] or "darknet"
