"""``summary`` in every format: one typed row per layer, rendered as a table, json, markdown or csv.

The table is for people: every name and shape whole, the columns chosen to fit the terminal,
a marker on every row with a finding and the finding itself below, one line each. The
machine formats carry every field of every row, whatever the width.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from fractions import Fraction
from typing import Any

from rich.text import Text

from cnninspect.engines.records import BYTES_PER_VALUE, LayerRecord, Problem, Trace
from cnninspect.errors import UsageError
from cnninspect.formats import table
from cnninspect.formats.table import Column, Row
from cnninspect.metrics import explain, feature_maps, mult_adds, receptive_fields
from cnninspect.rules import Finding, Severity
from cnninspect.spec.catalog import Family
from cnninspect.spec.model import INPUT, GroupSpec, LayerSpec, ModelSpec, expand
from cnninspect.text import did_you_mean, dims_text, feature_map, plural, safe, show_value, utf8

FOLD_MIN = 3
"""Runs of at least this many identical unnamed rows are shown as one row (``× 20,000``)."""
VOLUME_WIDTH = 10
BLOCKS = " ▏▎▍▌▋▊▉█"
SEVERITY_STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "yellow"}
SEVERITY_MARKS = {Severity.ERROR: "✗", Severity.WARNING: "!"}


class SummaryFormat(StrEnum):
    """Output formats of ``summary``."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"
    CSV = "csv"


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
        """``✗ CNN201`` for a row with findings, the worst severity's mark first."""
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


@dataclass(frozen=True)
class SummaryColumn:
    """One column ``--columns`` can choose."""

    key: str
    """Its name for ``--columns``."""
    title: str
    """Its heading."""
    cell: Callable[[SummaryRow], str]
    """The cell's text."""
    right: bool = False
    """Right-aligned."""
    legend: str = ""
    """What the heading means, for the line under the table."""


def _mult_adds_cell(row: SummaryRow) -> str:
    return "?" if row.mult_adds is None else f"{row.mult_adds:,}" if row.mult_adds else "—"


def _reach_cell(row: SummaryRow) -> str:
    if row.receptive_field is None or row.jump is None:
        return ""
    return f"{_same(row.receptive_field)} / {_same(row.jump)}"


COLUMNS = {
    c.key: c
    for c in (
        SummaryColumn("index", "#", lambda r: "" if r.index is None else str(r.index), right=True),
        SummaryColumn("layer", "Layer", lambda r: "  " * r.depth + safe(r.label)),
        SummaryColumn("type", "Type", lambda r: safe(r.type)),
        SummaryColumn("filters", "Filters", lambda r: r.filters),
        SummaryColumn(
            "stride", "S/P", lambda r: f"{r.stride}/{r.padding}" if r.stride else "", legend="S/P: stride/padding"
        ),
        SummaryColumn("output", "Output", lambda r: r.output, legend="Output: H×W×C, batch left out"),
        SummaryColumn("params", "Params", lambda r: f"{r.params:,}" if r.params else "—", right=True),
        SummaryColumn("mult-adds", "Mult-adds", _mult_adds_cell, right=True, legend="Mult-adds: bias adds included"),
        SummaryColumn(
            "memory",
            "Memory",
            lambda r: human_bytes(r.activation_bytes) if r.output_shape else "—",
            right=True,
            legend="Memory: the output, float32",
        ),
        SummaryColumn("rf", "RF/jump", _reach_cell, legend="RF/jump: receptive field/input pixels per step"),
        SummaryColumn("volume", "Volume", lambda r: _bar(r.share) if r.output_shape else "", legend=""),
        SummaryColumn("notes", "Notes", lambda r: safe(r.notes)),
        SummaryColumn("finding", "Finding", lambda r: r.mark),
    )
}
"""Every column ``--columns`` can choose, in display order."""
DEFAULT_COLUMNS = ("index", "layer", "type", "filters", "stride", "output", "params", "mult-adds", "finding")
DROP_ORDER = ("volume", "rf", "memory", "notes", "stride", "type", "index", "filters", "mult-adds", "params")
"""Columns that make way, in this order, when the terminal is narrow; layer, output and finding stay,
and Params and Mult-adds, the numbers the table is for, go last."""


