"""The records both engines produce: one per layer, plus the size problems found on the way."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

from cnninspect.spec.model import LayerSpec, ModelSpec

BYTES_PER_VALUE = 4
"""float32, the dtype every spec model is traced in."""


class Problem(StrEnum):
    """Kinds of size problem a trace can meet at one layer."""

    IN_FEATURES = "in_features"
    """Linear: declared in_features ≠ the features it receives."""
    IN_CHANNELS = "in_channels"
    """Conv: declared in_channels ≠ the channels it receives (or they do not fit groups)."""
    NUM_FEATURES = "num_features"
    """Norm layers: declared size ≠ the channels or trailing shape it receives."""
    COLLAPSE = "collapse"
    """A spatial output size below 1: the kernel is larger than the padded input."""
    RANK = "rank"
    """The layer cannot take a tensor with this many dimensions; the trace stops here."""
    ADD = "add"
    """Add: the inputs' shapes differ."""
    CONCAT = "concat"
    """Concat: the inputs differ on a dimension other than the one joined (or in rank)."""
    MUL = "mul"
    """Mul: the inputs' shapes cannot broadcast."""
    SPLIT = "split"
    """Split: its chunks do not divide the dimension it cuts, or its sizes do not add up to it."""


@dataclass(frozen=True)
class Mismatch:
    """One size problem at one layer, with the numbers on both sides."""

    problem: Problem
    """What kind of problem."""
    arg: str
    """The argument that is wrong (``in_features``), or ``input`` for collapse and rank."""
    declared: Any
    """What the layer expects: the written value, or None when it was left to inference."""
    received: Any
    """What arrives: a size, a shape tail, or the input shape."""
    fits: Any = None
    """The value that would fit (COLLAPSE: the smallest input size per spatial dim)."""
    dim: int | None = None
    """COLLAPSE: which tensor dimension collapsed."""


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

    @property
    def params(self) -> int:
        """Weights plus biases."""
        return self.weights + self.biases

    @property
    def output_bytes(self) -> int:
        """Memory of this layer's output activation, float32."""
        return 0 if self.output_shape is None else math.prod(self.output_shape) * BYTES_PER_VALUE


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
        model's input. Records without ``inputs`` (a ``--model`` trace) read the one before."""
        position: dict[str, int] = {}
        result: list[int | None] = []
        for index, record in enumerate(self.records):
            inputs = record.layer.inputs
            result.append(position.get(inputs[0]) if inputs else (index - 1 if index else None))
            position[record.layer.name] = index
        return tuple(result)

    @cached_property
    def consumers(self) -> tuple[tuple[int, ...], ...]:
        """For each record, the records that read its output (through any input)."""
        position = {record.layer.name: index for index, record in enumerate(self.records)}
        readers: list[list[int]] = [[] for _ in self.records]
        for index, record in enumerate(self.records):
            names = record.layer.inputs
            sources = [position[n] for n in names if n in position] if names else ([index - 1] if index else [])
            for source in dict.fromkeys(sources):
                readers[source].append(index)
        return tuple(tuple(r) for r in readers)

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        """The shape the model returns; None when the trace stopped."""
        if self.returned is not None:
            return self.returned
        return self.records[-1].output_shape if self.complete else None

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
        return len(self.records) == len(self.spec.layers) and self.records[-1].output_shape is not None
