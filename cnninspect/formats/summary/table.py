"""The summary table for people: every name and shape whole, the columns chosen to fit the
terminal, a marker on every row with a finding and the finding itself below, one line each."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from cnninspect.formats import table
from cnninspect.formats.common import SEVERITY_STYLES
from cnninspect.formats.summary.columns import COLUMNS, DROP_ORDER, cells, legend
from cnninspect.formats.summary.report import SummaryReport, explain_lines, footer_lines, title_text, tree
from cnninspect.formats.summary.rows import SummaryRow, fold
from cnninspect.formats.table import Column, Row
from cnninspect.formats.wrap import finding_text, hang
from cnninspect.rules import Severity
from cnninspect.rules.shared import wrong_input
from cnninspect.spec.model import ModelSpec
from cnninspect.text import safe

RUN_NOTED = 3
"""Consecutive layers with one note, from this many on, are noted once (first … last)."""


def render_table(report: SummaryReport) -> Text:
    """The table for people, at the terminal's width, with footer, formulas and findings. When the
    input itself is written wrong, every row would follow from the mistake: only the finding that
    says so is shown."""
    if wrong_input(report.trace) is not None:
        text = Text(_fit(title_text(report.trace), report, 2) + "\n")
        text.append("The input looks written in the wrong layout; the table follows once it is corrected.\n\n")
        for finding in report.findings:
            style = SEVERITY_STYLES[finding.rule.severity]
            text.append(finding_text(finding, report.width if report.wrap else None) + "\n", style=style)
        return text
    numbered = report.fit and numbers_its_items(report.trace.spec)
    shown = [
        COLUMNS[k] for k in report.columns if (k != "finding" or report.findings) and not (k == "index" and numbered)
    ]
    folded = fold(tree(report), shown)
    texts = [cells(shown, row, count) for row, count in folded]
    columns = [Column(c.title, c.right) for c in shown]
    rows = [Row(line, _row_style(row)) for line, (row, _) in zip(texts, folded)]
    sizes = table.widths(columns, rows)
    keep = list(range(len(shown)))
    hidden: list[str] = []
    if report.fit:
        order = [i for key in DROP_ORDER for i, c in enumerate(shown) if c.key == key]
        keep = table.fit_columns(keep, sizes, report.width, order)
        hidden = [shown[i].title for i in range(len(shown)) if i not in keep]
    text = Text(_fit(title_text(report.trace), report, 2) + "\n")
    text.append_text(
        table.render(
            [columns[i] for i in keep],
            [Row([r.cells[i] for i in keep], r.style) for r in rows],
            [sizes[i] for i in keep],
        )
    )
    legends = [legend(shown[i], report.rows) for i in keep if shown[i].legend]
    if hidden:
        legends.append(f"Hidden at {report.width} columns: {', '.join(hidden)} (see --columns)")
    text.append(_wrap_items(legends, report.width) + "\n", style="dim")
    text.append("\n".join(_fit(line, report, 2) for line in footer_lines(report.trace, report.stats)) + "\n")
    if report.explain:
        text.append("\n".join(["", "How each size comes about:", *explain_lines(report.rows)]) + "\n")
    if "notes" not in [shown[i].key for i in keep]:
        noted = [(r.name, r.notes) for r in report.rows if r.notes and _worth_noting(r)]
        notes = [_fit(f"  {safe(name)}: {safe(note)}", report, 4) for name, note in _runs(noted)]
        if notes:
            text.append("\n".join(["", "Notes:", *notes]) + "\n")
    text.append("\n")
    if not report.findings:
        text.append("No size problems found.\n", style="green")
    for finding in report.findings:
        width = report.width if report.wrap else None
        text.append(finding_text(finding, width) + "\n", style=SEVERITY_STYLES[finding.rule.severity])
    return text


def numbers_its_items(spec: ModelSpec) -> bool:
    """True when the spec's own top-level items are named 0, 1, 2, … in order (darknet's sections,
    a ``--layers`` string): the Layer column then shows the index the user knows, and a second
    count (the # column) beside it would only mislead."""
    names: list[str] = []
    for layer in spec.layers:
        name = layer.scope[0] if layer.scope else layer.name
        if not names or names[-1] != name:
            names.append(name)
    return names == [str(i) for i in range(len(names))]


def _fit(line: str, report: SummaryReport, indent: int) -> str:
    """A line broken at words with a hanging indent when the report is for a terminal."""
    return hang(line, report.width, indent) if report.wrap else line


def _wrap_items(items: Sequence[str], width: int) -> str:
    """Items joined by `` · ``, a new line where the next item would pass ``width``."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 3 + len(item) <= width:
            lines[-1] += " · " + item
        else:
            lines.append(item)
    return "\n".join(lines)


def _runs(noted: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Notes with runs of one text said once: ``flow.s.0.0 … flow.t.5.4 (36 layers)`` for a part
    that forward never calls, rather than a line per layer."""
    lines: list[tuple[str, str]] = []
    start = 0
    while start < len(noted):
        end = start
        while end + 1 < len(noted) and noted[end + 1][1] == noted[start][1]:
            end += 1
        first, note = noted[start]
        if end - start + 1 >= RUN_NOTED:
            lines.append((f"{first} … {noted[end][0]} ({end - start + 1} layers)", note))
        else:
            lines += noted[start : end + 1]
        start = end + 1
    return lines


def _worth_noting(row: SummaryRow) -> bool:
    """Notes beyond what the finding lines and the table already say (an inferred size is not news)."""
    return not row.findings and not row.notes.endswith(" inferred")


def _row_style(row: SummaryRow) -> str | None:
    if not row.findings:
        return None
    return SEVERITY_STYLES[min((f.rule.severity for f in row.findings), key=list(Severity).index)]
