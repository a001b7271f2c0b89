"""Fixes from traces, and edits of the spec's own text that change only what must change.

A fix plan says which input-size arguments (in_features, in_channels, num_features, …) must
change for every layer to fit, with the arithmetic. The edits splice new values into the
original text — a YAML file or a ``--layers`` string — keeping every other byte; the result
is parsed back and compared with the intended spec before it is returned or written.
"""

from __future__ import annotations

import ast
import codecs
import contextlib
import difflib
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cnninspect.catalog import Family
from cnninspect.errors import CnnInspectError, EditError
from cnninspect.findings import Finding, Severity, find_problems, origin
from cnninspect.records import LayerRecord, Problem, Trace
from cnninspect.shapes import smallest_model_input, spatial_rule
from cnninspect.spec import (
    FLAG_LABEL,
    LayerSpec,
    ModelSpec,
    SpecSource,
    decode_source,
    expand,
    flag_calls,
    literal_value,
    parse_layers,
    parse_yaml,
    read_source,
    set_arg,
    show_value,
)
from cnninspect.yamldoc import Node, read_document

FIXABLE = (Problem.IN_FEATURES, Problem.IN_CHANNELS, Problem.NUM_FEATURES)
"""Problems with exactly one right answer: the size the layer receives."""
SPATIAL_ARGS = ("in_features", "normalized_shape")
"""Arguments whose right value depends on spatial sizes, so on any collapse before them."""
PLAIN_YAML = re.compile(r"[A-Za-z_][\w.-]*")
YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}
MAX_SEARCH = 1024


@dataclass(frozen=True)
class Fix:
    """One argument that must change for a layer to fit what it receives."""

    layer: LayerSpec
    """The layer as traced."""
    arg: str
    """The argument to change."""
    old: Any
    """The value written now."""
    new: Any
    """The value that fits."""
    reason: str
    """Where the new value comes from: ``32 × 7 × 7 from conv2 → Flatten``."""
    held: str | None = None
    """Why this fix is not applied (it depends on a collapse that needs a person), else None."""
    factors: tuple[int, ...] | None = None
    """The dimensions a Linear's new in_features multiplies out from (32, 7, 7), if any."""

    @property
    def text(self) -> str:
        """``fc: in_features 2048 → 1568 (32 × 7 × 7 from conv2 → Flatten)``."""
        return f"{self.layer.title}: {self.arg} {show_value(self.old)} → {show_value(self.new)} ({self.reason})"


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
    def clean(self) -> bool:
        """True when nothing needs fixing."""
        return not self.fixes and not self.remaining

    def hint(self, finding: Finding) -> str | None:
        """What to do about a remaining finding by hand, when there is more to say."""
        if finding.rule.code == "CNN204":
            return self.advice.get(finding.layer)
        for fix in self.fixes:
            if fix.held and fix.layer.name == finding.layer and finding.fix and finding.fix[0] == fix.arg:
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
    fixes = list(_fixes_in(first))
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
            if f.rule.severity is Severity.ERROR and not (f.fix and (f.layer, f.fix[0]) in applied)
        )
    advice = {
        record.layer.name: _collapse_advice(fixed, record)
        for record in second.records
        if any(m.problem is Problem.COLLAPSE for m in record.mismatches)
    }
    inferred = tuple(
        (record.layer.title, record.in_size)
        for record in second.records
        if record.layer.type == "Linear" and "in_features" not in record.layer.args and record.in_size is not None
    )
    return FixPlan(spec, fixed, tuple(fixes), remaining, advice, inferred)


def _fixes_in(trace: Trace) -> Iterator[Fix]:
    collapsed_at: str | None = None
    for index, record in enumerate(trace.records):
        for mismatch in record.mismatches:
            if mismatch.problem in FIXABLE and mismatch.declared is not None:
                held = None
                if collapsed_at is not None and mismatch.arg in SPATIAL_ARGS:
                    held = f"it depends on the size {collapsed_at} gives once its collapse is fixed"
                new = mismatch.received
                if isinstance(new, tuple) and len(new) == 1 and not isinstance(mismatch.declared, tuple):
                    new = new[0]
                factors = origin(trace.records, index).merged if mismatch.arg == "in_features" else None
                yield Fix(
                    record.layer,
                    mismatch.arg,
                    record.layer.args[mismatch.arg],
                    new,
                    _reason(trace, index),
                    held,
                    factors,
                )
        if collapsed_at is None and any(m.problem is Problem.COLLAPSE for m in record.mismatches):
            collapsed_at = record.layer.title


