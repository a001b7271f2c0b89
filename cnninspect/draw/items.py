"""What the picture shows, before any geometry: traced layers reduced to drawable items.

Pure data, no imports of the rest of cnninspect: ``source.py`` turns a trace into ``Part``s
(one per layer), and ``build_items`` decides what is drawn. Layers that keep their input's
shape and hold no window (activations, norms, dropout) are drawn with the layer they read;
a zero-padding is drawn with the layer after it; groups deeper than ``depth`` are folded into
one box; and, when the picture would still be too long, runs of identical items (a backbone's
residual units) are folded into one box that says how many it stands for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

MAX_ITEMS = 48
"""The default folding keeps at most this many items, so a big model stays readable on one page."""
MAX_PERIOD = 6
"""The longest run of items a repeat fold looks for (a residual unit is 3 to 5 items)."""
MIN_REPEATS = 2
"""A run must repeat at least this often to be folded."""


class Role(StrEnum):
    """How an item is drawn."""

    INPUT = "input"
    """The model's input: a grey volume."""
    CONV = "conv"
    """A layer with a kernel (Conv, ConvTranspose): a volume, its kernel on the face it reads."""
    POOL = "pool"
    """A pooling layer: a pale volume with a dashed edge, its window on the face it reads."""
    UP = "up"
    """Upsampling: a volume."""
    FLATTEN = "flatten"
    """Flatten: a striped bar."""
    LINEAR = "linear"
    """Linear: a solid bar labelled with its features."""
    MERGE = "merge"
    """Add, Mul or Concat: a circle with its operator."""
    PASS = "pass"
    """Keeps its input's shape, holds no window: drawn with the layer it reads."""
    PAD = "pad"
    """Zero padding: drawn with the layer after it."""
    OTHER = "other"
    """Any other layer: a volume, or a bar for a non-image output."""
    GROUP = "group"
    """A folded group, block use or repeat: a framed volume named after the group."""
    RUN = "run"
    """A folded run of identical items: a framed volume that says how many."""


