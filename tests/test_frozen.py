"""``trainable: false`` (frozen parameters) and ``called: false`` (parameters forward never calls):
read, validated, counted by both engines, exported, in the schema; and Ultralytics' DFL conv and
Pose26 flow model, which use them. Expected counts are worked out by hand or taken from PyTorch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import ROOT, cli, cli_error, parse

from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.records import UNCALLED, Trace
from cnninspect.errors import CnnInspectError
from cnninspect.export import export_pytorch
from cnninspect.inputs.ultralytics.read import read_ultralytics
from cnninspect.rules import find_problems
from cnninspect.spec.schema import spec_schema
from cnninspect.spec.yamldoc import read_document

FINETUNE = ROOT / "docs" / "examples" / "frozen.yaml"

SMALL = """\
input: [3, 8, 8]
layers:
  - {type: Conv2d, name: conv, out_channels: 4, kernel_size: 3, trainable: false}
  - ReLU
  - {type: Flatten, name: flat}
  - {type: Linear, name: fc, in_features: 144, out_features: 10}
  - {type: Linear, name: aux, in_features: 144, out_features: 4, called: false}
"""
CONV = 4 * 3 * 3 * 3 + 4  # frozen
FC = 144 * 10 + 10  # 144 = 4 × 6 × 6
AUX = 144 * 4 + 4  # never called


def traces(text: str) -> list[Trace]:
    """The spec traced by both engines."""
    from cnninspect.engines.torch import trace_spec

    spec = parse(text)
    return [infer_shapes(spec), trace_spec(spec)]


@pytest.mark.parametrize("engine", ["analytic", "torch"])
def test_frozen_and_uncalled_parameters_count_in_the_totals(engine: str):
    trace = traces(SMALL)[engine == "torch"]
    assert trace.total_params == CONV + FC + AUX == 2_142
    assert trace.trainable_params == FC + AUX
    records = {r.layer.name: r for r in trace.records}
    assert (records["conv"].params, records["conv"].trainable) == (CONV, 0)
    aux = records["aux"]
    assert (aux.params, aux.trainable, aux.output_shape, aux.note) == (AUX, AUX, None, UNCALLED)
    assert trace.output_shape == (1, 10) and trace.complete  # the model returns fc's output, not aux's
    assert not find_problems(trace)


def test_both_engines_agree_layer_by_layer():
    analytic, torch = traces(FINETUNE.read_text())
    assert [(r.layer.name, r.output_shape, r.weights, r.biases, r.trainable, r.note) for r in analytic.records] == [
        (r.layer.name, r.output_shape, r.weights, r.biases, r.trainable, r.note) for r in torch.records
    ]
    # the stem: conv 16 × 3×3×3 (no bias) and BatchNorm's weight and bias, 2 × 16, all frozen
    assert analytic.total_params - analytic.trainable_params == 16 * 27 + 2 * 16
    assert analytic.total_params == 16 * 27 + 2 * 16 + (32 * 16 * 9 + 32) + 2 * (32 * 10 + 10)


def test_a_group_or_block_use_freezes_or_holds_every_layer_inside():
    text = """\
input: [3, 8, 8]
blocks:
  Head:
    layers:
      - {type: Linear, name: a, in_features: 2, out_features: 64}
      - ReLU
      - {type: Linear, name: b, in_features: 64, out_features: 2}
layers:
  - {type: Conv2d, name: conv, out_channels: 2, kernel_size: 8}
  - {type: Flatten, name: flat}
  - {type: Head, name: frozen, trainable: false}
  - {type: Head, name: spare, called: false, repeat: 2}
  - name: out
    layers:
      - {type: Linear, in_features: 2, out_features: 3}
