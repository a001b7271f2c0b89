"""Shared helpers and fixtures: the CLI runner, spec loaders, golden files."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnninspect.cli import app
from cnninspect.inputs import load_source
from cnninspect.inputs.spec import parse_yaml
from cnninspect.spec.model import ModelSpec

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).parent.parent
CONFIGS = ROOT / "configs"
ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "GITHUB_ACTIONS": ""}
"""A plain terminal of a known width: no colour, no CI detection."""


def cli(*args: str, columns: int = 100, env: dict[str, str] | None = None):
    """Run cnninspect in-process; the result has exit_code, stdout and stderr."""
    return CliRunner(env={**ENV, "COLUMNS": str(columns), **(env or {})}).invoke(app, list(args))


def load(path: str | Path) -> ModelSpec:
    """A spec file, as the CLI reads it."""
    return load_source(Path(path)).spec


def builtin() -> ModelSpec:
    """The built-in tutorial model."""
    return load_source().spec


def parse(text: str, label: str = "t.yaml") -> ModelSpec:
    """A spec from YAML text."""
    return parse_yaml(text, label)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/*.out from the current output")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """``golden("name.out", text)`` compares exactly, or rewrites with --update-golden. Golden files
    hold no trailing spaces: the renderers never pad a line's end."""

    def check(name: str, text: str) -> None:
        assert all(line == line.rstrip() for line in text.splitlines()), "a line ends in spaces"
        path = GOLDEN / name
        if request.config.getoption("--update-golden"):
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"{path} is missing: run pytest --update-golden and review it"
        assert text == path.read_text(encoding="utf-8")

    return check
