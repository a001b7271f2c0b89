"""The ``--format`` choices of every command, apart from their renderers: the CLI builds its
options from these without importing what renders them."""

from __future__ import annotations

from enum import StrEnum


class SummaryFormat(StrEnum):
    """Output formats of ``summary``."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"
    CSV = "csv"


class LintFormat(StrEnum):
    """Output formats of ``lint``."""

    FULL = "full"
    CONCISE = "concise"
    JSON = "json"
    GITHUB = "github"
    SARIF = "sarif"


class SizesFormat(StrEnum):
    """Output formats of ``sizes``."""

    TABLE = "table"
    JSON = "json"


class RulesFormat(StrEnum):
    """Output formats of ``rules``."""

    TABLE = "table"
    MARKDOWN = "markdown"