def choose_columns(text: str | None) -> tuple[str, ...]:
    """``--columns``: comma-separated keys, ``all``, or ``+key`` to add to the defaults."""
    if text is None:
        return DEFAULT_COLUMNS
    if text.strip() == "all":
        return tuple(COLUMNS)
    keys = [k.strip() for k in text.split(",") if k.strip()]
    extra = all(k.startswith("+") for k in keys)
    keys = [k.lstrip("+") for k in keys]
    for key in keys:
        if key not in COLUMNS:
            raise UsageError(
                f"--columns: no column {key!r}{did_you_mean(key, list(COLUMNS))}; choose from {', '.join(COLUMNS)}"
            )
    chosen = set(keys) | (set(DEFAULT_COLUMNS) if extra else set()) | {"finding"}
    return tuple(k for k in COLUMNS if k in chosen)


@dataclass(frozen=True)
class SummaryReport:
    """What ``summary`` renders."""

    trace: Trace
    """The trace."""
    findings: Sequence[Finding]
    """Every finding, in layer order."""
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    """The columns asked for; the table drops some when they do not fit ``width``."""
    explain: bool = False
    """Add each layer's formulas."""
    width: int = 80
    """The terminal's width."""
    fit: bool = True
    """Drop columns that do not fit ``width`` (False when ``--columns`` was given)."""
    depth: int | None = None
    """Show groups down to this nesting level, deeper ones folded into their group's row."""
    rows: list[SummaryRow] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", summary_rows(self.trace, self.findings, self.explain))


def summary_rows(trace: Trace, findings: Sequence[Finding], with_explain: bool = False) -> list[SummaryRow]:
    """One row per traced layer."""
    by_layer: dict[str, list[Finding]] = {}
    for finding in findings:
        by_layer.setdefault(finding.layer, []).append(finding)
    reaches = receptive_fields(trace)
    maps = feature_maps(trace)
    largest = max((math.prod(r.output_shape) for r in trace.records if r.output_shape), default=1)
    rows = []
    previous = INPUT
    for record, reach, image in zip(trace.records, reaches, maps):
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
                filters=_merged_text(layer) if layer.is_merge else filters_text(record),
                stride=stride,
                padding=padding,
                input_shape=record.input_shape,
                output_shape=record.output_shape,
                output=output_text(record.output_shape, image, trace.spec.batch),
                weights=record.weights,
                biases=record.biases,
                trainable=record.trainable,
                mult_adds=mult_adds(record),
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


def tree(report: SummaryReport) -> list[SummaryRow]:
    """The table's rows: each group's row before its first layer, outermost first; with ``depth``,
    nothing nested deeper (a group at the last shown level stands for its layers)."""
    groups = group_rows(report.trace.spec, report.rows)
    opening: dict[str, list[SummaryRow]] = {}
    names = _names(report)
    for row, group in zip(groups, _groups_with_rows(report)):
        opening.setdefault(next(n for n in group.layers if n in names), []).append(row)
    shown = []
    for row in report.rows:
        for opened in opening.get(row.name, []):
            if report.depth is None or opened.depth < report.depth:
                folded = report.depth is not None and opened.depth == report.depth - 1
                shown.append(opened if folded else replace(opened, findings=()))
        if report.depth is None or row.depth < report.depth:
            shown.append(row)
    return shown


def _groups_with_rows(report: SummaryReport) -> list[GroupSpec]:
    names = _names(report)
    return [group for group in report.trace.spec.groups if any(name in names for name in group.layers)]


def _names(report: SummaryReport) -> set[str]:
    return {row.name for row in report.rows}


