"""Long lines on a terminal break at word boundaries with a hanging indent; piped, every finding
stays one line."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT, cli

from cnninspect.formats.wrap import hang

TERMINAL = {"TTY_COMPATIBLE": "1", "TERM": "xterm", "NO_COLOR": "1"}
"""A terminal as Rich and cnninspect detect it (TERM=dumb would make Rich assume 80 columns)."""
ANSI = re.compile(r"\x1b\[[0-9;]*m")
K5_FINDING = (
    "<built-in>:10:5: CNN201 fc: in_features is 2048 but it receives 1568 (32×7×7 from conv2); set in_features: 1568"
)


def on_terminal(*args: str, columns: int) -> str:
    result = cli(*args, columns=columns, env=TERMINAL)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return ANSI.sub("", result.stdout + result.stderr)


def rejoined(lines: list[str]) -> str:
    """Broken lines read back as one: the indent dropped, one space between the pieces."""
    return " ".join(line.strip() for line in lines)


def test_hang_breaks_at_spaces_and_indents_every_later_line():
    assert hang("aaa bbb ccc", 11, 2) == "aaa bbb ccc"  # fits: unchanged
    assert hang("aaa bbb ccc ddd", 8, 2) == "aaa bbb\n  ccc\n  ddd"  # 2 + 3 + 1 + 3 = 9 > 8
    assert hang("  lead bbb", 8, 4) == "  lead\n    bbb"  # the first line keeps its own indent
    assert hang("short averyveryverylongword end", 10, 2) == "short\n  averyveryverylongword\n  end"


def test_an_indent_that_leaves_too_little_room_falls_back_to_four():
    head = "x" * 40 + ":1:1: CNN201"
    line = head + " " + " ".join(["word"] * 20)
    broken = hang(line, 60, len(head) + 1).split("\n")
    assert broken[0].startswith(head)
    assert all(piece.startswith("    word") for piece in broken[1:])
    assert all(len(piece) <= 60 for piece in broken)


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_summary_finding_and_footer_fit_with_the_head_on_the_first_line(columns):
    out = on_terminal("summary", "--kernel", "5", columns=columns)
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("<built-in>:10:5: CNN201 fc:"))
    block = [lines[start]] + [line for line in lines[start + 1 :] if line.startswith(" ")]
    assert rejoined(block) == K5_FINDING
    assert all(len(line) <= columns for line in block)
    assert len(block) == (1 if len(K5_FINDING) <= columns else 2 if columns == 80 else 3)
    indent = len("<built-in>:10:5: CNN201 ")
    assert all(line.startswith(" " * indent) and line[indent] != " " for line in block[1:])
    footer = [line for line in lines if line.startswith(("Total params", "Memory", "Mult-adds: 9"))]
    assert footer and all(len(line) <= columns for line in footer)


def test_piped_every_finding_stays_one_line():
    result = cli("summary", "--kernel", "5", columns=60)
    assert K5_FINDING in result.stdout.splitlines()
    concise = cli("lint", f"{ROOT}/configs/broken", "--format", "concise", columns=60).stdout.splitlines()
    found = json.loads(cli("lint", f"{ROOT}/configs/broken", "--format", "json").stdout)["findings"]
    assert len(concise) == len(found) >= 8 and all(re.match(r".*:\d+:\d+: CNN\d{3} ", line) for line in concise)


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_lint_concise_breaks_under_the_message(columns):
    piped = cli("lint", f"{ROOT}/configs/broken", "--format", "concise").stdout.splitlines()
    out = on_terminal("lint", f"{ROOT}/configs/broken", "--format", "concise", columns=columns).splitlines()
    findings: list[list[str]] = []
    for line in out:
        if line.startswith(" "):
            findings[-1].append(line)
        elif re.match(r".*:\d+:\d+: CNN\d{3}", line):
            findings.append([line])
    assert [rejoined(block) for block in findings] == piped
    for block, line in zip(findings, piped):
        head = re.match(r".*?:\d+:\d+: CNN\d{3}", line)
        assert head is not None and block[0].startswith(head.group())
        assert len(block[0]) <= columns or block[0] == head.group()  # a head longer than the line stays whole
        assert all(len(piece) <= columns or " " not in piece.strip() for piece in block[1:])


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_lint_full_messages_break_under_themselves(columns):
    out = on_terminal("lint", f"{ROOT}/configs/broken", columns=columns)
    lines = [line for line in out.splitlines() if "fix: cnninspect fix-fc" not in line]
    assert "CNN207" in out and "(add-shape-mismatch)" in out
    assert all(len(line) <= columns for line in lines if not line.startswith("configs") and "/" not in line)


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_rules_fit_the_terminal(columns):
    listing = on_terminal("rules", columns=columns).splitlines()
    assert all(len(line) <= columns for line in listing)
    rule = listing[1]
    assert set(rule) == {"─"} and len(rule) == max(len(line) for line in listing)
    piped = cli("rules").stdout.splitlines()
    assert len(listing) >= len(piped)
    codes = [line.split()[0] for line in listing if line.startswith("CNN")]
    assert codes == [line.split()[0] for line in piped if line.startswith("CNN")]
    explained = on_terminal("rules", "CNN207", columns=columns).splitlines()
    prose = explained[: explained.index("Failing:")]
    assert all(len(line) <= columns for line in prose)


def test_rules_fits_80_columns():
    assert max(len(line) for line in on_terminal("rules", columns=80).splitlines()) <= 80


@pytest.mark.parametrize("columns", [60, 80])
def test_fix_fc_lines_break_under_the_fix(columns):
    spec = f"{ROOT}/configs/broken/tutorial_k5.yaml"
    fix = next(line for line in cli("fix-fc", spec).stdout.splitlines() if "in_features 2048 → 1568" in line)
    head = re.match(r".*?:\d+:\d+: ", fix)
    assert head is not None
    out = on_terminal("fix-fc", spec, columns=columns).splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith(head.group().rstrip()))
    block = [out[start]]
    for line in out[start + 1 :]:
        if not line.startswith(" "):
            break
        block.append(line)
    assert len(block) > 1 and rejoined(block) == fix
    assert all(len(line) <= columns for line in block[1:])


def test_a_fix_command_too_long_for_its_indent_moves_left_and_stays_whole(monkeypatch):
    # "  46:5  error  CNN201  " puts the message at column 24: 24 + 70 > 80, so the command moves left
    monkeypatch.chdir(ROOT)
    path = "configs/broken/resnet18_resnet50_head.yaml"
    lines = on_terminal("lint", path, columns=80).splitlines()
    assert f"    fix: cnninspect fix-fc {path} --write" in lines
    assert all(len(line) <= 80 for line in lines)


def test_a_long_title_and_lints_stderr_lines_break_at_words(tmp_path):
    spec = tmp_path / "named.yaml"
    words = "a network whose name runs on for many words, as a title would with every option said"
    spec.write_text(f"name: {words}\ninput: [3, 8, 8]\nlayers:\n  - ReLU\n")
    piped = cli("summary", str(spec)).stdout.splitlines()[0]
    shown = on_terminal("summary", str(spec), columns=80).splitlines()
    assert len(piped) > 80 and piped.startswith(words)
    title = [shown[0]] + [line for line in shown[1:3] if line.startswith("  ") and "Layer" not in line]
    assert rejoined(title) == piped and all(len(line) <= 80 for line in title)
    (tmp_path / "workflow.yaml").write_text("on: push\n")
    lines = on_terminal("lint", str(tmp_path / "workflow.yaml"), columns=60).splitlines()
    assert lines[0].startswith("skipped 1 file that is not a model spec") and all(len(line) <= 60 for line in lines)
    assert rejoined(lines[:-1]).endswith("no torch.nn _target_, no [net])")


@pytest.mark.parametrize("columns", [60, 80])
def test_a_rules_example_breaks_at_its_commas_and_reads_the_same(columns):
    from cnninspect.errors import YamlError
    from cnninspect.rules import RULES
    from cnninspect.spec.yamldoc import read_document

    for rule in RULES:
        shown = on_terminal("rules", rule.code, columns=columns).splitlines()
        for title, example in (("Failing", rule.failing), ("Passing", rule.passing)):
            start = next(i for i, line in enumerate(shown) if line.startswith(title)) + 1
            end = next((i for i in range(start, len(shown)) if not shown[i].startswith("    ")), len(shown))
            text = "\n".join(line[4:] for line in shown[start:end]) + "\n"
            try:
                written = read_document(example.spec, "written")
            except YamlError:  # CNN101's broken YAML, and darknet's .cfg: shown as written
                written = None
            if written is None or example.suffix == ".cfg":
                assert text == example.spec
                continue
            document = read_document(text, "shown")
            assert document.data(document.root) == written.data(written.root), rule.code
            breakable = [line for line in shown[start:end] if ", " in line.split("{", 1)[-1]]
            assert all(len(line) <= columns for line in breakable), rule.code