"""
    head = (2 * 64 + 64) + (64 * 2 + 2)
    conv = 2 * 3 * 64 + 2
    for trace in traces(text):
        assert trace.total_params == conv + 3 * head + (2 * 3 + 3)
        assert trace.trainable_params == trace.total_params - head
        names = [r.layer.name for r in trace.records if not r.layer.called]
        assert names == ["spare.0.a", "spare.0.1", "spare.0.b", "spare.1.a", "spare.1.1", "spare.1.b"]
        assert trace.output_shape == (1, 3)
        by_name = {r.layer.name: r for r in trace.records}
        assert by_name["out.0"].layer.inputs == ("frozen.b",)  # the spare heads are skipped
        assert by_name["spare.0.1"].note == "never called in forward"  # a ReLU holds no parameters


def test_export_freezes_and_builds_but_never_calls(tmp_path: Path):
    torch = pytest.importorskip("torch")
    for text in (SMALL, FINETUNE.read_text()):
        trace = infer_shapes(parse(text))
        code = export_pytorch(trace)
        namespace: dict[str, Any] = {}
        exec(compile(code, str(tmp_path / "exported.py"), "exec"), namespace)  # the test runs the generated class
        model_class = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, torch.nn.Module)][-1]
        model = model_class().eval()
        parameters = list(model.parameters())
        assert sum(p.numel() for p in parameters) == trace.total_params
        assert sum(p.numel() for p in parameters if p.requires_grad) == trace.trainable_params
        called: set[str] = set()
        for name, module in model.named_modules():
            module.register_forward_hook(lambda m, i, o, name=name, seen=called: seen.add(name))
        assert tuple(model(torch.zeros(trace.spec.batched_input)).shape) == trace.output_shape
        assert "aux" in dict(model.named_modules()) and "aux" not in called


def test_the_summary_shows_no_shape_and_the_json_says_so():
    result = cli("summary", str(FINETUNE), "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    aux = next(layer for layer in document["layers"] if layer["name"] == "aux")
    assert (aux["output_shape"], aux["output"], aux["params"], aux["notes"]) == (None, "—", 330, UNCALLED)
    totals = document["totals"]
    assert (totals["params"], totals["trainable"], totals["non_trainable"]) == (5_764, 5_300, 464)
    assert cli("lint", str(FINETUNE)).exit_code == 0


@pytest.mark.parametrize(
    ("layers", "where", "words"),
    [
        (  # a later layer reads a layer forward never calls
            "  - {type: Linear, name: aux, in_features: 192, out_features: 4, called: false}\n"
            "  - {type: Linear, name: fc, out_features: 10, from: aux}\n",
            (5, 54),
            "aux is never called in forward (called: false), so it gives no output to read",
        ),
        (  # ... or a layer inside a group forward never calls
            "  - {name: g, called: false, layers: [{type: Linear, name: a, in_features: 3, out_features: 4}]}\n"
            "  - {type: Linear, name: fc, out_features: 10, from: g.a}\n",
            (5, 54),
            "g.a is never called in forward",
        ),
        (  # nothing flows in to infer in_features from
            "  - {type: Linear, name: aux, out_features: 4, called: false}\n",
            (4, 5),
            "aux: called: false, so nothing flows in to infer in_features from; write in_features: …",
        ),
        (  # a layer forward never calls reads nothing
            "  - {type: Linear, name: aux, in_features: 3, out_features: 4, called: false, from: input}\n",
            (4, 85),
            "a layer that forward never calls (called: false) reads nothing; remove its from:",
        ),
        (  # YAML's no is a string in 1.2, and 0 is not false
            "  - {type: Linear, name: fc, out_features: 10, trainable: no}\n",
            (4, 59),
            "trainable: needs true or false, got 'no'",
        ),
        (
            "  - {type: Add, name: sum, called: false}\n",
            (4, 5),
            "sum: called: false marks a layer that holds parameters but never runs; Add holds none",
        ),
    ],
)
def test_misuse_is_one_line_at_its_place(tmp_path: Path, layers: str, where: tuple[int, int], words: str):
    path = tmp_path / "bad.yaml"
    path.write_text("input: [3, 8, 8]\nlayers:\n  - {type: Flatten, name: flat}\n" + layers)
    with pytest.raises(CnnInspectError) as caught:
        parse(path.read_text(), str(path))
    assert (caught.value.location.line, caught.value.location.col) == where
    assert words in caught.value.message
    result = cli_error("summary", str(path))
    assert result.stderr.count("\n") == 1 and f"{path}:{where[0]}:{where[1]}: " in result.stderr
    linted = cli("lint", str(path), "--format", "concise")
    assert linted.exit_code == 1 and f"{path}:{where[0]}:{where[1]}: CNN1" in linted.stdout


def test_a_model_needs_a_layer_that_runs():
    with pytest.raises(CnnInspectError, match="no layer runs"):
        parse("input: [4]\nlayers:\n  - {type: Linear, in_features: 4, out_features: 2, called: false}\n")


def test_an_uncalled_layer_gets_no_size_finding():
    # aux's 99 fits nothing, and its bias before a BatchNorm would be CNN303 if it ran
    text = """\
