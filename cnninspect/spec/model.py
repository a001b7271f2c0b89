"""The records every spec source produces: a ModelSpec of LayerSpecs, with source positions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cnninspect.errors import Location
from cnninspect.spec.catalog import MERGE_FAMILIES, LayerType, lookup

INPUT = "input"
"""What ``from:`` calls the model's (or a block's) input; no layer may take this name."""
BUILTIN_LABEL = "<built-in>"
"""How locations in the built-in tutorial model are printed."""
FLAG_LABEL = "--layers"
"""How locations in a flag spec are printed."""


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
    arg_locations: Mapping[str, Location] = field(default_factory=dict)
    """Where each written argument's value starts."""
    named: bool = True
    """False when the spec gives no name and ``name`` is the layer's position."""
    inputs: tuple[str, ...] = ()
    """The layers whose outputs it reads (``input`` for the model's input); empty: the last one called
    before it (nothing, when forward never calls it)."""
    sources: tuple[str, ...] = ()
    """Its ``from:`` as written (``bn2``, ``downsample``), when it has one."""
    switched_off: tuple[str, ...] = ()
    """Those of ``sources`` that an ``if:`` switched off, so they pass their own input on."""
    scope: tuple[str, ...] = ()
    """The groups and block uses it sits in, outermost first (``layer1``, ``layer1.0``)."""
    node_path: tuple[str | int, ...] = ()
    """Where its mapping is in the YAML document (``layers``, 4, ``layers``, 0): shared by every
    use of a block template and every repetition."""
    templated: frozenset[str] = frozenset()
    """Arguments written as ``$`` expressions in a block template (an edit cannot make them literal)."""
    half_padding: bool = False
    """Its padding is kernel_size // 2 whatever the kernel (darknet's ``pad=1``): a new
    kernel_size brings its padding along."""
    shares: str = ""
    """The layer whose parameters it uses (darknet's ``share_index=``): they are counted there, not here."""
    trainable: bool = True
    """False when its parameters are frozen (``trainable: false``, as ``requires_grad_(False)``):
    counted in the totals, not as trainable."""
    called: bool = True
    """False when forward never calls it (``called: false``): it holds parameters (counted in the
    totals) but reads nothing and gives nothing (``inputs`` is empty)."""

    @cached_property
    def kind(self) -> LayerType | None:
        """The catalog entry, or None for a layer only the torch engine can size."""
        return lookup(self.type)

    def get(self, arg: str) -> Any:
        """The argument's value: as written, else PyTorch's default (None if required)."""
        args = self.args
        if arg in args:
            return args[arg]
        kind = self.kind
        return None if kind is None else kind.defaults.get(arg)

    @property
    def title(self) -> str:
        """How messages name the layer: its name, or ``layer 3`` when a top-level layer has none."""
        return layer_title(self.name, self.named, self.scope)

    @property
    def depth(self) -> int:
        """How many groups it sits in."""
        return len(self.scope)

    @property
    def is_merge(self) -> bool:
        """Add, Concat or Mul: several inputs, one output."""
        kind = self.kind
        return kind is not None and kind.family in MERGE_FAMILIES

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
    groups: tuple[GroupSpec, ...] = ()
    """The groups, block uses and repeats the layers sit in, in the order they open."""
    structure: tuple[ItemSpec, ...] = ()
    """The top-level list as written (empty for a flag spec): what export rebuilds."""
    templates: dict[str, BlockSpec] = field(default_factory=dict)
    """The ``blocks:`` as written."""
    format: str = "spec"
    """The name of the input format it was read from (inputs/: ``spec``, ``flags``, ``darknet``,
    ``hydra``, …); what that format does is asked of the registry, by this name."""
    input_hint: str = "input: [3, 32, 32]"
    """How its source states the input, for the error when it gives none."""
    requirements: tuple[Requirement, ...] = ()
    """Values the source format demands of certain layers (a YOLO head's filters)."""
    outputs: tuple[str, ...] = ()
    """Top-level items whose outputs the model returns, when not just the last one's (darknet's
    [yolo] heads): what ``export`` returns."""
    notes: tuple[Note, ...] = ()
    """What the source format reads differently from how it looks (darknet keeps the first of two
    equal keys): warnings at their places."""

    @property
    def batched_input(self) -> tuple[int, ...]:
        """The dummy input's shape in PyTorch order, batch first."""
        return (self.batch, *self.input)

    def unmet_requirements(self) -> list[tuple[Requirement, LayerSpec]]:
        """The format's demands (a YOLO head's filters) that a layer does not meet, with the layer."""
        if not self.requirements:
            return []
        layers = {layer.name: layer for layer in self.layers}
        needs = [(need, layers[need.layer]) for need in self.requirements]
        return [(need, layer) for need, layer in needs if layer.get(need.arg) != need.value]

    @property
    def needs_torch(self) -> bool:
        """True when some layer is unknown to the analytic engine."""
        return any(layer.kind is None for layer in self.layers)


