"""Which input sizes a spec accepts, from the analytic engine alone (no torch).

For every square size N in a range (N×N for a 2-d CNN, N for 1-d, N×N×N for 3-d, channels
as in the spec) the spec is traced with formulas: does every layer keep an output ≥ 1, does
each Linear's written in_features fit, does any conv or pool drop input rows by floor division,
does every merge (Add, Concat, Mul) fit.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cnninspect import rules
from cnninspect.engines.analytic import infer_shapes, smallest_model_input
from cnninspect.engines.records import AttendMismatch
from cnninspect.errors import UsageError
from cnninspect.rules import find_problems
from cnninspect.spec.model import ModelSpec

MERGE_RULES = (rules.ADD_SHAPE_MISMATCH, rules.CONCAT_SHAPE_MISMATCH, rules.MUL_BROADCAST)
DEFAULT_FROM, DEFAULT_TO = 16, 512
"""The sizes tried when --range is not given (up to the spec's own input size when it is larger)."""
MAX_SIZES = 8192
"""Sizes one run may try."""
MAX_TRACES = 500_000
"""Layers × sizes one run may trace (about half a minute): more is refused with a narrower range."""
SHOWN_ITEMS = 6
"""Sizes listed one by one, at most, when they follow no pattern."""
SHOWN_RUNS = 3
"""Runs of consecutive sizes shown before the count, when there are more."""


@dataclass(frozen=True)
class SizeReport:
    """The sizes a spec accepts, each property as the sorted sizes that have it."""

    spec: ModelSpec
    """The spec, overrides applied."""
    tried: tuple[int, ...]
    """Every N tried."""
    smallest: tuple[int, ...]
    """The smallest input per dimension that no layer collapses (C first, as the spec's input)."""
    survive: tuple[int, ...]
    """N at which every layer keeps an output of at least 1."""
    linear_fits: dict[str, tuple[int, ...]]
    """For each Linear with a written in_features (by name): N at which it fits."""
    exact: tuple[int, ...]
    """N that survive and at which no conv or pool drops real input rows or columns."""
    merges: tuple[int, ...] | None
    """N at which every Add, Concat and Mul fits; None when the spec has no merge."""
    declared: dict[str, int]
    """Each such Linear's written in_features."""
    areas: tuple[int, ...] | None
    """N at which every Attend's area divides its places; None when no Attend has an area above 1."""


def parse_range(text: str) -> tuple[int, int]:
    """``16:512`` → (16, 512), both included."""
    low, sep, high = text.partition(":")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise UsageError(f"--range {text!r}: write FROM:TO, e.g. 16:512")
    start, stop = int(low), int(high)
    if not 1 <= start <= stop or stop - start + 1 > MAX_SIZES:
        raise UsageError(f"--range {text!r}: need 1 ≤ FROM ≤ TO and at most {MAX_SIZES:,} sizes")
    return start, stop


def default_range(spec: ModelSpec) -> tuple[int, int]:
    """16 to 512, or to the spec's own input size when it is larger (an Ultralytics model's 640)."""
    return DEFAULT_FROM, max((DEFAULT_TO, *spec.input[1:]))


def input_sizes(spec: ModelSpec, start: int, stop: int) -> SizeReport:
    """Trace ``spec`` at every square size from ``start`` to ``stop``."""
    if len(spec.input) < 2:
        raise UsageError("sizes needs a spec with spatial dimensions (an input such as 3x32x32)")
    count = stop - start + 1
    if len(spec.layers) * count > MAX_TRACES:
        most = max(1, MAX_TRACES // len(spec.layers))
        middle = max(start, min(stop, spec.input[-1]) - most // 2)
        raise UsageError(
            f"sizes: {len(spec.layers):,} layers × {count:,} sizes is more than {MAX_TRACES:,} traces; "
            f"try at most {most:,} sizes, e.g. --range {middle}:{middle + most - 1}"
        )
    linears = {layer.name: layer.args["in_features"] for layer in spec.layers if "in_features" in layer.args}
    survive, exact, merges, areas = [], [], [], []
    has_merges = any(layer.is_merge for layer in spec.layers)
    has_areas = any(layer.type == "Attend" and layer.get("area") > 1 for layer in spec.layers)
    fits: dict[str, list[int]] = {name: [] for name in linears}
    for size in range(start, stop + 1):
        trial = replace(spec, input=(spec.input[0], *(size,) * (len(spec.input) - 1)), batch=1)
        trace = infer_shapes(trial)
        found = {(f.rule, f.layer) for f in find_problems(trace, search=False)}
        if any(rule in (rules.SPATIAL_COLLAPSE, rules.INPUT_RANK) for rule, _ in found):
            continue
        survive.append(size)
        for name in linears:
            if (rules.LINEAR_IN_FEATURES, name) not in found:
                fits[name].append(size)
        if not any(rule is rules.FLOOR_TRUNCATION for rule, _ in found):
            exact.append(size)
        if not any(rule in MERGE_RULES for rule, _ in found):
            merges.append(size)
        if not any(isinstance(m, AttendMismatch) and m.arg == "area" for r in trace.records for m in r.mismatches):
            areas.append(size)
    return SizeReport(
        spec,
        tuple(range(start, stop + 1)),
        smallest_model_input(spec),
        tuple(survive),
        {name: tuple(sizes) for name, sizes in fits.items()},
        tuple(exact),
        tuple(merges) if has_merges else None,
        linears,
        tuple(areas) if has_areas else None,
    )


def compact(sizes: Sequence[int]) -> str:
    """Sizes as people write them: ``16–512``, ``32, 64, …, 512 (every 32)``, ``32``, ``none``,
    ``16, 25–32, 41–48, … (313 sizes up to 640)``."""
    if not sizes:
        return "none"
    runs: list[tuple[int, int]] = []
    for size in sizes:
        if runs and size == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], size)
        else:
            runs.append((size, size))
    if len(runs) <= 3:
        return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)
    steps = {b - a for a, b in itertools.pairwise(sizes)}
    if len(steps) == 1:
        step = steps.pop()
        return f"{sizes[0]}, {sizes[1]}, …, {sizes[-1]} (every {step})"
    if len(sizes) <= SHOWN_ITEMS:
        return ", ".join(map(str, sizes))
    shown = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs[:SHOWN_RUNS])
    return f"{shown}, … ({len(sizes)} sizes up to {sizes[-1]})"