input: [3, 8, 8]
layers:
  - {type: Conv2d, name: conv, out_channels: 4, kernel_size: 3, bias: false}
  - {type: Conv2d, name: aux, in_channels: 99, out_channels: 4, kernel_size: 3, called: false}
  - {type: BatchNorm2d, name: bn}
"""
    for trace in traces(text):
        assert not find_problems(trace)
        assert trace.records[2].input_shape == (1, 4, 6, 6)


def test_the_schema_knows_both_keys(tmp_path):
    schema = json.loads(cli("schema").stdout)
    item = schema["definitions"]["item"]["anyOf"][1]["properties"]
    assert item["trainable"]["type"] == item["called"]["type"] == "boolean"
    document = read_document(FINETUNE.read_text(), str(FINETUNE))
    validator = jsonschema.Draft7Validator(spec_schema(document))
    assert not list(validator.iter_errors(document.data(document.root)))
    missing = read_document("layers:\n  - {type: Linear, out_features: 4, called: false}\n", "m.yaml")
    assert list(validator.iter_errors(missing.data(missing.root)))  # in_features is required then
    for layer in ("{type: Add, from: [a, b], called: false}", "{type: Split, chunks: 2, index: 0, called: false}"):
        text = f"layers:\n  - {{type: ReLU, name: a}}\n  - {{type: ReLU, name: b}}\n  - {layer}\n"
        refused = read_document(text, "own.yaml")
        own = jsonschema.Draft7Validator(spec_schema(refused))
        assert list(own.iter_errors(refused.data(refused.root)))
        allowed = read_document(text.replace(", called: false", ""), "own.yaml")
        assert not list(own.iter_errors(allowed.data(allowed.root)))
        path = tmp_path / "own.yaml"
        path.write_text("input: [3, 8, 8]\n" + text)
        assert "called: false" in cli_error("summary", str(path)).stderr  # as the loader refuses them


# -- Ultralytics: DFL's frozen conv and Pose26's flow model ------------------------------------

TINY_POSE = """\
nc: 1
kpt_shape: [17, 3]
reg_max: {reg_max}
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [32, 3, 2]]
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [64, 3, 2]]
head:
  - [[2, 3], 1, {head}, [nc, kpt_shape]]
