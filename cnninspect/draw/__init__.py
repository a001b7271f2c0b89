"""``cnninspect draw``: the network as the tutorial pictures it, each layer's output a volume.

``items`` decides what is drawn (folding), ``layout`` where (pure geometry), ``svg`` and
``html`` write it; ``source`` is the one module that reads the rest of cnninspect.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

from cnninspect.draw.items import Item, build_items
from cnninspect.draw.layout import layout
from cnninspect.draw.source import Finding, Trace, dims_text, groups_of, parts_of
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


def picture(trace: Trace, findings: Sequence[Finding], depth: int | None, **options: object) -> str:
    """The SVG of a trace at one folding depth."""
    items = build_items(parts_of(trace, findings), groups_of(trace), depth)
    placed = layout(items, [f.line for f in findings])
    return svg_document(placed, title_of(trace), description(items, findings), **options)  # type: ignore[arg-type]


def title_of(trace: Trace) -> str:
    """``myCNN · input 3×32×32 · --kernel 5``."""
    spec = trace.spec
    return " · ".join([spec.name, f"input {dims_text(spec.input)}", *spec.overridden])


def description(items: Sequence[Item], findings: Sequence[Finding]) -> str:
    """The picture in words, for screen readers: each item's name and output, then the findings."""
    walk = " → ".join(f"{item.name} {item.label}" for item in items)
    return "; ".join([walk, *(f.line for f in findings)])
