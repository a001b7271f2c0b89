"""One exception family: everything a user can get wrong, with where it happened."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in a spec source, 1-based, as editors and compilers print it."""

    path: str
    """File path as the user gave it, or a label such as ``--layers``."""
    line: int
    """1-based line number."""
    col: int
    """1-based column number."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


class CnnInspectError(Exception):
    """Base of every error cnninspect reports to a user as one line, exit code 2."""

    code = "CNN100"
    """Finding code that ``lint`` reports this error under."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class YamlError(CnnInspectError):
    """The file is not readable, well-formed, safe YAML."""

    code = "CNN101"


class SpecError(CnnInspectError):
    """The YAML is fine but the spec is not: unknown keys, bad input shape, no layers."""

    code = "CNN102"


class LayerTypeError(CnnInspectError):
    """A layer names a type that torch.nn does not have."""

    code = "CNN103"


class ArgumentError(CnnInspectError):
    """A layer argument is unknown, of the wrong type or out of range."""

    code = "CNN104"


class UsageError(CnnInspectError):
    """A command-line option is malformed or names something that does not exist."""

    code = "CNN105"


class LayerFailure(CnnInspectError):
    """PyTorch refused to build or run a layer for a reason that is not a size mismatch."""

    code = "CNN106"


class EditError(CnnInspectError):
    """A fix cannot be written safely: the file is read-only, changed meanwhile, or the edit
    would change more than intended. Nothing is written."""