"""
FLOW_MODEL = 12 * ((2 * 64 + 64) + (64 * 64 + 64) + (64 * 2 + 2))


def test_dfl_is_a_frozen_conv_forward_never_calls_when_reg_max_is_above_one():
    for reg_max in (16, 8):
        spec = read_ultralytics(TINY_POSE.format(reg_max=reg_max, head="Pose"), "pose.yaml")
        trace = infer_shapes(spec)
        dfl = next(r for r in trace.records if r.layer.name == "model.4.dfl.conv")
        assert (dfl.params, dfl.trainable, dfl.output_shape) == (reg_max * 1 * 1 * 1, 0, None)
        assert trace.total_params - trace.trainable_params == reg_max
    spec = read_ultralytics(TINY_POSE.format(reg_max=1, head="Pose"), "pose.yaml")
    assert not any("dfl" in layer.name for layer in spec.layers)  # nn.Identity


def test_pose26_holds_the_flow_model_as_pytorch_names_it():
    plain = infer_shapes(read_ultralytics(TINY_POSE.format(reg_max=1, head="Pose"), "pose.yaml"))
    spec = read_ultralytics(TINY_POSE.format(reg_max=1, head="Pose26"), "pose26.yaml")
    trace = infer_shapes(spec)
    flow = [r for r in trace.records if ".flow_model." in r.layer.name]
    assert sum(r.params for r in flow) == sum(r.trainable for r in flow) == FLOW_MODEL == 53_784
    assert [r.layer.name for r in flow][:4] == [
        "model.4.flow_model.s.0.0",
        "model.4.flow_model.s.0.2",
        "model.4.flow_model.s.0.4",
        "model.4.flow_model.s.1.0",
    ]
    assert flow[-1].layer.name == "model.4.flow_model.t.5.4"
    assert all(not r.layer.called and r.output_shape is None for r in flow)
    sizes = {(r.layer.args["in_features"], r.layer.args["out_features"]) for r in flow}
    assert sizes == {(2, 64), (64, 64), (64, 2)}
    assert spec.outputs and trace.output_shape is not None
    assert plain.output_shape is not None


def test_the_flow_model_matches_the_pytorch_it_stands_for():
    nn = pytest.importorskip("torch").nn

    def net(last: list[nn.Module]) -> nn.Sequential:
        return nn.Sequential(nn.Linear(2, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2), *last)

    flow = nn.Module()
    flow.s = nn.ModuleList(net([nn.Tanh()]) for _ in range(6))
    flow.t = nn.ModuleList(net([]) for _ in range(6))
    spec = read_ultralytics(TINY_POSE.format(reg_max=1, head="Pose26"), "pose26.yaml")
    mine = {r.layer.name.removeprefix("model.4.flow_model."): r.params for r in infer_shapes(spec).records}
    linears = [(name, m) for name, m in flow.named_modules() if isinstance(m, nn.Linear)]
    theirs = {name: sum(p.numel() for p in m.parameters()) for name, m in linears}
    assert {name: mine[name] for name in theirs} == theirs
    assert sum(theirs.values()) == sum(p.numel() for p in flow.parameters()) == FLOW_MODEL
    assert len(theirs) == 36 == len([name for name in mine if "." in name and name.startswith(("s.", "t."))])


def test_a_row_reading_the_wrong_scale_says_to_check_its_from_indices():
    text = """\
nc: 3
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [32, 3, 2]]
  - [-1, 1, Conv, [64, 3, 2]]
  - [[-1, 1], 1, Concat, [1]]
head:
  - [-1, 1, Conv, [8, 1, 1]]