def _local(name: str, scope: tuple[str, ...]) -> str:
    """The name within its innermost group."""
    prefix = f"{scope[-1]}." if scope else ""
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def _merged_text(layer: LayerSpec) -> str:
    """What a merge joins, as its ``from:`` names them: ``bn2 + downsample``."""
    names = list(layer.sources) or [_local(name, layer.scope) for name in layer.inputs]
    if layer.type == "Concat":
        return "cat(" + ", ".join(names) + ")"
    return (" + " if layer.type == "Add" else " · ").join(names)


def fold(rows: Sequence[SummaryRow], columns: Sequence[SummaryColumn]) -> list[tuple[SummaryRow, int]]:
    """Runs of FOLD_MIN or more unnamed rows that read the same in every shown column (but the
    index and the name) as (first row, run length)."""

    def key(row: SummaryRow) -> tuple[Any, ...] | None:
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


def _cells(columns: Sequence[SummaryColumn], row: SummaryRow, count: int) -> list[str]:
    """A row's cells; a folded run says how many rows it stands for."""
    cells = [c.cell(row) for c in columns]
    if count > 1:
        keys = [c.key for c in columns]
        last = row.label if row.index is None else None
        if "index" in keys and row.index is not None:
            cells[keys.index("index")] = f"{row.index}–{row.index + count - 1}"
        if "layer" in keys:
            first = row.label if last is not None else ""
            span = f"{first}… " if first else ""
            cells[keys.index("layer")] = "  " * row.depth + f"{span}× {count:,}"
    return cells


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
    if kind.family is Family.LINEAR:
        return f"{layer.get('out_features')} × {record.in_size}"
    if kind.family in (Family.MAX_POOL, Family.AVG_POOL):
        return dims_text(expand(layer.get("kernel_size"), kind.dims)) + " window"
    return ""


def _stride_padding(record: LayerRecord) -> tuple[str, str]:
    layer = record.layer
    kind = layer.kind
    if kind is None or kind.family not in (Family.CONV, Family.CONV_TRANSPOSE, Family.MAX_POOL, Family.AVG_POOL):
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


def _compact(value: Any) -> str:
    return dims_text(value) if isinstance(value, tuple) else str(value)


def notes_text(record: LayerRecord) -> str:
    """Short notes: inferred sizes and anything the engine said about the layer."""
    notes = []
    for m in record.mismatches:
        if m.problem is Problem.RANK:
            notes.append("wrong input rank; trace stops")
        elif m.problem is Problem.COLLAPSE:
            notes.append(f"empty output; needs ≥ {m.fits}")
        elif m.declared is None:
            notes.append(f"{m.received} channels don't fit the groups")
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


def _same(values: Sequence[int | float]) -> str:
    """``7`` when every dimension agrees, else ``7×5``; fractions as decimals."""
    texts = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return texts[0] if len(set(texts)) == 1 else "×".join(texts)


def _bar(share: float) -> str:
    """A bar of up to VOLUME_WIDTH cells, in eighths of a cell; never empty for a non-zero share."""
    eighths = max(1, round(share * VOLUME_WIDTH * 8))
    return BLOCKS[-1] * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")


def short_number(count: int) -> str:
    """432,138 → ``432.1 k``; 1,816,558,056 → ``1.82 G``."""
    for size, unit, digits in ((1e9, "G", 2), (1e6, "M", 2), (1e3, "k", 1)):
        if count >= size:
            return f"{count / size:,.{digits}f} {unit}"
    return str(count)


def human_bytes(count: int) -> str:
    """1,536 → ``1.5 KiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------
# Title, totals, footer


def title_text(trace: Trace) -> str:
    """``myCNN · input 1×3×32×32 · torch engine · --kernel 5``; a --model's title names every input
    and the device its forward pass ran on: ``Net · input 1×3×8×8, 1×5 · torch engine on cpu``."""
    spec = trace.spec
    inputs = ", ".join(dims_text(shape) for shape in trace.input_shapes)
    device = "" if trace.ran_on is None else f" on {trace.ran_on}"
    parts = [safe(spec.name), f"input {inputs}", f"{trace.engine} engine{device}"]
    return " · ".join(parts + [safe(o) for o in spec.overridden])


@dataclass(frozen=True)
class Totals:
    """The footer's numbers."""

    params: int
    weights: int
    biases: int
    trainable: int
    param_bytes: int
    activation_bytes: int
    mult_adds: int | None
    """None when some layer's count is unknown."""

    @property
    def non_trainable(self) -> int:
        return self.params - self.trainable

    def to_json(self) -> dict[str, Any]:
        """The totals as JSON data."""
        return {
            "mult_adds": self.mult_adds,
            "params": self.params,
            "weights": self.weights,
            "biases": self.biases,
            "trainable": self.trainable,
            "non_trainable": self.non_trainable,
            "param_bytes": self.param_bytes,
            "activation_bytes": self.activation_bytes,
        }


