"""What must change for every layer to fit: fix plans from traces, with the arithmetic.

A plan says which input-size arguments (in_features, in_channels, num_features, …) must
change, and to what; the text surgery that writes them is in yaml.py, flags.py and python.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from cnninspect import rules
from cnninspect.engines.analytic import smallest_model_input, spatial_rule
from cnninspect.engines.records import Collapse, LayerRecord, SizeMismatch, TailMismatch, Trace
from cnninspect.errors import CnnInspectError
from cnninspect.inputs import format_named
from cnninspect.rules import Finding, Severity, find_problems
from cnninspect.rules.shared import input_layout_hint, origin, unflattened_hint
from cnninspect.spec.catalog import Family
from cnninspect.spec.model import LayerSpec, ModelSpec, expand
from cnninspect.spec.validate import set_arg
from cnninspect.text import dims_text, show_value

SPATIAL_ARGS = ("in_features", "normalized_shape")
"""Arguments whose right value depends on spatial sizes, so on any collapse before them."""
MAX_SEARCH = 1024


@dataclass(frozen=True, kw_only=True)
class Fix:
    """One argument that must change for a layer to fit what it receives."""

    layer: LayerSpec
    """The layer as traced."""
    arg: str
    """The argument to change."""
    old: object
    """The value written now."""
    new: int | tuple[int, ...]
    """The value that fits."""
    reason: str
    """Where the new value comes from: ``32 × 7 × 7 from conv2 → Flatten``."""
    held: str | None = None
    """Why this fix is not applied (it depends on a collapse that needs a person), else None."""
    factors: tuple[int, ...] | None = None
    """The dimensions a Linear's new in_features multiplies out from (32, 7, 7), if any."""
    written_as: str | None = None
    """How the file spells the argument when not as torch.nn does (darknet's ``filters``)."""

    @property
    def text(self) -> str:
        """``fc: in_features 2048 → 1568 (32 × 7 × 7 from conv2 → Flatten)``."""
        arg = self.written_as or self.arg
        return f"{self.layer.title}: {arg} {show_value(self.old)} → {show_value(self.new)} ({self.reason})"


@dataclass(frozen=True)
class FixPlan:
    """Everything fix-fc found for one spec."""

    spec: ModelSpec
    """The spec traced, overrides applied."""
    fixed: ModelSpec
    """The spec with every applicable fix made."""
    fixes: tuple[Fix, ...]
    """Every fix, applied or held, in layer order."""
    remaining: tuple[Finding, ...]
    """Size errors of the fixed spec: those with no automatic fix and the held fixes (warnings
    are lint's business)."""
    advice: dict[str, str] = field(default_factory=dict)
    """What a person could do about each remaining collapse, by layer name."""
    inferred: tuple[tuple[str, int], ...] = ()
    """(layer, in_features) of each Linear whose in_features is left out and inferred."""

    @property
    def applied(self) -> tuple[Fix, ...]:
        """The fixes made in ``fixed``."""
        return tuple(f for f in self.fixes if f.held is None)

    @property
    def edits(self) -> list[tuple[Fix, tuple[str, ...]]]:
        """The applied fixes as edits: one per value as written, with the layers it fixes (a value
        written once in a block template fixes every use of it)."""
        groups: dict[tuple[object, ...], list[Fix]] = {}
        for fix in self.applied:
            key = (fix.layer.node_path, fix.arg, repr(fix.new)) if fix.layer.node_path else (fix.layer.name, fix.arg)
            groups.setdefault(key, []).append(fix)
        return [(fixes[0], tuple(f.layer.name for f in fixes)) for fixes in groups.values()]

    @property
    def clean(self) -> bool:
        """True when nothing needs fixing."""
        return not self.fixes and not self.remaining

    def hint(self, finding: Finding) -> str | None:
        """What to do about a remaining finding by hand, when there is more to say."""
        if finding.rule is rules.SPATIAL_COLLAPSE:
            return self.advice.get(finding.layer)
        for fix in self.fixes:
            if fix.held and fix.layer.name == finding.layer and finding.fix and finding.fix.arg == fix.arg:
                return f"not fixed automatically: {fix.held}"
        return None


# ---------------------------------------------------------------------------------------
# Planning


