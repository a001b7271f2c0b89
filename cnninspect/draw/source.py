"""The one module of ``cnninspect.draw`` that reads the rest of cnninspect: a trace, its findings
and its summary rows become the draw package's own records (``Part``, ``Group``, ``Row``).

Every name the package takes from elsewhere is imported here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cnninspect.draw.items import Group, Part, Role, Severity
from cnninspect.engines.records import (
    AttendMismatch,
    Collapse,
    GroupsMismatch,
    LayerRecord,
    MergeMismatch,
    RankMismatch,
    SplitMismatch,
    Trace,
)
from cnninspect.formats.summary import SummaryRow, group_rows, summary_rows
from cnninspect.rules import Finding
from cnninspect.spec.catalog import Family
from cnninspect.spec.model import INPUT, GroupSpec, expand
from cnninspect.text import dims_text, feature_map, safe

__all__ = ["Finding", "Row", "Trace", "groups_of", "parts_of", "rows_of", "safe", "title_of"]

_ROLES = {
    Family.CONV: Role.CONV,
    Family.CONV_TRANSPOSE: Role.CONV,
    Family.LOCAL: Role.CONV,
    Family.MAX_POOL: Role.POOL,
    Family.AVG_POOL: Role.POOL,
    Family.ADAPTIVE_POOL: Role.POOL,
    Family.BATCH_NORM: Role.PASS,
    Family.INSTANCE_NORM: Role.PASS,
    Family.GROUP_NORM: Role.PASS,
    Family.LAYER_NORM: Role.PASS,
    Family.ELEMENTWISE: Role.PASS,
    Family.SOFTMAX: Role.PASS,
    Family.FLATTEN: Role.FLATTEN,
    Family.LINEAR: Role.LINEAR,
    Family.ZERO_PAD: Role.PAD,
    Family.UPSAMPLE: Role.UP,
    Family.ADD: Role.MERGE,
    Family.CONCAT: Role.MERGE,
    Family.MUL: Role.MERGE,
}
_OPERATORS = {Family.ADD: "+", Family.MUL: "×", Family.CONCAT: "‖"}
_REPEAT = re.compile(r"(.+) × (\d+)")


@dataclass(frozen=True, kw_only=True)
class Row:
    """One line of the summary table, as the HTML page shows it."""

    name: str
    """Qualified name (``layer1.0.conv1``), or the group's."""
    type: str
    """Layer type, block name or ``Sequential``."""
    depth: int
    """Nesting level."""
    group: bool
    """A group's totals rather than one layer."""
    filters: str
    """``16 × 5×5×3``."""
    stride: str
    """``2/1`` (stride/padding), empty for layers without."""
    output: str
    """``15×15×16``."""
    params: int
    """Weights plus biases."""
    mult_adds: int | None
    """Multiply-accumulates; None when unknown."""
    findings: tuple[str, ...]
    """Each finding's line: ``CODE fc: in_features is 2048 …``."""
    severity: str = ""
    """``error``, ``warning`` or empty: the worst of its findings."""


def title_of(trace: Trace) -> str:
    """``myCNN · input 3×32×32 · --kernel 5``."""
    spec = trace.spec
    return " · ".join([spec.name, f"input {dims_text(spec.input)}", *spec.overridden])


def parts_of(trace: Trace, findings: Sequence[Finding]) -> list[Part]:
    """One part for the input, then one per traced layer (a ``--model`` container's row is read
    as the module before it, since its children have parts of their own)."""
    by_layer: dict[str, list[Finding]] = {}
    for finding in findings:
        by_layer.setdefault(finding.layer, []).append(finding)
    parts = [Part(name=INPUT, title=INPUT, type="input", role=Role.INPUT, dims=trace.spec.input)]
    part_of: dict[int, int] = {}
    position = {record.layer.name: index for index, record in enumerate(trace.records)}
    # a --model trace knows where an input made by the model's own code (x.view) most likely comes from
    nearest = getattr(trace, "nearest", None)
    for index, record in enumerate(trace.records):
        layer = record.layer
        producer = trace.producers[index]
        if producer is None and index and nearest is not None:
            producer = nearest(index)
        if record.container:
            part_of[index] = 0 if producer is None else part_of[producer]
            continue
        if layer.inputs:
            inputs = tuple(
                0 if name == INPUT else part_of[position[name]]
                for name in layer.inputs
                if name in position or name == INPUT
            )
        else:
            inputs = (0 if producer is None else part_of[producer],)
        part_of[index] = len(parts)
        found = by_layer.get(layer.name, [])
        parts.append(
            Part(
                name=layer.name,
                title=layer.title if layer.named or layer.scope else layer.type,
                type=layer.type,
                role=_role(record),
                inputs=inputs,
                dims=None if record.output_shape is None else tuple(record.output_shape[1:]),
                kernel=_kernel(record),
                operator=_OPERATORS.get(layer.kind.family, "") if layer.kind else "",
                scope=layer.scope,
                severity=_severity(found),
                marks=_marks(record, found),
            )
        )
    return parts


