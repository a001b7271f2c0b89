"""The summary table at every width: nothing truncated, every finding marked, folded runs, and the
formats' registry."""

from __future__ import annotations

import re

import pytest
from conftest import cli

from cnninspect.formats.summary import RENDERERS, SummaryFormat

# The kernel-5 tutorial, worked out by hand: (32 + 2·1 − 5)//2 + 1 = 15, (15 + 2 − 5)//2 + 1 = 7.
K5_ROWS = [
    ("0", "conv1", "15×15×16"),
    ("1", "1", "15×15×16"),
    ("2", "conv2", "7×7×32"),
    ("3", "3", "7×7×32"),
    ("4", "4", str(32 * 7 * 7)),
    ("5", "fc", "10"),
]


def table_lines(stdout: str) -> list[str]:
    """The header, the rule and the rows: from the line after the title to the last row."""
    lines = stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line) == {"─"})
    end = next(i for i in range(rule + 1, len(lines)) if not re.match(r"\s*\d", lines[i]))
    return lines[1:end]


@pytest.mark.parametrize("width", [60, 80, 100, 140])
def test_every_name_shape_and_finding_code_appears_whole(width):
    result = cli("summary", "--kernel", "5", columns=width)
    assert result.exit_code == 1
    rows = table_lines(result.stdout)[2:]
    assert len(rows) == len(K5_ROWS)
    for line, (index, name, output) in zip(rows, K5_ROWS):
        cells = line.split()
        assert cells[:2] == [index, name], line
        assert output in cells, line
        assert "…" not in line
    assert rows[-1].endswith("✗ CNN201")
    assert not any("CNN" in line for line in rows[:-1])
    finding = "<built-in>:10:5: CNN201 fc: in_features is 2048 but it receives 1568 (32×7×7 from conv2)"
    assert any(line.startswith(finding) for line in result.stdout.splitlines())


def test_at_80_columns_the_default_table_fits_with_every_default_column():
    result = cli("summary", "--kernel", "5", columns=80)
    lines = table_lines(result.stdout)
    assert max(len(line) for line in lines) <= 80
    assert lines[0].split() == ["#", "Layer", "Type", "Filters", "S/P", "Output", "Params", "Mult-adds", "Finding"]
    assert "hidden" not in result.stdout
    # Params holds the total only; the split stays in the footer (and --explain, json).
    conv1 = lines[2].split()
    assert conv1[conv1.index("15×15×16") + 1] == f"{16 * 5 * 5 * 3 + 16:,}"
    assert "Total params: 34,538 (weights 34,480 + biases 58)" in result.stdout


def test_a_narrow_terminal_drops_columns_and_says_which():
    result = cli("summary", "--kernel", "5", columns=60)
    lines = table_lines(result.stdout)
    assert max(len(line) for line in lines) <= 60
    assert "S/P" not in lines[0] and "Type" not in lines[0]
    assert "Params" in lines[0] and "Mult-adds" in lines[0]  # the numbers the table is for go last
    assert "Hidden at 60 columns: Type, S/P (see --columns)" in result.stdout
    wide = cli("summary", "--kernel", "5", columns=140)
    assert "Mult-adds" in table_lines(wide.stdout)[0] and "hidden" not in wide.stdout


def test_explicit_columns_are_never_dropped():
    result = cli("summary", "--columns", "layer,output,params,mult-adds,memory", columns=40)
    assert table_lines(result.stdout)[0].split() == ["Layer", "Output", "Params", "Mult-adds", "Memory"]


def test_a_finding_mark_survives_no_color_and_pipes_and_warnings_are_marked_apart(tmp_path):
    spec = tmp_path / "w.yaml"
    spec.write_text(
        "input: [3, 31, 31]\nlayers:\n"
        "  - {type: Conv2d, name: conv, out_channels: 4, kernel_size: 3, padding: 1}\n"
        "  - {type: MaxPool2d, name: pool, kernel_size: 2}\n"
    )
    result = cli("summary", str(spec), "--engine", "analytic")
    assert result.exit_code == 0  # a warning only
    pool = next(line for line in table_lines(result.stdout) if line.split()[1:2] == ["pool"])
    assert pool.endswith("! CNN302")
    assert "\x1b[" not in result.stdout


