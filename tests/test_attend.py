"""Attend: the attention of a qkv map (per head key_dim query, key_dim key and head_dim value
channels; the places cut into area equal runs), traced by both engines with its two matrix
products counted, checked (CNN212), explained and exported; Ultralytics' attention uses it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
import torch
from conftest import cli, parse
from torch.utils.flop_counter import FlopCounterMode

from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.torch import attend, choose_device, trace_spec
from cnninspect.export import export_pytorch
from cnninspect.inputs.ultralytics.read import read_ultralytics
from cnninspect.metrics import explain, mult_adds, receptive_fields, run_extents
from cnninspect.rules import find_problems
from cnninspect.spec.schema import spec_schema
from cnninspect.spec.yamldoc import read_document

SMALL = """input: [8, 4, 4]
layers:
  - {{type: Conv2d, name: qkv, out_channels: {out}, kernel_size: 1}}
  - {{type: Attend, name: attend, heads: 2, key_dim: 2, head_dim: 4{more}}}
"""


def reference_attention(qkv: torch.Tensor, heads: int, key_dim: int, head_dim: int, area: int) -> torch.Tensor:
    """Attention written out place by place in plain PyTorch, one sample, run and head at a time:
    head h's channels are h·(2·key_dim + head_dim) + [query | key | value]; run r holds the
    flattened places r·M … r·M + M − 1 (M = places / area); each place's output is the values
    weighed by the softmax of its query · key / √key_dim over the places of its run."""
    batch, places = qkv.shape[0], math.prod(qkv.shape[2:])
    flat = qkv.reshape(batch, qkv.shape[1], places)
    out = torch.zeros(batch, heads * head_dim, places)
    width, run = 2 * key_dim + head_dim, places // area
    for b in range(batch):
        for r in range(area):
            where = slice(r * run, (r + 1) * run)
            for h in range(heads):
                q = flat[b, h * width : h * width + key_dim, where]  # (key_dim, M)
                k = flat[b, h * width + key_dim : h * width + 2 * key_dim, where]
                v = flat[b, h * width + 2 * key_dim : (h + 1) * width, where]  # (head_dim, M)
                scores = torch.mm(q.t(), k) / math.sqrt(key_dim)  # (M, M): place i against place j
                out[b, h * head_dim : (h + 1) * head_dim, where] = torch.mm(v, torch.softmax(scores, dim=1).t())
    return out.reshape(batch, heads * head_dim, *qkv.shape[2:])


@pytest.mark.parametrize(("heads", "key_dim", "head_dim", "area", "spatial"), [
    (2, 2, 4, 1, (4, 4)), (2, 2, 4, 2, (4, 4)), (1, 3, 3, 3, (3, 5)), (4, 8, 16, 4, (8, 6)), (2, 1, 2, 5, (10,)),
])  # fmt: skip
def test_the_torch_engine_attends_as_the_plain_reference(heads, key_dim, head_dim, area, spatial):
    torch.manual_seed(0)
    qkv = torch.randn(2, heads * (2 * key_dim + head_dim), *spatial)
    expected = reference_attention(qkv, heads, key_dim, head_dim, area)
    assert torch.allclose(attend(qkv, heads, key_dim, head_dim, area), expected, atol=1e-5)


def test_the_small_spec_worked_by_hand_in_both_engines():
    spec = parse(SMALL.format(out=16, more=", area: 2"))
    for trace in (infer_shapes(spec), trace_spec(spec, "cpu"), trace_spec(spec, "meta")):
        record = trace.records[1]
        assert record.output_shape == (1, 2 * 4, 4, 4)  # heads · head_dim channels, the places kept
        assert record.params == 0 and not record.mismatches
        # 2 runs of 16 / 2 = 8 places, 2 heads: 8² scores of key_dim 2, 8² weighings of head_dim 4
        assert mult_adds(record) == 2 * 2 * 8 * 8 * (2 + 4) == 1_536
    assert explain(infer_shapes(spec).records[1]) == [
        "C: 2 heads × (2·2 + 4) = 16 in, 2 × 4 = 8 out",
        "mult-adds: batch 1 × area 2 × 2 heads × (16 / 2)² × (2 + 4) = 1,536",
    ]


def test_mult_adds_are_half_of_torch_s_flop_count_of_the_plain_reference():
    for heads, key_dim, head_dim, area, batch, spatial in [(2, 2, 4, 2, 1, (4, 4)), (3, 4, 4, 4, 2, (6, 8))]:
        layer = f"{{type: Attend, heads: {heads}, key_dim: {key_dim}, head_dim: {head_dim}, area: {area}}}"
        channels = heads * (2 * key_dim + head_dim)
        spec = parse(f"input: [{channels}, {', '.join(map(str, spatial))}]\nlayers:\n  - {layer}\n")
        spec = replace(spec, batch=batch)
        qkv = torch.randn(batch, channels, *spatial)
        with FlopCounterMode(display=False) as counter:
            reference_attention(qkv, heads, key_dim, head_dim, area)
        assert mult_adds(infer_shapes(spec).records[0]) * 2 == counter.get_total_flops() > 0


def test_key_dim_left_out_is_head_dim():
    spec = parse("input: [12, 2, 2]\nlayers:\n  - {type: Attend, heads: 2, head_dim: 2}\n")
    record = infer_shapes(spec).records[0]
    assert record.output_shape == (1, 4, 2, 2) and not record.mismatches  # 2 · (2·2 + 2) = 12 channels
    assert mult_adds(record) == 2 * 4 * 4 * (2 + 2)


def test_wrong_channels_are_cnn212_with_the_head_dim_that_fits_in_both_engines():
    spec = parse(SMALL.format(out=18, more=""))
    for trace in (infer_shapes(spec), trace_spec(spec, "cpu")):
        assert trace.records[1].output_shape == (1, 8, 4, 4)  # carries on with what the arguments give
        [finding] = find_problems(trace)
        assert finding.rule.code == "CNN212"
        assert finding.message == (
            "attend: reads heads × (2·key_dim + head_dim) = 2 × (2·2 + 4) = 16 channels (query, key and value of "
            "each head) but it receives 18 (from qkv); make what it reads give 16 channels, or set head_dim: 5"
        )  # 18 / 2 heads − 2·2 = 5


def test_an_area_that_does_not_divide_the_places_is_cnn212_not_a_traceback(tmp_path: Path):
    path = tmp_path / "area.yaml"
    path.write_text(SMALL.format(out=16, more=", area: 3"))
    for engine in ("analytic", "torch"):
        result = cli("summary", str(path), "--engine", engine)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert result.exit_code == 1
        assert (
            f"{path}:4:5: CNN212 attend: area: 3 does not divide the 4×4 = 16 places it receives (from qkv), so "
            "they cannot be cut into 3 equal runs; make the places a multiple of 3 (15 or 18) or pick an area "
            "that divides 16"
        ) in " ".join((result.stdout + result.stderr).split())


@pytest.mark.parametrize(("arg", "value"), [("heads", 0), ("head_dim", -1), ("key_dim", "two"), ("area", 0)])
def test_a_bad_argument_is_one_line_at_its_place(tmp_path: Path, arg: str, value: object):
    args = {"heads": 2, "key_dim": 2, "head_dim": 4, arg: value}
    path = tmp_path / "bad.yaml"
    path.write_text(
        SMALL.format(out=16, more="").replace(
            "heads: 2, key_dim: 2, head_dim: 4", ", ".join(f"{k}: {v}" for k, v in args.items())
        )
    )
    result = cli("summary", str(path))
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"cnninspect: error: {path}:4:") and arg in result.stderr


def test_flag_spec_table_and_schema_know_attend():
    result = cli("summary", "--layers", "Conv2d(4,16,1) Attend(2, 4, key_dim=2)", "--input", "4x3x3")
    assert result.exit_code == 0, result.stderr
    assert "Attend  attend(0, 2 × (2+2+4))" in result.stdout  # what it reads; each head's query, key, value
    schema = spec_schema()
    good = read_document("input: [16, 4, 4]\nlayers:\n  - {type: Attend, heads: 2, head_dim: 4, key_dim: 2}\n", "t")
    jsonschema.validate(good.data(good.root), schema)
    bad = read_document("input: [16, 4, 4]\nlayers:\n  - {type: Attend, heads: 2, dim: 4}\n", "t.yaml")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad.data(bad.root), schema)


def test_export_writes_an_attend_module_that_computes_what_the_reference_does(tmp_path: Path):
    spec = parse(
        """name: tiny_attention