def _reason(trace: Trace, index: int) -> str:
    source = origin(trace.records, index)
    if source.merged is not None:
        flattened = " → Flatten" if source.flatten else ", flattened"
        return f"{' × '.join(str(d) for d in source.merged)} from {source.layer}{flattened}"
    return f"from {source.layer}"


def _collapse_advice(spec: ModelSpec, record: LayerRecord) -> str:
    """The smallest input that works, and the kernel or padding that would keep this layer's output ≥ 1."""
    options = []
    if not spec.needs_torch:
        smallest = smallest_model_input(spec)
        options.append(f"an input of at least {'×'.join(map(str, smallest))} (--input {'x'.join(map(str, smallest))})")
    layer = record.layer
    collapsed = [m for m in record.mismatches if m.problem is Problem.COLLAPSE]
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


def _first_that_fits(layer: LayerSpec, arg: str, step: int, shape: tuple[int, ...], dims: list[int]) -> Any:
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


# ---------------------------------------------------------------------------------------
# Text edits


@dataclass(frozen=True, order=True)
class Edit:
    """Replace ``text[start:end]`` with ``new``."""

    start: int
    end: int
    new: str


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """Splice every edit into ``text``; edits must not overlap."""
    out, position = [], 0
    for edit in sorted(edits):
        if edit.start < position:
            raise EditError("two edits overlap; nothing was written")
        out += [text[position : edit.start], edit.new]
        position = edit.end
    out.append(text[position:])
    return "".join(out)


def changed_args(original: LayerSpec, intended: LayerSpec) -> dict[str, Any]:
    """Arguments whose value differs (or that were not written before)."""
    missing = object()
    return {k: v for k, v in intended.args.items() if original.args.get(k, missing) != v}


def edit_source(text: str, original: ModelSpec, intended: ModelSpec) -> str:
    """``text`` (the source of ``original``) changed so it reads as ``intended``, checked by
    parsing it back; raises EditError rather than return anything else."""
    if original.source == FLAG_LABEL:
        edits = _flag_edits(text, original, intended)
        edited = apply_edits(text, edits)
        again = parse_layers(edited, intended.input)
    else:
        edits = _yaml_edits(text, original, intended)
        edited = apply_edits(text, edits)
        try:
            again = parse_yaml(edited, original.source)
        except CnnInspectError as error:
            raise EditError(f"the edited spec does not read back ({error.message}); nothing was written") from None
    if _essence(again) != _essence(intended) or (original.source != FLAG_LABEL and again.input != intended.input):
        raise EditError(
            f"{original.source}: the edit would change more than intended (a shared anchor or merge key?); "
            "nothing was written — make the change by hand"
        )
    return edited


def _essence(spec: ModelSpec) -> list[tuple[str, str, dict[str, Any], tuple[Any, ...]]]:
    return [(layer.name, layer.type, layer.args, layer.positional) for layer in spec.layers]


# YAML ----------------------------------------------------------------------------------


def _yaml_edits(text: str, original: ModelSpec, intended: ModelSpec) -> list[Edit]:
    root = read_document(text, original.source).root.resolved()
    newline = "\r\n" if "\r\n" in text else "\n"
    edits: list[Edit] = []
    if intended.input != original.input:
        node = root.own("input")
        if node is not None:
            edits += _value_edits(node, original.input, intended.input, shape=True)
        else:
            layers_key = next(k for k, _ in root.pairs() if k.value == "layers")
            entry = f"input: {show_value(intended.input)}"
            gap = ", " if root.flow else newline + " " * _column(text, layers_key.start)
            edits.append(Edit(layers_key.start, layers_key.start, entry + gap))
    items = root.items()["layers"][1].resolved()
    for before, after in zip(original.layers, intended.layers):
        changes = changed_args(before, after)
        if not changes:
            continue
        node = items.children[before.index].resolved()
        if node.kind == "scalar":  # a bare type name: becomes a flow mapping
            entries = ", ".join(f"{k}: {show_value(v)}" for k, v in changes.items())
            edits.append(Edit(node.start, node.end, f"{{type: {_yaml_text(node.value, node.style)}, {entries}}}"))
            continue
        new_keys = {}
        for arg, value in changes.items():
            target = node.own(arg)
            if target is None:  # not written, or inherited through a merge key: the layer gets its own
                new_keys[arg] = value
            else:
                edits += _value_edits(target, before.args[arg], value)
        if new_keys:
            edits.append(_insert_keys(text, node, new_keys, newline))
    return edits