class Severity(StrEnum):
    """The worst finding on an item (same values as the rules' severities)."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, kw_only=True)
class Part:
    """One traced layer (or the model's input), as the picture needs it."""

    name: str
    """Qualified layer name; ``input`` for the model's input."""
    title: str
    """How the picture names it (``conv1``; ``layer 3`` when unnamed)."""
    type: str
    """The torch.nn class name."""
    role: Role
    """How it is drawn."""
    inputs: tuple[int, ...] = ()
    """Indices of the parts it reads, first the main one; empty only for the input."""
    dims: tuple[int, ...] | None = None
    """Output shape without the batch, channels first; None where the trace stopped."""
    kernel: tuple[int, int] | None = None
    """A conv's kernel or a pool's window (height, width)."""
    operator: str = ""
    """A merge's symbol: ``+``, ``×`` or ``‖``."""
    scope: tuple[str, ...] = ()
    """The groups it sits in, outermost first."""
    severity: Severity | None = None
    """The worst finding at this layer."""
    marks: tuple[str, ...] = ()
    """Short lines drawn by the item: the code (``✗`` and it), ``expects 2048``, ``receives 1568``."""


@dataclass(frozen=True, kw_only=True)
class Item:
    """One drawn thing: a volume, a bar, a merge or a folded box."""

    key: str
    """A unique id: the first layer's name."""
    role: Role
    """How it is drawn."""
    name: str
    """What is written under the shape: the layer's name, or a group's ``layer3 · 6 × Bottleneck``."""
    type: str
    """The layer's type (a fold: the types it holds)."""
    dims: tuple[int, ...] | None
    """Output shape without batch, channels first."""
    inputs: tuple[int, ...]
    """Indices of the items it reads, first the main one."""
    parts: tuple[int, ...]
    """The parts it stands for."""
    kernel: tuple[int, int] | None = None
    """A kernel or window to draw on the face of the main input."""
    operator: str = ""
    """A merge's symbol."""
    severity: Severity | None = None
    """The worst finding among its parts."""
    marks: tuple[str, ...] = ()
    """Short finding lines drawn above it."""

    @property
    def label(self) -> str:
        """The output as the tutorial writes it: ``15×15×16`` for a volume, ``1568`` for a vector."""
        return shape_label(self.dims)


@dataclass(frozen=True, kw_only=True)
class Group:
    """A group, block use or repeat, as a folded box names it."""

    name: str
    """Qualified name (``layer3``)."""
    label: str
    """``layer3 · 6 × Bottleneck``."""


def shape_label(dims: Sequence[int] | None) -> str:
    """``15×15×16`` (H×W×C) for a 3-d output, ``1568`` for a vector, sizes joined for the rest."""
    if dims is None:
        return "—"
    if len(dims) == 3:
        return f"{dims[1]}×{dims[2]}×{dims[0]}"
    return "×".join(str(d) for d in dims)


def description(items: Sequence[Item], findings: Sequence[str]) -> str:
    """The picture in words, for screen readers: each item's name and output, then the finding lines."""
    walk = " → ".join(f"{item.name} {item.label}" for item in items)
    return "; ".join([walk, *findings])


def build_items(
    parts: Sequence[Part], groups: Sequence[Group], depth: int | None, limit: int | None = MAX_ITEMS
) -> list[Item]:
    """What to draw: ``depth`` folds groups nested that deep (None: the deepest that keeps the
    picture within ``limit`` items, then runs of identical items folded as well)."""
    units = _units(parts)
    if depth is not None:
        return _fold_groups(parts, units, groups, depth)
    deepest = max((len(_head(parts, unit).scope) for unit in units), default=0)
    items: list[Item] = []
    for level in range(deepest + 1, 0, -1):
        items = _fold_groups(parts, units, groups, level)
        if limit is None or len(items) <= limit:
            return items
    return fold_runs(items) if limit is not None else items


def views(parts: Sequence[Part], groups: Sequence[Group], depth: int | None) -> tuple[list[list[Item]], int]:
    """Every folding of the picture, most folded first (runs folded, then each group depth, then
    nothing folded), without repeats, and the index of the one ``depth`` asks for."""
    units = _units(parts)
    deepest = max((len(_head(parts, unit).scope) for unit in units), default=0)
    chosen = build_items(parts, groups, depth)
    candidates = [chosen, *(_fold_groups(parts, units, groups, level) for level in range(1, deepest + 2))]
    unique: list[list[Item]] = []
    for candidate in candidates:
        if candidate not in unique:
            unique.append(candidate)
    unique.sort(key=len)
    return unique, unique.index(chosen)


def _units(parts: Sequence[Part]) -> list[list[int]]:
    """Parts drawn together, in execution order (a padding before the layer it is drawn with)."""
    consumers: list[list[int]] = [[] for _ in parts]
    for index, part in enumerate(parts):
        for source in dict.fromkeys(part.inputs):
            consumers[source].append(index)
    owner: dict[int, int] = {}
    pending: list[int] = []
    units: dict[int, list[int]] = {}
    for index, part in enumerate(parts):
        single = len(part.inputs) == 1
        if part.role is Role.PAD and single and consumers[index] == [index + 1]:
            pending.append(index)
            continue
        read = part.inputs[0] if single else None
        if part.role is Role.PASS and read is not None and read in owner and parts[read].dims == part.dims:
            owner[index] = owner[read]
            units[owner[index]].append(index)
            continue
        owner[index] = index
        units[index] = [*pending, index]
        for pad in pending:
            owner[pad] = index
        pending = []
    for pad in pending:  # a trailing pad has no layer after it: drawn on its own
        owner[pad] = pad
        units[pad] = [pad]
    return [units[key] for key in sorted(units)]


def _head(parts: Sequence[Part], unit: Sequence[int]) -> Part:
    """The part a unit is drawn as: the first that is not a padding."""
    return next((parts[p] for p in unit if parts[p].role is not Role.PAD), parts[unit[0]])


def _fold_groups(parts: Sequence[Part], units: list[list[int]], groups: Sequence[Group], depth: int) -> list[Item]:
    """Items with each group that sits in ``depth - 1`` others (``depth`` 1: the top-level ones)
    drawn as one box, everything inside it included; a group that holds one drawn layer is drawn
    as that layer."""
    labels = {group.name: group.label for group in groups}
    runs: list[tuple[str | None, list[list[int]]]] = []
    for unit in units:
        scope = _head(parts, unit).scope
        key = scope[depth - 1] if len(scope) >= depth else None
        if key is not None and runs and runs[-1][0] == key:
            runs[-1][1].append(unit)
        else:
            runs.append((key, [unit]))
    item_of: dict[int, int] = {}
    drafts: list[tuple[Role, str, str, list[int], Part]] = []
    for key, members in runs:
        flat = [p for unit in members for p in unit]
        head = _head(parts, members[0])
        if key is not None and len(members) > 1:
            drafts.append((Role.GROUP, labels.get(key, key), "folded group", flat, head))
        else:
            drafts.append((head.role, head.title, head.type, flat, head))
        for p in flat:
            item_of[p] = len(drafts) - 1
    items = []
    for index, (role, name, kind, flat, head) in enumerate(drafts):
        inputs = _outside_inputs(parts, flat, item_of, index)
        items.append(
            Item(
                key=head.name,
                role=role,
                name=name,
                type=kind,
                dims=_output_dims(parts, flat),
                inputs=inputs,
                parts=tuple(flat),
                kernel=head.kernel if role is not Role.GROUP else None,
                operator=head.operator if role is not Role.GROUP else "",
                severity=_worst(parts, flat),
                marks=tuple(dict.fromkeys(m for p in flat for m in parts[p].marks)),
            )
        )
    return items


def _outside_inputs(parts: Sequence[Part], flat: Sequence[int], item_of: dict[int, int], index: int) -> tuple[int, ...]:
    """The items read from outside, in the order the parts read them."""
    found = (item_of[source] for p in flat for source in parts[p].inputs)
    return tuple(dict.fromkeys(i for i in found if i != index))


def _output_dims(parts: Sequence[Part], flat: Sequence[int]) -> tuple[int, ...] | None:
    """The last part's output (a stopped trace: the last part that has one)."""
    return next((parts[p].dims for p in reversed(flat) if parts[p].dims is not None), None)


def _worst(parts: Sequence[Part], flat: Sequence[int]) -> Severity | None:
    found = {parts[p].severity for p in flat}
    return Severity.ERROR if Severity.ERROR in found else Severity.WARNING if Severity.WARNING in found else None


def fold_runs(items: Sequence[Item]) -> list[Item]:
    """Runs of MIN_REPEATS or more identical stretches (same roles, types, shapes, kernels and
    relative inputs, no findings) folded into one item each, read left to right, longest cover first."""
    signatures = [_signature(items, index) for index, item in enumerate(items)]
    result: list[Item] = []
    mapping: dict[int, int] = {}
    start = 0
    while start < len(items):
        period, count = _best_run(signatures, start)
        stretch = list(range(start, start + period * count))
        for index in stretch:
            mapping[index] = len(result)
        if count < MIN_REPEATS:
            result.append(items[start])
        else:
            first, last = items[stretch[0]], items[stretch[-1]]
            kinds = "·".join(items[i].type for i in range(start, start + period))
            result.append(
                Item(
                    key=first.key,
                    role=Role.RUN,
                    name=f"{first.name}…{last.name} · {count} × {kinds}",
                    type=kinds,
                    dims=last.dims,
                    inputs=tuple(i for i in dict.fromkeys(s for i in stretch for s in items[i].inputs) if i < start),
                    parts=tuple(p for i in stretch for p in items[i].parts),
                )
            )
        start += period * count
    return [
        replace(item, inputs=tuple(dict.fromkeys(mapping[i] for i in item.inputs if mapping[i] != index)))
        for index, item in enumerate(result)
    ]


def _signature(items: Sequence[Item], index: int) -> tuple[object, ...] | None:
    item = items[index]
    if item.severity is not None or item.role in (Role.INPUT, Role.GROUP, Role.RUN):
        return None
    return (item.role, item.type, item.dims, item.kernel, item.operator, tuple(index - i for i in item.inputs))


def _best_run(signatures: Sequence[tuple[object, ...] | None], start: int) -> tuple[int, int]:
    """(period, count) of the run that starts here and covers the most items; (1, 1) for none."""
    best = (1, 1)
    for period in range(1, MAX_PERIOD + 1):
        pattern = signatures[start : start + period]
        if len(pattern) < period or None in pattern:
            break
        count = 1
        while signatures[start + count * period : start + (count + 1) * period] == pattern:
            count += 1
        if count >= MIN_REPEATS and period * count > best[0] * best[1]:
            best = (period, count)
    return best
