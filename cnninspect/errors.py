"""One exception family: everything a user can get wrong, with where it happened.

The CLI catches ``CnnInspectError`` once and prints one line; ``lint`` turns it into a CNN1xx
finding for the file (each of those rules names the classes it reports).
"""

from __future__ import annotations

from dataclasses import dataclass

from cnninspect.text import safe


@dataclass(frozen=True)
class Location:
    """A place in a spec source, 1-based, as editors and compilers print it."""

    path: str
    """File path as the user gave it, or a label such as ``--layers``."""
    line: int
    """1-based line number; 0 when only the file is known (a --model's module built where no line
    of the model's own code shows)."""
    col: int
    """1-based column number (0 with line 0)."""

    def __str__(self) -> str:
        if not self.line:
            return safe(self.path)
        return f"{safe(self.path)}:{self.line}:{self.col}"


MAX_MESSAGE = 1_000
"""Characters of an error message: one that quotes a huge value is cut, so an error stays one line."""


def bounded(message: str) -> str:
    """``message`` cut to MAX_MESSAGE characters, the last one ``…`` when cut: every error and finding
    says what it must in that, and a 500 KB name it quotes cannot make a 500 KB line."""
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


class CnnInspectError(Exception):
    """Base of every error cnninspect reports to a user as one line, exit code 2."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        message = bounded(message)
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class YamlError(CnnInspectError):
    """The file is not readable, well-formed, safe YAML."""


class SpecError(CnnInspectError):
    """The YAML is fine but the spec is not: unknown keys, bad input shape, no layers."""


class UnreadModel(SpecError):
    """A well-formed file of a model family cnninspect does not read (an Ultralytics RT-DETR): lint
    names it and goes on; the other commands refuse it."""


class GraphError(CnnInspectError):
    """A ``from:``, block or parameter reference that does not resolve."""


class LayerTypeError(CnnInspectError):
    """A layer names a type that torch.nn does not have."""


class ArgumentError(CnnInspectError):
    """A layer argument is unknown, of the wrong type or out of range."""


class UsageError(CnnInspectError):
    """A command-line option is malformed or names something that does not exist."""


class LayerFailure(CnnInspectError):
    """PyTorch refused to build or run a layer for a reason that is not a size mismatch."""


class ModelError(CnnInspectError):
    """The user's code failed: import, construction or a forward pass that is not a size
    mismatch. ``--debug`` shows the user's own traceback (``__cause__``)."""


class EditError(CnnInspectError):
    """A fix cannot be written safely: the file is read-only, changed meanwhile, or the edit
    would change more than intended. Nothing is written."""