def totals(trace: Trace) -> Totals:
    """Sums over every record."""
    counts = [mult_adds(r) for r in trace.records]
    return Totals(
        params=trace.total_params,
        weights=sum(r.weights for r in trace.records),
        biases=sum(r.biases for r in trace.records),
        trainable=trace.trainable_params,
        param_bytes=trace.param_bytes,
        activation_bytes=trace.activation_bytes,
        mult_adds=None if None in counts else sum(c or 0 for c in counts),
    )


def footer_lines(trace: Trace) -> list[str]:
    """Totals under the table."""
    t = totals(trace)
    lines = [
        f"Total params: {t.params:,} (weights {t.weights:,} + biases {t.biases:,})",
        f"Trainable params: {t.trainable:,} · Non-trainable params: {t.non_trainable:,}",
        f"Memory: params {human_bytes(t.param_bytes)} · activations {human_bytes(t.activation_bytes)} "
        f"(all outputs, batch {trace.spec.batch}, float{8 * BYTES_PER_VALUE})",
    ]
    if t.mult_adds is not None:
        lines.append(f"Mult-adds: {t.mult_adds:,} ({short_number(t.mult_adds)}; bias adds included)")
    else:
        unknown = [_uncounted(r) for r in trace.records if mult_adds(r) is None]
        known = sum(count for r in trace.records if (count := mult_adds(r)))
        lines.append(
            f"Mult-adds: at least {known:,} ({short_number(known)}); no count for {plural(len(unknown), 'layer')} "
            f"({', '.join(dict.fromkeys(unknown))}), shown as ?"
        )
    if not trace.complete:
        lines.append(f"Traced {len(trace.records)} of {len(trace.spec.layers)} layers: the trace stopped.")
    lines += [f"{note[0].upper()}{note[1:]}." for note in trace.engine_notes]
    return lines


def _uncounted(record: LayerRecord) -> str:
    """A layer without a mult-add count: its type, and the ops that have no cost rule."""
    if record.uncounted_ops:
        return f"{record.layer.type}: {', '.join(record.uncounted_ops)}"
    return record.layer.type


def _explain_lines(rows: Sequence[SummaryRow]) -> list[str]:
    width = max((len(safe(r.name)) for r in rows if r.explain), default=0)
    return [f"  {safe(r.name):<{width}}  {line}" for r in rows for line in r.explain]


# ---------------------------------------------------------------------------------------
# Renderers


