"""lint: spec files in, findings out. Never prints.

Files, folders (walked for ``*.yaml``, ``*.yml`` and ``*.cfg``) and globs are linted in one process with
the analytic engine; torch is imported only for a spec with a layer only torch knows (once
per run, as any import) or when the torch engine is asked for. A file that cannot be read or
is not a valid spec becomes a CNN1xx finding and the run goes on.

A YAML file is a spec when a line starts with ``layers:`` (or ``blocks:``), the keys every
spec has at its top level, or when it has a ``_target_: torch.nn.…`` (a Hydra model config);
a ``.cfg`` file is a darknet spec when its first section is ``[net]``. Other files in a
repository (CI workflows, ``.pre-commit-config.yaml``, ``setup.cfg``) are skipped, even when
broken, so a pre-commit hook on every YAML file never fails on them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cnninspect import rules
from cnninspect.config import Settings
from cnninspect.engines import Engine, trace_with
from cnninspect.errors import CnnInspectError, Location, UsageError
from cnninspect.rules import Finding, error_finding, find_problems
from cnninspect.spec.darknet import looks_like_darknet
from cnninspect.spec.hydra import is_hydra
from cnninspect.spec.load import decode_source, parse_text, read_source
from cnninspect.spec.overrides import Overrides, apply_overrides
from cnninspect.spec.yamldoc import read_document
from cnninspect.text import first_line

SPEC_SUFFIXES = (".yaml", ".yml", ".cfg")
SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})
"""Never walked into, like every folder whose name starts with a dot."""
INLINE_IGNORE = re.compile(r"#\s*cnninspect:\s*ignore(?:\[([^\]]*)\])?")
GLOB_CHARS = re.compile(r"[*?\[]")
SPEC_KEY = re.compile(r"""^(?:["']?(?:layers|blocks)["']?\s*:|\{.*\blayers\s*:)""", re.MULTILINE)
HYDRA_MODEL = re.compile(r"""\b_target_["']?\s*:\s*["']?(?:torch\.)?nn\.""")


@dataclass(frozen=True)
class FileResult:
    """What lint found in one file."""

    path: str
    """The file as it was given or found."""
    findings: tuple[Finding, ...]
    """Findings reported, in order."""
    is_spec: bool = True
    """False for a file that is not a spec (YAML without ``layers:``, a .cfg without ``[net]``): skipped."""
    crash: Exception | None = None
    """cnninspect's own failure on this file (a bug), kept with its traceback for ``--debug``; never a
    finding: it cannot be selected or ignored, and it makes the exit code 2."""

    @property
    def internal_error(self) -> str | None:
        """``RuntimeError: boom`` when cnninspect failed on this file, else None."""
        return None if self.crash is None else f"{type(self.crash).__name__}: {first_line(self.crash)}"


@dataclass(frozen=True)
class Discovery:
    """What the paths on the command line name."""

    files: list[Path]
    """Spec files to lint, each real file once, in the order found."""
    problems: list[FileResult]
    """Folders that could not be listed: a finding each, never skipped in silence."""


def discover(paths: Sequence[str], settings: Settings) -> Discovery:
    """Every spec file named by ``paths``, in order, each real file once (``a.yaml``,
    ``./a.yaml`` and ``/abs/a.yaml`` are one file). Walks and ``**`` never follow a symlinked
    folder, so a link loop cannot make them run forever.

    Files met while walking a folder or matching a glob are skipped when the settings exclude
    them; a file named directly is linted unless ``force_exclude`` is set (ruff's rule, for
    pre-commit, which names every file).
    """
    found: dict[tuple[int, int] | Path, Path] = {}
    problems: list[FileResult] = []

    def add(path: Path) -> None:
        try:
            info = path.stat()
            key: tuple[int, int] | Path = (info.st_dev, info.st_ino)
        except OSError:
            key = path  # unreadable: lint_file reports it
        found.setdefault(key, path)

    for text in paths:
        path = Path(text)
        if path.is_dir():
            for walked in _walk(path, settings, problems):
                add(walked)
        elif path.exists() or path.is_symlink():
            if not (settings.force_exclude and settings.excluded(path, settings.root)):
                add(path)
        elif GLOB_CHARS.search(text):
            matches = list(_glob(text, problems))
            if not matches and not problems:
                raise UsageError(f"{text}: no file matches")
            for match in matches:
                if match.is_dir():
                    for walked in _walk(match, settings, problems):
                        add(walked)
                elif match.suffix in SPEC_SUFFIXES and not settings.excluded(match, settings.root):
                    add(match)
        else:
            raise UsageError(f"{text}: no such file or folder")
    return Discovery(list(found.values()), problems)


def _walk(folder: Path, settings: Settings, problems: list[FileResult]) -> Iterator[Path]:
    def unreadable(error: OSError) -> None:
        problems.append(_unlistable(error))

    for root, folders, files in os.walk(folder, onerror=unreadable):
        here = Path(root)
        folders[:] = sorted(
            name
            for name in folders
            if not name.startswith(".") and name not in SKIPPED_FOLDERS and not settings.excluded(here / name, folder)
        )
        for name in sorted(files):
            path = here / name
            if path.suffix in SPEC_SUFFIXES and not settings.excluded(path, folder):
                yield path


def _glob(pattern: str, problems: list[FileResult]) -> Iterator[Path]:
    """Paths matching a shell pattern (``*``, ``?``, ``[…]`` within a name; ``**`` across folders),
    found by walking without following symlinked folders; hidden names match only when the
    pattern names them."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if GLOB_CHARS.search(part)), len(parts))
    base = Path(*parts[:fixed]) if fixed else Path(".")
    wanted = re.compile(_glob_regex("/".join(parts[fixed:])))

    def unreadable(error: OSError) -> None:
        problems.append(_unlistable(error))

    for root, folders, files in os.walk(base, onerror=unreadable):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(folders) + sorted(files):
            path = Path(root) / name
            relative = path.relative_to(base).as_posix()
            if not name.startswith(".") and wanted.fullmatch(relative):
                yield path


def _glob_regex(pattern: str) -> str:
    """A glob as a regular expression over ``/``-separated relative paths."""
    out = []
    for index, segment in enumerate(pattern.split("/")):
        last = index == len(pattern.split("/")) - 1
        if segment == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        text, i = "", 0
        while i < len(segment):
            ch = segment[i]
            if ch == "*":
                text += "[^/]*"
            elif ch == "?":
                text += "[^/]"
            elif ch == "[" and "]" in segment[i + 1 :]:
                end = segment.index("]", i + 1)
                body = segment[i + 1 : end]
                text += "[" + ("^" + re.escape(body[1:]) if body.startswith("!") else re.escape(body)) + "]"
                i = end
            else:
                text += re.escape(ch)
            i += 1
        out.append(text if last else text + "/")
    return "".join(out)


def _unlistable(error: OSError) -> FileResult:
    label = str(error.filename)
    finding = Finding(rules.INVALID_YAML, Location(label, 1, 1), "", f"cannot list this folder: {error.strerror}")
    return FileResult(label, (finding,))


def lint_file(path: Path, settings: Settings, overrides: Overrides, engine: Engine = Engine.AUTO) -> FileResult:
    """Every finding in one spec file, with the settings' selection and inline ignores applied."""
    label = str(path)
    text = ""
    try:
        text = decode_source(read_source(path), label)
        if not looks_like_spec(text, label):
            return FileResult(label, (), is_spec=False)
        spec = apply_overrides(parse_text(text, label), overrides)
        findings = find_problems(trace_with(spec, engine))
    except CnnInspectError as error:
        findings = [error_finding(error, label)]
    except Exception as error:  # our own bug: its own outcome, not the file's finding; the other files go on
        return FileResult(label, (), crash=error)
    enabled = settings.enabled(path)
    ignores = inline_ignores(text)
    kept = [f for f in findings if f.rule in enabled]
    shown = [f for f in kept if not _silenced(f, ignores)]
    return FileResult(label, tuple(shown))


def inline_ignores(text: str) -> dict[int, frozenset[str] | None]:
    """Line → codes or names silenced there (None: every rule)."""
    ignores: dict[int, frozenset[str] | None] = {}
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


def looks_like_spec(text: str, label: str) -> bool:
    """True for a darknet .cfg, or YAML text with a top-level ``layers:`` or ``blocks:`` key or a
    ``_target_: torch.nn.…`` (checked on the text, so a broken spec is still recognised and
    reported)."""
    if label.lower().endswith(".cfg"):
        return looks_like_darknet(text, "")
    if SPEC_KEY.search(text) is not None:
        return True
    if HYDRA_MODEL.search(text) is None:
        return False
    try:  # a torch.nn loss or activation config is not a model
        return is_hydra(read_document(text, label))
    except CnnInspectError:
        return True  # broken: reported