def _value_edits(node: Node, old: Any, new: Any, shape: bool = False) -> list[Edit]:
    """Edits that turn the written value ``old`` at ``node`` into ``new``, item by item where
    the layout allows (an alias is replaced by the value, so its anchor stays as it is)."""
    if node.kind == "scalar" and shape and isinstance(new, tuple):
        separator = next((s for s in ("×", "x", ",") if s in (node.value or "")), "x")
        return [Edit(node.start, node.end, _yaml_text(separator.join(map(str, new)), node.style))]
    if node.kind == "scalar":
        return [Edit(node.start, node.end, _yaml_text(new, node.style))]
    if (
        node.kind == "seq"
        and isinstance(old, tuple)
        and isinstance(new, tuple)
        and len(old) == len(new) == len(node.children)
    ):
        return [e for c, o, n in zip(node.children, old, new) if o != n for e in _value_edits(c, o, n)]
    return [Edit(node.start, node.leaf_end(), show_value(new))]


def _insert_keys(text: str, mapping: Node, entries: dict[str, Any], newline: str) -> Edit:
    last = mapping.children[-1].leaf_end()
    if mapping.flow:
        return Edit(last, last, "".join(f", {k}: {show_value(v)}" for k, v in entries.items()))
    indent = " " * _column(text, mapping.children[0].start)
    line_end = len(text) if (found := text.find("\n", last)) < 0 else found - (text[found - 1 : found] == "\r")
    return Edit(line_end, line_end, "".join(f"{newline}{indent}{k}: {show_value(v)}" for k, v in entries.items()))


def _column(text: str, index: int) -> int:
    return index - (text.rfind("\n", 0, index) + 1)


def _yaml_text(value: Any, style: str | None = None) -> str:
    """A value as YAML flow text; strings keep the quotes they had."""
    if isinstance(value, str):
        if style == "'":
            return "'" + value.replace("'", "''") + "'"
        if style == '"' or not PLAIN_YAML.fullmatch(value) or value.lower() in YAML_WORDS:
            return json.dumps(value, ensure_ascii=False)
        return value
    return show_value(value)


# --layers ------------------------------------------------------------------------------


def _flag_edits(text: str, original: ModelSpec, intended: ModelSpec) -> list[Edit]:
    edits = []
    calls = list(flag_calls(text))
    for before, after in zip(original.layers, intended.layers):
        changes = changed_args(before, after)
        if not changes:
            continue
        offset, _, piece = calls[before.index]
        node = ast.parse(piece, mode="eval").body
        if not isinstance(node, ast.Call):  # a bare name such as ReLU
            entries = ", ".join(f"{k}={_python_text(v)}" for k, v in changes.items())
            edits.append(Edit(offset + len(piece), offset + len(piece), f"({entries})"))
            continue
        kind = before.kind
        slots = [p.name for p in kind.params if not p.keyword_only] if kind else []
        written = dict(zip(slots, node.args)) | {k.arg: k.value for k in node.keywords if k.arg}
        new = []
        for arg, value in changes.items():
            if arg in written:
                target = written[arg]
                assert target.end_col_offset is not None
                edits.append(Edit(offset + target.col_offset, offset + target.end_col_offset, _python_text(value)))
            else:
                new.append(f"{arg}={_python_text(value)}")
        if new:
            args = [*node.args, *(k.value for k in node.keywords)]
            assert node.end_col_offset is not None
            at = offset + (max(a.end_col_offset or 0 for a in args) if args else node.end_col_offset - 1)
            edits.append(Edit(at, at, (", " if args else "") + ", ".join(new)))
    return edits


def _python_text(value: Any) -> str:
    return repr(value).replace(" ", "")


# Python source (--model) ---------------------------------------------------------------


@dataclass(frozen=True)
class SourceFix:
    """A fix located in the Python line that constructs the layer."""

    fix: Fix
    """The fix."""
    path: str
    """The file that constructs the layer."""
    suggestion: str
    """The constructor call as it should read, in the author's style: ``nn.Linear(32*7*7, 10)``."""
    edit: Edit | None
    """The splice that makes it, when the argument is a literal or a product of literals."""


