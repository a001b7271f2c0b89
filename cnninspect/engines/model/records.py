"""The records of a ``--model`` trace (ModuleRecord, ModelTrace), the call tree the tracer builds
(Call), each module read back as a LayerSpec, and the rows built from the calls: one per call
shown, every op and every parameter counted once."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

from cnninspect.engines.analytic import output_shape
from cnninspect.engines.model.target import ModelTarget, no_line
from cnninspect.engines.records import BYTES_PER_VALUE, UNCALLED, LayerRecord, Mismatch, Reshape, Trace
from cnninspect.engines.torch import count_parameters, import_torch
from cnninspect.errors import Location
from cnninspect.spec.catalog import ArgValueError, LayerType, lookup
from cnninspect.spec.model import LayerSpec

if TYPE_CHECKING:
    from torch import Tensor, nn


@dataclass(frozen=True, kw_only=True)
class ModuleRecord(LayerRecord):
    """One row of a ``--model`` trace: a module call, with what it computed and where its input came
    from; or the parameters of a module that forward never used."""

    mult_adds: int | None = 0
    """Multiply-accumulates of the ops in this call that no other row shows; None when one of them has
    no cost rule."""
    uncounted: tuple[str, ...] = ()
    """The ops without a cost rule (``aten._trilinear``)."""
    source: int | None = None
    """The row whose output arrives here with its layout kept (as it came out, or through ops that keep
    its shape); None for the model's input or an input computed otherwise."""
    direct: bool = False
    """The input is ``source``'s output itself, no op in between."""
    from_input: bool = False
    """The input is one of the model's inputs (or made from it by ops that keep its shape)."""
    map_output: bool = False
    """The output is a feature map, channels first: a convolution or pooling op made it, or made
    what ops that keep its shape turned into it."""

    @property
    def counted_mult_adds(self) -> int | None:
        """``mult_adds``: counted op by op as the call ran."""
        return self.mult_adds

    @property
    def uncounted_ops(self) -> tuple[str, ...]:
        """``uncounted``."""
        return self.uncounted

    @property
    def passes_layout(self) -> bool:
        """A module outside the catalog passes a feature map on when it keeps its shape or its own ops
        made a feature map (a stage, a conv of its own); not when it permutes to channels last."""
        return self.output_shape == self.input_shape or self.map_output


@dataclass(frozen=True, kw_only=True)
class ModelTrace(Trace):
    """A ``--model`` trace: the records are ``ModuleRecord``s, and the data flow is the real one."""

    inputs: tuple[tuple[int, ...], ...] = ()
    """Every input's shape, batch first (``spec.input`` is the first)."""
    device: str = "cpu"
    """Where the forward pass ran: ``cpu`` or ``meta``."""
    notes: tuple[str, ...] = ()
    """Why the model was built or traced where it was, when that is not the usual choice."""
    activations: int = 0
    """Every leaf module call's output, float32, whatever the rows shown (``--depth``)."""
    batch_mixed: bool = False
    """The output has no dimension that follows the batch size (checked at batch and batch + 1)."""
    reshape: Reshape | None = None
    """The user's reshape that made the output's dimension 0, when the batch is mixed."""

    @cached_property
    def producers(self) -> tuple[int | None, ...]:
        """The row whose output each row reads with its layout kept; None when there is none."""
        return tuple(_source(record) for record in self.records)

    @cached_property
    def consumers(self) -> tuple[tuple[int, ...], ...]:
        """The rows that read each row's output itself, no op in between."""
        readers: list[list[int]] = [[] for _ in self.records]
        for index, record in enumerate(self.records):
            source = _source(record)
            if source is not None and isinstance(record, ModuleRecord) and record.direct:
                readers[source].append(index)
        return tuple(tuple(r) for r in readers)

    @property
    def activation_bytes(self) -> int:
        """Every leaf module call's output, float32, at the traced batch size."""
        return self.activations

    def nearest(self, index: int) -> int | None:
        """Where a row's input most likely comes from, for messages: its source, else (an input made by
        the model's own code, such as ``x.view``) the row before; None for the model's input."""
        record = self.records[index]
        source = _source(record)
        if source is not None or (isinstance(record, ModuleRecord) and record.from_input) or not index:
            return source
        return index - 1

    def reads_input(self, index: int) -> bool:
        """The engine knows: a row may also read a tensor the model's own code made."""
        record = self.records[index]
        return isinstance(record, ModuleRecord) and record.from_input

    def batch_changed(self, returned: tuple[int, ...]) -> bool:
        """The output may not be batch first (an LSTM without batch_first returns time first): the
        engine checked that no output dimension follows the batch size."""
        return self.batch_mixed

    @property
    def batch_reshape(self) -> Reshape | None:
        """``reshape``."""
        return self.reshape

    @property
    def merges_seen(self) -> bool:
        """Branches join in the model's own code, unseen."""
        return False

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        """``inputs``."""
        return self.inputs

    @property
    def ran_on(self) -> str | None:
        """``device``."""
        return self.device

    @property
    def engine_notes(self) -> tuple[str, ...]:
        """``notes``."""
        return self.notes


