"""The row model: one typed row per layer, one per group, the tree the table shows them in, and
folded runs of identical rows. Every format renders these rows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from cnninspect.engines.records import (
    BYTES_PER_VALUE,
    AttendMismatch,
    Collapse,
    GroupsMismatch,
    LayerRecord,
    MergeMismatch,
    RankMismatch,
    Trace,
)
from cnninspect.formats.common import SEVERITY_MARKS
from cnninspect.metrics import Statistics, explain, statistics
from cnninspect.rules import Finding, Severity
from cnninspect.spec.catalog import Family
from cnninspect.spec.model import INPUT, LayerSpec, ModelSpec, attend_dims, expand
from cnninspect.text import dims_text, feature_map, show_value

if TYPE_CHECKING:
    from cnninspect.formats.summary.columns import SummaryColumn

FOLD_MIN = 3
"""Runs of at least this many identical unnamed rows are shown as one row (``× 20,000``)."""
OWN_TEXT = ("Split", "Attend")
"""Besides the merges, the layers whose Filters cell says what they read and do (they hold no filters)."""


@dataclass(frozen=True, kw_only=True)
class SummaryRow:
    """Everything every format shows about one layer."""

    index: int | None
    """Position in the model; None for a group."""
    name: str
    """The layer's qualified name (``layer1.0.conv1``; its position when unnamed)."""
    label: str
    """The name within its group (``conv1``), as the table's tree shows it."""
    named: bool
    """False when the name is just a position (such rows may be folded)."""
    type: str
    """The torch.nn class, the block's name, or ``Sequential``."""
    depth: int
    """Nesting level, for indentation."""
    group: bool = False
    """A group, block use or repeat: its numbers are its layers' totals."""
    inputs: tuple[str, ...] = ()
    """The layers it reads, when that is not simply the previous one."""
    filters: str
    """``16 × 5×5×3`` (count × height×width×depth), ``10 × 2048`` for Linear, a pool's window."""
    stride: str
    """Stride of a conv or pool, ``2`` or ``2×1``; empty for other layers."""
    padding: str
    """Padding of a conv or pool."""
    input_shape: tuple[int, ...]
    """Shape received, batch first."""
    output_shape: tuple[int, ...] | None
    """Shape given, batch first; None where the trace stopped."""
    output: str
    """The output as people read it: a feature map as the tutorial writes it, H×W×C with the batch
    left out; a batch of vectors as their size; anything else in PyTorch order (``[1, 197, 768]``)."""
    weights: int
    """Weight values."""
    biases: int
    """Bias values."""
    trainable: int
    """Parameters with requires_grad."""
    mult_adds: int | None
    """Multiply-accumulates over the batch, bias adds included; None when unknown."""
    receptive_field: tuple[int | float, ...] | None
    """Input pixels one output value sees, per spatial dimension."""
    jump: tuple[int | float, ...] | None
    """Input pixels between neighbouring outputs."""
    notes: str
    """Inferred sizes and anything else worth saying."""
    findings: tuple[Finding, ...]
    """Findings placed at this layer."""
    explain: tuple[str, ...] = ()
    """Each size formula with its numbers (``--explain``)."""
    share: float = 0.0
    """Output values as a share of the largest layer's, for the volume bar."""

    @property
    def params(self) -> int:
        """Weights plus biases."""
        return self.weights + self.biases

    @property
    def activation_bytes(self) -> int:
        """The output's memory, float32."""
        return 0 if self.output_shape is None else math.prod(self.output_shape) * BYTES_PER_VALUE

    @property
    def mark(self) -> str:
        """``✗`` and the codes for a row with findings, the worst severity's mark first."""
        if not self.findings:
            return ""
        worst = min((f.rule.severity for f in self.findings), key=list(Severity).index)
        return f"{SEVERITY_MARKS[worst]} " + " ".join(dict.fromkeys(f.rule.code for f in self.findings))

    def foldable(self) -> bool:
        """Only unnamed rows without findings fold: a named row is always shown."""
        return not (self.named or self.findings or self.explain)

    def to_json(self, with_explain: bool) -> dict[str, Any]:
        """The row as JSON data: shapes in PyTorch order, batch first."""
        data: dict[str, Any] = {
            "index": self.index,
            "name": self.name,
            "type": self.type,
            "depth": self.depth,
            "inputs": list(self.inputs),
            "filters": self.filters,
            "stride": self.stride,
            "padding": self.padding,
            "input_shape": list(self.input_shape),
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "output": self.output,
            "weights": self.weights,
            "biases": self.biases,
            "params": self.params,
            "trainable": self.trainable,
            "mult_adds": self.mult_adds,
            "activation_bytes": self.activation_bytes,
            "receptive_field": None if self.receptive_field is None else list(self.receptive_field),
            "jump": None if self.jump is None else list(self.jump),
            "notes": self.notes,
            "findings": [f.rule.code for f in self.findings],
        }
        if with_explain:
            data["explain"] = list(self.explain)
        return data


