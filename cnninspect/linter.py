"""lint: one spec file in, its findings out. Never prints.

Files are linted with the analytic engine, shared among forked processes on every core when
there are enough of them (parallel.py); torch is imported only for a spec with a layer only
torch knows (once per process, as any import) or when the torch engine is asked for. A file that
cannot be read or is not a valid spec becomes a CNN1xx finding and the run goes on. Which files
are model specs is the input formats' call (inputs/): a file none of them recognises (a CI
workflow, ``.pre-commit-config.yaml``, ``setup.cfg``) is skipped, even when broken, so a
pre-commit hook on every YAML file never fails on them. discovery.py finds the files.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path

from cnninspect.config import Settings
from cnninspect.engines import Engine, trace_with
from cnninspect.errors import CnnInspectError, UnreadModel
from cnninspect.inputs import ReadOptions, decode_source, format_of, read_source
from cnninspect.rules import Finding, error_finding, find_problems
from cnninspect.spec.overrides import Overrides, apply_overrides
from cnninspect.text import first_line

INLINE_IGNORE = re.compile(r"#\s*cnninspect:\s*ignore(?:\[([^\]]*)\])?")


@dataclass(frozen=True)
class FileResult:
    """What lint found in one file."""

    path: str
    """The file as it was given or found."""
    findings: tuple[Finding, ...]
    """Findings reported, in order."""
    is_spec: bool = True
    """False for a file that no input format recognises: skipped."""
    unread: str = ""
    """For a skipped file of a model family cnninspect does not read (an Ultralytics RT-DETR): why,
    which lint says instead of a finding (the file is not wrong)."""
    own_classes: tuple[tuple[str, str], ...] = ()
    """For a skipped file that is a Hydra config of the user's own classes: each (config key, class
    name), which lint names (it builds them only with ``--run-models``)."""
    internal_error: str | None = None
    """``RuntimeError: boom`` when cnninspect itself failed on this file (a bug); never a finding: it
    cannot be selected or ignored, and it makes the exit code 2."""
    traceback: str = ""
    """That failure's traceback, for ``--debug``: text, so that a result crosses from a worker process."""


def lint_file(
    path: Path,
    settings: Settings,
    overrides: Overrides,
    engine: Engine = Engine.AUTO,
    options: ReadOptions | None = None,
) -> FileResult:
    """Every finding in one spec file, with the settings' selection and inline ignores applied; a file
    that no input format recognises is skipped (``is_spec`` False)."""
    options = options or ReadOptions()
    label = str(path)
    text = ""
    try:
        text = decode_source(read_source(path), label)
        fmt = format_of(text, label)
        if fmt is None:
            from cnninspect.inputs.hydra import own_classes

            return FileResult(label, (), is_spec=False, own_classes=tuple(own_classes(text, label)))
        spec = apply_overrides(fmt.read(text, label, options), overrides)
        findings = find_problems(trace_with(spec, engine))
    except UnreadModel as error:
        return FileResult(label, (), is_spec=False, unread=error.message)
    except CnnInspectError as error:
        findings = [error_finding(error, label)]
    except Exception as error:  # our own bug: its own outcome, not the file's finding; the other files go on
        trace = "".join(traceback.format_exception(error))
        return FileResult(label, (), internal_error=f"{type(error).__name__}: {first_line(error)}", traceback=trace)
    enabled = settings.enabled(path)
    ignores = inline_ignores(text)
    kept = [f for f in findings if f.rule in enabled]
    shown = [f for f in kept if not _silenced(f, ignores)]
    return FileResult(label, tuple(shown))


def inline_ignores(text: str) -> dict[int, frozenset[str] | None]:
    """Line → codes or names silenced there (None: every rule)."""
    ignores: dict[int, frozenset[str] | None] = {}
    if "cnninspect" not in text:  # most files: no comment to look for line by line
        return ignores
    for number, line in enumerate(text.splitlines(), start=1):
        match = INLINE_IGNORE.search(line)
        if match:
            listed = match.group(1)
            ignores[number] = None if listed is None else frozenset(p.strip() for p in listed.split(",") if p.strip())
    return ignores


def _silenced(finding: Finding, ignores: dict[int, frozenset[str] | None]) -> bool:
    if finding.location.line not in ignores:
        return False
    listed = ignores[finding.location.line]
    return listed is None or finding.rule.code in listed or finding.rule.name in listed
