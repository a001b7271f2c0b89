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


def assert_no_internal_error(result) -> None:
    """Fail when cnninspect crashed rather than refused: an exception escaped, or it reported an internal
    error. An exit code alone cannot tell them apart (a crash exits 2 too)."""
    escaped = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not escaped, f"an exception escaped: {result.exception!r}"
    assert "internal error" not in result.stderr, result.stderr


def assert_user_error(result):
    """A user's mistake: exit 2, cnninspect's own crash excluded. Returns the result."""
    assert_no_internal_error(result)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    return result


def cli_error(*args: str, columns: int = 100, env: dict[str, str] | None = None):
    """Run cnninspect on a user's mistake: it must exit 2 without an internal error."""
    return assert_user_error(cli(*args, columns=columns, env=env))


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