def locate_source_fixes(fixes: Sequence[Fix]) -> list[SourceFix]:
    """Each fix in the user's source, when the constructing call can be found there."""
    located = []
    sources: dict[str, tuple[str, ast.AST, list[int]] | None] = {}  # each file read and parsed once
    for fix in fixes:
        where = fix.layer.location
        if where.path not in sources:
            try:
                text = Path(where.path).read_text(encoding="utf-8")
                sources[where.path] = (text, ast.parse(text), _line_starts(text))
            except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
                sources[where.path] = None
        source = sources[where.path]
        found = None if source is None else _constructor_arg(source[1], where.line, fix)
        if source is None or found is None:
            continue
        text, _, starts = source
        call, arg = found
        span = (
            _offset(text, starts, arg.lineno, arg.col_offset),
            _offset(text, starts, arg.end_lineno, arg.end_col_offset),
        )
        call_span = (
            _offset(text, starts, call.lineno, call.col_offset),
            _offset(text, starts, call.end_lineno, call.end_col_offset),
        )
        new = _python_expression(text[span[0] : span[1]], arg, fix)
        suggestion = text[call_span[0] : span[0]] + (new or str(fix.new)) + text[span[1] : call_span[1]]
        edit = Edit(span[0], span[1], new) if new is not None else None
        located.append(SourceFix(fix, where.path, " ".join(suggestion.split()), edit))
    return located


def _constructor_arg(tree: ast.AST, line: int, fix: Fix) -> tuple[ast.Call, ast.expr] | None:
    """The call on ``line`` that builds the layer, and the expression given for the argument."""
    kind = fix.layer.kind
    slots = [p.name for p in kind.params if not p.keyword_only] if kind else []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.lineno <= line <= (node.end_lineno or node.lineno):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if called != fix.layer.type:
            continue
        written = dict(zip(slots, node.args)) | {k.arg: k.value for k in node.keywords if k.arg}
        if fix.arg in written:
            return node, written[fix.arg]
    return None


def _python_expression(written: str, node: ast.expr, fix: Fix) -> str | None:
    """The new value in the author's style: a literal stays a literal, a product of literals
    stays a product (``32*8*8`` → ``32*7*7``); anything else is left to the author (None)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return str(fix.new)
    factors = _product_factors(node)
    if factors is None:
        return None
    if fix.factors and math.prod(fix.factors) == fix.new:
        separator = " * " if " * " in written else "*"
        return separator.join(str(f) for f in fix.factors)
    return str(fix.new)


def _product_factors(node: ast.expr) -> list[int] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return [node.value]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        left, right = _product_factors(node.left), _product_factors(node.right)
        return None if left is None or right is None else left + right
    return None


def _line_starts(text: str) -> list[int]:
    return [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]


def _offset(text: str, starts: list[int], line: int | None, col: int | None) -> int:
    """A character offset from ast's line and UTF-8 byte column."""
    start = starts[(line or 1) - 1]
    end = starts[line] if line is not None and line < len(starts) else len(text)
    return start + len(text[start:end].encode("utf-8")[: col or 0].decode("utf-8", errors="ignore"))


def edit_python(text: str, located: Sequence[SourceFix]) -> str:
    """The source with every located edit made, checked by parsing it back: each edited
    argument must now read as the fixed value."""
    edits = [s.edit for s in located if s.edit is not None]
    edited = apply_edits(text, edits)
    try:
        tree = ast.parse(edited)
    except SyntaxError as error:
        raise EditError(f"the edited source does not parse ({error.msg}); nothing was written") from None
    shift = 0
    for source in sorted((s for s in located if s.edit is not None), key=lambda s: s.edit.start if s.edit else 0):
        assert source.edit is not None
        position = source.edit.start + shift
        shift += len(source.edit.new) - (source.edit.end - source.edit.start)
        line = edited.count("\n", 0, position) + 1
        found = _constructor_arg(tree, line, source.fix)
        if found is None or literal_value(found[1]) != source.fix.new:
            raise EditError(
                f"{source.path}:{line}: the edit does not read back as {source.fix.new}; nothing was written"
            )
    return edited


# ---------------------------------------------------------------------------------------
# What fix-fc changes


