"""Fixes located in the user's Python source (``--model``) and written in the author's style."""

from __future__ import annotations

import ast
import math
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from cnninspect.engines.records import Trace
from cnninspect.errors import CnnInspectError, EditError
from cnninspect.fixes.config import ConfigFix, config_files
from cnninspect.fixes.files import FileChange
from cnninspect.fixes.plan import Fix, FixPlan, plan_from_trace
from cnninspect.inputs import decode_source, read_source
from cnninspect.inputs.splice import Edit, apply_edits
from cnninspect.rules import Finding
from cnninspect.spec.literal import literal_value
from cnninspect.text import line_starts


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
                text = decode_source(read_source(where.path), where.path)
                sources[where.path] = (text, ast.parse(text), line_starts(text))
            except (CnnInspectError, SyntaxError, ValueError):
                sources[where.path] = None
        source = sources[where.path]
        found = None if source is None else constructor_arg(source[1], where.line, fix)
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


def constructor_arg(tree: ast.AST, line: int, fix: Fix) -> tuple[ast.Call, ast.expr] | None:
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
        found = constructor_arg(tree, line, source.fix)
        if found is None or literal_value(found[1]) != source.fix.new:
            raise EditError(
                f"{source.path}:{line}: the edit does not read back as {source.fix.new}; nothing was written"
            )
    return edited


def python_changes(
    trace: Trace, project: Sequence[Path], config: Mapping[tuple[str, str], ConfigFix] | None = None
) -> tuple[FixPlan, list[FileChange], dict[str, str]]:
    """For a --model: the plan (a fix is held when its source argument is not a literal or a
    product, or when the call is outside ``project``, the folders the user's code lives in), each
    source file the fixes touch, before and after, and the corrected call per layer. A fix in
    ``config`` (its value set by a Hydra config) is written in the config instead."""
    config = config or {}
    located = {
        (s.fix.layer.name, s.fix.arg): s
        for s in locate_source_fixes(plan_from_trace(trace).applied)
        if (s.fix.layer.name, s.fix.arg) not in config
    }

    def hold(fix: Fix) -> str | None:
        valued = config.get((fix.layer.name, fix.arg))
        if valued is not None:
            if valued.written is None:
                return f"{valued.suggestion}; change it by hand"
            if not in_project(valued.written.path, project):
                return f"{valued.written.path} is outside your project, which fix-fc never writes; {valued.suggestion}"
            return None
        source = located.get((fix.layer.name, fix.arg))
        if source is None:
            return "the call that builds this layer was not found in the source; change it by hand"
        if not in_project(Path(source.path), project):
            return (
                f"the call that builds this layer is in {source.path}, outside your project (an installed "
                f"package or another folder), which fix-fc never writes; where you build the model, use "
                f"{source.suggestion}"
            )
        if source.edit is None:
            return f"the argument is not a literal or a product of literals; write {source.suggestion}"
        return None

    plan = plan_from_trace(trace, hold=hold)
    writable = [s for s in located.values() if s.edit is not None and in_project(Path(s.path), project)]
    files = []
    for path in dict.fromkeys(s.path for s in writable):
        raw = read_source(path)
        text = decode_source(raw, path)
        edited = edit_python(text, [s for s in writable if s.path == path])
        files.append(FileChange(Path(path), path, raw, text, edited))
    notes = {s.fix.layer.name: s.suggestion for s in writable}
    in_config = [c for c in config.values() if c.written is not None and in_project(c.written.path, project)]
    files += config_files(in_config)
    notes |= {c.fix.layer.name: c.suggestion for c in in_config}
    return plan, files or [FileChange(None, "--model", b"", "", "")], notes


def in_project(path: Path, project: Sequence[Path]) -> bool:
    """True for a file under one of the project's folders that is not part of an installed
    package (a ``site-packages`` folder) or of Python's own library."""
    resolved = path.resolve()
    library = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")}
    if any(part in ("site-packages", "dist-packages") for part in resolved.parts):
        return False
    if any(resolved.is_relative_to(folder) for folder in library):
        return False
    return any(resolved.is_relative_to(root.resolve()) for root in project)


def with_suggestions(
    findings: Sequence[Finding], trace: Trace, config: Mapping[tuple[str, str], ConfigFix] | None = None
) -> list[Finding]:
    """--model findings with a fix also show the corrected constructor call; one whose value a Hydra
    config sets points at the config line instead, and says what to write there."""
    config = config or {}
    located = {(s.fix.layer.name, s.fix.arg): s.suggestion for s in locate_source_fixes(plan_from_trace(trace).fixes)}
    shown = []
    for f in findings:
        key = (f.layer, f.fix.arg) if f.fix is not None else None
        valued = config.get(key) if key is not None else None
        if valued is not None:
            where = valued.written.location if valued.written is not None else f.location
            f = replace(f, location=where, message=f"{f.message} → {valued.suggestion}")
        elif key is not None and key in located:
            f = replace(f, message=f"{f.message} → {located[key]}")
        shown.append(f)
    return shown
