"""A fixed-width text table: every cell whole on one line, columns sized to their widest cell.

Rich's Table measures and wraps every cell, which crushes names into ``…`` at 80 columns and
takes seconds for thousands of rows. This renderer never wraps or truncates: callers choose
which columns fit (``fit_columns``), and a line that is still too wide runs past the edge
rather than lose a character.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text

GAP = "  "
"""Between two columns."""
RULE = "─"


@dataclass(frozen=True)
class Column:
    """One column of a text table."""

    title: str
    """Its heading."""
    right: bool = False
    """Right-aligned (numbers)."""


@dataclass(frozen=True)
class Row:
    """One line of cells, and the style of the whole line (or of one cell)."""

    cells: Sequence[str]
    """The text of each cell, in column order."""
    style: str | None = None
    """A Rich style for the line, e.g. ``red``."""
    cell_styles: dict[int, str] | None = None
    """Styles of single cells, by column index."""


def widths(columns: Sequence[Column], rows: Sequence[Row]) -> list[int]:
    """Each column's width: its widest cell or its title."""
    result = [cell_len(c.title) for c in columns]
    for row in rows:
        for i, cell in enumerate(row.cells):
            size = cell_len(cell)
            if size > result[i]:
                result[i] = size
    return result


def fit_columns(wanted: Sequence[int], sizes: Sequence[int], width: int, drop_order: Sequence[int]) -> list[int]:
    """The columns (indices into ``sizes``) to show at ``width``: ``wanted`` minus as few as
    possible, dropped in ``drop_order``; the others are always shown."""
    shown = list(wanted)

    def total() -> int:
        return sum(sizes[i] for i in shown) + len(GAP) * (len(shown) - 1)

    for index in drop_order:
        if total() <= width:
            break
        if index in shown:
            shown.remove(index)
    return shown


def render(columns: Sequence[Column], rows: Sequence[Row], sizes: Sequence[int] | None = None) -> Text:
    """The header, a rule, and one line per row, as one styled Text (no trailing spaces)."""
    sizes = list(sizes) if sizes is not None else widths(columns, rows)
    text = Text()
    header = _line([c.title for c in columns], columns, sizes)
    text.append(header + "\n", style="bold")
    text.append(RULE * cell_len(header) + "\n")
    for row in rows:
        text.append_text(row_text(row, columns, sizes))
        text.append("\n")
    return text


def row_text(row: Row, columns: Sequence[Column], sizes: Sequence[int]) -> Text:
    """One row as one line (no newline, no trailing spaces)."""
    if not row.cell_styles:
        return Text(_line(row.cells, columns, sizes), style=row.style or "")
    text = Text()
    last = max((i for i, cell in enumerate(row.cells) if cell), default=-1)
    for i, (cell, column, size) in enumerate(zip(row.cells, columns, sizes)):
        if i > last:
            break
        piece = cell if i == last and not column.right else _pad(cell, size, column.right)
        text.append(piece, style=row.cell_styles.get(i, row.style))
        if i < last:
            text.append(GAP, style=row.style)
    return text


def _line(cells: Sequence[str], columns: Sequence[Column], sizes: Sequence[int]) -> str:
    parts = [_pad(cell, size, column.right) for cell, column, size in zip(cells, columns, sizes)]
    return GAP.join(parts).rstrip()


def _pad(cell: str, size: int, right: bool) -> str:
    space = " " * (size - cell_len(cell))
    return space + cell if right else cell + space
