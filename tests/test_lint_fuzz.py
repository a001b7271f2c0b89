"""lint against random input: random bytes, and the reference configs of every format mutated in
ways that keep their structure (a number changed, a line dropped, doubled or moved, a bracket or
quote dropped in). Whatever it reads, lint ends with 0, 1 or 2, never an internal error or an
escaped exception, and within the deadline per example."""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path

from conftest import CONFIGS, assert_no_internal_error, cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

SOURCES = sorted([*CONFIGS.glob("*.yaml"), *(CONFIGS / "darknet").glob("*.cfg"), *(CONFIGS / "hydra").glob("*.yaml")])
"""The reference configs: own YAML specs, darknet .cfg and Hydra."""
NUMBERS = st.sampled_from(["0", "1", "-1", "3", "7", "2147483648", "99999999999999999999", "1.5", "x", ""])
SIGNS = st.sampled_from([*"{}[]:-,'\"$&*!#%=\t\n", "${", "$a", "  ", "\ufeff", "\x00", "\u202e"])
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")),  # FUZZ_EXAMPLES=2000 for a long hunt
    deadline=timedelta(seconds=10),  # one lint of one file; the largest reference config takes well under 1 s
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    """A reference config with one to four structure-preserving mutations, and its file suffix."""
    source = draw(st.sampled_from(SOURCES))
    lines = source.read_text().splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["number", "drop", "double", "move", "sign", "truncate"]))
        if kind == "number":
            digits = [i for i, ch in enumerate(lines[at]) if ch.isdigit()]
            if digits:
                i = draw(st.sampled_from(digits))
                end = i
                while end < len(lines[at]) and lines[at][end].isdigit():
                    end += 1
                lines[at] = lines[at][:i] + draw(NUMBERS) + lines[at][end:]
        elif kind == "drop" and len(lines) > 1:
            del lines[at]
        elif kind == "double":
            lines.insert(at, lines[at])
        elif kind == "move":
            lines.insert(draw(st.integers(0, len(lines) - 1)), lines.pop(at))
        elif kind == "sign":
            i = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:i] + draw(SIGNS) + lines[at][i:]
        elif kind == "truncate":
            lines = lines[: at + 1]
    return "".join(lines), source.suffix


def lint_text(data: bytes, suffix: str) -> None:
    """Lint ``data`` as a file with ``suffix``: any exit but an internal error."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        for fmt in ("concise", "json"):
            result = cli("lint", str(path), "--format", fmt)
            assert_no_internal_error(result)
            assert "internal error" not in result.stdout
            assert result.exit_code in (0, 1, 2), (result.exit_code, result.stdout, result.stderr)


@FUZZ
@given(mutated())
@example(("[net]\n", ".cfg"))  # found by this test: a .cfg with no layers was an IndexError
def test_lint_survives_mutated_reference_configs(case: tuple[str, str]) -> None:
    text, suffix = case
    lint_text(text.encode("utf-8", "surrogatepass"), suffix)


@FUZZ
@given(st.binary(max_size=2_000), st.sampled_from([".yaml", ".cfg"]))
def test_lint_survives_random_bytes(data: bytes, suffix: str) -> None:
    lint_text(data, suffix)


@FUZZ
@given(st.sampled_from(SOURCES), st.binary(min_size=1, max_size=40), st.floats(0, 1))
def test_lint_survives_random_bytes_inside_a_reference_config(source: Path, noise: bytes, where: float) -> None:
    raw = source.read_bytes()
    at = int(len(raw) * where)
    lint_text(raw[:at] + noise + raw[at:], source.suffix)


def test_the_fuzzer_reads_every_format():
    suffixes = {path.suffix for path in SOURCES}
    assert suffixes == {".yaml", ".cfg"} and any("hydra" in path.parts for path in SOURCES)
    for path in SOURCES:  # unmutated, every reference config is clean
        assert cli("lint", str(path)).exit_code == 0, path
