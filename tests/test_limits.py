"""Sizes at the edge of what PyTorch can hold, a Concat joining a dimension that does not exist, the
device a torch trace chooses, and how long a finding's line can get: a located line or a finding,
never an internal error, and no trace that computes for minutes."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import CONFIGS, assert_no_internal_error, cli, parse

from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.torch import CPU_TRACE_LIMIT, TENSOR_LIMIT, choose_device, trace_spec
from cnninspect.metrics import mult_adds

BIG = 2147483647
"""2³¹ − 1, the largest size a spec may write."""
BIG_INPUT_BYTES = 3 * BIG * BIG * 4
"""The input 3×(2³¹ − 1)×(2³¹ − 1) in float32: about 5.5 × 10¹⁹ bytes, past 2⁶³ − 1 ≈ 9.2 × 10¹⁸."""
ONE_CONV = "  - {type: Conv2d, name: conv, out_channels: 4, kernel_size: 3}\n"


# --- a tensor larger than PyTorch can hold ------------------------------------------------------


def test_the_limit_is_pytorchs_own():
    # 2⁶¹ − 1 float32 values are 2⁶³ − 4 bytes, which a meta tensor holds; 2⁶¹ values are 2⁶³ bytes.
    assert torch.empty((2**61 - 1,), device="meta").numel() * 4 <= TENSOR_LIMIT
    with pytest.raises(RuntimeError):
        torch.empty((2**61,), device="meta")
    assert TENSOR_LIMIT < 2**61 * 4


def _refused(result, place: str, size: int) -> str:
    """The one line of a tensor too large: where, how many bytes, and what to do."""
    assert_no_internal_error(result)
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"cnninspect: error: {place}")
    assert f"{size:,} bytes, past the 2⁶³ − 1 bytes a PyTorch tensor can hold" in line
    assert "use --engine analytic" in line
    return line


def test_an_input_too_large_for_pytorch_is_one_line_at_the_input(tmp_path):
    spec = tmp_path / "big.yaml"
    spec.write_text(f"input: [3, {BIG}, {BIG}]\nlayers:\n{ONE_CONV}")
    _refused(cli("summary", str(spec)), f"{spec}:1:8: the input 3×{BIG}×{BIG}:", BIG_INPUT_BYTES)
    # the analytic engine needs no tensor: (2³¹ − 1) − 3 + 1 = 2147483645 rows and columns
    analytic = cli("summary", str(spec), "--engine", "analytic", "--format", "json")
    assert analytic.exit_code == 0, analytic.stderr
    assert json.loads(analytic.stdout)["layers"][0]["output_shape"] == [1, 4, BIG - 2, BIG - 2]


def test_the_same_input_through_input_batch_hydra_and_darknet(tmp_path):
    small = tmp_path / "small.yaml"
    small.write_text(f"input: [3, 8, 8]\nlayers:\n{ONE_CONV}")
    _refused(
        cli("summary", str(small), "--input", f"3x{BIG}x{BIG}"),
        f"--input 3x{BIG}x{BIG}: the input 3×{BIG}×{BIG}:",
        BIG_INPUT_BYTES,
    )
    # 3×8×8 at batch 2⁶⁰ is 3 · 64 · 2⁶⁰ · 4 bytes; --batch is counted too
    _refused(
        cli("summary", str(small), "--batch", str(2**60)),
        f"--batch {2**60}: the input 3×8×8 at batch {2**60:,}:",
        3 * 64 * 2**60 * 4,
    )
    _refused(
        cli("summary", str(small), "--input", f"3x{BIG}x2", "--batch", str(BIG)),
        f"--input 3x{BIG}x2 and --batch {BIG}: the input 3×{BIG}×2 at batch {BIG:,}:",
        BIG * 3 * BIG * 2 * 4,
    )
    hydra = tmp_path / "hydra.yaml"
    text = (CONFIGS / "hydra" / "cifar_cnn.yaml").read_text()
    hydra.write_text(text.replace("# cnninspect: input 3x32x32", f"# cnninspect: input 3x{BIG}x{BIG}"))
    _refused(cli("summary", str(hydra)), f"{hydra}:3:21: the input", BIG_INPUT_BYTES)
    darknet = tmp_path / "tiny.cfg"
    text = (CONFIGS / "darknet" / "yolov3-tiny.cfg").read_text()
    darknet.write_text(text.replace("width=416", f"width={BIG}").replace("height=416", f"height={BIG}"))
    _refused(cli("summary", str(darknet)), f"{darknet}:", BIG_INPUT_BYTES)


def test_a_layer_output_at_the_edge_of_pytorch(tmp_path):
    spec = tmp_path / "edge.yaml"
    spec.write_text(
        "input: [1, 32768, 32768]\nlayers:\n  - {type: Conv2d, name: wide, out_channels: 2147483647, kernel_size: 1}\n"
    )
    # (2³¹ − 1) · 2¹⁵ · 2¹⁵ = 2⁶¹ − 2³⁰ values fit, on the meta device
    fits = cli("summary", str(spec), "--format", "json")
    assert fits.exit_code == 0, fits.stderr
    assert json.loads(fits.stdout)["layers"][0]["output_shape"] == [1, BIG, 32768, 32768]
    # one column more: (2³¹ − 1) · 2¹⁵ · (2¹⁵ + 1) = 2⁶¹ + 2⁴⁶ − 2³⁰ − 2¹⁵ values do not
    line = _refused(
        cli("summary", str(spec), "--input", "1x32768x32769"),
        f"{spec}:3:5: wide (Conv2d) outputs (1, {BIG}, 32768, 32769):",
        BIG * 32768 * 32769 * 4,
    )
    assert line.endswith("or smaller sizes")


def test_a_stand_in_or_parameters_too_large_for_pytorch(tmp_path):
    # a conv declaring 2³¹ − 1 channels runs on a stand-in of that many: (2³¹ − 1) · 2²⁰ · 2²⁰ values
    stand_in = tmp_path / "stand_in.yaml"
    stand_in.write_text(
        "input: [3, 1048576, 1048576]\nlayers:\n"
        f"  - {{type: Conv2d, name: conv, in_channels: {BIG}, out_channels: 1, kernel_size: 1}}\n"
    )
    _refused(
        cli("summary", str(stand_in)),
        f"{stand_in}:3:5: conv (Conv2d) declares an input of (1, {BIG}, 1048576, 1048576):",
        BIG * 2**40 * 4,
    )
    # Linear(2³¹ − 1, 2³¹ − 1): (2³¹ − 1)² weights and 2³¹ − 1 biases
    linear = tmp_path / "linear.yaml"
    linear.write_text(
        f"input: [3, 8, 8]\nlayers:\n  - Flatten\n  - {{type: Linear, name: fc, in_features: {BIG}, "
        f"out_features: {BIG}}}\n"
    )
    params = BIG * BIG + BIG
    _refused(cli("summary", str(linear)), f"{linear}:4:5: fc (Linear) has {params:,} parameters:", params * 4)
    # lint reads it with the analytic engine: a size finding, no tensor
    assert cli("lint", str(linear)).exit_code == 1


# --- Concat on a dimension its inputs do not have ------------------------------------------------

CONCAT = """input: [3, 32, 32]
layers:
  - {{type: Conv2d, name: a, out_channels: 8, kernel_size: 3, padding: 1}}
  - {{type: Conv2d, name: b, out_channels: 8, kernel_size: 3, padding: 1, from: input}}
  - {{type: Concat, name: cat, from: [a, b], dim: {dim}}}
