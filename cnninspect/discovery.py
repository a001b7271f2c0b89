"""lint's file walk: the spec files that paths, folders and globs on the command line name.

Folders are walked for the file endings the input formats claim (inputs.FILE_SUFFIXES), never
into hidden folders or those in SKIPPED_FOLDERS, never through a symlinked folder; each real file
is visited once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cnninspect import rules
from cnninspect.config import Settings
from cnninspect.errors import Location
from cnninspect.inputs import FILE_SUFFIXES
from cnninspect.linter import FileResult
from cnninspect.rules import Finding

SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})
"""Never walked into, like every folder whose name starts with a dot."""
GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Discovery:
    """What the paths on the command line name."""

    files: list[Path]
    """Spec files to lint, each real file once, in the order found."""
    problems: list[FileResult]
    """Paths that name nothing and folders that could not be listed: a finding each, never skipped
    in silence, and the run goes on."""
    places: list[int] = field(default_factory=list)
    """For each problem, how many files come before it: the order the command line named them."""

    def in_order(self, checked: Sequence[FileResult]) -> list[FileResult]:
        """The problems placed among ``checked`` (the files' results, in order) where the command
        line named them: ``lint a.yaml missing.yaml b.yaml`` reports in that order."""
        results = list(checked)
        for place, problem in sorted(zip(self.places, self.problems), key=lambda pair: pair[0], reverse=True):
            results.insert(place, problem)
        return results


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

    places: list[int] = []
    for text in paths:
        _named(text, settings, add, problems)
        places += [len(found)] * (len(problems) - len(places))
    return Discovery(list(found.values()), problems, places)


def _named(text: str, settings: Settings, add: Callable[[Path], None], problems: list[FileResult]) -> None:
    """The files one command-line path names, each given to ``add``; what names nothing is a problem."""
    path = Path(text)
    if path.is_dir():
        for walked in _walk(path, settings, problems):
            add(walked)
    elif path.exists() or path.is_symlink():
        if not (settings.force_exclude and settings.excluded(path, settings.root)):
            add(path)
    elif GLOB_CHARS.search(text):
        unlisted = len(problems)
        matches = list(_glob(text, problems))
        if not matches and len(problems) == unlisted:
            problems.append(_missing(text, "no file matches this pattern"))
        for match in matches:
            if match.is_dir():
                for walked in _walk(match, settings, problems):
                    add(walked)
            elif match.suffix in FILE_SUFFIXES and not settings.excluded(match, settings.root):
                add(match)
    else:
        problems.append(_missing(text, "no such file or folder"))


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
            if path.suffix in FILE_SUFFIXES and not settings.excluded(path, folder):
                yield path


def _glob(pattern: str, problems: list[FileResult]) -> Iterator[Path]:
    """Paths matching a shell pattern (``*``, ``?``, ``[…]`` within a name; ``**`` across folders),
    found by walking without following symlinked folders; hidden names match only when the
    pattern names them."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if GLOB_CHARS.search(part)), len(parts))
    base = Path(*parts[:fixed]) if fixed else Path(".")
    wanted = re.compile(_glob_regex("/".join(parts[fixed:])))
    if not base.is_dir():
        return  # nothing matches: the caller reports the pattern

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


def _missing(path: str, why: str) -> FileResult:
    """A path on the command line that names nothing, as an invalid-yaml finding for it, as for an unreadable file."""
    return FileResult(path, (Finding(rules.INVALID_YAML, Location(path, 1, 1), "", why),))


def _unlistable(error: OSError) -> FileResult:
    label = str(error.filename)
    finding = Finding(rules.INVALID_YAML, Location(label, 1, 1), "", f"cannot list this folder: {error.strerror}")
    return FileResult(label, (finding,))