def render_table(report: SummaryReport) -> Text:
    """The table for people, at the terminal's width, with footer, formulas and findings."""
    shown = [COLUMNS[k] for k in report.columns if k != "finding" or report.findings]
    folded = fold(tree(report), shown)
    cells = [_cells(shown, row, count) for row, count in folded]
    columns = [Column(c.title, c.right) for c in shown]
    rows = [Row(line, _row_style(row)) for line, (row, _) in zip(cells, folded)]
    sizes = table.widths(columns, rows)
    keep = list(range(len(shown)))
    hidden: list[str] = []
    if report.fit:
        order = [i for key in DROP_ORDER for i, c in enumerate(shown) if c.key == key]
        keep = table.fit_columns(keep, sizes, report.width, order)
        hidden = [shown[i].title for i in range(len(shown)) if i not in keep]
    text = Text(title_text(report.trace) + "\n")
    text.append_text(
        table.render(
            [columns[i] for i in keep],
            [Row([r.cells[i] for i in keep], r.style) for r in rows],
            [sizes[i] for i in keep],
        )
    )
    legend = [_legend(shown[i], report.rows) for i in keep if shown[i].legend]
    if hidden:
        legend.append(f"Hidden at {report.width} columns: {', '.join(hidden)} (see --columns)")
    text.append(_wrap_items(legend, report.width) + "\n", style="dim")
    text.append("\n".join(footer_lines(report.trace)) + "\n")
    if report.explain:
        text.append("\n".join(["", "How each size comes about:", *_explain_lines(report.rows)]) + "\n")
    if "notes" not in [shown[i].key for i in keep]:
        notes = [f"  {safe(r.name)}: {safe(r.notes)}" for r in report.rows if r.notes and _worth_noting(r)]
        if notes:
            text.append("\n".join(["", "Notes:", *notes]) + "\n")
    text.append("\n")
    if not report.findings:
        text.append("No size problems found.\n", style="green")
    for finding in report.findings:
        text.append(safe(finding.line) + "\n", style=SEVERITY_STYLES[finding.rule.severity])
    return text


def _legend(column: SummaryColumn, rows: Sequence[SummaryRow]) -> str:
    """A column's legend; the output's also says how other tensors are written, when some are."""
    if column.key == "output" and any(row.output.startswith("[") for row in rows):
        return f"{column.legend}; [other tensors] in PyTorch's order"
    return column.legend


