"""The records both engines produce: one per layer, plus the size problems found on the way."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from cnninspect.errors import Location
from cnninspect.spec.catalog import Family
from cnninspect.spec.model import LayerSpec, ModelSpec

BYTES_PER_VALUE = 4
"""float32, the dtype every spec model is traced in."""
UNCALLED = "never called in forward: parameters only"
"""The note on a layer that holds parameters forward never calls (``called: false``, or a --model
module no op used)."""


@dataclass(frozen=True)
class SizeMismatch:
    """A written input size (``in_features``, ``in_channels``, ``num_features``, ``num_channels``)
    that differs from the size arriving."""

    arg: str
    """The argument as torch.nn names it."""
    declared: int
    """The value written."""
    received: int
    """The size that arrives: the one right value."""


@dataclass(frozen=True)
class GroupsMismatch:
    """Channels, left to inference, that the layer's groups cannot split evenly."""

    arg: str
    """The inferred argument: ``in_channels`` (a conv) or ``num_channels`` (GroupNorm)."""
    received: int
    """The channels that arrive."""
    split: str
    """The argument that splits them: ``groups`` or ``num_groups``."""
    divisor: int
    """Its value."""
    fits: int
    """The nearest channel count at or above ``received`` that it splits."""


@dataclass(frozen=True)
class TailMismatch:
    """A LayerNorm's ``normalized_shape`` that is not the input's trailing dimensions."""

    declared: tuple[int, ...]
    """The shape written (a single size as a one-tuple)."""
    received: tuple[int, ...]
    """The input's trailing dimensions, as many as ``declared`` has."""

    @property
    def arg(self) -> str:
        """The argument at fault."""
        return "normalized_shape"


@dataclass(frozen=True)
class Collapse:
    """A spatial output size below 1: the kernel is larger than the padded input."""

    dim: int
    """The tensor dimension that collapsed (2 is the first spatial one)."""
    received: int
    """Its size on the way in."""
    fits: int
    """The smallest size on the way in that keeps the output at least 1."""


@dataclass(frozen=True)
class RankMismatch:
    """A tensor with a number of dimensions the layer cannot take; the trace stops here."""

    allowed: tuple[int, ...]
    """The ranks the layer takes."""
    received: tuple[int, ...]
    """The shape that arrived."""


@dataclass(frozen=True)
class MergeMismatch:
    """Inputs of an Add, Concat or Mul that do not fit together."""

    family: Family
    """``Family.ADD``, ``Family.CONCAT`` or ``Family.MUL``."""
    shapes: tuple[tuple[int, ...], ...]
    """Every input's shape, in ``from:`` order."""
    dim: int | None = None
    """Concat: the dimension joined (as written when it does not exist at every input's rank)."""


@dataclass(frozen=True)
class SplitMismatch:
    """A Split whose chunks do not divide the size it cuts, or whose sizes do not add up to it."""

    arg: str
    """``chunks`` or ``sizes``."""
    declared: int | tuple[int, ...]
    """The value written."""
    received: int
    """The size of the dimension it cuts."""
    fits: int
    """The size the trace cuts instead: the next multiple of chunks, or the sum of sizes."""
    dim: int
    """The dimension it cuts (1: the channels)."""


@dataclass(frozen=True)
class AttendMismatch:
    """An Attend whose qkv map has not heads·(2·key_dim + head_dim) channels, or whose places
    (H·W) its ``area`` does not cut into equal runs."""

    arg: str
    """``channels`` (the qkv map's) or ``area``."""
    declared: int
    """The channels the arguments need, or the area written."""
    received: int
    """The channels, or the places (the product of the spatial sizes), that arrive."""


Mismatch = (
    SizeMismatch | GroupsMismatch | TailMismatch | Collapse | RankMismatch | MergeMismatch | SplitMismatch
    | AttendMismatch
)  # fmt: skip
"""One size problem at one layer, with the numbers on both sides."""


@dataclass(frozen=True)
class Reshape:
    """A reshape in the user's code that changed the size of dimension 0."""

    location: Location
    """The line."""
    before: tuple[int, ...]
    """The shape it reshaped."""
    after: tuple[int, ...]
    """The shape it made."""


