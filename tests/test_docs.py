"""The examples in README.md and docs/*.md are real output, run again on every test run.

A fenced code block whose first line starts with ``$ cnninspect `` is an example: the command
is run in-process from the repository root, at 80 columns with colour off, and the block's
other lines must be exactly what a terminal shows: **stdout, then stderr** (a finding or fix
line that the command writes to stderr comes after the table or diff on stdout). The exit
code is not shown. A block with a line that is just ``…`` is abridged and is not run; so is
every block in docs/rules.md, which ``cnninspect rules --format markdown`` generates.

``pytest --update-golden`` rewrites the examples from the real output instead of comparing;
review the diff like code.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, cli

PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "rules.md")]
PROMPT = "$ cnninspect "
ABRIDGED = "…"
COLUMNS = 80
FENCE = re.compile(r"^(`{3,}|~{3,})")
WRITES = ("--write", "--save")
"""Options that change files: an example using them must be abridged, never run."""


@dataclass(frozen=True)
class Example:
    """One runnable code block."""

    page: Path
    """The Markdown file."""
    start: int
    """0-based index of the block's first line (the command), for messages."""
    ordinal: int
    """Position among the page's runnable blocks, to find it again after an earlier block changed."""
    command: str
    """The command line, without the ``$ ``."""
    shown: list[str]
    """The lines the block shows as output."""

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.start + 1}"


def code_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(first content line, closing fence line) of every fenced block."""
    blocks, opened, fence = [], None, ""
    for number, line in enumerate(lines):
        match = FENCE.match(line)
        if opened is None and match:
            opened, fence = number, match.group(1)
        elif opened is not None and line.strip() == fence:
            blocks.append((opened + 1, number))
            opened = None
    return blocks


def examples(page: Path) -> list[Example]:
    """The runnable blocks of one page."""
    lines = page.read_text(encoding="utf-8").split("\n")
    found = []
    for start, end in code_blocks(lines):
        body = lines[start:end]
        if not body or not body[0].startswith(PROMPT) or any(line.strip() == ABRIDGED for line in body):
            continue
        found.append(Example(page, start, len(found), body[0][2:], body[1:]))
    return found


EXAMPLES = [example for page in PAGES for example in examples(page)]


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in the examples are relative to the repository root."""
    monkeypatch.chdir(ROOT)


def terminal_output(command: str) -> str:
    """What the command prints: stdout, then stderr."""
    args = shlex.split(command)
    assert args[0] == "cnninspect"
    assert not set(args) & set(WRITES), f"{command}: an example that writes files must be abridged with a … line"
    result = cli(*args[1:], columns=COLUMNS)
    return result.stdout + result.stderr


def rewrite(example: Example, output: str) -> None:
    """Replace the example's output lines in its page (found again by ordinal: earlier blocks may
    have changed length)."""
    lines = example.page.read_text(encoding="utf-8").split("\n")
    current = examples(example.page)[example.ordinal]
    assert current.command == example.command, f"{example.id}: the page changed while updating"
    body = output[:-1].split("\n") if output else []
    lines[current.start + 1 : current.start + 1 + len(current.shown)] = body
    example.page.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.id)
def test_example_shows_real_output(example: Example, at_root: None, request: pytest.FixtureRequest) -> None:
    output = terminal_output(example.command)
    assert output == "" or output.endswith("\n"), f"{example.command}: output does not end a line"
    if request.config.getoption("--update-golden"):
        rewrite(example, output)
        return
    shown = "".join(line + "\n" for line in example.shown)
    assert shown == output, f"{example.id}: `{example.command}` prints something else (pytest --update-golden)"


def test_examples_are_found() -> None:
    """Guards the block parser: the README's three examples and some in docs/ are run."""
    readme = [e for e in EXAMPLES if e.page.name == "README.md"]
    assert [e.command.split()[:2] for e in readme][:3] == [
        ["cnninspect", "summary"],
        ["cnninspect", "summary"],
        ["cnninspect", "fix-fc"],
    ]
    assert len(EXAMPLES) > len(readme)


def test_one_command_per_example() -> None:
    for example in EXAMPLES:
        assert not any(line.startswith(PROMPT) for line in example.shown), f"{example.id}: split it into two blocks"


def test_block_parser_on_a_sample() -> None:
    page = ["text", "```", "$ cnninspect rules CNN3", "out", "```", "````", "$ cnninspect x", "…", "````", "```yaml"]
    page += ["layers: []", "```"]
    assert code_blocks(page) == [(2, 4), (6, 8), (10, 11)]
