"""What ``--model`` names: ``FILE.py:NAME``, ``package.module:NAME`` or ``FILE.yaml:NODE`` (a node of a
Hydra config, with ``--override KEY=VALUE``), and ``--arg KEY=VALUE``."""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cnninspect.errors import Location, UsageError

CONFIG_SUFFIXES = (".yaml", ".yml")
"""Files whose node --model instantiates as Hydra does."""
NODE = re.compile(r"[A-Za-z_][\w-]*|\d+")
"""One key of a config node's path (``model.net``, ``layers.0``)."""


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
    """The class, factory function or instance, dotted if nested; for a config, the node's key path
    ("": the whole config)."""
    overrides: tuple[str, ...] = ()
    """``--override KEY=VALUE``: Hydra overrides of a config."""

    @property
    def config(self) -> bool:
        """True for a node of a Hydra config (``FILE.yaml:NODE``)."""
        return self.path is not None and self.path.suffix in CONFIG_SUFFIXES


def parse_target(text: str, overrides: Sequence[str] = ()) -> ModelTarget:
    """``file.py:NAME``, ``package.module:NAME`` or ``file.yaml:NODE`` (the only one ``overrides`` apply to)."""
    where, _, attr = text.rpartition(":")
    if where.endswith(CONFIG_SUFFIXES):
        path = Path(where)
        if attr and not all(NODE.fullmatch(part) for part in attr.split(".")):
            raise UsageError(f"--model {text!r}: write path/to/config.yaml:NODE, e.g. configs/train.yaml:model.net")
        if not path.is_file():
            raise UsageError(f"--model {text}: no such file {where}")
        return ModelTarget(text, path, path.stem, attr, tuple(overrides))
    if overrides:
        raise UsageError("--override is for a Hydra config: --model path/to/config.yaml:NODE")
    if not where or not attr or not all(part.isidentifier() for part in attr.split(".")):
        raise UsageError(
            f"--model {text!r}: write path/to/file.py:NAME, package.module:NAME or path/to/config.yaml:NODE"
        )
    if not where.endswith(".py") and Path(where).is_file():
        raise UsageError(
            f"--model {text}: {where} is not a .py file or a Hydra .yaml config; a spec file is given as SPEC, "
            "without --model"
        )
    if where.endswith(".py") or "/" in where or os.sep in where:
        path = Path(where)
        if not path.is_file():
            raise UsageError(f"--model {text}: no such file {where}")
        return ModelTarget(text, path, path.stem, attr)
    if not all(part.isidentifier() for part in where.split(".")):
        raise UsageError(f"--model {text!r}: {where!r} is neither a .py file nor a module name")
    return ModelTarget(text, None, where, attr)


def parse_args(items: Sequence[str]) -> dict[str, object]:
    """``--arg KEY=VALUE`` → keyword arguments; values are Python literals, else strings."""
    args: dict[str, object] = {}
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
