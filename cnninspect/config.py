"""Lint settings: ``[tool.cnninspect]`` in the nearest pyproject.toml, then the command line.

    [tool.cnninspect]
    select = ["CNN1", "CNN2", "floor-truncation"]   # codes, code prefixes or names
    ignore = ["conv-bias-before-norm"]
    fail-on = "warning"                             # or "error" (the default)
    exclude = ["configs/broken"]                    # skipped when a folder is walked
    force-exclude = true                            # ... and when a file is named (pre-commit)
    per-file-ignores = {"configs/legacy/*" = ["floor-truncation"]}
    run-models = true                               # trace Hydra configs of your own classes (runs your code)

Patterns are relative to the folder holding the pyproject.toml, with ``*`` matching across
folders.
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path, PurePath

from cnninspect.errors import UsageError
from cnninspect.rules import RULES, Finding, Rule, Severity, select_rules

CONFIG_FILE = "pyproject.toml"
KEYS = ("select", "ignore", "fail-on", "exclude", "force-exclude", "per-file-ignores", "run-models")


@dataclass(frozen=True)
class Settings:
    """What lint reports and what fails the run."""

    select: tuple[str, ...] = ()
    """Codes, code prefixes (``CNN3``) or names to report; empty: every rule."""
    ignore: tuple[str, ...] = ()
    """Codes, prefixes or names never to report."""
    fail_on: Severity = Severity.ERROR
    """The lowest severity that makes the exit code 1."""
    exclude: tuple[str, ...] = ()
    """Patterns of files and folders skipped when a folder is walked."""
    force_exclude: bool = False
    """Skip excluded files named on the command line too."""
    run_models: bool = False
    """Trace Hydra configs of the user's own classes, which runs the user's code (off: only named)."""
    per_file_ignores: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Pattern → codes, prefixes or names ignored in matching files."""
    root: Path = Path()
    """Where patterns are relative to: the pyproject.toml's folder."""
    source: Path | None = None
    """The pyproject.toml read, if any."""

    def with_options(
        self,
        select: Sequence[str] | None,
        ignore: Sequence[str] | None,
        fail_on: Severity | None,
        force_exclude: bool | None = None,
        run_models: bool | None = None,
    ) -> Settings:
        """Command-line values win over the file's."""
        return replace(
            self,
            select=tuple(select) if select else self.select,
            ignore=tuple(ignore) if ignore else self.ignore,
            fail_on=fail_on or self.fail_on,
            force_exclude=self.force_exclude if force_exclude is None else force_exclude,
            run_models=self.run_models if run_models is None else run_models,
        )

    def enabled(self, path: Path) -> frozenset[Rule]:
        """The rules reported for one file."""
        if not self.per_file_ignores:
            return self.selected
        chosen = set(self.selected)
        relative = self.relative(path)
        for pattern, entries in self.per_file_ignores.items():
            if matches(relative, pattern):
                chosen -= set(select_rules(entries, f"per-file-ignores {pattern!r}"))
        return frozenset(chosen)

    @cached_property
    def selected(self) -> frozenset[Rule]:
        """The rules ``select`` and ``ignore`` leave, for every file (worked out once: lint asks per file)."""
        return frozenset(select_rules(self.select, "select") if self.select else RULES) - frozenset(
            select_rules(self.ignore, "ignore")
        )

    def excluded(self, path: Path, walked: Path) -> bool:
        """True when a file or folder met while walking the folder ``walked`` is excluded: by
        itself or by a folder between it and ``walked`` (a folder named on the command line is
        walked even when a pattern names it)."""
        if not self.exclude:
            return False
        relative, top = self.relative(path), self.relative(walked)
        parents = relative.parents
        between = parents[: parents.index(top)] if top in parents else ()
        candidates = [p.as_posix() for p in (relative, *between)]
        return any(fnmatch.fnmatchcase(c, pattern.strip("/")) for c in candidates for pattern in self.exclude)

    def relative(self, path: Path) -> PurePath:
        """The path relative to the settings' root when it is under it, else absolute; normalised."""
        absolute = Path(os.path.abspath(path))
        try:
            return absolute.relative_to(self.absolute_root)
        except ValueError:
            return absolute

    @cached_property
    def absolute_root(self) -> Path:
        """``root``, absolute and normalised (worked out once: every file and folder walked asks)."""
        return Path(os.path.abspath(self.root))

    def fails(self, finding: Finding) -> bool:
        """True when the finding makes the exit code 1."""
        return finding.rule.severity is Severity.ERROR or self.fail_on is Severity.WARNING


def matches(path: PurePath, pattern: str) -> bool:
    """``pattern`` matches the path or one of the folders above it."""
    pattern = pattern.strip("/")
    candidates = [path.as_posix()] + [parent.as_posix() for parent in path.parents if parent.as_posix() != "."]
    return any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates)


def load_settings(start: Path) -> Settings:
    """Settings from the nearest pyproject.toml with a ``[tool.cnninspect]`` table, from
    ``start`` upwards; defaults when there is none."""
    for folder in [start.absolute(), *start.absolute().parents]:
        candidate = folder / CONFIG_FILE
        if not candidate.is_file():
            continue
        try:
            with candidate.open("rb") as stream:
                table = tomllib.load(stream).get("tool", {}).get("cnninspect")
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise UsageError(f"{candidate}: cannot read it: {error}") from None
        if table is not None:
            return _settings(table, candidate)
    return Settings(root=start.absolute())


def _settings(table: object, path: Path) -> Settings:
    def fail(message: str) -> UsageError:
        return UsageError(f"{path}: [tool.cnninspect] {message}")

    if not isinstance(table, dict):
        raise fail("must be a table")
    unknown = [key for key in table if key not in KEYS]
    if unknown:
        raise fail(f"unknown key {unknown[0]!r}; the keys are {', '.join(KEYS)}")

    def strings(key: str, value: object) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(f"{key} must be a list of strings")
        return tuple(value)

    settings = Settings(root=path.parent, source=path)
    if "select" in table:
        settings = replace(settings, select=strings("select", table["select"]))
    if "ignore" in table:
        settings = replace(settings, ignore=strings("ignore", table["ignore"]))
    if "exclude" in table:
        settings = replace(settings, exclude=strings("exclude", table["exclude"]))
    if "force-exclude" in table:
        if not isinstance(table["force-exclude"], bool):
            raise fail("force-exclude must be true or false")
        settings = replace(settings, force_exclude=table["force-exclude"])
    if "run-models" in table:
        if not isinstance(table["run-models"], bool):
            raise fail("run-models must be true or false")
        settings = replace(settings, run_models=table["run-models"])
    if "fail-on" in table:
        try:
            settings = replace(settings, fail_on=Severity(table["fail-on"]))
        except ValueError:
            raise fail(f"fail-on must be error or warning, not {table['fail-on']!r}") from None
    if "per-file-ignores" in table:
        ignores = table["per-file-ignores"]
        if not isinstance(ignores, dict):
            raise fail("per-file-ignores must be a table of pattern = [codes]")
        settings = replace(
            settings, per_file_ignores={k: strings(f"per-file-ignores {k!r}", v) for k, v in ignores.items()}
        )
    for entries, key in ((settings.select, "select"), (settings.ignore, "ignore")):
        select_rules(entries, f"{path}: [tool.cnninspect] {key}")
    for pattern, entries in settings.per_file_ignores.items():
        select_rules(entries, f"{path}: [tool.cnninspect] per-file-ignores {pattern!r}")
    return settings
