"""A layout as SVG 1.1 text: self-contained, deterministic, every user-given name escaped."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from cnninspect.draw.items import Role, Severity
from cnninspect.draw.layout import FONT_SIZE, MERGE_RADIUS, Box, Edge, Kernel, Layout, Text
from cnninspect.draw.source import safe

FONT_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, monospace"
COLOURS = {
    # role: (front, top, side, outline)
    Role.INPUT: ("#d9d9d9", "#efefef", "#bdbdbd", "#636363"),
    Role.CONV: ("#8fb8de", "#c6dbef", "#6a9bc3", "#2b5d8a"),
    Role.POOL: ("#bfe3b8", "#e0f2db", "#94cc8b", "#3d7a35"),
    Role.UP: ("#c4bfe0", "#e2dff0", "#a29bcc", "#54478f"),
    Role.FLATTEN: ("#fdd0a2", "#fee6ce", "#f0a868", "#8c4a0b"),
    Role.LINEAR: ("#f5a962", "#fbd2a8", "#d9863a", "#8c4a0b"),
    Role.MERGE: ("#ffffff", "#ffffff", "#ffffff", "#444444"),
    Role.OTHER: ("#cfd8dc", "#eceff1", "#aab7be", "#455a64"),
    Role.PASS: ("#cfd8dc", "#eceff1", "#aab7be", "#455a64"),
    Role.PAD: ("#cfd8dc", "#eceff1", "#aab7be", "#455a64"),
    Role.GROUP: ("#8fb8de", "#c6dbef", "#6a9bc3", "#2b5d8a"),
    Role.RUN: ("#8fb8de", "#c6dbef", "#6a9bc3", "#2b5d8a"),
}
SEVERITY_COLOURS = {
    Severity.ERROR: ("#f28b82", "#fbd3cf", "#d9534f", "#b00020"),
    Severity.WARNING: ("#ffd27f", "#ffe9bf", "#e0a526", "#9a6a00"),
}
SEVERITY_DASHES = {Severity.ERROR: ("6 3", "3"), Severity.WARNING: ("1.5 2", "2")}
TEXT_COLOURS = {"mark": "#b00020", "shape": "#111111", "name": "#555555", "legend": "#555555", "finding": "#b00020"}
EDGE_COLOUR, CONCAT_COLOUR = "#666666", "#2b7bb9"
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def escape(text: str) -> str:
    """User text as XML character data or an attribute value: control characters shown as
    escapes (``\\n``, ``\\x1b``), characters XML cannot hold likewise, markup characters as entities."""
    shown = _NOT_XML.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), safe(text))
    return html.escape(shown, quote=True)


def number(value: float) -> str:
    """A coordinate with one decimal, without a trailing ``.0`` or a negative zero."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def svg_document(layout: Layout, title: str, description: str, *, interactive: bool = False, prefix: str = "d") -> str:
    """The picture as an SVG document (``interactive``: for embedding in the HTML page, items
    focusable and keyed to the table's rows)."""
    left, top, right, bottom = layout.bounds
    width, height = right - left, bottom - top
    head = "" if interactive else '<?xml version="1.0" encoding="UTF-8"?>\n'
    # SVG 1.1 has no ARIA attributes: a file reader takes the <title> and <desc> that open it
    aria = f'role="img" aria-labelledby="{prefix}-title {prefix}-desc" ' if interactive else ""
    lines = [
        f'{head}<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{number(width)}" '
        f'height="{number(height)}" viewBox="{number(left)} {number(top)} {number(width)} {number(height)}" '
        f'{aria}font-family="{FONT_FAMILY}" '
        f'font-size="{number(FONT_SIZE)}">',
        f'<title id="{prefix}-title">{escape(title)}</title>',
        f'<desc id="{prefix}-desc">{escape(description)}</desc>',
        "<defs>",
        f'<marker id="{prefix}-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#666666"/></marker>',
        f'<pattern id="{prefix}-stripes" width="6" height="4" patternUnits="userSpaceOnUse">'
        '<rect width="6" height="4" fill="#fdd0a2"/>'
        '<path d="M0,3.5 H6" stroke="#8c4a0b" stroke-width="0.8"/></pattern>',
        "</defs>",
        f'<rect x="{number(left)}" y="{number(top)}" width="{number(width)}" height="{number(height)}" '
        'fill="#ffffff"/>',
        '<g class="edges" fill="none">',
        *(_edge(edge, prefix) for edge in layout.edges),
        "</g>",
        *(line for index, box in enumerate(layout.boxes) for line in _box(box, index, interactive, prefix)),
        '<g class="kernels">',
        *(_kernel(kernel) for kernel in layout.kernels),
        "</g>",
        '<g class="legend">',
        *(_text(text) for text in layout.legend),
        "</g>",
        "</svg>",
    ]
    return "\n".join(lines) + "\n"


