"""fix-fc: every fix found in one pass, written back changing only the values that must change.

Each corpus case gives a spec in some YAML style, the options, and the exact lines that must
change (old line → new line), worked out by hand. The file after ``--write`` must equal the
original with exactly those lines replaced, byte for byte; every fixed spec is then run
through plain PyTorch, which must accept it.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch
from conftest import cli, cli_error, load
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from cnninspect.errors import EditError
from cnninspect.fixes.files import write_atomic

TUTORIAL_K5 = Path(__file__).parent.parent / "configs" / "broken" / "tutorial_k5.yaml"


def pytorch_accepts(path: Path) -> None:
    """Build the spec with torch.nn directly (every size written out) and run it."""
    spec = load(path)
    model = nn.Sequential(*(getattr(nn, layer.type)(**layer.args) for layer in spec.layers)).eval()
    with torch.no_grad():
        model(torch.zeros(1, *spec.input))


# name: (spec text, options, [(old line, new line), ...])
CORPUS: dict[str, tuple[str, list[str], list[tuple[str, str]]]] = {
    "flow maps, the tutorial at kernel 5": (
        TUTORIAL_K5.read_text(),
        [],
        [
            (
                "  - {type: Linear, name: fc, in_features: 2048, out_features: 10}",
                "  - {type: Linear, name: fc, in_features: 1568, out_features: 10}",  # 32 * 7 * 7
            )
        ],
    ),
    "block maps, comments everywhere, odd indentation, a three-mistake cascade": (
        """\
%YAML 1.2
---
# a cascade: conv2, bn2 and fc are all wrong
name:   cascade      # model name
input: [3, 32, 32]

layers:
    # first block
    -   type: Conv2d     # 3 → 16
        name: conv1
        in_channels: 3
        out_channels: 16
        kernel_size: 3
        padding: 1

    -   type: Conv2d
        name: conv2
        in_channels: 8   # should be 16
        out_channels: 32
        kernel_size: 3
    -   type: BatchNorm2d
        name: bn2
        num_features:    64    # should be 32
    - ReLU
    - {type: MaxPool2d, name: pool, kernel_size: 2}
    - Flatten
    -   type: Linear
        # 32 channels × 15 × 15 after the pool
        name: fc
        in_features: 4096
        out_features: 10
...
# trailing comment
""",
        [],
        [
            ("        in_channels: 8   # should be 16", "        in_channels: 16   # should be 16"),
            ("        num_features:    64    # should be 32", "        num_features:    32    # should be 32"),
            # conv1 keeps 32×32 (padding 1), conv2 gives 30×30, the pool 15×15: 32 * 15 * 15
            ("        in_features: 4096", "        in_features: 7200"),
        ],
    ),
    "CRLF line endings, a byte-order mark, no final newline, a quoted input with --input": (
        "\ufeffname: crlf\r\n"
        'input: "3x32x32"\r\n'
        "layers:\r\n"
        "- {type: Conv2d, name: conv1, in_channels: 3, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}\r\n"
        "- Flatten\r\n"
        "- type: Linear\r\n"
        "  name: fc\r\n"
        "  in_features: 4096\r\n"
        "  out_features: 10",
        ["--input", "3x64x64"],
        [
            ('input: "3x32x32"\r\n', 'input: "3x64x64"\r\n'),
            ("  in_features: 4096\r\n", "  in_features: 16384\r\n"),  # 16 * 32 * 32
        ],
    ),
    "quoted strings keep their quotes; new keys go at the end of a block map": (
        """\
name: 'quoted'
input: '3x16x16'
layers:
  - type: "Conv2d"
    name: 'conv1'
    in_channels: 3
    out_channels: 8
    kernel_size: 3
    padding: 'same'   # keeps 16×16
  - type: 'Flatten'
  - {type: "Linear", name: "fc", in_features: 2048, out_features: 10}
