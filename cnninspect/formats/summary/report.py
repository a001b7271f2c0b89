"""What ``summary`` renders: the report (trace, findings, the rows and statistics computed once
from them, and the table's options), the rows in tree order, the title and the footer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cnninspect.engines.records import BYTES_PER_VALUE, LayerRecord, Trace
from cnninspect.formats.summary.columns import DEFAULT_COLUMNS
from cnninspect.formats.summary.numbers import human_bytes, short_number
from cnninspect.formats.summary.rows import SummaryRow, group_rows, summary_rows
from cnninspect.metrics import Statistics, statistics
from cnninspect.rules import Finding
from cnninspect.spec.model import GroupSpec
from cnninspect.text import dims_text, plural, safe


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
    wrap: bool = False
    """Break long lines (findings, footer, notes) at words to fit ``width``: for a terminal."""
    stats: Statistics = field(init=False, compare=False)
    """The trace's statistics, computed once for the rows, the footer and the totals."""
    rows: list[SummaryRow] = field(init=False, compare=False)
    """One row per traced layer."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "stats", statistics(self.trace))
        object.__setattr__(self, "rows", summary_rows(self.trace, self.findings, self.explain, self.stats))


def tree(report: SummaryReport) -> list[SummaryRow]:
    """The table's rows: each group's row before its first layer, outermost first; with ``depth``,
    nothing nested deeper (a group at the last shown level stands for its layers)."""
    groups = group_rows(report.trace.spec, report.rows)
    opening: dict[str, list[SummaryRow]] = {}
    names = _names(report)
    for row, group in zip(groups, groups_with_rows(report)):
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


def groups_with_rows(report: SummaryReport) -> list[GroupSpec]:
    names = _names(report)
    return [group for group in report.trace.spec.groups if any(name in names for name in group.layers)]


def _names(report: SummaryReport) -> set[str]:
    return {row.name for row in report.rows}


def title_text(trace: Trace) -> str:
    """``myCNN · input 1×3×32×32 · torch engine · --kernel 5``; a --model's title names every input
    and the device its forward pass ran on: ``Net · input 1×3×8×8, 1×5 · torch engine on cpu``."""
    spec = trace.spec
    inputs = ", ".join(dims_text(shape) for shape in trace.input_shapes)
    device = "" if trace.ran_on is None else f" on {trace.ran_on}"
    parts = [safe(spec.name), f"input {inputs}", f"{trace.engine} engine{device}"]
    return " · ".join(parts + [safe(o) for o in spec.overridden])


def footer_lines(trace: Trace, stats: Statistics) -> list[str]:
    """Totals under the table, from the trace's ``stats``."""
    t = stats.totals
    lines = [
        f"Total params: {t.params:,} (weights {t.weights:,} + biases {t.biases:,})",
        f"Trainable params: {t.trainable:,} · Non-trainable params: {t.non_trainable:,}",
        f"Memory: params {human_bytes(t.param_bytes)} · activations {human_bytes(t.activation_bytes)} "
        f"(all outputs, batch {trace.spec.batch}, float{8 * BYTES_PER_VALUE})",
    ]
    if t.mult_adds is not None:
        lines.append(f"Mult-adds: {t.mult_adds:,} ({short_number(t.mult_adds)}; bias adds included)")
    else:
        unknown = [_uncounted(r) for r, count in zip(trace.records, stats.mult_adds) if count is None]
        known = sum(count for count in stats.mult_adds if count)
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


def explain_lines(rows: Sequence[SummaryRow]) -> list[str]:
    """``--explain``: each layer's formulas, the names aligned."""
    width = max((len(safe(r.name)) for r in rows if r.explain), default=0)
    return [f"  {safe(r.name):<{width}}  {line}" for r in rows for line in r.explain]
