"""Hydra / OmegaConf model configs (``_target_: torch.nn.…`` trees): the shipped config against the
same network by hand, key-path names, interpolation, byte-exact fixes, hostile configs."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import CONFIGS, cli, cli_error, load
from torch import nn

from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.torch import trace_spec
from cnninspect.rules import find_problems

CIFAR = CONFIGS / "hydra" / "cifar_cnn.yaml"


def cifar_cnn_by_hand() -> nn.Sequential:
    """configs/hydra/cifar_cnn.yaml with width 32 and 10 classes, as instantiate() builds it."""
    return nn.Sequential(
        nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        ),
        nn.Flatten(),
        nn.Linear(4096, 10),
    )


@pytest.mark.parametrize("engine", ["analytic", "torch"])
def test_config_equals_the_network_written_by_hand(engine):
    spec = load(CIFAR)
    trace = infer_shapes(spec) if engine == "analytic" else trace_spec(spec)
    model = cifar_cnn_by_hand().eval()
    x, shapes = torch.zeros(1, 3, 32, 32), []
    for layer in [*model[0], model[1], model[2]]:
        x = layer(x)
        shapes.append(tuple(x.shape))
    assert [r.output_shape for r in trace.records] == shapes
    # 3·3·3·32 + 2·32 + 3·3·32·64 + 2·64 + 4096·10 + 10
    assert trace.total_params == sum(p.numel() for p in model.parameters()) == 60_458
    assert find_problems(trace) == []


def test_names_are_key_paths_and_interpolations_resolved():
    spec = load(CIFAR)
    assert [layer.name for layer in spec.layers][:2] == ["model._args_.0._args_.0", "model._args_.0._args_.1"]
    assert [g.name for g in spec.groups] == ["model", "model._args_.0"]
    conv = spec.layers[0]
    assert conv.args["out_channels"] == 32 and conv.templated == frozenset({"out_channels"})
    assert spec.layers[-1].args == {"in_features": 4096, "out_features": 10}
    assert spec.input == (3, 32, 32)


def broken(tmp_path, replace: tuple[str, str] = ("in_features: 4096", "in_features: 2048")):
    path = tmp_path / "model.yaml"
    path.write_text(CIFAR.read_text().replace(*replace))
    return path


def test_lint_places_a_mismatch_at_the_layer(tmp_path):
    path = broken(tmp_path)
    (finding,) = json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]
    line = path.read_text().splitlines().index("    - _target_: torch.nn.Linear") + 1
    assert (finding["code"], finding["line"], finding["col"]) == ("CNN201", line, 7)
    assert finding["message"].startswith("model._args_.2: in_features is 2048 but it receives 4096")


def test_fix_fc_writes_the_value_in_place_and_nothing_else(tmp_path):
    path = broken(tmp_path)
    before = path.read_text()
    assert cli("fix-fc", str(path), "--write").exit_code == 0
    assert path.read_text() == before.replace("in_features: 2048", "in_features: 4096")


def test_fix_fc_does_not_overwrite_an_interpolation(tmp_path):
    path = broken(tmp_path, ("in_features: 4096", "in_features: ${width}"))
    before = path.read_bytes()
    result = cli("fix-fc", str(path), "--write")
    assert result.exit_code == 1
    assert "in_features is written as a ${…} interpolation" in result.stdout
    assert path.read_bytes() == before


def test_input_comes_from_the_comment_or_input_and_is_written_back_there(tmp_path):
    path = broken(tmp_path, ("# cnninspect: input 3x32x32\n", ""))
    result = cli_error("summary", str(path))
    assert "add a line # cnninspect: input 3x32x32 or pass --input 3x32x32" in result.stderr
    assert cli("summary", str(path), "--input", "3x32x32").exit_code == 0
    assert cli("fix-fc", str(path), "--input", "3x64x64", "--write").exit_code == 0
    text = path.read_text()
    assert text.startswith("# cnninspect: input 3x64x64\n") and "in_features: 16384" in text


def test_export_builds_the_same_network():
    namespace: dict = {}
    exec(compile(cli("export", str(CIFAR)).stdout, "exported.py", "exec"), namespace)
    model = namespace["model"]()
    assert list(model.state_dict()) == ["model." + key for key in cifar_cnn_by_hand().state_dict()]


def test_lint_skips_hydra_configs_that_are_not_models(tmp_path):
    (tmp_path / "loss.yaml").write_text("_target_: torch.nn.CrossEntropyLoss\nlabel_smoothing: 0.1\n")
    (tmp_path / "optim.yaml").write_text("_target_: torch.optim.Adam\nlr: 0.001\n")
    broken(tmp_path)
    result = cli("lint", str(tmp_path), "--format", "json")
    assert [f["path"] for f in json.loads(result.stdout)["findings"]] == [str(tmp_path / "model.yaml")]
    assert "skipped 2 files that are not model specs" in result.stderr


@pytest.mark.parametrize(
    ("values", "line", "col", "message"),
    [
        ("a: ${b}\nb: ${a}", 2, 4, "cannot resolve a: the references form a cycle: a → b"),
        ("a: ${a}", 2, 4, "cannot resolve a: the references form a cycle: a"),
        ("a: ${nope}", 2, 4, "cannot resolve a: ${nope} names 'nope', which the file does not have"),
        ("r: oc\na: ${${r}.env:HOME}", 3, 4, "a ${…} whose key is built by another ${…} is not resolved"),
        ("r: oc\na: ${${r}.select:x}", 3, 4, "a ${…} whose key is built by another ${…} is not resolved"),
        ("a: ${oc.env:HOME,x}", 2, 4, "${oc.env:HOME,x} calls a resolver, which cnninspect never runs"),
        ("a: ${oc.env:HOME}", 2, 4, "${oc.env:HOME} calls a resolver, which cnninspect never runs"),
        ("a: x\nb: ${a}", 3, 4, "padding"),
    ],
)
def test_a_bad_interpolation_is_one_line_at_its_place(tmp_path, values, line, col, message):
    path = tmp_path / "cyc.yaml"
    path.write_text(
        f"# cnninspect: input 3x8x8\n{values}\nmodel:\n  _target_: torch.nn.Sequential\n  _args_:\n"
        "    - {_target_: torch.nn.Conv2d, in_channels: 3, out_channels: 4, kernel_size: 3, padding: '${a}'}\n"
    )
    result = cli_error("summary", str(path))
    assert result.stderr.count("\n") == 1
    if message == "padding":  # resolved, then refused as any spec's bad argument, at the value
        assert f"{path}:{line + 4}:" in result.stderr and "padding" in result.stderr
    else:
        assert result.stderr.startswith(f"cnninspect: error: {path}:{line}:{col}: {message}")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{_target_: mypkg.MyConv, out_channels: 4}", "mypkg.MyConv is not a torch.nn class"),
        ("{_target_: torch.nn.Conv2d, out_channels: 4, kernel_size: 3, colour: red}", "colour"),
        ("just_a_string", "each entry of _args_ is a module with a _target_"),
        ("{_target_: torch.nn.Sequential}", "a torch.nn.Sequential needs _args_: a list of modules"),
    ],
)
def test_a_bad_module_is_one_line(tmp_path, entry, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"# cnninspect: input 3x8x8\nmodel:\n  _target_: torch.nn.Sequential\n  _args_:\n    - {entry}\n")
    result = cli_error("summary", str(path))
    assert result.stderr.count("\n") == 1
    assert f"{path}:5:" in result.stderr and message in result.stderr


def test_the_input_comment_is_a_comment_line_and_there_is_one(tmp_path):
    path = tmp_path / "in.yaml"
    model = (
        "model:\n  _target_: torch.nn.Sequential\n  _args_:\n"
        "    - {_target_: torch.nn.Conv2d, in_channels: 3, out_channels: 4, kernel_size: 3}\n"
    )
    path.write_text('note: "see # cnninspect: input 1x8x8 here"\n# cnninspect: input 3x32x32\n' + model)
    assert json.loads(cli("summary", str(path), "--format", "json").stdout)["input"] == [1, 3, 32, 32]
    path.write_text("# cnninspect: input 3x32x32\n# cnninspect: input 3x64x64\n" + model)
    result = cli_error("summary", str(path))
    assert f"{path}:2:21: a second # cnninspect: input comment (the first is at line 1)" in result.stderr


@pytest.mark.parametrize(
    ("entry", "line", "col", "message"),
    [
        ("{_target_: torch.nn.Conv2d, _args_: 3, out_channels: 8}", 5, 43, "_args_ is the list of Conv2d's positional"),
        ("{_target_: torch.nn.Conv2d, _args_: null}", 5, 43, "_args_ is the list of Conv2d's positional"),
        (
            "{_target_: torch.nn.Sequential, _args_: [{_target_: torch.nn.ReLU}], name: x}",
            5,
            76,
            "a torch.nn.Sequential takes only _args_",
        ),
    ],
)
def test_bad_args_are_one_line_at_their_place(tmp_path, entry, line, col, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"# cnninspect: input 3x8x8\nmodel:\n  _target_: torch.nn.Sequential\n  _args_:\n    - {entry}\n")
    result = cli_error("summary", str(path))
    assert result.stderr.startswith(f"cnninspect: error: {path}:{line}:{col}: {message}")


def test_sequentials_nested_deeper_than_python_can_follow_are_one_line(tmp_path):
    path = tmp_path / "deep.yaml"
    inner = "{_target_: torch.nn.ReLU}"
    for _ in range(300):
        inner = f"{{_target_: torch.nn.Sequential, _args_: [{inner}]}}"
    path.write_text(f"# cnninspect: input 3x8x8\nmodel: {inner}\n")
    result = cli_error("summary", str(path))
    assert result.stderr.count("\n") == 1 and f"{path}:2:" in result.stderr


def test_fix_fc_edits_a_positional_argument_in_place(tmp_path):
    path = tmp_path / "pos.yaml"
    text = (
        "# cnninspect: input 3x32x32\nmodel:\n  _target_: torch.nn.Sequential\n  _args_:\n"
        "    - {_target_: torch.nn.Conv2d, _args_: [3, 8, 3]}\n"
        "    - {_target_: torch.nn.Conv2d, _args_: [3, 8], kernel_size: 3}\n"
    )
    path.write_text(text)
    assert cli("fix-fc", str(path), "--write").exit_code == 0
    assert path.read_text() == text.replace("_args_: [3, 8],", "_args_: [8, 8],")


def test_a_hydra_config_with_no_torch_model_says_so(tmp_path):
    path = tmp_path / "loss.yaml"
    path.write_text("loss:\n  _target_: torch.nn.CrossEntropyLoss\n")
    result = cli_error("summary", str(path))
    assert "a Hydra config without a torch.nn model" in result.stderr


HEAD = "# cnninspect: input 3x8x8\n"
CONV = "{_target_: torch.nn.Conv2d, in_channels: 3, out_channels: 4, kernel_size: 3}"
NET = (
    "  _target_: torch.nn.Sequential\n  _args_:\n    - {_target_: torch.nn.Conv2d, in_channels: 3, "
    "out_channels: 4, kernel_size: 3}\n    - {_target_: torch.nn.Flatten}\n"
    "    - {_target_: torch.nn.Linear, in_features: 999, out_features: 2}\n"
)


def test_an_anchor_before_the_model_is_not_taken_for_it(tmp_path):
    # 3×8×8 → conv k3 → 4×6×6 = 144 features; the model's fc says 999
    path = tmp_path / "m.yaml"
    path.write_text(f"{HEAD}x-conv: &c {CONV}\nmodel:\n{NET}")
    result = cli("lint", str(path), "--format", "concise")
    assert "in_features is 999 but it receives 144" in result.stdout and result.exit_code == 1


def test_several_candidate_models_are_named_and_a_comment_chooses(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(f"{HEAD}encoder: {CONV}\nnet:\n{NET}")
    result = cli("summary", str(path))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "several torch.nn trees could be the model: encoder (line 2), net (line 4)" in result.stderr
    path.write_text(f"{HEAD}# cnninspect: model net\nencoder: {CONV}\nnet:\n{NET}")
    assert "in_features is 999 but it receives 144" in cli("summary", str(path)).stdout
    path.write_text(f"{HEAD}# cnninspect: model decoder\nencoder: {CONV}\nnet:\n{NET}")
    assert "the comment names 'decoder', which holds no torch.nn model" in cli("summary", str(path)).stderr


def test_a_loss_beside_the_model_is_no_second_candidate(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(f"{HEAD}loss: {{_target_: torch.nn.CrossEntropyLoss}}\nnet:\n{NET}")
    assert "in_features is 999 but it receives 144" in cli("summary", str(path)).stdout
