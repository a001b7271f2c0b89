"""Where everything goes: sizes from the scale, one column per item, arcs over the main line.

Pure geometry (no SVG, no cnninspect imports): ``layout(items)`` returns boxes, texts and
edges in picture units (1 unit = 1 px at 100 %), y growing downwards as in SVG.

The scale is logarithmic with a minimum, so that a 224×224×3 input and a 7×7×2048 map are
both legible: a face side of n pixels of the image is ``FACE_MIN + FACE_UNIT·log₂ n`` units,
a depth of C channels ``DEPTH_MIN + DEPTH_UNIT·log₂ C`` units, drawn receding up and to the
right (``OBLIQUE_X``, ``OBLIQUE_Y`` per unit of depth). A vector of F features is a bar
``FACE_MIN + FACE_UNIT·log₂ F`` high.

When the model upsamples (U-Net, YOLO's necks), each item sits on the row of its resolution
(one row lower for each halving of H against the input), so an encoder-decoder reads as a U.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from cnninspect.draw.items import Item, Role

FACE_MIN = 10.0
FACE_UNIT = 12.0
DEPTH_MIN = 4.0
DEPTH_UNIT = 10.0
OBLIQUE_X = 0.6
OBLIQUE_Y = 0.4
BAR_WIDTH = 14.0
BAR_DEPTH = 6.0
MERGE_RADIUS = 12.0
KERNEL_MIN = 4.0
"""The smallest kernel square drawn, so a 1×1 kernel on a 224×224 face is still seen."""
FONT_SIZE = 11.0
CHAR_WIDTH = FONT_SIZE * 0.6
"""A monospace character's advance; the picture names a monospace font."""
LINE = 14.0
GAP = 28.0
"""Between columns."""
ROW_GAP = 28.0
"""Between rows of a U."""
FRAME_PAD = 5.0
ARC_GAP = 10.0
ARC_STEP = 10.0
MARGIN = 16.0
NAME_MAX = 40
"""Longer names are cut with … (the whole name is in the item's tooltip)."""

SCALE_LEGEND = (
    f"scale (log₂, with a minimum): face side {FACE_MIN:g} + {FACE_UNIT:g}·log₂(H or W), "
    f"depth {DEPTH_MIN:g} + {DEPTH_UNIT:g}·log₂(C), bar {FACE_MIN:g} + {FACE_UNIT:g}·log₂(features)"
)
SHAPES_LEGEND = (
    "blue box: conv · green dashed box: pool · striped bar: Flatten · solid bar: Linear · "
    "circle: merge (+ Add, × Mul, ‖ Concat) · framed box: folded group"
)
MARKS_LEGEND = "✗ red, thick dashed outline: size error · ! amber, dotted outline: warning"


def face(size: int) -> float:
    """The drawn length of a spatial side (or a bar's height) of ``size`` values."""
    return FACE_MIN + FACE_UNIT * math.log2(max(size, 1))


def depth_of(channels: int) -> float:
    """The drawn depth of ``channels`` channels, before the oblique projection."""
    return DEPTH_MIN + DEPTH_UNIT * math.log2(max(channels, 1))


def text_width(text: str) -> float:
    """The text's width in the picture's monospace font (wide East Asian characters count twice)."""
    return sum(CHAR_WIDTH * (2 if unicodedata.east_asian_width(c) in "WF" else 1) for c in text)


def short(text: str) -> str:
    """A name cut to NAME_MAX characters."""
    return text if len(text) <= NAME_MAX else text[: NAME_MAX - 1] + "…"


