"""--model: the user's own nn.Module, from the tutorial's class to real-world model code."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from conftest import builtin, cli, cli_error
from torch import nn

from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.model import Mode, inspect_model, parse_target
from cnninspect.errors import ModelError
from cnninspect.rules import find_problems

MODELS = Path(__file__).parent / "fixtures" / "models"
TUTORIAL = MODELS / "tutorial_cnn.py"
TUTORIAL_K5 = MODELS / "tutorial_cnn_k5.py"
ZOO = MODELS / "zoo.py"


def trace(target: Path | str, *inputs: str, **options):
    return inspect_model(parse_target(f"{target}" if ":" in str(target) else str(target)), {}, inputs, **options)


def zoo_module():
    """The fixture module imported the ordinary way, so tests can hold its objects."""
    sys.path.insert(0, str(MODELS))
    try:
        return importlib.import_module("zoo")
    finally:
        sys.path.remove(str(MODELS))


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


# --- the tutorial -----------------------------------------------------------------------------


def test_the_tutorial_class_gives_the_yaml_reference_numbers():
    model = trace(f"{TUTORIAL}:myCNN", "3x32x32")
    reference = infer_shapes(builtin())
    by_name = {r.layer.name: r for r in reference.records}
    assert [r.layer.name for r in model.records] == ["conv1", "conv2", "fc"]
    for record in model.records:
        expected = by_name[record.layer.name]
        assert (record.output_shape, record.weights, record.biases) == (
            expected.output_shape,
            expected.weights,
            expected.biases,
        )
    assert model.total_params == 448 + 4_640 + 20_490 == reference.total_params
    assert find_problems(model) == []


def test_the_kernel_5_twin_points_at_the_fc_line_with_the_fix_in_the_authors_style(tmp_path):
    result = cli("summary", "--model", f"{TUTORIAL_K5}:myCNN", "--input", "3x32x32")
    assert result.exit_code == 1
    line = line_of(TUTORIAL_K5, "self.fc = nn.Linear(32 * 8 * 8, 10)")
    assert (
        f"{TUTORIAL_K5.relative_to(Path.cwd())}:{line}:9: CNN201 fc: in_features is 2048 but it receives 1568 "
        "(32×7×7 from conv2); set in_features: 1568 → nn.Linear(32 * 7 * 7, 10)" in result.stdout
    )

    copy = tmp_path / "tutorial_cnn_k5.py"
    shutil.copy(TUTORIAL_K5, copy)
    written = cli("fix-fc", "--model", f"{copy}:myCNN", "--input", "3x32x32", "--write")
    assert written.exit_code == 0, written.stderr
    before, after = TUTORIAL_K5.read_text().splitlines(), copy.read_text().splitlines()
    assert [(a, b) for a, b in zip(before, after) if a != b] == [
        ("        self.fc = nn.Linear(32 * 8 * 8, 10)", "        self.fc = nn.Linear(32 * 7 * 7, 10)")
    ]
    assert cli("summary", "--model", f"{copy}:myCNN", "--input", "3x32x32").exit_code == 0
    assert cli("fix-fc", "--model", f"{copy}:myCNN", "--input", "3x32x32", "--check").exit_code == 0


def test_a_larger_input_makes_the_tutorials_view_change_the_batch():
    result = cli("summary", "--model", f"{TUTORIAL}:myCNN", "--input", "3x64x64")
    assert result.exit_code == 1
    # x.view(-1, 3, 32, 32) turns one 3×64×64 image into 64·64 / (32·32) = 4 samples
    assert "CNN206 the model takes a batch of 1 but returns 4 (4, 10)" in result.stdout


# --- real-world model code ---------------------------------------------------------------------


def test_residual_block_functional_calls_and_totals_from_pytorch():
    zoo = zoo_module()
    model = trace(f"{ZOO}:ResNetish", "3x32x32")
    assert [r.layer.name for r in model.records] == [
        "stem",
        "block.conv1",
        "block.bn1",
        "block.conv2",
        "block.bn2",
        "pool",
        "head",
    ]
    assert model.records[-1].input_shape == (1, 8 * 16 * 16)
    assert model.total_params == sum(p.numel() for p in zoo.ResNetish().parameters())
    assert find_problems(model) == []


def test_depth_folds_children_into_their_parent():
    model = trace(f"{ZOO}:ResNetish", "3x32x32", depth=1)
    assert [r.layer.name for r in model.records] == ["stem", "block", "pool", "head"]
    block = model.records[1]
    assert block.params == 2 * (8 * 8 * 3 * 3) + 2 * (8 + 8)  # two bias-free convs, two BatchNorms
    assert model.total_params == trace(f"{ZOO}:ResNetish", "3x32x32").total_params
    tree = trace(f"{ZOO}:ResNetish", "3x32x32", depth=2)
    assert [(r.layer.name, r.depth) for r in tree.records][1:3] == [("block", 0), ("block.conv1", 1)]
    # the block's output is its last child's: activations are counted once
    assert tree.activation_bytes == trace(f"{ZOO}:ResNetish", "3x32x32").activation_bytes


def test_sequential_inside_a_class_has_qualified_names():
    model = trace(f"{ZOO}:Sequentials", "1x28x28")
    assert [r.layer.name for r in model.records] == [
        "features.0",
        "features.1",
        "features.2",
        "classifier.0",
        "classifier.1",
    ]
    assert model.records[3].output_shape == (1, 4 * 12 * 12)  # (28 - 5 + 1) // 2 = 12
    assert find_problems(model) == []
    assert model.records[0].layer.location.line == line_of(ZOO, "nn.Conv2d(1, 4, 5)")


def test_norms_count_one_mult_add_per_output_value_where_torchinfo_counts_their_parameters():
    """The ResNet-18 figures of docs/model.md, from PyTorch's counter and torchinfo themselves."""
    import torchinfo
    from torch.utils.flop_counter import FlopCounterMode

    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import reference_models
    finally:
        sys.path.remove(str(Path(__file__).parent))
    with torch.device("meta"):
        resnet = reference_models.resnet18().eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        resnet(torch.zeros(1, 3, 224, 224, device="meta"))
    products = counter.get_total_flops() // 2
    assert products == 1_814_073_344
    theirs = torchinfo.summary(resnet, input_size=(1, 3, 224, 224), verbose=0, device="meta").total_mult_adds
    norm_parameters = sum(p.numel() for m in resnet.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    assert norm_parameters == 9_600 and theirs == products + 1_000 + norm_parameters == 1_814_083_944
    # the values the 20 BatchNorms put out: the stem's, then 4, 5, 5 and 5 per stage
    outputs = 64 * 112 * 112 + 4 * 64 * 56 * 56 + 5 * 128 * 28 * 28 + 5 * 256 * 14 * 14 + 5 * 512 * 7 * 7
    assert outputs == 2_483_712
    ours = trace(f"{Path(__file__).parent / 'reference_models.py'}:resnet18", "3x224x224")
    assert sum(r.mult_adds for r in ours.records) == products + 1_000 + outputs == 1_816_558_056


def test_a_module_called_twice_is_shown_per_call_and_counted_once():
    model = trace(f"{ZOO}:Reused", "4x8x8")
    assert [r.layer.name for r in model.records] == ["conv", "act", "conv", "act"]
    assert [r.params for r in model.records] == [4 * 4 * 3 * 3 + 4, 0, 0, 0]
    assert model.records[2].note == "called again: parameters counted in row 0"  # the row of conv's first call
    assert model.total_params == 4 * 4 * 3 * 3 + 4


def test_a_module_sharing_several_parameters_says_so_once():
    model = trace(f"{ZOO}:SharedConv", "4x8x8")
    assert [r.params for r in model.records] == [4 * 4 * 3 * 3 + 4, 0]
    assert model.records[1].note == "shares weight, bias with first"


def test_tied_weights_are_counted_once():
    zoo = zoo_module()
    model = trace(f"{ZOO}:Tied", "16")
    assert model.total_params == sum(p.numel() for p in zoo.Tied().parameters()) == 16 * 16 + 16 + 16
    assert model.records[1].note == "shares weight with encoder"


def test_parameters_of_a_module_forward_never_calls_get_their_own_row():
    zoo = zoo_module()
    model = trace(f"{ZOO}:Unused", "3x8x8")
    assert [(r.layer.name, r.weights, r.biases) for r in model.records] == [
        ("conv", 4 * 3 * 3 * 3, 4),
        ("spare", 4 * 2, 2),
    ]
    assert model.records[1].note == "never called in forward: parameters only"
    assert model.total_params == sum(p.numel() for p in zoo.Unused().parameters())


def test_three_mistakes_in_one_run_and_fixed_in_one_write(tmp_path):
    model = trace(f"{ZOO}:ThreeMistakes", "3x32x32")
    assert [f.rule.code for f in find_problems(model)] == ["CNN202", "CNN303", "CNN203", "CNN201"]
    copy = tmp_path / "zoo.py"
    shutil.copy(ZOO, copy)
    result = cli("fix-fc", "--model", f"{copy}:ThreeMistakes", "--input", "3x32x32", "--write")
    assert result.exit_code == 0, result.stderr
    before, after = ZOO.read_text().splitlines(), copy.read_text().splitlines()
    assert [(a.strip(), b.strip()) for a, b in zip(before, after) if a != b] == [
        ("self.conv2 = nn.Conv2d(8, 32, 3)", "self.conv2 = nn.Conv2d(16, 32, 3)"),
        ("self.bn2 = nn.BatchNorm2d(64)", "self.bn2 = nn.BatchNorm2d(32)"),
        # conv1: 32 - 3 + 1 = 30; conv2: 28; bn2 passes on 32 channels: 32 * 28 * 28
        ("self.fc = nn.Linear(4096, 10)", f"self.fc = nn.Linear({32 * 28 * 28}, 10)"),
    ]
    fixed = importlib.util.spec_from_file_location("fixed_zoo", copy)
    module = importlib.util.module_from_spec(fixed)
    fixed.loader.exec_module(module)
    module.ThreeMistakes()(torch.zeros(1, 3, 32, 32))  # PyTorch itself accepts the fixed model


def test_a_non_literal_argument_gets_a_suggestion_only(tmp_path):
    copy = tmp_path / "zoo.py"
    shutil.copy(ZOO, copy)
    result = cli("fix-fc", "--model", f"{copy}:Computed", "--input", "1x8x8", "--write")
    # 2 channels × 6 × 6 = 72
    assert (
        "not fixed automatically: the argument is not a literal or a product of literals; write nn.Linear(72, 10)"
        in result.stdout
    )
    assert copy.read_text() == ZOO.read_text()
    assert result.exit_code == 1


def test_a_layer_built_in_an_installed_package_is_shown_from_the_package_down(tmp_path):
    package = tmp_path / "lib" / "python3.11" / "site-packages" / "fakezoo"
    package.mkdir(parents=True)
    nets = package / "nets.py"
    model = "nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(100, 2))"
    nets.write_text(f"import torch.nn as nn\n\n\ndef make():\n    return {model}\n")
    result = cli("summary", "--model", f"{nets}:make", "--input", "3x8x8", columns=80)
    assert result.exit_code == 1
    finding = result.stdout.splitlines()[-1]
    assert finding.startswith("fakezoo/nets.py:5:5: CNN201 2: in_features is 100 but it receives 144")
    assert finding.endswith("→ nn.Linear(144, 2)")  # the file itself was read
    machine = cli("summary", "--model", f"{nets}:make", "--input", "3x8x8", "--format", "json")
    assert json.loads(machine.stdout)["findings"][0]["path"] == str(nets)  # tools get the whole path


def test_a_real_model_at_80_columns_keeps_params_and_mult_adds():
    resnet = Path(__file__).parent / "reference_models.py"
    result = cli("summary", "--model", f"{resnet}:resnet18", "--input", "3x224x224", "--depth", "3", columns=80)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[-2:] == ["Params", "Mult-adds"]
    assert all(len(line) <= 80 for line in lines)
    assert "layer2.0.downsample" in result.stdout and "[1," not in result.stdout  # every map written H×W×C


def test_several_inputs_integer_inputs_and_factories():
    two = trace(f"{ZOO}:TwoInputs", "3x8x8", "5")
    assert two.records[-1].input_shape == (1, 4 * 6 * 6 + 5)
    assert find_problems(two) == []
    tokens = trace(f"{ZOO}:Tokens", "16", dtypes=["int64"])
    assert tokens.records[-1].output_shape == (1, 4, 16 - 3 + 1)
    factory = inspect_model(parse_target(f"{ZOO}:make_small"), {"width": 8}, ["3x8x8"])
    assert factory.records[0].output_shape == (1, 8, 6, 6)
    assert factory.total_params == (8 * 3 * 3 * 3 + 8) + (8 * 6 * 6 * 2 + 2)


def test_the_users_instance_is_not_moved_switched_hooked_or_changed():
    zoo = zoo_module()
    net = zoo.instance
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    init = nn.Module.__init__
    result = cli("summary", "--model", "zoo:instance", "--input", "3x8x8")
    assert result.exit_code == 0, result.stderr
    assert zoo.instance is net and net.training
    assert all(p.device.type == "cpu" and p.grad is None for p in net.parameters())
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())  # BatchNorm stats untouched
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())
    assert nn.Module.__init__ is init