input: [8, 4, 6]
blocks:
  Attn:
    params: {heads: 2, key_dim: 2}
    layers:
      - {type: Conv2d, name: qkv, out_channels: '$heads * (2 * $key_dim + 8 // $heads)', kernel_size: 1}
      - {type: Attend, name: attend, heads: $heads, key_dim: $key_dim, head_dim: 8 // $heads, area: 3}
layers:
  - {type: Attn, name: attn}
"""
    )
    trace = infer_shapes(spec)
    code = export_pytorch(trace)
    assert code.count("class Attend(nn.Module):") == 1
    source = tmp_path / "exported.py"
    source.write_text(code)
    for command in (["check", "--isolated"], ["format", "--isolated", "--check"]):
        result = subprocess.run([sys.executable, "-m", "ruff", *command, str(source)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "self.attend = Attend(heads, 8 // heads, key_dim=key_dim, area=3)" in code
    namespace: dict = {}
    exec(compile(code, "exported.py", "exec"), namespace)  # the test runs the generated classes
    model = namespace["tiny_attention"]().eval()
    x = torch.randn(2, 8, 4, 6)
    with torch.no_grad():
        expected = reference_attention(model.attn.qkv(x), 2, 2, 4, 3)
        assert torch.allclose(model(x), expected, atol=1e-5)
    assert tuple(model(x).shape) == (2, *trace.output_shape[1:]) == (2, 8, 4, 6)


def _shipped_yaml(name: str) -> Path:
    from test_ultralytics import SHIPPED, WHY_NOT

    if SHIPPED is None:
        pytest.skip(WHY_NOT)
    return next(SHIPPED.glob(f"*/{name}"))


def test_yolo11n_s_attention_mult_adds_are_torch_s_flop_count_of_the_plain_reference():
    path = _shipped_yaml("yolo11.yaml")
    spec = read_ultralytics(path.read_text(), str(path), "n")
    trace = infer_shapes(spec)
    attends = [r for r in trace.records if r.layer.type == "Attend"]
    # one C2PSA (row 10) with one PSABlock: c = 256·0.5 = 128, heads 128 // 64 = 2, key_dim 128 / 2 / 2 = 32,
    # head_dim 64, on the stride-32 map of a 640 input: 20×20 = 400 places
    assert [r.layer.name for r in attends] == ["model.10.m.0.attn.attend"]
    names = {r.layer.name for r in trace.records}
    for conv in ("qkv.conv", "pe.conv", "proj.conv"):  # as PyTorch nests them in state_dict()
        assert f"model.10.m.0.attn.{conv}" in names
    assert attends[0].input_shape == (1, 128 + 2 * 32 * 2, 20, 20)
    qkv = torch.randn(1, 256, 20, 20)
    with FlopCounterMode(display=False) as counter:
        reference_attention(qkv, 2, 32, 64, 1)
    assert sum(mult_adds(r) or 0 for r in attends) * 2 == counter.get_total_flops()
    assert sum(mult_adds(r) or 0 for r in attends) == 2 * 400**2 * (32 + 64) == 30_720_000


def test_yolo12n_s_area_attention_cuts_each_map_in_four_runs():
    path = _shipped_yaml("yolo12.yaml")
    spec = read_ultralytics(path.read_text(), str(path), "n")
    trace = infer_shapes(spec)
    attends = [r for r in trace.records if r.layer.type == "Attend"]
    assert attends and not [r for r in trace.records if r.mismatches]
    for record in attends:
        _, channels, height, width = record.input_shape
        heads, area, places = record.layer.get("heads"), record.layer.get("area"), height * width
        head_dim = channels // 3 // heads  # AAttn: query, key and value all head_dim wide
        assert record.layer.get("key_dim") is None and record.layer.get("head_dim") == head_dim
        assert mult_adds(record) == heads * area * (places // area) ** 2 * 2 * head_dim
    assert {(r.layer.get("area"), r.input_shape[2:]) for r in attends} == {(4, (40, 40)), (1, (20, 20))}


def test_sizes_lists_the_inputs_whose_places_each_area_divides():
    result = cli("sizes", "docs/examples/attend.yaml", "--range", "1:12", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["attend_areas_fit"] == [2, 4, 6, 8, 10, 12]  # N×N places cut into 2 runs: N even
    assert report["survive"] == list(range(1, 13))
    plain = cli("sizes", "--layers", "Conv2d(3,16,1) Attend(2, 4, key_dim=2)", "--input", "3x8x8", "--format", "json")
    assert json.loads(plain.stdout)["attend_areas_fit"] is None  # area 1 fits every size
    wrong = cli("sizes", "--layers", "Conv2d(3,15,1) Attend(2, 4, key_dim=2, area=2)", "--input", "3x8x8",
                "--range", "1:6", "--format", "json")  # fmt: skip
    assert json.loads(wrong.stdout)["attend_areas_fit"] == [2, 4, 6]  # its wrong channels are no size's fault


def test_the_receptive_field_is_what_one_run_spans():
    spec = parse(SMALL.format(out=16, more=", area: 2").replace("[8, 4, 4]", "[8, 6, 4]"))
    rf, jump = receptive_fields(infer_shapes(spec))[1]
    assert (rf, jump) == ((3, 4), (1, 1))  # 24 places in 2 runs of 12: three whole rows of 4 each
    whole = parse(SMALL.format(out=16, more="").replace("[8, 4, 4]", "[8, 6, 4]"))
    assert receptive_fields(infer_shapes(whole))[1][0] == (6, 4)  # area 1: every place sees the map
    # 3×4 in 4 runs of 3: the second run is row 0's last column and row 1's first two
    assert run_extents((3, 4), 4) == (2, 4)
    assert run_extents((4, 4), 8) == (1, 2) and run_extents((5,), 5) == (1,)


def test_a_trace_whose_attention_scores_are_large_runs_on_meta():
    # 1 head of 1 + 1 + 1 channels on 100×100 places: 2·10⁸ mult-adds, few enough for the CPU, but
    # its scores are a 10⁴ × 10⁴ matrix of 4·10⁸ bytes
    spec = parse("input: [3, 100, 100]\nlayers:\n  - {type: Attend, heads: 1, head_dim: 1}\n")
    assert mult_adds(infer_shapes(spec).records[0]) == 10_000**2 * 2
    assert choose_device(spec) == "meta"
    runs = parse("input: [3, 100, 100]\nlayers:\n  - {type: Attend, heads: 1, head_dim: 1, area: 100}\n")
    assert choose_device(runs) == "cpu"  # 100 runs of 100 places: 10⁶ scores


def test_yolo12n_exports_to_a_module_that_runs_with_ultralytics_parameter_count():
    path = _shipped_yaml("yolo12.yaml")
    trace = infer_shapes(read_ultralytics(path.read_text(), str(path), "n"))
    code = export_pytorch(trace)
    assert "area=4" in code
    namespace: dict = {}
    exec(compile(code, "exported.py", "exec"), namespace)  # the test runs the generated classes
    model_class = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, torch.nn.Module)][-1]
    with torch.device("meta"):
        model = model_class().eval()
    assert sum(p.numel() for p in model.parameters()) == 2_602_288  # Ultralytics' count for yolo12n
    boxes, scores = model(torch.empty(1, 3, 640, 640, device="meta"))
    assert tuple(boxes.shape) == (1, 64, 80 * 80 + 40 * 40 + 20 * 20) and tuple(scores.shape) == (1, 80, 8400)
