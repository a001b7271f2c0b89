"""``fix-fc``'s words: each fix with its arithmetic, what is left to fix by hand with a hint,
the change as a diff or a ``--layers`` string, and the closing summary. Text in, text out; the
CLI chooses the stream."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from cnninspect.fixes.files import FileChange, unified_diff
from cnninspect.fixes.plan import FixPlan
from cnninspect.formats.wrap import hang
from cnninspect.spec.model import BUILTIN_LABEL, FLAG_LABEL
from cnninspect.text import safe


def fix_lines(plan: FixPlan, notes: Mapping[str, str], width: int | None = None) -> str:
    """One line per edit (a value written once for many layers says so), the corrected call under
    it when ``notes`` has one (``--model``), then each finding left with its hint, a hint shared
    by many findings said once. At a ``width`` (a terminal), long lines break at words under
    their message, the place that heads them whole on the first line."""
    lines: list[tuple[str, int]] = []  # each line, and the length of its head (kept whole, and the indent)
    for fix, fixed in plan.edits:
        shared = f"; written once for {len(fixed)} layers: {', '.join(fixed)}" if len(fixed) > 1 else ""
        head = f"{fix.layer.where(fix.arg)}: "
        lines.append((f"{head}{fix.text}{shared}", len(safe(head))))
        if fix.layer.name in notes:
            lines.append((f"  {notes[fix.layer.name]}", 0))
    hints: set[str] = set()
    for finding in plan.remaining:
        lines.append((finding.line, len(safe(f"{finding.location}: {finding.rule.code} "))))
        hint = plan.hint(finding)
        if hint and hint not in hints:  # a value written once for many layers is explained once
            hints.add(hint)
            lines.append((f"  {hint}", 0))
    if width is None:
        return _lines([line for line, _ in lines])
    return "".join(hang(safe(line), width, head or 4, keep=head) + "\n" for line, head in lines)


def diff_text(change: FileChange) -> str:
    """The change as a unified diff, the file's name escaped."""
    return unified_diff(change.before, change.after, safe(change.label))


def layers_line(change: FileChange) -> str:
    """A fixed ``--layers`` string as the option to paste; empty for a file."""
    return _lines([f"--layers {shlex.quote(change.after)}"]) if change.label == FLAG_LABEL else ""


def fix_summary(plan: FixPlan, changed: bool, written: bool, label: str, path: Path | None) -> str:
    """The closing lines: what was inferred, how many fixes were needed or made and how many
    problems are left, and what writes the change."""
    lines = [f"{name}: in_features is left out, so it is inferred ({n}); nothing to fix" for name, n in plan.inferred]
    count, left = len(plan.edits), len(plan.remaining)
    by_hand = f"{left} problem{'s' * (left != 1)} to fix by hand" if left else ""
    if plan.clean:
        lines.append("nothing to fix: every layer fits" + ("; the what-if options change the file" if changed else ""))
    elif not count:
        lines.append(by_hand)
    else:
        done = f"fixed {count} problem{'s' * (count != 1)}" if written else f"{count} fix{'es' * (count != 1)} needed"
        lines.append("; ".join(filter(None, (done, by_hand))))
    if written and changed:
        lines.append(f"wrote {path}")
    elif changed and path is not None:
        lines.append("--diff shows the change; --write makes it")
    elif changed and label == BUILTIN_LABEL:
        lines.append("--diff shows the change (the built-in model has no file to write)")
    return "\n".join(safe(line) for line in lines)  # names and paths can hold ESC or a newline


def _lines(lines: list[str]) -> str:
    """Each line escaped and ended."""
    return "".join(safe(line) + "\n" for line in lines)