@dataclass(frozen=True, kw_only=True)
class GroupSpec:
    """A named part of the model: a ``layers:`` group, a block use, or a repeat."""

    name: str
    """Qualified name (``layer1.0``)."""
    type: str
    """The block's name, ``Sequential`` for a group, or the repeated type with ``× N``."""
    location: Location
    """Where it is written."""
    scope: tuple[str, ...]
    """The groups it sits in."""
    layers: tuple[str, ...]
    """The qualified names of the layers inside it, in order (empty when every one is switched off)."""
    output: str
    """The layer whose output is the group's output (``input`` when it passes its input through)."""
    named: bool = True
    """False when its name is its position."""
    node_path: tuple[str | int, ...] = ()
    """Where its item is in the YAML document."""
    params: dict[str, Any] = field(default_factory=dict)
    """A block use's parameter values."""

    @property
    def depth(self) -> int:
        """How many groups it sits in."""
        return len(self.scope)


@dataclass(frozen=True, kw_only=True)
class ItemSpec:
    """One entry of a ``layers:`` list as written, before expansion."""

    name: str | None
    """Its name, if written."""
    type: str | None
    """A layer type or a block's name; None for a group."""
    args: dict[str, Any]
    """Arguments or block parameters as written, ``$`` expressions as text."""
    positional: tuple[Any, ...] = ()
    """Positional arguments of a torch-only layer from a flag spec."""
    sources: tuple[str, ...] = ()
    """``from:`` as written; empty: the previous item."""
    repeat: Any = None
    """``repeat:`` as written (an integer or an expression), or None."""
    condition: Any = None
    """``if:`` as written (true/false or an expression), or None."""
    items: tuple[ItemSpec, ...] = ()
    """A group's items."""
    node_path: tuple[str | int, ...] = ()
    """Where it is in the YAML document (layers and groups expanded from it share it)."""
    trainable: bool = True
    """``trainable:`` as written: False freezes every parameter it holds."""
    called: bool = True
    """``called:`` as written: False when forward never calls it."""


@dataclass(frozen=True)
class Note:
    """A warning about how the source format reads a line, found while reading it."""

    location: Location
    """The line it is about."""
    message: str
    """What the format does, and what to do about it."""


@dataclass(frozen=True, kw_only=True)
class Requirement:
    """A value a file format demands of one layer's argument, whatever the shapes."""

    layer: str
    """The layer's qualified name."""
    arg: str
    """Its argument."""
    written_as: str
    """How the file spells the argument (darknet's ``filters``)."""
    value: int | tuple[int, ...]
    """The value it must have."""
    because: str
    """Why, with the arithmetic: ``[yolo] at line 177 needs (classes + 5) × len(mask) = (80 + 5) × 3 = 255``."""


@dataclass(frozen=True)
class BlockSpec:
    """A ``blocks:`` template as written."""

    name: str
    params: dict[str, Any]
    """Parameter → default (None: required)."""
    items: tuple[ItemSpec, ...]


def attend_dims(layer: LayerSpec) -> tuple[int, int, int]:
    """An Attend's (heads, key_dim, head_dim): key_dim left out is head_dim."""
    heads, head_dim, key_dim = layer.get("heads"), layer.get("head_dim"), layer.get("key_dim")
    return int(heads), int(head_dim if key_dim is None else key_dim), int(head_dim)


def layer_title(name: str, named: bool, scope: tuple[str, ...]) -> str:
    """A layer's name in messages: ``layer 3`` for an unnamed top-level layer, else its name."""
    return name if named or scope else f"layer {name}"


def expand(value: Any, dims: int) -> tuple[Any, ...]:
    """PyTorch's ``_ntuple``: a single value stands for every spatial dimension."""
    return tuple(value) if isinstance(value, tuple) else (value,) * dims


def changed_args(original: LayerSpec, intended: LayerSpec) -> dict[str, object]:
    """Arguments whose value differs (or that were not written before)."""
    missing = object()
    return {k: v for k, v in intended.args.items() if original.args.get(k, missing) != v}