def _source(record: LayerRecord) -> int | None:
    return record.source if isinstance(record, ModuleRecord) else None


@dataclass(frozen=True)
class SubclassSpec(LayerSpec):
    """A module whose class subclasses a torch.nn layer of the catalog (timm's StdConv2d and
    BatchNormAct2d): read back and shown with that layer's arguments, filters and stride, but its
    forward is its own, so its input is not checked against them."""

    base: str = ""
    """The torch.nn layer it subclasses (``Conv2d``)."""

    @cached_property
    def kind(self) -> LayerType | None:
        """The catalog entry of the torch.nn layer it subclasses."""
        return lookup(self.base)


@dataclass
class Call:
    """One call of one module during the trace."""

    module: nn.Module
    name: str
    parent: Call | None
    input_shape: tuple[int, ...]
    spec: LayerSpec | None
    mismatches: tuple[Mismatch, ...] = ()
    refused: tuple[Mismatch, ...] = ()
    """A rank the catalog refuses: a finding only if PyTorch refuses it too."""
    in_size: int | None = None
    output_shape: tuple[int, ...] | None = None
    children: list[Call] = field(default_factory=list)
    received: Tensor | None = None
    """The tensor that really arrived, when the module ran on a stand-in."""
    own: int = 0
    """Multiply-accumulates of the ops run in this call and in none of its children."""
    uncounted: list[str] = field(default_factory=list)
    """Ops without a cost rule run in this call and in none of its children."""
    source: Call | None = None
    direct: bool = False
    from_input: bool = False
    map_output: bool = False

    def within(self, other: Call) -> bool:
        """This call is ``other`` or runs inside it."""
        call: Call | None = self
        while call is not None and call is not other:
            call = call.parent
        return call is other


def layer_spec(
    module: nn.Module, name: str, sites: dict[int, Location], target: ModelTarget, lazy: bool = False
) -> LayerSpec:
    """The module as a LayerSpec: torch.nn catalog layers with their arguments read back (a lazy
    layer's input size left out: it was inferred)."""
    torch = import_torch()
    cls = type(module)
    location = sites.get(id(module)) or no_line(target)
    if isinstance(module, torch.jit.ScriptModule):
        return LayerSpec(0, name, f"{module.original_name} (TorchScript)", {}, location)
    base = next((c for c in cls.__mro__ if c.__module__.startswith("torch.nn") and lookup(c.__name__)), None)
    kind = None if base is None else lookup(base.__name__)
    type_name = cls.__name__ if base is cls or lookup(cls.__name__) is None else f"{cls.__module__}.{cls.__qualname__}"
    if kind is None:
        return LayerSpec(0, name, type_name, {}, location)
    args = {}
    for param in kind.params:
        if not hasattr(module, param.name) or (lazy and param.name == kind.inferred):
            continue
        value = getattr(module, param.name)
        if param.name == "bias" and not isinstance(value, bool):
            value = value is not None
        if isinstance(value, (list, tuple)):
            # PyTorch stores kernel_size=3 as (3, 3); show it as written most often.
            value = (
                value[0]
                if len(value) > 1 and len(set(value)) == 1 and param.name != "normalized_shape"
                else tuple(value)
            )
        try:
            args[param.name] = param.check(value)
        except ArgValueError:
            continue
    if base is not cls:
        return SubclassSpec(0, name, type_name, args, location, base=kind.name)
    return LayerSpec(0, name, kind.name, args, location)


def _sized_as_base(spec: LayerSpec, call: Call) -> bool:
    """A subclass's call gave the output its torch.nn layer gives (Conv2dSame, which pads in forward,
    does not)."""
    if not isinstance(spec, SubclassSpec):
        return True
    if call.output_shape is None or not call.input_shape:
        return False
    try:
        return output_shape(spec, call.input_shape) == call.output_shape
    except Exception:  # an input the layer's own formula does not take
        return False