""",
        ["--padding", "valid"],
        [
            ("    padding: 'same'   # keeps 16×16", "    padding: 'valid'   # keeps 16×16"),
            (
                '  - {type: "Linear", name: "fc", in_features: 2048, out_features: 10}',
                '  - {type: "Linear", name: "fc", in_features: 1568, out_features: 10}',  # 8 * 14 * 14
            ),
        ],
    ),
    "what-if overrides are written too: --kernel in flow maps, --stride added to a block map": (
        """\
name: overrides
input: [1, 28, 28]
layers:
  - type: Conv2d
    name: conv1
    in_channels: 1
    out_channels: 4
    kernel_size: [3, 3]   # square
  - {type: Flatten}
  - {type: Linear, name: fc, in_features: 2704, out_features: 10}
""",
        ["--kernel", "5", "--stride", "2"],
        [
            ("    kernel_size: [3, 3]   # square", "    kernel_size: 5   # square\n    stride: 2"),
            (
                "  - {type: Linear, name: fc, in_features: 2704, out_features: 10}",
                # (28 - 5) // 2 + 1 = 12: 4 * 12 * 12
                "  - {type: Linear, name: fc, in_features: 576, out_features: 10}",
            ),
        ],
    ),
    "one item of a list; a bare layer name becomes a mapping": (
        """\
name: lists
input: [1, 20, 20]
layers:
  - {type: Conv2d, name: conv1, in_channels: 1, out_channels: 2, kernel_size: [3, 3]}
  - ReLU
  - Flatten
  - {type: Linear, name: fc, in_features: 648, out_features: 2}
""",
        ["--set", "conv1.kernel_size=[5,3]", "--set", "1.inplace=true"],
        [
            (
                "  - {type: Conv2d, name: conv1, in_channels: 1, out_channels: 2, kernel_size: [3, 3]}",
                "  - {type: Conv2d, name: conv1, in_channels: 1, out_channels: 2, kernel_size: [5, 3]}",
            ),
            ("  - ReLU", "  - {type: ReLU, inplace: true}"),
            (
                "  - {type: Linear, name: fc, in_features: 648, out_features: 2}",  # 2 * 18 * 18
                "  - {type: Linear, name: fc, in_features: 576, out_features: 2}",  # 2 * 16 * 18
            ),
        ],
    ),
    "anchors and aliases: an alias that must change is replaced, its anchor stays": (
        """\
name: anchors
input: [3, 8, 8]
layers:
  - {type: Conv2d, name: conv1, in_channels: 3, out_channels: &width 16, kernel_size: 1}
  - {type: Conv2d, name: conv2, in_channels: *width, out_channels: 8, kernel_size: 1}
  - {type: Conv2d, name: conv3, in_channels: *width, out_channels: 4, kernel_size: 1}
  - Flatten
  - {type: Linear, name: fc, in_features: 256, out_features: 2}
""",
        [],
        [
            (
                "  - {type: Conv2d, name: conv3, in_channels: *width, out_channels: 4, kernel_size: 1}",
                "  - {type: Conv2d, name: conv3, in_channels: 8, out_channels: 4, kernel_size: 1}",
            ),
        ],
    ),
    "a merge key: the merged layer gets its own key": (
        """\
