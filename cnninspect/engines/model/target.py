"""What ``--model`` names: ``FILE.py:NAME`` or ``package.module:NAME``, and ``--arg KEY=VALUE``."""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnninspect.errors import Location, UsageError


@dataclass(frozen=True)
class ModelTarget:
    """What ``--model`` names."""

    text: str
    """As typed: ``path/to/file.py:NAME`` or ``package.module:NAME``."""
    path: Path | None
    """The .py file, or None for an importable module."""
    module: str
    """The module name (for a file: its stem)."""
    attr: str
    """The class, factory function or instance, dotted if nested."""


def parse_target(text: str) -> ModelTarget:
    """``file.py:NAME`` or ``package.module:NAME``."""
    where, _, attr = text.rpartition(":")
    if not where or not attr or not all(part.isidentifier() for part in attr.split(".")):
        raise UsageError(f"--model {text!r}: write path/to/file.py:NAME or package.module:NAME")
    if not where.endswith(".py") and Path(where).is_file():
        raise UsageError(f"--model {text}: {where} is not a .py file; a spec file is given as SPEC, without --model")
    if where.endswith(".py") or "/" in where or os.sep in where:
        path = Path(where)
        if not path.is_file():
            raise UsageError(f"--model {text}: no such file {where}")
        return ModelTarget(text, path, path.stem, attr)
    if not all(part.isidentifier() for part in where.split(".")):
        raise UsageError(f"--model {text!r}: {where!r} is neither a .py file nor a module name")
    return ModelTarget(text, None, where, attr)


def parse_args(items: Sequence[str]) -> dict[str, Any]:
    """``--arg KEY=VALUE`` → keyword arguments; values are Python literals, else strings."""
    args: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UsageError(f"--arg {item!r}: write KEY=VALUE, e.g. --arg num_classes=10")
        try:
            args[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            args[key.strip()] = raw.strip()
    return args


def no_line(target: ModelTarget) -> Location:
    """Where a module is when its constructing line is unknown: the model's file or package, no line."""
    return Location(str(target.path) if target.path is not None else target.module, 0, 0)