def plan_fixes(spec: ModelSpec, trace: Callable[[ModelSpec], Trace]) -> FixPlan:
    """Every fix a spec needs, from one trace; a second trace of the fixed spec finds what is left.

    One pass is enough: Linear and Conv layers carry on with their declared outputs and norm
    layers pass on what they receive, so no fix changes what a later layer receives.
    """
    return plan_from_trace(trace(spec), trace)


def plan_from_trace(
    first: Trace,
    retrace: Callable[[ModelSpec], Trace] | None = None,
    hold: Callable[[Fix], str | None] | None = None,
) -> FixPlan:
    """The plan for an existing trace; without ``retrace`` (a user's model cannot be rebuilt with
    other arguments) what is left is what the fixes do not cover. ``hold`` may keep a fix from
    being applied, saying why."""
    spec = first.spec
    fixes = _written_once(spec, sorted([*_fixes_in(first), *_required(spec)], key=lambda f: f.layer.index))
    if hold is not None:
        fixes = [f if f.held else replace(f, held=hold(f)) for f in fixes]
    layers = list(spec.layers)
    for i, fix in enumerate(fixes):
        if fix.held:
            continue
        try:
            layers[fix.layer.index] = set_arg(layers[fix.layer.index], fix.arg, fix.new)
        except CnnInspectError as error:
            fixes[i] = replace(fix, held=error.message.removeprefix(f"{fix.layer.title}: "))
    fixed = replace(spec, layers=tuple(layers))
    applied = {(f.layer.name, f.arg) for f in fixes if f.held is None}
    if retrace is not None and applied:
        second = retrace(fixed)
        remaining = tuple(f for f in find_problems(second) if f.rule.severity is Severity.ERROR)
    else:
        second = first
        remaining = tuple(
            f
            for f in find_problems(first)
            if f.rule.severity is Severity.ERROR and not (f.fix and (f.layer, f.fix.arg) in applied)
        )
    advice = {
        record.layer.name: _collapse_advice(fixed, record)
        for record in second.records
        if any(isinstance(m, Collapse) for m in record.mismatches)
    }
    inferred = tuple(
        (record.layer.title, record.in_size)
        for record in second.records
        if record.layer.type == "Linear" and "in_features" not in record.layer.args and record.in_size is not None
    )
    return FixPlan(spec, fixed, tuple(fixes), remaining, advice, inferred)


def _written_once(spec: ModelSpec, fixes: list[Fix]) -> list[Fix]:
    """Fixes of a value written once for several layers (a block template used several times, a
    repeat): one edit when every use needs the same new value; otherwise each is held with what
    a person can do, so no edit breaks the uses that were right. A value written as a ``$``
    expression is never replaced by a number."""
    uses: dict[tuple[str | int, ...], list[LayerSpec]] = {}
    for layer in spec.layers:
        if layer.node_path:
            uses.setdefault(layer.node_path, []).append(layer)
    wanted: dict[tuple[tuple[str | int, ...], str], list[Fix]] = {}
    for fix in fixes:
        wanted.setdefault((fix.layer.node_path, fix.arg), []).append(fix)
    result = []
    for fix in fixes:
        if fix.held:
            result.append(fix)
            continue
        where = _written_where(fix.layer)
        if fix.arg in fix.layer.templated:
            fmt = format_named(spec.format)
            remedy = fmt.templated_remedy(fix.arg, show_value(fix.new))
            result.append(replace(fix, held=f"{fix.arg} is written as {fmt.templated_as} {where}; {remedy}"))
            continue
        sharing = uses.get(fix.layer.node_path, [fix.layer])
        needed = wanted[(fix.layer.node_path, fix.arg)]
        if len(sharing) > 1 and (len(needed) < len(sharing) or len({repr(f.new) for f in needed}) > 1):
            right = [layer.name for layer in sharing if layer.name not in {f.layer.name for f in needed}]
            values = " or ".join(dict.fromkeys(show_value(f.new) for f in needed))
            fits = f"it fits {_few(right)} but not " if right else "none fits: "
            result.append(
                replace(
                    fix,
                    held=f"{fix.arg}: {show_value(fix.old)} is written once {where} for {len(sharing)} layers; "
                    f"{fits}{_few([f.layer.name for f in needed])} (they receive {values}); leave {fix.arg} out so "
                    "each use infers it, or make it a block parameter",
                )
            )
            continue
        result.append(fix)
    return result


