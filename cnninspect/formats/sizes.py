"""``sizes`` in every format: table and json."""

from __future__ import annotations

import json
from collections.abc import Callable

from rich.text import Text

from cnninspect.formats import table
from cnninspect.formats.choices import SizesFormat
from cnninspect.formats.table import Column, Row
from cnninspect.input_sizes import SizeReport, compact
from cnninspect.text import dims_text, safe


def sizes_rows(report: SizeReport) -> list[tuple[str, str]]:
    """(what, which sizes) for the table."""
    square = dims_text(["N"] * (len(report.spec.input) - 1))
    rows = [
        ("Smallest input", f"{dims_text(report.smallest)} (each dimension on its own)"),
        (f"Every layer keeps an output ({square})", compact(report.survive)),
    ]
    rows += [
        (f"{safe(name)}: in_features {report.declared[name]} fits", compact(sizes))
        for name, sizes in report.linear_fits.items()
    ]
    if report.merges is not None:
        rows.append((f"Every merge fits ({square})", compact(report.merges)))
    if report.areas is not None:
        rows.append((f"Every Attend's area divides its places ({square})", compact(report.areas)))
    rows.append(("No input row or column dropped", compact(report.exact)))
    return rows


def render_table(report: SizeReport) -> Text:
    """The accepted sizes, one property per line."""
    spec = report.spec
    square = dims_text(["N"] * (len(spec.input) - 1))
    first, last = report.tried[0], report.tried[-1]
    text = Text(f"{safe(spec.name)} · input {spec.input[0]}×{square}, N from {first} to {last} · analytic engine\n")
    text.append_text(table.render([Column("Accepts"), Column("N")], [Row(list(r)) for r in sizes_rows(report)]))
    return text


def render_json(report: SizeReport) -> str:
    """Every size, listed."""
    document = {
        "model": report.spec.name,
        "channels": report.spec.input[0],
        "tried": [report.tried[0], report.tried[-1]],
        "smallest_input": list(report.smallest),
        "survive": list(report.survive),
        "linear_fits": {
            name: {"in_features": report.declared[name], "sizes": list(sizes)}
            for name, sizes in report.linear_fits.items()
        },
        "merges_fit": None if report.merges is None else list(report.merges),
        "attend_areas_fit": None if report.areas is None else list(report.areas),
        "no_rows_dropped": list(report.exact),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


RENDERERS: dict[SizesFormat, Callable[[SizeReport], str | Text]] = {
    SizesFormat.TABLE: render_table,
    SizesFormat.JSON: render_json,
}
"""Every sizes format."""