def test_runs_of_identical_unnamed_rows_fold_into_one(tmp_path):
    spec = tmp_path / "relus.yaml"
    spec.write_text(
        "input: [3, 8, 8]\nlayers:\n  - {type: Conv2d, name: conv, out_channels: 4, kernel_size: 3}\n"
        + "  - ReLU\n" * 2000
        + "  - Flatten\n"
    )
    result = cli("summary", str(spec), "--engine", "analytic")
    rows = table_lines(result.stdout)[2:]
    assert len(rows) == 3
    assert rows[1].split()[:3] == ["1–2000", "×", "2,000"]
    assert rows[1].split()[3:5] == ["ReLU", "6×6×4"]  # 8 − 3 + 1 = 6
    document = cli("summary", str(spec), "--engine", "analytic", "--format", "json").stdout
    assert document.count('"type": "ReLU"') == 2000  # machine formats keep every row


def test_two_equal_rows_are_not_folded():
    result = cli("summary", "--layers", "ReLU() ReLU()", "--input", "3x4x4", "--engine", "analytic")
    assert [line.split()[:2] for line in table_lines(result.stdout)[2:]] == [["0", "ReLU"], ["1", "ReLU"]]


def test_a_darknet_table_shows_darknets_index_once():
    result = cli("summary", "configs/darknet/yolov3-tiny.cfg", "--engine", "analytic", columns=200)
    lines = result.stdout.splitlines()
    assert lines[1].split()[0] == "Layer"  # no # column beside darknet's own numbers
    # darknet's [route] at section 16 and [yolo] at 23 are layers of their own: one number each
    assert [line.split()[:2] for line in lines if line.split()[1:2] == ["Identity"]] == [
        ["16", "Identity"],
        ["17", "Identity"],
        ["23", "Identity"],
    ]
    asked = cli("summary", "configs/darknet/yolov3-tiny.cfg", "--engine", "analytic", "--columns", "index,layer,type")
    assert table_lines(asked.stdout)[0].split()[:2] == ["#", "Layer"]  # asked for: shown


def test_a_spec_with_its_own_names_keeps_the_row_number():
    result = cli("summary", "configs/tutorial.yaml", "--engine", "analytic")
    assert table_lines(result.stdout)[0].split()[:2] == ["#", "Layer"]
    assert table_lines(result.stdout)[3].split()[:3] == ["1", "1", "ReLU"]  # unnamed: its index, in both


def test_a_folded_run_says_where_it_starts_when_there_is_no_row_number():
    result = cli(
        "summary", "--layers", "ReLU() Tanh() Tanh() Tanh() ReLU()", "--input", "3x4x4", "--engine", "analytic"
    )
    assert [line.split()[:3] for line in table_lines(result.stdout)[2:]] == [
        ["0", "ReLU", "4×4×3"],
        ["1…", "×", "3"],
        ["4", "ReLU", "4×4×3"],
    ]


def test_every_summary_format_has_a_renderer():
    assert set(RENDERERS) == set(SummaryFormat)


def test_markdown_escapes_what_github_would_eat():
    result = cli("summary", "--format", "markdown", "--kernel", "5")
    assert "&lt;built-in&gt;:10:5: CNN201" in result.stdout
    assert "<built-in>" not in result.stdout
    assert "| 5 | fc | Linear |" in result.stdout


def test_names_with_control_characters_are_shown_escaped(tmp_path):
    spec = tmp_path / "evil.yaml"
    spec.write_text(
        'input: [3, 8, 8]\nlayers:\n  - {type: Conv2d, name: "a\\nb\\u001b[31mc", out_channels: 4, kernel_size: 3}\n'
        "  - Flatten\n  - {type: Linear, in_features: 5, out_features: 2}\n"
    )
    result = cli("summary", str(spec), "--engine", "analytic")
    assert "\x1b" not in result.stdout
    assert "a\\nb\\x1b[31mc" in result.stdout
    assert not any(line.startswith("b") for line in result.stdout.splitlines())