def _wrap_items(items: Sequence[str], width: int) -> str:
    """Items joined by `` · ``, a new line where the next item would pass ``width``."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 3 + len(item) <= width:
            lines[-1] += " · " + item
        else:
            lines.append(item)
    return "\n".join(lines)


def _worth_noting(row: SummaryRow) -> bool:
    """Notes beyond what the finding lines and the table already say (an inferred size is not news)."""
    return not row.findings and not row.notes.endswith(" inferred")


def _row_style(row: SummaryRow) -> str | None:
    if not row.findings:
        return None
    return SEVERITY_STYLES[min((f.rule.severity for f in row.findings), key=list(Severity).index)]


def render_json(report: SummaryReport) -> str:
    """Everything, shapes in PyTorch order with the batch."""
    trace = report.trace
    document = {
        "model": trace.spec.name,
        "source": trace.spec.source,
        "engine": trace.engine,
        "input": list(trace.spec.batched_input),
        "overrides": list(trace.spec.overridden),
        "complete": trace.complete,
        "layers": [row.to_json(report.explain) for row in report.rows],
        "groups": [
            {
                "name": row.name,
                "type": row.type,
                "depth": row.depth,
                "output_shape": None if row.output_shape is None else list(row.output_shape),
                "params": row.params,
                "mult_adds": row.mult_adds,
                "layers": list(group.layers),
            }
            for row, group in zip(group_rows(trace.spec, report.rows), _groups_with_rows(report))
        ],
        "totals": totals(trace).to_json(),
        "findings": [finding_json(f) for f in report.findings],
    }
    if trace.ran_on is not None:
        # a --model: every input (``input`` is the first), and where the forward pass ran
        document["inputs"] = [list(shape) for shape in trace.input_shapes]
        document["device"] = trace.ran_on
        document["notes"] = list(trace.engine_notes)
    return json_text(document)


def json_text(document: dict[str, Any]) -> str:
    """A JSON object with one key per line and each list item (a layer, a finding) on one line
    of its own: easy to read and diff, and written by the C encoder, fast for 100,000 layers."""

    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = []
    for index, (key, value) in enumerate(document.items()):
        comma = "," if index < len(document) - 1 else ""
        if isinstance(value, list) and value and isinstance(value[0], dict):
            items = [f"    {dumps(item)}," for item in value]
            items[-1] = items[-1][:-1]
            lines += [f"  {dumps(key)}: [", *items, f"  ]{comma}"]
        else:
            lines.append(f"  {dumps(key)}: {dumps(value)}{comma}")
    return utf8("{\n" + "\n".join(lines) + "\n}\n")


def finding_json(finding: Finding) -> dict[str, Any]:
    """A finding as JSON data."""
    return {
        "code": finding.rule.code,
        "name": finding.rule.name,
        "severity": finding.rule.severity.value,
        "path": finding.location.path,
        "line": finding.location.line or None,  # 0: a --model module whose line is unknown
        "col": finding.location.col or None,
        "layer": finding.layer,
        "message": finding.message,
        "fix": None if finding.fix is None else {"arg": finding.fix[0], "value": finding.fix[1]},
    }


def render_markdown(report: SummaryReport) -> str:
    """A GitHub-flavoured Markdown table with the same rows, footer and findings (every column asked
    for: a page scrolls sideways where a terminal cannot)."""
    chosen = [COLUMNS[k] for k in report.columns if k != "finding" or report.findings]
    lines = [
        f"**{markdown_escape(title_text(report.trace))}**",
        "",
        "| " + " | ".join(c.title for c in chosen) + " |",
        "|" + "|".join("---:" if c.right else "---" for c in chosen) + "|",
    ]
    for row, count in fold(tree(report), chosen):
        cells = [cell.strip() for cell in _cells(chosen, row, count)]
        if row.depth:  # Markdown drops leading spaces: indent with no-break spaces
            layer = chosen.index(COLUMNS["layer"]) if COLUMNS["layer"] in chosen else None
            if layer is not None:
                cells[layer] = "\u00a0\u00a0" * row.depth + cells[layer]
        lines.append("| " + " | ".join(markdown_escape(cell) for cell in cells) + " |")
    legend = " · ".join(_legend(c, report.rows) for c in chosen if c.legend)
    lines += [
        "",
        f"_{markdown_escape(legend)}_",
        "",
        *(f"- {markdown_escape(line)}" for line in footer_lines(report.trace)),
    ]
    if report.explain:
        lines += ["", "How each size comes about:", ""]
        lines += [f"- {markdown_escape(r.name)}: {markdown_escape(e)}" for r in report.rows for e in r.explain]
    findings = [f"- {markdown_escape(f.line)}" for f in report.findings] or ["- No size problems found."]
    return "\n".join([*lines, "", *findings]) + "\n"


_MARKDOWN = {c: "\\" + c for c in "\\`*_[]|#"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def markdown_escape(text: str) -> str:
    """Text that GitHub shows as written: no emphasis, no links, no HTML (``<built-in>``), no cell breaks."""
    return "".join(_MARKDOWN.get(ch, ch) for ch in safe(text))


CSV_FIELDS = (
    "index",
    "name",
    "type",
    "filters",
    "stride",
    "padding",
    "input_shape",
    "output_shape",
    "output",
    "weights",
    "biases",
    "params",
    "trainable",
    "mult_adds",
    "activation_bytes",
    "receptive_field",
    "jump",
    "notes",
    "findings",
)


def render_csv(report: SummaryReport) -> str:
    """One row per layer; shapes in PyTorch order as ``1x32x7x7``."""
    buffer = io.StringIO()
    fields = CSV_FIELDS + (("explain",) if report.explain else ())
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in report.rows:
        flat = row.to_json(report.explain)
        for key in ("input_shape", "output_shape", "receptive_field", "jump"):
            flat[key] = "" if flat[key] is None else "x".join(map(str, flat[key]))
        flat["findings"] = " ".join(flat["findings"])
        if report.explain:
            flat["explain"] = "; ".join(flat["explain"])
        writer.writerow(flat)
    return buffer.getvalue()


RENDERERS: dict[SummaryFormat, Callable[[SummaryReport], str | Text]] = {
    SummaryFormat.TABLE: render_table,
    SummaryFormat.JSON: render_json,
    SummaryFormat.MARKDOWN: render_markdown,
    SummaryFormat.CSV: render_csv,
}
"""Every summary format: the table is styled Text for a console, the others plain text for stdout."""