def summary_rows(
    trace: Trace, findings: Sequence[Finding], with_explain: bool = False, stats: Statistics | None = None
) -> list[SummaryRow]:
    """One row per traced layer; ``stats``, the trace's statistics, when already computed."""
    if stats is None:
        stats = statistics(trace)
    by_layer: dict[str, list[Finding]] = {}
    for finding in findings:
        for name in finding.uses or (finding.layer,):  # a template's finding marks each use's row
            by_layer.setdefault(name, []).append(finding)
    largest = max((math.prod(r.output_shape) for r in trace.records if r.output_shape), default=1)
    rows = []
    previous = INPUT
    for record, reach, image, count in zip(trace.records, stats.reaches, stats.feature_maps, stats.mult_adds):
        layer = record.layer
        stride, padding = _stride_padding(record)
        explicit = layer.inputs if layer.inputs and layer.inputs != (previous,) else ()
        previous = layer.name
        rows.append(
            SummaryRow(
                index=layer.index,
                name=layer.name,
                label=_local(layer.name, layer.scope),
                named=layer.named,
                type=layer.type,
                depth=max(record.depth, layer.depth),
                inputs=explicit,
                filters=_merged_text(layer) if layer.is_merge or layer.type in OWN_TEXT else filters_text(record),
                stride=stride,
                padding=padding,
                input_shape=record.input_shape,
                output_shape=record.output_shape,
                output=output_text(record.output_shape, image, trace.spec.batch),
                weights=record.weights,
                biases=record.biases,
                trainable=record.trainable,
                mult_adds=count,
                receptive_field=None if reach is None else tuple(_number(v) for v in reach[0]),
                jump=None if reach is None else tuple(_number(v) for v in reach[1]),
                notes=notes_text(record),
                findings=tuple(by_layer.get(layer.name, ())),
                explain=tuple(explain(record)) if with_explain else (),
                share=math.prod(record.output_shape) / largest if record.output_shape else 0.0,
            )
        )
    return rows


def group_rows(spec: ModelSpec, rows: Sequence[SummaryRow]) -> list[SummaryRow]:
    """One row per group, block use and repeat: its layers' totals and its output."""
    by_name = {row.name: row for row in rows}
    result = []
    for group in spec.groups:
        inside = [by_name[name] for name in group.layers if name in by_name]
        if not inside:
            continue
        last = by_name.get(group.output)
        counts = [row.mult_adds for row in inside]
        result.append(
            SummaryRow(
                index=None,
                name=group.name,
                label=_local(group.name, group.scope),
                named=group.named,
                type=group.type,
                depth=group.depth,
                group=True,
                filters="",
                stride="",
                padding="",
                input_shape=inside[0].input_shape,
                output_shape=None if last is None else last.output_shape,
                output="—" if last is None else last.output,
                weights=sum(row.weights for row in inside),
                biases=sum(row.biases for row in inside),
                trainable=sum(row.trainable for row in inside),
                mult_adds=None if None in counts else sum(c or 0 for c in counts),
                receptive_field=None,
                jump=None,
                notes="",
                findings=tuple(f for row in inside for f in row.findings),
            )
        )
    return result


def _local(name: str, scope: tuple[str, ...]) -> str:
    """The name within its innermost group."""
    prefix = f"{scope[-1]}." if scope else ""
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def _merged_text(layer: LayerSpec) -> str:
    """What a merge joins, as its ``from:`` names them: ``bn2 + downsample``; what a Split cuts and
    takes, as torch writes it: ``chunk(cv1, 2)[1]``, ``split(cv1, [64, 128])[1]``; what an Attend
    reads and its heads' query, key and value channels: ``attend(qkv, 2 × (32+32+64))``."""
    names = list(layer.sources) or [_local(name, layer.scope) for name in layer.inputs]
    if layer.type == "Split":
        sizes = layer.get("sizes")
        how = "chunk" if sizes is None else "split"
        pieces = str(layer.get("chunks")) if sizes is None else f"[{', '.join(map(str, sizes))}]"
        return f"{how}({', '.join([*names, pieces])})[{layer.get('index')}]"
    if layer.type == "Attend":
        heads, key_dim, head_dim = attend_dims(layer)
        area = layer.get("area")
        runs = f", area {area}" if area > 1 else ""
        return f"attend({', '.join(names)}, {heads} × ({key_dim}+{key_dim}+{head_dim}){runs})"
    if layer.type == "Concat":
        return "cat(" + ", ".join(names) + ")"
    return (" + " if layer.type == "Add" else " · ").join(names)