@dataclass(frozen=True)
class Text:
    """One line of text."""

    x: float
    """Its anchor: the centre for ``middle``, the left end for ``start``."""
    y: float
    """Its baseline."""
    text: str
    kind: str
    """``shape``, ``name``, ``mark``, ``legend`` or ``finding``: the SVG class."""
    anchor: str = "middle"

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom), estimated from the font."""
        width = text_width(self.text)
        left = self.x - width / 2 if self.anchor == "middle" else self.x
        return (left, self.y - FONT_SIZE, left + width, self.y + FONT_SIZE * 0.25)


@dataclass(frozen=True)
class Box:
    """An item placed: its front face, its depth, and its texts."""

    item: Item
    x: float
    """Left edge of the front face."""
    mid: float
    """Vertical centre of the front face."""
    width: float
    """Front face width."""
    height: float
    """Front face height."""
    depth: float
    """Depth before projection (0 for a flat shape)."""
    texts: tuple[Text, ...] = ()

    @property
    def dx(self) -> float:
        """How far the back face is to the right of the front face."""
        return self.depth * OBLIQUE_X

    @property
    def dy(self) -> float:
        """How far the back face is above the front face."""
        return self.depth * OBLIQUE_Y

    @property
    def top(self) -> float:
        """The highest point of the shape (its frame, when folded)."""
        return self.mid - self.height / 2 - self.dy - (FRAME_PAD if self.framed else 0)

    @property
    def bottom(self) -> float:
        """The lowest point of the shape (its frame, when folded)."""
        return self.mid + self.height / 2 + (FRAME_PAD if self.framed else 0)

    @property
    def right(self) -> float:
        """The rightmost point of the shape."""
        return self.x + self.width + self.dx

    @property
    def centre(self) -> float:
        """The horizontal centre of the whole shape."""
        return self.x + (self.width + self.dx) / 2

    @property
    def framed(self) -> bool:
        """A folded group or run, drawn inside a frame."""
        return self.item.role in (Role.GROUP, Role.RUN)

    @property
    def volume(self) -> bool:
        """Drawn as a box of H×W×C."""
        return self.item.dims is not None and len(self.item.dims) == 3 and self.item.role is not Role.MERGE


@dataclass(frozen=True)
class Edge:
    """A connection from one item's output to an item that reads it."""

    source: int
    target: int
    points: tuple[tuple[float, float], ...]
    """A straight line (two points) or an arc's corners."""
    arc: bool
    """Drawn over the main line."""
    concat: bool
    """Into a Concat (drawn as a lane of its own colour)."""


@dataclass(frozen=True)
class Kernel:
    """A kernel or window drawn on the face of the volume it reads, with lines to the volume it makes."""

    target: int
    x: float
    y: float
    width: float
    height: float
    to: tuple[float, float]
    """The point on the next volume's face the lines meet at."""
    pool: bool


@dataclass(frozen=True)
class Layout:
    """The whole picture."""

    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]
    kernels: tuple[Kernel, ...]
    legend: tuple[Text, ...]
    bounds: tuple[float, float, float, float]
    """(left, top, right, bottom) of everything, margin included."""
    texts: tuple[Text, ...] = field(default=())
    """Every text, boxes' and legend's, for checks."""


def shape_size(item: Item) -> tuple[float, float, float]:
    """(front width, front height, depth) of an item, from the scale."""
    dims = item.dims
    if item.role is Role.MERGE:
        return (2 * MERGE_RADIUS, 2 * MERGE_RADIUS, 0.0)
    if dims is None or not dims:
        return (2 * MERGE_RADIUS, 2 * MERGE_RADIUS, 0.0)
    if len(dims) == 3:
        channels, height, width = dims
        return (face(width), face(height), depth_of(channels))
    return (BAR_WIDTH, face(dims[-1]), BAR_DEPTH)


def layout(items: Sequence[Item], findings: Sequence[str] = ()) -> Layout:
    """Place every item; ``findings`` are whole finding lines for the legend."""
    sizes = [shape_size(item) for item in items]
    levels = _levels(items)
    step = _row_step(items, sizes)
    shapes: list[Box] = []
    columns: list[tuple[float, float]] = []
    cursor = 0.0
    for item, (width, height, depth), level in zip(items, sizes, levels):
        framed = item.role in (Role.GROUP, Role.RUN)
        footprint = width + depth * OBLIQUE_X + (2 * FRAME_PAD if framed else 0)
        texts = (item.label, short(item.name), *item.marks)
        column = max([footprint, *map(text_width, texts)])
        x = cursor + (column - footprint) / 2 + (FRAME_PAD if framed else 0)
        shapes.append(Box(item, x, level * step, width, height, depth))
        columns.append((cursor, column))
        cursor += column + GAP
    baselines: dict[float, float] = {}
    for shape in shapes:  # one label line per row, under its lowest shape
        baselines[shape.mid] = max(baselines.get(shape.mid, shape.bottom), shape.bottom)
    boxes: list[Box] = []
    for shape, (start, column) in zip(shapes, columns):
        item, centre, below = shape.item, start + column / 2, baselines[shape.mid]
        count = len(item.marks)
        texts_placed = (
            Text(centre, below + LINE, item.label, "shape"),
            Text(centre, below + 2 * LINE, short(item.name), "name"),
            *(Text(centre, shape.top - 6 - (count - 1 - k) * LINE, mark, "mark") for k, mark in enumerate(item.marks)),
        )
        boxes.append(Box(item, shape.x, shape.mid, shape.width, shape.height, shape.depth, texts_placed))
    edges = _edges(boxes)
    kernels = tuple(k for k in (_kernel(boxes, j) for j in range(len(boxes))) if k is not None)
    all_texts = [t for box in boxes for t in box.texts]
    lowest = max((t.y for t in all_texts), default=0.0)
    legend_lines = [SCALE_LEGEND, SHAPES_LEGEND, MARKS_LEGEND, *findings]
    legend = tuple(
        Text(0.0, lowest + 2 * LINE + k * LINE, line, "finding" if k >= 3 else "legend", "start")
        for k, line in enumerate(legend_lines)
    )
    all_texts += legend
    tops = [t.box[1] for t in all_texts] + [b.top for b in boxes] + [y for e in edges for _, y in e.points]
    left = min([0.0] + [t.box[0] for t in all_texts])
    right = max([cursor - GAP] + [t.box[2] for t in all_texts] + [b.right for b in boxes])
    bottom = max(t.box[3] for t in all_texts)
    bounds = (left - MARGIN, min(tops) - MARGIN, right + MARGIN, bottom + MARGIN)
    return Layout(tuple(boxes), edges, kernels, legend, bounds, tuple(all_texts))