"""
    spec = read_ultralytics(text, "shifted.yaml")
    (finding,) = [f for f in find_problems(infer_shapes(spec), search=False) if f.rule.code == "CNN208"]
    # row 2 is at stride 8 (640 / 80), row 1 at stride 4 (640 / 160); no other row is at 80×80
    assert finding.message == (
        "model.3: Concat joins channels, but row 2 gives 80×80×64 and row 1 gives 160×160×32: they differ in "
        "height and width; check the from: indices of row 3: it reads row 2 at stride 8 and row 1 at stride 4 "
        "(a row inserted above shifts them)"
    )
    assert "ZeroPad" not in finding.message


def test_a_part_forward_never_calls_is_noted_once(tmp_path: Path):
    path = tmp_path / "pose26.yaml"
    path.write_text(TINY_POSE.format(reg_max=1, head="Pose26"))
    result = cli("summary", str(path), "--input", "3x64x64", "--engine", "analytic", columns=200)
    assert result.exit_code == 0, result.stderr
    shown = result.stdout + result.stderr
    assert "  model.4.flow_model.s.0.0 … model.4.flow_model.t.5.4 (36 layers): " + UNCALLED in shown
    assert shown.count(UNCALLED) == 1


def test_the_exported_module_reads_back_the_same_through_model(tmp_path: Path):
    """The spec's rows for frozen and never-called layers are what --model shows for the module
    export writes: same totals, same note, no shape."""
    pytest.importorskip("torch")
    exported = tmp_path / "finetune_model.py"
    exported.write_text(export_pytorch(infer_shapes(parse(FINETUNE.read_text(), str(FINETUNE)))))
    spec = json.loads(cli("summary", str(FINETUNE), "--format", "json").stdout)
    model = cli("summary", "--model", f"{exported}:finetune", "--input", "3x32x32", "--format", "json")
    assert model.exit_code == 0, model.stderr
    traced = json.loads(model.stdout)
    for key in ("params", "trainable", "non_trainable"):
        assert traced["totals"][key] == spec["totals"][key], key
    keys = ("output_shape", "output", "params", "trainable", "mult_adds", "activation_bytes", "notes")
    (theirs,) = [{k: layer[k] for k in keys} for layer in traced["layers"] if layer["name"] == "aux"]
    (mine,) = [{k: layer[k] for k in keys} for layer in spec["layers"] if layer["name"] == "aux"]
    assert mine == theirs == {**mine, "output_shape": None, "notes": UNCALLED}


AUX_HEAD = """\
input: [3, 8, 8]
blocks:
  Res:
    params: {c: 4}
    layers:
      - {type: Conv2d, name: cv, in_channels: $c, out_channels: $c, kernel_size: 1}
      - {type: Add, name: add, from: [input, cv]}
  Aux:
    layers:
      - {type: Conv2d, name: a, in_channels: 4, out_channels: 8, kernel_size: 1}
      - {type: Split, name: half, from: a, chunks: 2, index: 0}
      - {type: Res, name: m}
      - {type: Concat, name: cat, from: [half, m]}
      - {type: Conv2d, name: out, in_channels: 8, out_channels: 2, kernel_size: 1}
layers:
  - {type: Conv2d, name: conv, out_channels: 4, kernel_size: 3}
  - {type: Aux, name: aux, called: false}
  - name: spare
    called: false
    layers:
      - {type: Conv2d, name: a, in_channels: 4, out_channels: 8, kernel_size: 1}
      - {type: Split, name: half, from: a, chunks: 2, index: 1}
      - {type: Res, name: m, repeat: 2}
      - {type: Concat, name: cat, from: [half, m.*]}
  - {type: Flatten, name: flat}
"""


def test_a_part_forward_never_calls_may_hold_merges_splits_and_read_its_own_layers(tmp_path: Path):
    # conv 4·27 + 4; aux: a 8·4 + 8, m.cv 4·4 + 4, out 2·8 + 2; spare: a 8·4 + 8, two m.cv 4·4 + 4
    conv, a, res, out = 4 * 27 + 4, 8 * 4 + 8, 4 * 4 + 4, 2 * 8 + 2
    for trace in traces(AUX_HEAD):
        assert trace.total_params == trace.trainable_params == conv + (a + res + out) + (a + 2 * res) == 270
        assert trace.output_shape == (1, 4 * 6 * 6) and trace.complete
        by_name = {r.layer.name: r for r in trace.records}
        assert by_name["flat"].layer.inputs == ("conv",)  # nothing inside aux or spare runs
        assert [by_name[n].output_shape for n in ("aux.cat", "spare.half", "spare.m.1.add")] == [None] * 3
        assert not find_problems(trace)
    torch = pytest.importorskip("torch")
    without_spare = AUX_HEAD[: AUX_HEAD.index("  - name: spare")] + "  - {type: Flatten, name: flat}\n"
    trace = infer_shapes(parse(without_spare))
    namespace: dict[str, Any] = {}
    exec(compile(export_pytorch(trace), str(tmp_path / "exported.py"), "exec"), namespace)  # the generated class
    model = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, torch.nn.Module)][-1]()
    assert sum(p.numel() for p in model.parameters()) == conv + a + res + out == 190
    assert tuple(model(torch.zeros(1, 3, 8, 8)).shape) == (1, 144)


def test_what_a_part_forward_never_calls_holds_is_not_read_from_outside():
    text = AUX_HEAD.replace("{type: Flatten, name: flat}", "{type: Flatten, name: flat, from: spare.cat}")
    with pytest.raises(CnnInspectError, match=r"spare\.cat is never called in forward"):
        parse(text)
