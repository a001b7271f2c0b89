"""Summary as a GitHub-flavoured Markdown table, with the footer and the findings."""

from __future__ import annotations

from cnninspect.formats.summary.columns import COLUMNS, cells, legend
from cnninspect.formats.summary.report import SummaryReport, footer_lines, title_text, tree
from cnninspect.formats.summary.rows import fold
from cnninspect.text import safe


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
        texts = [cell.strip() for cell in cells(chosen, row, count)]
        if row.depth:  # Markdown drops leading spaces: indent with no-break spaces
            layer = chosen.index(COLUMNS["layer"]) if COLUMNS["layer"] in chosen else None
            if layer is not None:
                texts[layer] = "\u00a0\u00a0" * row.depth + texts[layer]
        lines.append("| " + " | ".join(markdown_escape(cell) for cell in texts) + " |")
    legends = " · ".join(legend(c, report.rows) for c in chosen if c.legend)
    lines += [
        "",
        f"_{markdown_escape(legends)}_",
        "",
        *(f"- {markdown_escape(line)}" for line in footer_lines(report.trace, report.stats)),
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