def test_a_class_or_factory_is_traced_in_eval_mode_and_train_mode_is_an_option():
    model = trace(f"{ZOO}:AuxHead", "3x8x8")
    assert model.returned == (1, 10)  # the inference head; BatchNorm1d takes one sample in eval mode
    with pytest.raises(ModelError, match="Expected more than 1 value per channel when training"):
        trace(f"{ZOO}:AuxHead", "3x8x8", mode=Mode.TRAIN)
    trained = trace(f"{ZOO}:AuxHead", "3x8x8", mode=Mode.TRAIN, batch=2)
    assert trained.returned == (2, 4)  # the auxiliary head, used in training mode only
    result = cli("summary", "--model", f"{ZOO}:AuxHead", "--input", "3x8x8", "--mode", "train")
    assert result.exit_code == 2 and "Expected more than 1 value per channel when training" in result.stderr
    refused = cli("summary", "--mode", "eval")
    assert refused.exit_code == 2 and "--mode is for --model" in refused.stderr


def test_an_instance_keeps_its_own_mode_unless_told_and_is_left_as_it_was():
    zoo = zoo_module()
    training, evaluating = zoo.aux_head, zoo.aux_head_eval
    assert training.training and not evaluating.training
    as_given = cli("summary", "--model", "zoo:aux_head", "--input", "3x8x8")
    assert as_given.exit_code == 2 and "Expected more than 1 value per channel when training" in as_given.stderr
    told = cli("summary", "--model", "zoo:aux_head", "--input", "3x8x8", "--mode", "eval", "--format", "json")
    assert told.exit_code == 0, told.stderr
    layers = {layer["name"]: layer for layer in json.loads(told.stdout)["layers"]}
    assert layers["head"]["output_shape"] == [1, 10] and layers["aux"]["notes"].startswith("never called")
    assert training.training and all(m.training for m in training.modules())
    trained = cli("summary", "--model", "zoo:aux_head_eval", "--input", "3x8x8", "--mode", "train", "--batch", "2")
    assert trained.exit_code == 0, trained.stderr
    assert not any(m.training for m in evaluating.modules())
    assert inspect_model(parse_target("zoo:aux_head_eval"), {}, ["3x8x8"]).returned == (1, 10)


