"""The columns ``--columns`` chooses from, each with its heading and how it writes a row's cell,
and the order in which they make way on a narrow terminal."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cnninspect.errors import UsageError
from cnninspect.formats.summary.numbers import human_bytes
from cnninspect.formats.summary.rows import SummaryRow
from cnninspect.text import did_you_mean, safe

VOLUME_WIDTH = 10
BLOCKS = " ▏▎▍▌▋▊▉█"


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
"""Columns that make way, in this order, when the terminal is narrow; layer, output and finding stay."""


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


def cells(columns: Sequence[SummaryColumn], row: SummaryRow, count: int) -> list[str]:
    """A row's cells; a folded run says how many rows it stands for."""
    texts = [c.cell(row) for c in columns]
    if count > 1:
        keys = [c.key for c in columns]
        if "index" in keys and row.index is not None:
            texts[keys.index("index")] = f"{row.index}–{row.index + count - 1}"
        if "layer" in keys:
            first = row.label if row.index is None or "index" not in keys else ""  # where the run starts
            span = f"{first}… " if first else ""
            texts[keys.index("layer")] = "  " * row.depth + f"{span}× {count:,}"
    return texts


# ---------------------------------------------------------------------------------------
# Cell texts


def _same(values: Sequence[int | float]) -> str:
    """``7`` when every dimension agrees, else ``7×5``; fractions as decimals."""
    texts = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return texts[0] if len(set(texts)) == 1 else "×".join(texts)


def _bar(share: float) -> str:
    """A bar of up to VOLUME_WIDTH cells, in eighths of a cell; never empty for a non-zero share."""
    eighths = max(1, round(share * VOLUME_WIDTH * 8))
    return BLOCKS[-1] * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")


def legend(column: SummaryColumn, rows: Sequence[SummaryRow]) -> str:
    """A column's legend; the output's also says how other tensors are written, when some are."""
    if column.key == "output" and any(row.output.startswith("[") for row in rows):
        return f"{column.legend}; [other tensors] in PyTorch's order"
    return column.legend
