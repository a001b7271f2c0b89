"""Summary columns: mult-adds (against torchinfo), activation memory, receptive field and jump,
the volume bar, --columns and --save."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import torch
import torchinfo
from conftest import CONFIGS, builtin, cli, cli_error, load, parse
from test_configs import REFERENCE
from torch import nn

from cnninspect.engines.analytic import infer_shapes
from cnninspect.formats.summary import COLUMNS, DEFAULT_COLUMNS, summary_rows, totals
from cnninspect.metrics import mult_adds, receptive_fields


def spec_of(text: str):
    return infer_shapes(parse(text, "t.yaml"))


# --- mult-adds ------------------------------------------------------------------------------


def test_tutorial_mult_adds_by_hand():
    trace = infer_shapes(builtin())
    counts = [mult_adds(r) for r in trace.records]
    # conv1: 16×16 positions × (16 × 3×3×3 weights + 16 biases); conv2: 8×8 × (32 × 3×3×16 + 32); fc: 2048 × 10 + 10
    assert counts == [16 * 16 * (432 + 16), 0, 8 * 8 * (4_608 + 32), 0, 0, 20_480 + 10]
    assert totals(trace).mult_adds == 432_138  # 425,984 MACs without the bias adds, + 6,154 bias adds


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_conv_and_linear_mult_adds_equal_torchinfos(name):
    sample, build = REFERENCE[name]
    with torch.device("meta"):
        model = build()
    info = torchinfo.summary(model, input_size=(1, *sample), device="meta", verbose=0)
    leaves = info.summary_list[1:]  # [0] is the Sequential itself
    trace = infer_shapes(load(CONFIGS / name))
    assert [leaf.class_name for leaf in leaves] == [r.layer.type for r in trace.records]
    assert [mult_adds(r) for r in trace.records] == [leaf.macs for leaf in leaves]
    assert totals(trace).mult_adds == info.total_mult_adds


def test_where_torchinfo_differs_batchnorm_and_conv_transpose():
    trace = spec_of(
        "input: [4, 8, 8]\nlayers:\n"
        "  - {type: BatchNorm2d, num_features: 4}\n"
        "  - {type: ConvTranspose2d, in_channels: 4, out_channels: 2, kernel_size: 2, stride: 2}\n"
    )
    with torch.device("meta"):
        model = nn.Sequential(nn.BatchNorm2d(4), nn.ConvTranspose2d(4, 2, 2, stride=2))
    info = torchinfo.summary(model, input_size=(1, 4, 8, 8), device="meta", verbose=0).summary_list[1:]
    norm, transpose = trace.records
    # BatchNorm: one multiply-add per output element; torchinfo counts its 2·C parameters once
    assert mult_adds(norm) == 4 * 8 * 8 and info[0].macs == 2 * 4
    # ConvTranspose: each of the 8×8 input positions scatters 4 × 2 × 2×2 products, plus 2 biases
    # on each of the 16×16 outputs; torchinfo multiplies all parameters by the output positions
    assert mult_adds(transpose) == 8 * 8 * (4 * 2 * 2 * 2) + 16 * 16 * 2
    assert info[1].macs == 16 * 16 * (4 * 2 * 2 * 2 + 2)


# --- receptive field, memory, volume -------------------------------------------------------


def test_receptive_field_and_jump_by_hand():
    reach = receptive_fields(infer_shapes(builtin()))
    # conv1 (k3 s2): 3 pixels, jump 2; conv2 (k3 s2): 3 + (3 − 1)·2 = 7, jump 4; Flatten ends it
    assert [r and (r[0][0], r[1][0]) for r in reach] == [(3, 2), (3, 2), (7, 4), (7, 4), None, None]
    alexnet = receptive_fields(infer_shapes(load(CONFIGS / "alexnet.yaml")))
    # conv 11/4 → 11, 4; pool 3/2 → 11 + 2·4 = 19, 8; conv 5/1 → 19 + 4·8 = 51, 8
    assert [(r[0][0], r[1][0]) for r in alexnet[:4] if r] == [(11, 4), (11, 4), (19, 8), (51, 8)]


def test_dilation_transposed_convolution_and_upsampling_in_the_reach():
    reach = receptive_fields(
        spec_of(
            "input: [1, 16, 16]\nlayers:\n"
            "  - {type: Conv2d, out_channels: 1, kernel_size: 3, dilation: 2, stride: 2}\n"
            "  - {type: ConvTranspose2d, out_channels: 1, kernel_size: 2, stride: 2}\n"
            "  - {type: Upsample, scale_factor: 2}\n"
        )
    )
    # 1 + 2·(3 − 1)·1 = 5, jump 2; the transpose halves the jump to 1 and adds (2 − 1)·1; upsampling halves it
    assert [(r[0][0], r[1][0]) for r in reach if r] == [(5, 2), (6, 1), (6, Fraction(1, 2))]


def test_memory_and_volume_columns():
    trace = infer_shapes(builtin())
    rows = summary_rows(trace, [])
    assert rows[0].activation_bytes == 16 * 16 * 16 * 4
    largest = max(range(len(rows)), key=lambda i: rows[i].activation_bytes)
    assert COLUMNS["volume"].cell(rows[largest]) == "█" * 10
    # conv2's 8×8×32 = 2,048 values are half of conv1's 16×16×16 = 4,096: half of the 10 cells
    assert COLUMNS["volume"].cell(rows[2]) == "█" * 5


# --- choosing and saving ----------------------------------------------------------------------


def test_columns_option():
    only = cli("summary", "--columns", "layer,output")
    header = next(line for line in only.stdout.splitlines() if "Layer" in line)
    assert "Output" in header and "Params" not in header and "Type" not in header
    more = cli("summary", "--columns", "+rf,+memory", columns=160)
    header = next(line for line in more.stdout.splitlines() if "Layer" in line)
    assert all(title in header for title in ("Params", "Mult-adds", "RF/jump", "Memory"))
    bad = cli_error("summary", "--columns", "layer,flops")
    assert "no column 'flops'" in bad.stderr
    assert set(DEFAULT_COLUMNS) <= set(COLUMNS)


def test_golden_all_columns(golden):
    golden("tutorial_all_columns.table.out", cli("summary", "--columns", "all", columns=160).stdout)


@pytest.mark.parametrize(("suffix", "marker"), [(".svg", "<svg"), (".html", "<html")])
def test_save_keeps_the_rendered_table(tmp_path, suffix, marker):
    target = tmp_path / f"table{suffix}"
    result = cli("summary", "--save", str(target), "--columns", "+volume", columns=140)
    assert result.exit_code == 0
    text = target.read_text()
    assert marker in text.lower() and "conv1" in text and "Mult" in text
    assert f"saved {target}" in result.stderr


def test_save_refuses_other_files_and_machine_formats(tmp_path):
    cli_error("summary", "--save", str(tmp_path / "t.png"))
    cli_error("summary", "--save", str(tmp_path / "t.svg"), "--format", "json")
    assert not list(Path(tmp_path).iterdir())