@pytest.fixture(autouse=True)
def _fixtures_importable(monkeypatch):
    monkeypatch.chdir(Path(__file__).parent.parent)
    monkeypatch.syspath_prepend(str(MODELS))


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((f"{ZOO}:BadConstructor",), "BadConstructor() failed: ValueError: width must be at least 8, got 4"),
        ((f"{ZOO}:BadForward",), "forward pass failed: RuntimeError: shape '[-1, 999]' is invalid"),
        ((f"{ZOO}:Nope",), "has no 'Nope'"),
        ((f"{ZOO}:not_a_model",), "not_a_model is an int, not an nn.Module, class or factory"),
        (("no_such_module:Net",), "importing no_such_module failed: ModuleNotFoundError"),
        ((f"{ZOO}",), "write path/to/file.py:NAME, package.module:NAME or path/to/config.yaml:NODE"),
        (("configs/tutorial.yaml:myCNN",), "configs/tutorial.yaml is a cnninspect spec, not a Hydra config"),
        (("configs/darknet/yolov3-tiny.cfg:net",), "is not a .py file or a Hydra .yaml config"),
    ],
)
def test_errors_are_one_line_naming_the_place(args, message):
    result = cli_error("summary", "--model", *args, "--input", "3x8x8")
    assert result.stderr.startswith("cnninspect: error: ") and len(result.stderr.splitlines()) == 1
    assert message in result.stderr


def test_a_forward_failure_names_the_users_line_and_debug_shows_the_traceback():
    result = cli("summary", "--model", f"{ZOO}:BadForward", "--input", "3x8x8")
    assert f"zoo.py:{line_of(ZOO, 'return x.view(-1, 999)')}: forward pass failed" in result.stderr
    debug = cli("summary", "--model", f"{ZOO}:BadForward", "--input", "3x8x8", "--debug")
    assert "Traceback (most recent call last)" in debug.stderr and "x.view(-1, 999)" in debug.stderr


def test_model_needs_an_input_and_refuses_spec_overrides():
    assert "needs --input" in cli("summary", "--model", f"{ZOO}:Reused").stderr
    refused = cli_error("summary", "--model", f"{ZOO}:Reused", "--input", "4x8x8", "--kernel", "5")
    assert "takes --arg instead" in refused.stderr


def test_help_says_it_runs_the_users_code():
    assert "RUNS YOUR CODE" in " ".join(cli("summary", "--help").stdout.split())
    assert "RUNS YOUR CODE" in " ".join(cli("fix-fc", "--help").stdout.split())