"""


def test_pytorch_joins_a_4d_tensor_on_dims_minus_4_to_3_only():
    x = torch.zeros(1, 8, 32, 32)
    for dim in range(-4, 4):
        torch.cat([x, x], dim=dim)
    for dim in (99, -9, 4, -5):
        with pytest.raises(IndexError):
            torch.cat([x, x], dim=dim)


@pytest.mark.parametrize("dim", [99, -9, 4, -5])
@pytest.mark.parametrize("engine", ["analytic", "torch"])
def test_a_concat_on_a_dimension_that_does_not_exist_is_a_finding(tmp_path, dim, engine):
    spec = tmp_path / "cat.yaml"
    spec.write_text(CONCAT.format(dim=dim))
    expected = (
        f"{spec}:5:5: CNN208 cat: Concat joins dimension {dim}, but its inputs have 4 dimensions, "
        "(1, 8, 32, 32); set dim: to one from -4 to 3 (1 joins the channels)"
    )
    result = cli("lint", str(spec), "--format", "concise", "--engine", engine)
    assert_no_internal_error(result)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == expected
    summary = cli("summary", str(spec), "--engine", engine)
    assert_no_internal_error(summary)
    assert summary.exit_code == 1
    assert expected in summary.stdout.replace("\n", " ") or expected in summary.stderr


def test_a_concat_on_an_existing_dimension_still_fits(tmp_path):
    spec = tmp_path / "cat.yaml"
    spec.write_text(CONCAT.format(dim=-3))  # -3 is dimension 1 of four: 8 + 8 channels
    result = cli("summary", str(spec), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["layers"][2]["output_shape"] == [1, 16, 32, 32]


# --- the device of a torch trace: memory and mult-adds -------------------------------------------

HEAVY = """input: [512, 64, 64]
layers:
  - {type: Conv2d, out_channels: 512, kernel_size: 3, padding: 1}
  - {type: Conv2d, out_channels: 512, kernel_size: 3, padding: 1}
  - {type: Conv2d, out_channels: 512, kernel_size: 3, padding: 1}
