"""How bad a finding is: its own module, so that the CLI's options (``--fail-on``) name it
without loading the rules (``--help`` imports none of them)."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is; errors make the exit code 1."""

    ERROR = "error"
    WARNING = "warning"