def _row_step(items: Sequence[Item], sizes: Sequence[tuple[float, float, float]]) -> float:
    """The distance between rows of a U: room for the tallest shape with its labels below and
    the most marks above, whichever items they belong to."""
    tallest = max((height + depth * OBLIQUE_Y for _, height, depth in sizes), default=0.0)
    marks = max((len(item.marks) for item in items), default=0)
    return tallest + 2 * FRAME_PAD + (2 + marks) * LINE + 6 + ROW_GAP


def _levels(items: Sequence[Item]) -> list[int]:
    """Each item's row: 0 for all, unless some item upsamples; then one row per halving of H."""
    heights: list[int | None] = [i.dims[1] if i.dims is not None and len(i.dims) == 3 else None for i in items]
    upsamples = any(
        h is not None and item.inputs and heights[item.inputs[0]] is not None and h > (heights[item.inputs[0]] or 0)
        for item, h in zip(items, heights)
    )
    reference = next((h for h in heights if h), None)
    if not upsamples or reference is None:
        return [0] * len(items)
    levels: list[int] = []
    for item, h in zip(items, heights):
        if h:
            levels.append(round(math.log2(reference / h)))
        else:
            levels.append(levels[item.inputs[0]] if item.inputs else 0)
    return levels


def _edges(boxes: Sequence[Box]) -> tuple[Edge, ...]:
    edges: list[Edge] = []
    placed: list[tuple[float, float, float]] = []  # (left, right, y) of arcs drawn so far
    wanted = [(j, k) for j, box in enumerate(boxes) for k in box.item.inputs]
    for j, k in sorted(wanted, key=lambda pair: (pair[0] - pair[1], pair[0], pair[1])):
        source, target = boxes[k], boxes[j]
        concat = target.item.operator == "‖"
        if k == j - 1:
            start = (source.right, source.mid - source.dy / 2)
            edges.append(Edge(k, j, (start, (target.x, target.mid)), False, concat))
            continue
        x1, x2 = source.centre, target.centre
        base = min(_top(b) for b in boxes[k : j + 1]) - ARC_GAP
        y = base
        while any(left < x2 and x1 < right and abs(y - other) < ARC_STEP for left, right, other in placed):
            y -= ARC_STEP
        placed.append((x1, x2, y))
        edges.append(Edge(k, j, ((x1, source.top), (x1, y), (x2, y), (x2, target.top)), True, concat))
    return tuple(sorted(edges, key=lambda e: (e.target, e.source)))


def _top(box: Box) -> float:
    """The highest point of a box with its marks."""
    return min([box.top] + [t.box[1] for t in box.texts if t.kind == "mark"])


def _kernel(boxes: Sequence[Box], j: int) -> Kernel | None:
    target = boxes[j]
    item = target.item
    if item.kernel is None or not item.inputs or item.inputs[0] != j - 1:
        return None
    source = boxes[j - 1]
    dims = source.item.dims
    if not source.volume or dims is None:
        return None
    _, rows, cols = dims
    height = min(source.height, max(KERNEL_MIN, source.height * item.kernel[0] / max(rows, 1)))
    width = min(source.width, max(KERNEL_MIN, source.width * item.kernel[1] / max(cols, 1)))
    x = source.x + source.width * 0.8 - width
    x = max(source.x, x)
    y = source.mid - height / 2
    to = (target.x + target.width / 2, target.mid) if target.item.role is not Role.MERGE else (target.x, target.mid)
    return Kernel(j, x, y, width, height, to, item.role is Role.POOL)