"""
DEEP = """input: [16, 32, 32]
blocks:
  Block:
    layers:
      - {type: Conv2d, name: conv, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
      - {type: ReLU, name: relu}
layers:
  - {type: Block, name: body, repeat: 1000}
"""


def test_a_small_model_with_huge_mult_adds_is_traced_on_meta():
    spec = parse(HEAVY)
    estimate = infer_shapes(spec)
    # each conv: 512 · 512 · 3 · 3 weights + 512 biases; at 64 × 64 positions each
    params = 3 * (512 * 512 * 9 + 512)
    assert estimate.param_bytes == params * 4 == 28_317_696
    assert sum(mult_adds(r) or 0 for r in estimate.records) == 3 * 64 * 64 * (512 * 512 * 9 + 512) == 28_997_320_704
    # the memory alone would allow the CPU: parameters + the input and one output alive at once
    assert params * 4 + 2 * 512 * 64 * 64 * 4 <= CPU_TRACE_LIMIT
    assert choose_device(spec) == "meta"
    assert [r.output_shape for r in trace_spec(spec).records] == [(1, 512, 64, 64)] * 3


def test_many_small_layers_stay_on_the_cpu():
    spec = parse(DEEP)
    estimate = infer_shapes(spec)
    # 1,000 convs of 16 · 16 · 3 · 3 weights at 32 × 32 positions: 2.36 G mult-adds over 2,000 layers,
    # under 10⁹ + 10⁶ a layer
    work = sum(mult_adds(r) or 0 for r in estimate.records)
    assert work == 1000 * 32 * 32 * 16 * 16 * 9 == 2_359_296_000
    assert work <= 10**9 + 10**6 * 2000
    assert choose_device(spec) == "cpu"
    # 100 of them at 320 × 320: 100 · 320 · 320 · 2,304 = 23.6 G mult-adds over 200 layers, past 10⁹ + 2 · 10⁸
    wide = parse(DEEP.replace("repeat: 1000", "repeat: 100").replace("[16, 32, 32]", "[16, 320, 320]"))
    assert choose_device(wide) == "meta"


# --- a finding's line is bounded, whatever it quotes --------------------------------------------


@pytest.mark.parametrize("fmt", ["full", "concise", "json", "github", "sarif"])
def test_a_finding_quoting_a_500_kb_name_stays_short_in_every_lint_format(tmp_path, fmt):
    name = "n" * 500_000
    spec = tmp_path / "long.yaml"
    spec.write_text(
        f"input: [3, 8, 8]\nlayers:\n  - Flatten\n  - {{type: Linear, name: {name}, in_features: 5, out_features: 2}}\n"
    )
    result = cli("lint", str(spec), "--format", fmt)
    assert_no_internal_error(result)
    assert result.exit_code == 1
    if fmt == "json":  # the layer's name is data there; its message is cut
        (finding,) = json.loads(result.stdout)["findings"]
        assert len(finding["message"]) == 1000 and finding["message"].endswith("…")
    elif fmt == "sarif":
        (finding,) = json.loads(result.stdout)["runs"][0]["results"]
        assert len(finding["message"]["text"]) <= 1000
    else:
        assert max(map(len, result.stdout.splitlines())) < 1000 + 2 * len(str(spec)) + 100


def test_a_deep_model_is_judged_by_its_largest_layer_not_the_sum_of_its_parameters():
    # 500 convs 64 → 64, 3 × 3 with bias: 64 · 64 · 9 + 64 = 36,928 parameters each, 18,464,000 in all
    # (73.9 MB, past 64 MiB), but each module is dropped once it has run; 16 positions each:
    # 16 · 36,928 · 500 = 295 M mult-adds
    spec = parse(
        DEEP.replace("[16, 32, 32]", "[64, 4, 4]")
        .replace("out_channels: 16", "out_channels: 64")
        .replace(", bias: false", "")
        .replace("repeat: 1000", "repeat: 500")
    )
    estimate = infer_shapes(spec)
    assert estimate.param_bytes == 500 * (64 * 64 * 9 + 64) * 4 == 73_856_000 > CPU_TRACE_LIMIT
    assert sum(mult_adds(r) or 0 for r in estimate.records) == 16 * 36_928 * 500
    assert choose_device(spec) == "cpu"


UNET = """input: [3, 15, 15]
layers:
  - {type: Conv2d, name: enc, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: MaxPool2d, name: pool, kernel_size: 2, ceil_mode: true}
  - {type: ConvTranspose2d, name: up, out_channels: 8, kernel_size: 2, stride: 2}
  - {type: Concat, name: cat, from: [enc, up]}
"""


def test_the_search_for_input_sizes_that_fit_skips_specs_of_over_1000_layers(tmp_path):
    # 15 pools to ⌈15 / 2⌉ = 8 and comes back as 16; 14 → 7 → 14 and 16 → 8 → 16 fit
    small, deep = tmp_path / "small.yaml", tmp_path / "deep.yaml"
    small.write_text(UNET)
    deep.write_text(UNET + "  - {type: ReLU, name: act, repeat: 1000}\n")  # each size tried would trace it all
    found = cli("lint", "--format", "concise", str(small), str(deep)).stdout.splitlines()
    assert "; inputs of 14×14 or 16×16 work (cnninspect sizes lists every size), or crop up" in found[0]
    assert found[1].startswith(f"{deep}:6:5: CNN208 cat: Concat joins channels")
    assert "inputs of" not in found[1] and "crop up to 15×15" in found[1]