@dataclass(frozen=True)
class FileChange:
    """One file (or ``--layers`` string) before and after the fixes."""

    path: Path | None
    """The file to write; None for ``--layers`` and the built-in model."""
    label: str
    """How it is named in diffs."""
    raw: bytes
    """The file's bytes as read."""
    before: str
    """The text as read."""
    after: str
    """The text with the fixes (and overrides) made."""


def spec_change(source: SpecSource, fixed: ModelSpec) -> FileChange:
    """A spec's text with the fixed spec's values spliced in (unchanged when nothing differs)."""
    original = source.spec
    differs = original.input != fixed.input or any(changed_args(a, b) for a, b in zip(original.layers, fixed.layers))
    after = edit_source(source.text, original, fixed) if differs else source.text
    return FileChange(source.path, original.source, source.raw, source.text, after)


def python_changes(trace: Trace) -> tuple[FixPlan, list[FileChange], dict[str, str]]:
    """For a --model: the plan (a fix is held when its source argument is not a literal or a
    product), each source file the fixes touch, before and after, and the corrected call per layer."""
    located = {(s.fix.layer.name, s.fix.arg): s for s in locate_source_fixes(plan_from_trace(trace).applied)}

    def hold(fix: Fix) -> str | None:
        source = located.get((fix.layer.name, fix.arg))
        if source is None:
            return "the call that builds this layer was not found in the source; change it by hand"
        if source.edit is None:
            return f"the argument is not a literal or a product of literals; write {source.suggestion}"
        return None

    plan = plan_from_trace(trace, hold=hold)
    writable = [s for s in located.values() if s.edit is not None]
    files = []
    for path in dict.fromkeys(s.path for s in writable):
        raw = read_source(path)
        text = decode_source(raw, path)
        edited = edit_python(text, [s for s in writable if s.path == path])
        files.append(FileChange(Path(path), path, raw, text, edited))
    notes = {s.fix.layer.name: s.suggestion for s in writable}
    return plan, files or [FileChange(None, "--model", b"", "", "")], notes


def with_suggestions(findings: Sequence[Finding], trace: Trace) -> list[Finding]:
    """--model findings with a fix also show the corrected constructor call."""
    located = {(s.fix.layer.name, s.fix.arg): s.suggestion for s in locate_source_fixes(plan_from_trace(trace).fixes)}
    return [
        replace(f, message=f"{f.message} → {located[(f.layer, f.fix[0])]}")
        if f.fix is not None and (f.layer, f.fix[0]) in located
        else f
        for f in findings
    ]


# ---------------------------------------------------------------------------------------
# Files


def encode_like(original: bytes, text: str) -> bytes:
    """``text`` as bytes, with the byte-order mark ``original`` had."""
    bom = codecs.BOM_UTF8 if original.startswith(codecs.BOM_UTF8) else b""
    return bom + text.encode("utf-8")


def write_atomic(path: Path, data: bytes, expected: bytes) -> None:
    """Replace the file's contents in one step: a temporary file in the same folder, then a
    rename; permissions kept. Refuses a read-only file and one that changed since it was read."""
    target = path.resolve()
    try:
        info = target.stat()
        current = target.read_bytes()
    except OSError as error:
        raise EditError(f"{path}: cannot read it again: {error.strerror}; nothing was written") from None
    if current != expected:
        raise EditError(f"{path}: changed while it was being fixed; nothing was written — run again")
    if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
        raise EditError(f"{path}: is read-only; nothing was written")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise EditError(f"{path}: cannot write in its folder: {error.strerror}; nothing was written") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, stat.S_IMODE(info.st_mode))
        with contextlib.suppress(OSError):  # only root may keep another owner; the mode is what matters
            os.chown(temporary, info.st_uid, info.st_gid)
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise EditError(f"{path}: cannot write: {error.strerror}; nothing was written") from None


def unified_diff(before: str, after: str, label: str) -> str:
    """A unified diff of two versions of a text, as ``diff -u`` and git print it."""
    lines = []
    for line in difflib.unified_diff(_lines(before), _lines(after), f"a/{label}", f"b/{label}"):
        lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def _lines(text: str) -> list[str]:
    # str.splitlines also cuts at form feeds and Unicode separators; diff cuts at \n only.
    return re.findall(r"[^\n]*\n|[^\n]+$", text)
