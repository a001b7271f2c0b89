"""``cnninspect draw``: the network as the tutorial pictures it, each layer's output a volume.

``items`` decides what is drawn (folding), ``layout`` where (pure geometry), ``svg`` and
``html`` write it; ``source`` is the one module that reads the rest of cnninspect.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

from cnninspect.draw.items import build_items, description
from cnninspect.draw.layout import layout
from cnninspect.draw.source import Finding, Trace, groups_of, parts_of, title_of
from cnninspect.draw.svg import svg_document


class DrawFormat(StrEnum):
    """What ``draw`` writes, chosen by the file's suffix."""

    SVG = "svg"
    HTML = "html"


def format_of(path: Path) -> DrawFormat | None:
    """The format a file name asks for (``.svg``, ``.html``, ``.htm``), or None."""
    suffix = path.suffix.lower().lstrip(".")
    return DrawFormat.HTML if suffix in ("html", "htm") else DrawFormat.SVG if suffix == "svg" else None


def draw(trace: Trace, findings: Sequence[Finding], fmt: DrawFormat, depth: int | None = None) -> str:
    """The picture of a trace as SVG or as an HTML page; ``depth`` folds groups nested deeper
    (None: fold as much as a one-page picture needs)."""
    if fmt is DrawFormat.HTML:
        from cnninspect.draw.html import html_page

        return html_page(trace, findings, depth)
    return picture(trace, findings, depth)


def picture(trace: Trace, findings: Sequence[Finding], depth: int | None) -> str:
    """The SVG of a trace at one folding depth."""
    items = build_items(parts_of(trace, findings), groups_of(trace), depth)
    lines = [f.line for f in findings]
    return svg_document(layout(items, lines), title_of(trace), description(items, lines))