def fold(rows: Sequence[SummaryRow], columns: Sequence[SummaryColumn]) -> list[tuple[SummaryRow, int]]:
    """Runs of FOLD_MIN or more unnamed rows that read the same in every shown column (but the
    index and the name) as (first row, run length)."""

    def key(row: SummaryRow) -> tuple[object, ...] | None:
        shown = tuple(c.cell(row) for c in columns if c.key not in ("index", "layer"))
        return (row.group, row.type, row.depth, *shown) if row.foldable() else None

    keys = [key(row) for row in rows]
    folded: list[tuple[SummaryRow, int]] = []
    start = 0
    while start < len(rows):
        end = start + 1
        while keys[start] is not None and end < len(rows) and keys[end] == keys[start]:
            end += 1
        if end - start >= FOLD_MIN:
            folded.append((rows[start], end - start))
        else:
            folded += [(row, 1) for row in rows[start:end]]
        start = end
    return folded


# ---------------------------------------------------------------------------------------
# Cell texts


def filters_text(record: LayerRecord) -> str:
    """Conv filters as ``count × height×width×depth`` (``16 × 5×5×3``); Linear as ``out × in``."""
    layer = record.layer
    kind = layer.kind
    if kind is None or (record.in_size is None and kind.family not in (Family.MAX_POOL, Family.AVG_POOL)):
        return ""
    if kind.family in (Family.CONV, Family.CONV_TRANSPOSE):
        kernel = dims_text(expand(layer.get("kernel_size"), kind.dims))
        assert record.in_size is not None
        depth = record.in_size // layer.get("groups") if kind.family is Family.CONV else record.in_size
        return f"{layer.get('out_channels')} × {kernel}×{depth}"
    if kind.family is Family.LOCAL:  # a set of filters at every output place
        kernel = dims_text(expand(layer.get("kernel_size"), kind.dims))
        return f"{layer.get('out_channels')} × {kernel}×{record.in_size} per place"
    if kind.family is Family.LINEAR:
        return f"{layer.get('out_features')} × {record.in_size}"
    if kind.family in (Family.MAX_POOL, Family.AVG_POOL):
        return dims_text(expand(layer.get("kernel_size"), kind.dims)) + " window"
    return ""


def _stride_padding(record: LayerRecord) -> tuple[str, str]:
    layer = record.layer
    kind = layer.kind
    spatial = (Family.CONV, Family.CONV_TRANSPOSE, Family.LOCAL, Family.MAX_POOL, Family.AVG_POOL)
    if kind is None or kind.family not in spatial:
        return "", ""
    stride = layer.get("stride")
    if stride is None:  # pools default to their kernel size
        stride = layer.get("kernel_size")
    return _compact(stride), _compact(layer.get("padding"))


def output_text(shape: tuple[int, ...] | None, image: bool, batch: int) -> str:
    """``16×16×16`` for a feature map (H×W×C, batch left out), ``10`` for a batch of vectors, else the
    shape in PyTorch order: ``[1, 197, 768]`` (tokens), ``[5, 1, 16]`` (an LSTM's time-first output)."""
    if shape is None:
        return "—"
    if image:
        return feature_map(shape)
    if len(shape) == 2 and shape[0] == batch:
        return str(shape[1])
    return "[" + ", ".join(map(str, shape)) + "]"


def _compact(value: object) -> str:
    return dims_text(value) if isinstance(value, tuple) else str(value)


def notes_text(record: LayerRecord) -> str:
    """Short notes: inferred sizes and anything the engine said about the layer."""
    notes = []
    for m in record.mismatches:
        if isinstance(m, RankMismatch):
            notes.append("wrong input rank; trace stops")
        elif isinstance(m, Collapse):
            notes.append(f"empty output; needs ≥ {m.fits}")
        elif isinstance(m, GroupsMismatch):
            notes.append(f"{m.received} channels don't fit the groups")
        elif isinstance(m, MergeMismatch):
            notes.append("inputs don't fit")
        elif isinstance(m, AttendMismatch) and m.arg == "area":
            notes.append(f"{m.received} places, not a multiple of area {m.declared}")
        else:
            notes.append(f"{m.arg} {show_value(m.declared)}, gets {show_value(m.received)}")
    kind = record.layer.kind
    if kind and kind.inferred and kind.inferred not in record.layer.args and not record.mismatches:
        notes.append(f"{kind.inferred} inferred")
    if record.note:
        notes.append(record.note)
    return "; ".join(notes)


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)