name: merge
input: [3, 32, 32]
layers:
  - &conv {type: Conv2d, name: conv1, in_channels: 3, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - {<<: *conv, name: conv2, in_channels: 16, out_channels: 32}
  - Flatten
  - {type: Linear, name: fc, in_features: 2048, out_features: 10}
""",
        ["--set", "conv2.kernel_size=5"],
        [
            (
                "  - {<<: *conv, name: conv2, in_channels: 16, out_channels: 32}",
                "  - {<<: *conv, name: conv2, in_channels: 16, out_channels: 32, kernel_size: 5}",
            ),
            (
                "  - {type: Linear, name: fc, in_features: 2048, out_features: 10}",
                "  - {type: Linear, name: fc, in_features: 1568, out_features: 10}",  # (16 + 2 - 5) // 2 + 1 = 7
            ),
        ],
    ),
    "a flow layers list, a missing input added before layers": (
        """\
{name: inline,
 layers: [{type: Conv2d, name: c, in_channels: 1, out_channels: 2, kernel_size: 3}, Flatten,
          {type: Linear, name: fc, in_features: 1, out_features: 1}]}
""",
        ["--input", "1x5x5"],
        [
            (
                " layers: [{type: Conv2d, name: c, in_channels: 1, out_channels: 2, kernel_size: 3}, Flatten,",
                " input: [1, 5, 5], layers: [{type: Conv2d, name: c, in_channels: 1, out_channels: 2, kernel_size: 3}, "
                "Flatten,",
            ),
            (
                "          {type: Linear, name: fc, in_features: 1, out_features: 1}]}",
                "          {type: Linear, name: fc, in_features: 18, out_features: 1}]}",  # 2 * 3 * 3
            ),
        ],
    ),
    "every norm kind: GroupNorm, InstanceNorm and LayerNorm": (
        """\
name: norms
input: [4, 6, 6]
layers:
  - {type: Conv2d, name: conv, in_channels: 4, out_channels: 8, kernel_size: 3}
  - {type: GroupNorm, name: gn, num_groups: 2, num_channels: 6}
  - {type: InstanceNorm2d, name: inorm, num_features: 4, affine: true}
  - {type: LayerNorm, name: ln, normalized_shape: [8, 5, 5]}
  - Flatten
  - {type: Linear, name: fc, in_features: 128, out_features: 3}
""",
        [],
        [
            (
                "  - {type: GroupNorm, name: gn, num_groups: 2, num_channels: 6}",
                "  - {type: GroupNorm, name: gn, num_groups: 2, num_channels: 8}",
            ),
            (
                "  - {type: InstanceNorm2d, name: inorm, num_features: 4, affine: true}",
                "  - {type: InstanceNorm2d, name: inorm, num_features: 8, affine: true}",
            ),
            (
                "  - {type: LayerNorm, name: ln, normalized_shape: [8, 5, 5]}",  # conv gives 8×4×4
                "  - {type: LayerNorm, name: ln, normalized_shape: [8, 4, 4]}",
            ),
            (
                "  - {type: Linear, name: fc, in_features: 128, out_features: 3}",  # 8 * 4 * 4 = 128 already
                "  - {type: Linear, name: fc, in_features: 128, out_features: 3}",
            ),
        ],
    ),
}


def expected_text(text: str, changes: list[tuple[str, str]]) -> str:
    for old, new in changes:
        assert text.count(old) == 1, f"corpus line is not unique: {old!r}"
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize("case", list(CORPUS))
def test_write_changes_exactly_the_expected_lines(tmp_path, case):
    text, options, changes = CORPUS[case]
    path = tmp_path / "spec.yaml"
    path.write_bytes(text.encode("utf-8"))
    path.chmod(0o640)

    diff = cli("fix-fc", str(path), *options, "--diff")
    lines = [line.rstrip("\r") for line in diff.stdout.split("\n")]
    real = [(old, new) for old, new in changes if old != new]
    assert [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")] == [
        old.rstrip("\r\n") for old, _ in real
    ]
    assert [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")] == [
        part.rstrip("\r") for _, new in real for part in new.rstrip("\r\n").split("\n")
    ]
    assert path.read_bytes() == text.encode("utf-8"), "--diff must not write"

    result = cli("fix-fc", str(path), *options, "--write")
    assert result.exit_code == 0, result.stderr
    assert path.read_bytes() == expected_text(text, changes).encode("utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert cli("summary", str(path), "--engine", "analytic").exit_code == 0
    pytorch_accepts(path)

    again = cli("fix-fc", str(path), "--write")
    assert again.exit_code == 0
    assert "nothing to fix" in again.stderr
    assert path.read_bytes() == expected_text(text, changes).encode("utf-8")
    assert cli("fix-fc", str(path), "--check").exit_code == 0


def test_kernel_5_on_the_built_in_model_prints_the_fc_fix_with_its_arithmetic():
    result = cli("fix-fc", "--kernel", "5")
    assert result.exit_code == 1
    # conv1: (32 + 2 - 5) // 2 + 1 = 15; conv2: (15 + 2 - 5) // 2 + 1 = 7
    assert result.stdout.endswith(f"fc: in_features 2048 → {32 * 7 * 7} (32 × 7 × 7 from conv2 → Flatten)\n")
    assert "--diff shows the change (the built-in model has no file to write)" in result.stderr
    refused = cli_error("fix-fc", "--kernel", "5", "--write")
    assert "cnninspect: error: <built-in> has no file to write" in refused.stderr


def test_nothing_to_fix_exits_0_and_says_an_omitted_in_features_is_inferred(tmp_path):
    assert cli("fix-fc").exit_code == 0
    path = tmp_path / "inferred.yaml"
    path.write_text(
        "input: [3, 8, 8]\nlayers: [{type: Conv2d, out_channels: 4, kernel_size: 3}, Flatten, "
        "{type: Linear, name: fc, out_features: 2}]\n"
    )
    result = cli("fix-fc", str(path), "--kernel", "5")
    assert result.exit_code == 0
    assert result.stdout == ""
    # (8 - 5) + 1 = 4: 4 channels × 4 × 4
    assert f"fc: in_features is left out, so it is inferred ({4 * 4 * 4}); nothing to fix" in result.stderr


def test_the_broken_k5_config_written_is_accepted_by_summary_with_exactly_one_changed_line(tmp_path):
    path = tmp_path / "k5.yaml"
    path.write_bytes(TUTORIAL_K5.read_bytes())
    assert cli("summary", str(path)).exit_code == 1
    result = cli("fix-fc", str(path), "--write")
    assert result.exit_code == 0
    assert f"wrote {path}" in result.stderr
    before, after = TUTORIAL_K5.read_text().splitlines(), path.read_text().splitlines()
    assert [(a, b) for a, b in zip(before, after) if a != b] == [
        (
            "  - {type: Linear, name: fc, in_features: 2048, out_features: 10}",
            "  - {type: Linear, name: fc, in_features: 1568, out_features: 10}",
        )
    ]
    assert cli("summary", str(path)).exit_code == 0


def test_check_exits_1_when_the_file_would_change_and_writes_nothing(tmp_path):
    path = tmp_path / "k5.yaml"
    path.write_bytes(TUTORIAL_K5.read_bytes())
    result = cli("fix-fc", str(path), "--check")
    assert result.exit_code == 1
    assert path.read_bytes() == TUTORIAL_K5.read_bytes()
    cli_error("fix-fc", str(path), "--check", "--write")
    # overrides count as a change too: the file would get kernel_size 3
    path.write_text(path.read_text().replace("2048", "1568"))
    assert cli("fix-fc", str(path), "--check").exit_code == 0
    assert cli("fix-fc", str(path), "--check", "--kernel", "3").exit_code == 1


def test_a_read_only_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "k5.yaml"
    path.write_bytes(TUTORIAL_K5.read_bytes())
    path.chmod(0o444)
    result = cli_error("fix-fc", str(path), "--write")
    assert result.stderr == f"cnninspect: error: {path}: is read-only; nothing was written\n"
    assert path.read_bytes() == TUTORIAL_K5.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert [p.name for p in tmp_path.iterdir()] == ["k5.yaml"]


def test_write_goes_through_a_symlink_and_keeps_it(tmp_path):
    real = tmp_path / "real.yaml"
    real.write_bytes(TUTORIAL_K5.read_bytes())
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    assert cli("fix-fc", str(link), "--write").exit_code == 0
    assert link.is_symlink()
    assert "in_features: 1568" in real.read_text()


def test_write_atomic_refuses_a_file_that_changed_since_it_was_read(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"new contents")
    with pytest.raises(EditError, match="changed while it was being fixed"):
        write_atomic(path, b"fixed", expected=b"old contents")
    assert path.read_bytes() == b"new contents"


def test_an_edit_through_a_shared_anchor_is_refused(tmp_path):
    path = tmp_path / "shared.yaml"
    text = (
        "input: [3, 8, 8]\nlayers:\n"
        "  - {type: Conv2d, name: conv1, out_channels: &w 16, kernel_size: 1}\n"
        "  - {type: Conv2d, name: conv2, in_channels: 16, out_channels: *w, kernel_size: 1}\n"
    )
    path.write_text(text)
    # conv1.out_channels is the anchor; changing it would change conv2.out_channels too
    result = cli_error("fix-fc", str(path), "--set", "conv1.out_channels=8", "--write")
    assert "would change more than intended" in result.stderr
    assert path.read_text() == text


def test_a_collapse_is_reported_with_remedies_and_never_written(tmp_path):
    path = tmp_path / "small.yaml"
    text = """\
input: [1, 8, 8]
layers:
  - {type: Conv2d, name: conv1, out_channels: 8, kernel_size: 3}
  - {type: MaxPool2d, name: pool1, kernel_size: 2}
  - {type: Conv2d, name: conv2, in_channels: 4, out_channels: 16, kernel_size: 5}
  - Flatten
  - {type: Linear, name: fc, in_features: 100, out_features: 10}
"""
    path.write_text(text)
    result = cli("fix-fc", str(path))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    # conv1: 8 - 3 + 1 = 6; pool1: 6 // 2 = 3 < conv2's kernel 5
    assert lines[0] == f"{path}:5:46: conv2: in_channels 4 → 8 (from pool1)"
    assert lines[1].startswith(f"{path}:5:5: CNN204 conv2: height and width 3 are too small")
    # conv2 needs 5 → pool1 needs 10 → conv1 needs 12; or kernel 3 (3 - 3 + 1 = 1); or padding 1 (3 + 2 - 5 + 1 = 1)
    assert lines[2] == (
        "  an input of at least 1×12×12 (--input 1x12x12); or conv2 kernel_size 3 (or less); "
        "or conv2 padding 1 (or more)"
    )
    assert lines[3].startswith(f"{path}:7:5: CNN201 fc: in_features is 100 but it receives 16")
    assert lines[4] == "  not fixed automatically: it depends on the size conv2 gives once its collapse is fixed"

    assert cli("fix-fc", str(path), "--write").exit_code == 1
    assert path.read_text() == text.replace("in_channels: 4", "in_channels: 8")
    # with the suggested input, the fc fix follows: conv2 gives 16 × 1 × 1
    assert cli("fix-fc", str(path), "--input", "1x12x12", "--write").exit_code == 0
    assert "input: [1, 12, 12]" in path.read_text()
    assert "in_features: 16," in path.read_text()


def test_a_fix_the_groups_forbid_is_left_to_a_person():
    result = cli("fix-fc", "--layers", "Conv2d(3,15,3) Conv2d(16,4,3,groups=2)")
    assert result.exit_code == 1
    assert "CNN202 layer 1: in_channels is 16 but it receives 15" in result.stdout
    assert "not fixed automatically: in_channels (15) must be divisible by groups (2)" in result.stdout


def test_a_flag_spec_gets_its_own_string_back_corrected():
    text = "conv1=Conv2d(3,16,3,stride=2,padding=1) ReLU Flatten() Linear(4096, 10)"
    result = cli("fix-fc", "--layers", text, "--kernel", "5", "--set", "1.inplace=true")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        # (32 + 2 - 5) // 2 + 1 = 15: 16 * 15 * 15
        f"--layers:1:{text.index('Linear') + 1}: layer 3: in_features 4096 → 3600 (16 × 15 × 15 from conv1 → Flatten)",
        "--layers 'conv1=Conv2d(3,16,5,stride=2,padding=1) ReLU(inplace=True) Flatten() Linear(3600, 10)'",
    ]
    cli_error("fix-fc", "--layers", text, "--write")


def test_the_torch_engine_is_used_for_layers_only_torch_knows():
    # PixelShuffle(2) turns 16 channels into 4
    result = cli("fix-fc", "--layers", "Conv2d(3,16,3) PixelShuffle(2) Conv2d(8,4,3)")
    assert result.exit_code == 1
    assert "layer 2: in_channels 8 → 4 (from layer 1)" in result.stdout


def test_fixes_leave_torch_unimported_for_catalog_layers(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cnninspect.cli import app\n"
        "assert CliRunner().invoke(app, ['fix-fc', '--kernel', '5']).exit_code == 1\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "NO_COLOR": "1"})


@st.composite
def careless_specs(draw):
    """Conv/BatchNorm/pool stacks and Linear heads whose input sizes are written at random."""
    channels = st.integers(1, 8)
    layers = []
    for _ in range(draw(st.integers(1, 2))):
        layers.append(
            {
                "type": "Conv2d",
                "in_channels": draw(channels),
                "out_channels": draw(channels),
                "kernel_size": draw(st.integers(1, 3)),
                "padding": draw(st.integers(0, 1)),
            }
        )
        if draw(st.booleans()):
            layers.append({"type": "BatchNorm2d", "num_features": draw(channels)})
        if draw(st.booleans()):
            layers.append({"type": "GroupNorm", "num_groups": 1, "num_channels": draw(channels)})
        layers += ["ReLU", {"type": "MaxPool2d", "kernel_size": 2}]
    layers.append("Flatten")
    for _ in range(draw(st.integers(1, 2))):
        layers.append({"type": "Linear", "in_features": draw(st.integers(1, 600)), "out_features": draw(channels)})
        if draw(st.booleans()):
            layers.append({"type": "BatchNorm1d", "num_features": draw(channels)})
    return {"input": [draw(st.integers(1, 4)), 16, 16], "layers": layers}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=careless_specs())
def test_any_careless_spec_is_fixed_in_one_write_and_pytorch_runs_it(tmp_path, document):
    path = tmp_path / "careless.yaml"
    path.write_text(json.dumps(document, indent=1))  # JSON is YAML too: a style of its own
    result = cli("fix-fc", str(path), "--write")
    assert result.exit_code == 0, result.stdout + result.stderr
    pytorch_accepts(path)
    assert cli("fix-fc", str(path), "--check").exit_code == 0


NO_FLATTEN = """\
input: [3, 32, 32]
layers:
  - {type: Conv2d, in_channels: 3, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - ReLU
  - {type: Linear, name: fc, in_features: IN, out_features: 10}
"""


@pytest.mark.parametrize(
    ("written", "remedy"),
    [
        # conv: 16 × (32 + 2·1 − 3) // 2 + 1 = 16 × 16 × 16 = 4096 features once flattened
        (4096, "add Flatten before it: flattened, it receives 4,096, as written"),
        (2048, "add Flatten before it, and set in_features: 4096 (what it receives flattened)"),
    ],
)
def test_a_missing_flatten_is_said_and_never_fixed_by_the_width_of_a_row(tmp_path, written, remedy):
    spec = tmp_path / "noflat.yaml"
    text = NO_FLATTEN.replace("IN", str(written))
    spec.write_text(text)
    lint = cli("lint", str(spec), "--format", "concise")
    assert lint.stdout.splitlines()[0] == (
        f"{spec}:5:5: CNN201 fc: in_features is {written} but it gets the 4-d feature map (1, 16, 16, 16) "
        f"unflattened, and a Linear reads only its last dimension (16 values); {remedy}"
    )
    fixed = cli("fix-fc", str(spec), "--write")
    assert fixed.exception is None or isinstance(fixed.exception, SystemExit)
    assert fixed.exit_code == 1 and spec.read_text() == text  # in_features: 16 would run, but wrongly


def test_a_linear_on_tokens_is_fixed_to_their_width(tmp_path):
    # (tokens, dim) is no feature map: a Linear there reads dim = 64 features, as a transformer's does
    spec = tmp_path / "tokens.yaml"
    spec.write_text("input: [8, 64]\nlayers:\n  - {type: Linear, name: fc, in_features: 32, out_features: 10}\n")
    result = cli("fix-fc", str(spec), "--write")
    assert result.exit_code == 0
    assert "in_features: 64" in spec.read_text()