@dataclass(frozen=True, kw_only=True)
class LayerRecord:
    """What one layer receives, gives and holds."""

    layer: LayerSpec
    """The layer as specified."""
    input_shape: tuple[int, ...]
    """Shape received, batch first."""
    output_shape: tuple[int, ...] | None
    """Shape given, batch first; None when the trace stopped at this layer."""
    weights: int = 0
    """Number of weight values (every parameter not named bias)."""
    biases: int = 0
    """Number of bias values."""
    trainable: int = 0
    """Parameters with requires_grad."""
    mismatches: tuple[Mismatch, ...] = ()
    """Size problems met here; the trace went on with the layer's declared sizes."""
    input_shapes: tuple[tuple[int, ...], ...] = ()
    """A merge's inputs, in ``from:`` order (``input_shape`` is the first)."""
    in_size: int | None = None
    """The input size argument the layer was built with (declared or inferred)."""
    note: str = ""
    """Anything else the table should say (a module called again, a shared weight)."""
    depth: int = 0
    """Nesting level of a module in a ``--model --depth`` tree; 0 for spec layers."""
    container: bool = False
    """A module whose children have rows of their own: its output is theirs, not counted twice."""

    @classmethod
    def uncalled(cls, layer: LayerSpec, weights: int, biases: int, trainable: int, in_size: int | None) -> LayerRecord:
        """The record of a layer forward never calls (``called: false``): parameters, no shapes."""
        note = UNCALLED if weights + biases else "never called in forward"
        return cls(
            layer=layer,
            input_shape=(),
            output_shape=None,
            weights=weights,
            biases=biases,
            trainable=trainable,
            in_size=in_size,
            note=note,
        )

    @property
    def params(self) -> int:
        """Weights plus biases."""
        return self.weights + self.biases

    @property
    def output_bytes(self) -> int:
        """Memory of this layer's output activation, float32."""
        return 0 if self.output_shape is None else math.prod(self.output_shape) * BYTES_PER_VALUE

    @property
    def counted_mult_adds(self) -> int | None:
        """Multiply-accumulates the engine counted op by op as this layer ran (``--model``); None when
        it counted none (a spec layer's come from its formula, metrics.mult_adds) or an op had no cost
        rule (``uncounted_ops`` names it)."""
        return None

    @property
    def uncounted_ops(self) -> tuple[str, ...]:
        """The ops this layer ran that have no cost rule (``aten._trilinear``); () for a spec layer."""
        return ()

    @property
    def passes_layout(self) -> bool:
        """A layer outside the catalog passes on the layout it receives (a feature map stays one): a
        spec's torch-only layer always; a ``--model`` module only when it keeps the shape."""
        return True


@dataclass(frozen=True)
class Trace:
    """One engine's walk through a model."""

    spec: ModelSpec
    """The spec that was traced, overrides applied."""
    records: tuple[LayerRecord, ...]
    """One per layer reached, in order."""
    engine: str
    """``analytic`` or ``torch``."""
    finished: bool | None = None
    """Whether the forward pass ran to the end; None: judged from the records (spec traces)."""
    returned: tuple[int, ...] | None = None
    """The shape the whole model returned, when it is not the last record's (``--model``)."""

    @cached_property
    def producers(self) -> tuple[int | None, ...]:
        """For each record, the record whose output it reads (a merge: its first input); None for the
        model's input and for a layer forward never calls. Records without ``inputs`` read the last
        one called before them."""
        position: dict[str, int] = {}
        result: list[int | None] = []
        last: int | None = None
        for index, record in enumerate(self.records):
            inputs = record.layer.inputs
            if not record.layer.called:
                result.append(None)
                continue
            result.append(position.get(inputs[0]) if inputs else last)
            position[record.layer.name] = last = index
        return tuple(result)

    @cached_property
    def consumers(self) -> tuple[tuple[int, ...], ...]:
        """For each record, the records that read its output (through any input)."""
        position = {record.layer.name: index for index, record in enumerate(self.records)}
        readers: list[list[int]] = [[] for _ in self.records]
        last: int | None = None
        for index, record in enumerate(self.records):
            names = record.layer.inputs
            if not record.layer.called:
                continue
            sources = [position[n] for n in names if n in position] if names else ([] if last is None else [last])
            for source in dict.fromkeys(sources):
                readers[source].append(index)
            last = index
        return tuple(tuple(r) for r in readers)

    def nearest(self, index: int) -> int | None:
        """The record a record's input most likely comes from, for messages: its producer."""
        return self.producers[index]

    def reads_input(self, index: int) -> bool:
        """The record reads the model's input: it has no producer (and forward calls it)."""
        return self.producers[index] is None and self.records[index].layer.called

    def batch_changed(self, returned: tuple[int, ...]) -> bool:
        """The model returned ``returned`` for another batch size than it was given: a spec's output is
        batch first."""
        return returned[0] != self.spec.batch

    @property
    def batch_reshape(self) -> Reshape | None:
        """The user's reshape that made the output's batch dimension, when the engine found one."""
        return None

    @property
    def merges_seen(self) -> bool:
        """Every place where branches join is a record (a spec's merge layers)."""
        return True

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Every input's shape, batch first."""
        return (self.spec.batched_input,)

    @property
    def ran_on(self) -> str | None:
        """The device the forward pass ran on, when the title names it (``--model``); else None."""
        return None

    @property
    def engine_notes(self) -> tuple[str, ...]:
        """Why the engine built or traced the model where it did, when that is not the usual choice."""
        return ()

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        """The shape the model returns; None when the trace stopped."""
        if self.returned is not None:
            return self.returned
        return self._last_called.output_shape if self.complete else None

    @property
    def _last_called(self) -> LayerRecord:
        """The last record forward called: what a spec's model returns."""
        return next((r for r in reversed(self.records) if r.layer.called), self.records[-1])

    @property
    def total_params(self) -> int:
        """All parameters."""
        return sum(r.params for r in self.records)

    @property
    def trainable_params(self) -> int:
        """Parameters with requires_grad."""
        return sum(r.trainable for r in self.records)

    @property
    def param_bytes(self) -> int:
        """Parameter memory, float32."""
        return self.total_params * BYTES_PER_VALUE

    @property
    def activation_bytes(self) -> int:
        """Every layer's forward output, float32, at the traced batch size."""
        return sum(r.output_bytes for r in self.records if not r.container)

    @property
    def complete(self) -> bool:
        """False when a rank problem stopped the trace before the last layer."""
        if self.finished is not None:
            return self.finished
        return len(self.records) == len(self.spec.layers) and self._last_called.output_shape is not None