def build_records(
    model: nn.Module,
    root: Call,
    depth: int | None,
    sites: dict[int, Location],
    target: ModelTarget,
    used: set[int],
    label: str,
) -> list[ModuleRecord]:
    """One record per call shown, then one per module that forward never called and whose parameters
    no op used; every op and every parameter counted once."""
    calls = [root, *walk(root)]
    called = {id(c.module) for c in calls}
    unused = {
        id(module)
        for module in model.modules()
        if id(module) not in called and not any(id(p) in used for p in module.parameters(recurse=False))
    }
    shown = [c for c in calls if c is not root and _visible(c, depth)]
    shown_names = {c.name for c in shown}
    owner_of = _owners(model, shown_names, unused)
    if _root_shown(root, owner_of, shown):
        shown.insert(0, root)
        shown_names.add("")
    position = {id(c): i for i, c in enumerate(shown)}
    totals = {id(c): _attributed(c, position) for c in shown}
    counted: set[int] = set()
    first_call: dict[int, int] = {}
    records = []
    for index, call in enumerate(shown):
        notes = []
        own: list[tuple[str, nn.Parameter]] = []
        holds = any(True for _ in call.module.parameters())
        if id(call.module) in first_call:
            if holds:
                notes.append(f"called again: parameters counted in row {first_call[id(call.module)]}")
        else:
            first_call[id(call.module)] = index
            shared: dict[str, list[str]] = {}
            for qualified, parameter in call.module.named_parameters():
                owner, first_name = owner_of.get(id(parameter), (None, ""))
                full = f"{call.name}.{qualified}" if call.name else qualified
                if first_name != full and owner is not None:  # tied to another module's weight
                    shared.setdefault(first_name.rpartition(".")[0] or label, []).append(qualified)
                if owner == call.name and id(parameter) not in counted:
                    counted.add(id(parameter))
                    own.append((qualified, parameter))
            notes += [f"shares {', '.join(names)} with {holder}" for holder, names in shared.items()]
        weights, biases, trainable = count_parameters(own)
        spec = call.spec or layer_spec(call.module, call.name, sites, target)
        if not _sized_as_base(spec, call):
            spec = LayerSpec(0, spec.name, spec.type, {}, spec.location)
        products, uncounted = totals[id(call)]
        source = _shown(call.source, position)
        records.append(
            ModuleRecord(
                layer=replace(spec, index=index, name=call.name or label),
                input_shape=call.input_shape,
                output_shape=call.output_shape,
                weights=weights,
                biases=biases,
                trainable=trainable,
                mismatches=call.mismatches,
                in_size=call.in_size,
                note="; ".join(dict.fromkeys(notes)),
                depth=call.name.count(".") if depth is not None else 0,
                container=any(id(c) in position for c in walk(call)),
                mult_adds=None if uncounted else products,
                uncounted=tuple(dict.fromkeys(uncounted)),
                source=source,
                direct=call.direct and call.source is not None and source == position.get(id(call.source)),
                from_input=call.from_input,
                map_output=call.map_output,
            )
        )
    records += _uncalled(model, counted, len(records), sites, target, label)
    return records


def _owners(model: nn.Module, shown: set[str], unused: set[int]) -> dict[int, tuple[str | None, str]]:
    """Each parameter once, under the first name PyTorch gives it: (the shown call it is counted in,
    or None when its module was never used; that first name)."""
    modules = dict(model.named_modules())
    owner_of: dict[int, tuple[str | None, str]] = {}
    for qualified, parameter in model.named_parameters():
        holder = qualified.rpartition(".")[0]
        if id(modules[holder]) in unused:
            owner_of[id(parameter)] = (None, qualified)
            continue
        owner = holder
        while owner and owner not in shown:
            owner = owner.rpartition(".")[0]
        owner_of[id(parameter)] = (owner, qualified)
    return owner_of


def _root_shown(root: Call, owner_of: dict[int, tuple[str | None, str]], shown: list[Call]) -> bool:
    """The model's own call gets a row for parameters no shown call holds (ViT's class token) and for
    ops no shown call runs."""
    position = {id(c): i for i, c in enumerate(shown)}
    products, uncounted = _attributed(root, position)
    return bool(products or uncounted or any(owner == "" for owner, _ in owner_of.values()))


def _attributed(call: Call, shown: dict[int, int]) -> tuple[int, list[str]]:
    """A call's multiply-accumulates and uncounted ops with those of its calls not shown folded in."""
    products, uncounted = call.own, list(call.uncounted)
    for child in call.children:
        if id(child) not in shown:
            more, missing = _attributed(child, shown)
            products += more
            uncounted += missing
    return products, uncounted


def _shown(call: Call | None, position: dict[int, int]) -> int | None:
    """The row that shows a call: its own, or its nearest shown ancestor's when folded."""
    while call is not None and id(call) not in position:
        call = call.parent
    return None if call is None else position[id(call)]


def output_bytes(call: Call) -> int:
    return 0 if call.output_shape is None else math.prod(call.output_shape) * BYTES_PER_VALUE


def walk(call: Call) -> Iterator[Call]:
    for child in call.children:
        yield child
        yield from walk(child)


def _visible(call: Call, depth: int | None) -> bool:
    """Leaf calls by default, and calls with parameters or ops of their own; with --depth N every
    call down to depth N, deeper ones folded into their ancestor."""
    if depth is not None:
        return call.name.count(".") < depth
    owns = any(True for _ in call.module.parameters(recurse=False))
    return not call.children or owns or bool(call.own or call.uncounted)


def _uncalled(
    model: nn.Module, counted: set[int], start: int, sites: dict[int, Location], target: ModelTarget, label: str
) -> list[ModuleRecord]:
    """Rows for parameters of modules the forward pass never called and no op used, so totals are
    complete."""
    rows: list[ModuleRecord] = []
    for name, module in model.named_modules():
        own = [(n, p) for n, p in module.named_parameters(recurse=False) if id(p) not in counted]
        if not own:
            continue
        counted.update(id(p) for _, p in own)
        weights, biases, trainable = count_parameters(own)
        spec = layer_spec(module, name, sites, target)
        rows.append(
            ModuleRecord(
                layer=replace(spec, index=start + len(rows), name=name or label, called=False),
                input_shape=(),
                output_shape=None,
                weights=weights,
                biases=biases,
                trainable=trainable,
                note=UNCALLED,
            )
        )
    return rows