def groups_of(trace: Trace) -> list[Group]:
    """Every group with the name its folded box shows: ``layer3 · 6 × Bottleneck``."""
    children: dict[tuple[str, ...], list[GroupSpec]] = {}
    for group in trace.spec.groups:
        children.setdefault(group.scope, []).append(group)
    return [
        Group(name=group.name, label=f"{group.name} · {_what(group, children.get((*group.scope, group.name), []))}")
        for group in trace.spec.groups
    ]


def _what(group: GroupSpec, children: Sequence[GroupSpec]) -> str:
    """``6 × Bottleneck`` for a group of block uses of one kind, else its type."""
    repeated = _REPEAT.fullmatch(group.type)
    if repeated:
        return f"{repeated.group(2)} × {repeated.group(1)}"
    kinds = {g.type for g in children}
    inside = {name for g in children for name in g.layers}
    if len(children) > 1 and len(kinds) == 1 and set(group.layers) <= inside:
        return f"{len(children)} × {kinds.pop()}"
    return group.type


def rows_of(trace: Trace, findings: Sequence[Finding]) -> list[Row]:
    """The summary table's rows, each group's row before its first layer."""
    rows = summary_rows(trace, findings)
    grouped = group_rows(trace.spec, rows)
    names = {row.name for row in rows}
    opening: dict[str, list[SummaryRow]] = {}
    for row, group in zip(grouped, [g for g in trace.spec.groups if any(n in names for n in g.layers)]):
        opening.setdefault(next(n for n in group.layers if n in names), []).append(row)
    ordered = [shown for row in rows for shown in (*opening.get(row.name, []), row)]
    return [
        Row(
            name=row.name,
            type=row.type,
            depth=row.depth,
            group=row.group,
            filters=row.filters,
            stride=f"{row.stride}/{row.padding}" if row.stride else "",
            output=row.output,
            params=row.params,
            mult_adds=row.mult_adds,
            findings=() if row.group else tuple(f"{f.rule.code} {f.message}" for f in row.findings),
            severity=str(_severity(() if row.group else row.findings) or ""),
        )
        for row in ordered
    ]


def _role(record: LayerRecord) -> Role:
    layer = record.layer
    if layer.kind is not None:
        return _ROLES.get(layer.kind.family, Role.OTHER)
    kept = record.output_shape is not None and record.output_shape == record.input_shape
    name = layer.type.lower()
    if "conv" in name:
        return Role.CONV
    if "pool" in name:
        return Role.POOL
    if name == "linear":
        return Role.LINEAR
    if name == "flatten":
        return Role.FLATTEN
    return Role.PASS if kept and not record.params else Role.OTHER


def _kernel(record: LayerRecord) -> tuple[int, int] | None:
    """A 2-d conv's kernel or pool's window, as written or PyTorch's default."""
    layer = record.layer
    if len(record.input_shape) != 4 or ("kernel_size" not in layer.args and layer.kind is None):
        return None
    value = layer.get("kernel_size")
    if value is None:
        return None
    size = expand(value, 2)
    return (size[0], size[1]) if all(isinstance(v, int) for v in size) else None


def _severity(found: Sequence[Finding]) -> Severity | None:
    values = {str(f.rule.severity) for f in found}
    return Severity.ERROR if "error" in values else Severity.WARNING if values else None


def _marks(record: LayerRecord, found: Sequence[Finding]) -> tuple[str, ...]:
    """``✗`` and the code, then what the layer expects and what it receives, for each finding."""
    lines: list[str] = []
    for finding in found:
        sign = "✗" if str(finding.rule.severity) == "error" else "!"
        lines.append(f"{sign} {finding.rule.code}")
    for mismatch in record.mismatches:
        if isinstance(mismatch, RankMismatch):
            lines.append("expects " + " or ".join(f"{rank}-d" for rank in mismatch.allowed))
            lines.append(f"receives {len(mismatch.received)}-d")
        elif isinstance(mismatch, Collapse):
            lines += [f"needs ≥ {mismatch.fits}", f"receives {mismatch.received}"]
        elif isinstance(mismatch, GroupsMismatch):
            lines += [f"expects a multiple of {mismatch.divisor}", f"receives {mismatch.received}"]
        elif isinstance(mismatch, MergeMismatch):
            lines.append(f"receives {_value(tuple(mismatch.shapes))}")
        elif isinstance(mismatch, AttendMismatch) and mismatch.arg == "area":
            lines += [f"expects a multiple of {mismatch.declared}", f"receives {mismatch.received}"]
        elif isinstance(mismatch, SplitMismatch):
            declared = mismatch.declared
            expects = f"{sum(declared)}" if isinstance(declared, tuple) else f"a multiple of {declared}"
            lines += [f"expects {expects}", f"receives {mismatch.received}"]
        else:  # a size or a LayerNorm's trailing shape
            lines += [f"expects {_value(mismatch.declared)}", f"receives {_value(mismatch.received)}"]
    return tuple(dict.fromkeys(lines))


def _value(value: object) -> str:
    """A size, a shape tail (``32×7×7``), or a merge's input shapes as feature maps (``28×28×128, 56×56×64``)."""
    if isinstance(value, tuple) and value and all(isinstance(v, tuple) for v in value):
        return ", ".join(feature_map(shape) for shape in value)
    if isinstance(value, tuple):
        return dims_text(value)
    return str(value)