def _few(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:2])} and {len(names) - 2} more"


def _written_where(layer: LayerSpec) -> str:
    path = layer.node_path
    place = f"at line {layer.location.line}"
    return f"in block {path[1]} {place}" if len(path) > 1 and path[0] == "blocks" else place


def _fixes_in(trace: Trace) -> Iterator[Fix]:
    collapsed_at: str | None = None
    wrong_input: str | None = None
    for index, record in enumerate(trace.records):
        for mismatch in record.mismatches:
            if input_layout_hint(trace, index, mismatch) is not None:
                wrong_input = wrong_input or record.layer.title  # the layer is right; the input is not
                continue
            if unflattened_hint(trace, index, mismatch) is not None:
                continue  # a Flatten is missing: no value of in_features is the remedy
            # A written size has exactly one right value: the size that arrives.
            if isinstance(mismatch, (SizeMismatch, TailMismatch)):
                held = None
                if wrong_input is not None:
                    held = f"the input looks written in the wrong layout (see {wrong_input}); correct it first"
                elif collapsed_at is not None and mismatch.arg in SPATIAL_ARGS:
                    held = f"it depends on the size {collapsed_at} gives once its collapse is fixed"
                yield Fix(
                    layer=record.layer,
                    arg=mismatch.arg,
                    old=record.layer.args[mismatch.arg],
                    new=mismatch.received,
                    reason=_reason(trace, index),
                    held=held,
                    factors=origin(trace, index).merged if mismatch.arg == "in_features" else None,
                )
        if collapsed_at is None and any(isinstance(m, Collapse) for m in record.mismatches):
            collapsed_at = record.layer.title


def _required(spec: ModelSpec) -> Iterator[Fix]:
    """Values the file's format demands (a YOLO head's filters) where they are not met."""
    for need, layer in spec.unmet_requirements():
        old = layer.get(need.arg)
        yield Fix(layer=layer, arg=need.arg, old=old, new=need.value, reason=need.because, written_as=need.written_as)


def _reason(trace: Trace, index: int) -> str:
    source = origin(trace, index)
    if source.merged is not None:
        flattened = " → Flatten" if source.flatten else ", flattened"
        return f"{' × '.join(str(d) for d in source.merged)} from {source.layer}{flattened}"
    return f"from {source.layer}"


def _collapse_advice(spec: ModelSpec, record: LayerRecord) -> str:
    """The smallest input that works, and the kernel or padding that would keep this layer's output ≥ 1."""
    options = []
    if not spec.needs_torch:
        smallest = smallest_model_input(spec)
        options.append(f"an input of at least {dims_text(smallest)} (--input {'x'.join(map(str, smallest))})")
    layer = record.layer
    collapsed = [m for m in record.mismatches if isinstance(m, Collapse)]
    for arg, step in (("kernel_size", -1), ("padding", 1)):
        if layer.kind is None or arg not in layer.kind.param_by_name or not isinstance(layer.get(arg), (int, tuple)):
            continue
        if layer.kind.family is Family.CONV_TRANSPOSE and arg == "padding":
            step = -1
        value = _first_that_fits(layer, arg, step, record.input_shape, [m.dim for m in collapsed if m.dim])
        if value is not None:
            more = "or less" if step < 0 else "or more"
            options.append(f"{layer.title} {arg} {show_value(value)} ({more})")
    return "; or ".join(options)


def _first_that_fits(
    layer: LayerSpec, arg: str, step: int, shape: tuple[int, ...], dims: list[int]
) -> int | tuple[int, ...] | None:
    spatial = len(shape) - 2
    current = expand(layer.get(arg), spatial)
    scalar = not isinstance(layer.get(arg), tuple)
    for delta in range(1, MAX_SEARCH):
        trial = tuple(c + step * delta if i + 2 in dims else c for i, c in enumerate(current))
        if min(trial) < (1 if arg == "kernel_size" else 0):
            return None
        value = trial[dims[0] - 2] if scalar else trial
        try:
            candidate = set_arg(layer, arg, value)
        except CnnInspectError:
            continue
        rule = spatial_rule(candidate, spatial)
        if all(rule(d - 2, shape[d]) >= 1 for d in dims):
            return value
    return None