def _edge(edge: Edge, prefix: str) -> str:
    colour = CONCAT_COLOUR if edge.concat else EDGE_COLOUR
    points = edge.points
    if not edge.arc:
        (x1, y1), (x2, y2) = points
        path = f"M{number(x1)},{number(y1)} L{number(x2)},{number(y2)}"
    else:
        path = "M" + " L".join(f"{number(x)},{number(y)}" for x, y in points)
    kind = "lane" if edge.concat else "arc" if edge.arc else "line"
    return (
        f'<path class="edge {kind}" d="{path}" stroke="{colour}" stroke-width="{1.6 if edge.arc else 1.2}" '
        f'stroke-linejoin="round" marker-end="url(#{prefix}-arrow)"/>'
    )


def _box(box: Box, index: int, interactive: bool, prefix: str) -> Iterator[str]:
    item = box.item
    severity = item.severity
    front, top_colour, side, outline = SEVERITY_COLOURS[severity] if severity else COLOURS[item.role]
    dash, stroke_width = SEVERITY_DASHES[severity] if severity else ("4 2" if item.role is Role.POOL else "", "1")
    classes = " ".join(filter(None, ("item", item.role.value, severity.value if severity else "")))
    extra = f' tabindex="0" data-index="{index}"' if interactive else ""
    yield f'<g class="{classes}" id="{prefix}-item{index}"{extra}>'
    yield f"<title>{_tooltip(box)}</title>"
    stroke = f'stroke="{outline}" stroke-width="{stroke_width}"' + (f' stroke-dasharray="{dash}"' if dash else "")
    if box.framed:
        yield (
            f'<rect class="frame" x="{number(box.x - 5)}" y="{number(box.top)}" '
            f'width="{number(box.width + box.dx + 10)}" height="{number(box.bottom - box.top)}" rx="6" '
            f'fill="none" stroke="{outline}" stroke-dasharray="5 3"/>'
        )
    if item.role is Role.MERGE:
        cx, cy = box.x + MERGE_RADIUS, box.mid
        yield f'<circle cx="{number(cx)}" cy="{number(cy)}" r="{number(MERGE_RADIUS)}" fill="{front}" {stroke}/>'
        yield (
            f'<text class="operator" x="{number(cx)}" y="{number(cy + 5)}" text-anchor="middle" '
            f'font-size="15" fill="{outline}">{escape(item.operator)}</text>'
        )
    else:
        x, y, w, h, dx, dy = box.x, box.mid - box.height / 2, box.width, box.height, box.dx, box.dy
        fill = f"url(#{prefix}-stripes)" if item.role is Role.FLATTEN and not severity else front
        if dx:
            yield _polygon(((x, y), (x + dx, y - dy), (x + w + dx, y - dy), (x + w, y)), top_colour, stroke)
            yield _polygon(((x + w, y), (x + w + dx, y - dy), (x + w + dx, y + h - dy), (x + w, y + h)), side, stroke)
        yield (
            f'<rect class="face" x="{number(x)}" y="{number(y)}" width="{number(w)}" height="{number(h)}" '
            f'fill="{fill}" {stroke}/>'
        )
    for text in box.texts:
        yield _text(text, outline if text.kind == "mark" else None)
    yield "</g>"


def _polygon(points: tuple[tuple[float, float], ...], fill: str, stroke: str) -> str:
    joined = " ".join(f"{number(x)},{number(y)}" for x, y in points)
    return f'<polygon points="{joined}" fill="{fill}" {stroke}/>'


def _kernel(kernel: Kernel) -> str:
    x, y, w, h = kernel.x, kernel.y, kernel.width, kernel.height
    tx, ty = kernel.to
    colour = "#3d7a35" if kernel.pool else "#b35806"
    dash = ' stroke-dasharray="2 1.5"' if kernel.pool else ""
    return (
        f'<g class="kernel"><rect x="{number(x)}" y="{number(y)}" width="{number(w)}" height="{number(h)}" '
        f'fill="{colour}" fill-opacity="0.35" stroke="{colour}"{dash}/>'
        f'<path d="M{number(x + w)},{number(y)} L{number(tx)},{number(ty)} M{number(x + w)},{number(y + h)} '
        f'L{number(tx)},{number(ty)}" stroke="{colour}" stroke-width="0.8" fill="none"{dash}/></g>'
    )


def _text(text: Text, colour: str | None = None) -> str:
    anchor = "" if text.anchor == "start" else f' text-anchor="{text.anchor}"'
    colour = colour or TEXT_COLOURS[text.kind]
    weight = ' font-weight="bold"' if text.kind in ("mark", "shape") else ""
    return (
        f'<text class="label {text.kind}" x="{number(text.x)}" y="{number(text.y)}"{anchor} '
        f'fill="{colour}"{weight}>{escape(text.text)}</text>'
    )


def _tooltip(box: Box) -> str:
    item = box.item
    lines = [f"{item.name} · {item.type}", f"output {item.label}", *item.marks]
    return "\n".join(escape(line) for line in lines)
