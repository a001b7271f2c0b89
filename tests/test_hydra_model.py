"""--model FILE.yaml:NODE: a Hydra config's node built by hydra.utils.instantiate, and its fixes
written into the YAML where the value lives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import cli, cli_error

PROJECT = Path(__file__).parent.parent / "configs" / "hydra" / "lightning"

# SmallCNN at 1×28×28, padding 1: kernel 3 keeps 28 → pool 14 → 14 → pool 7, so fc gets 32·7·7.
CONV1 = 16 * (3 * 3 * 1) + 16
CONV2 = 32 * (3 * 3 * 16) + 32
FC = 32 * 7 * 7 * 10 + 10


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the example project, the working folder."""
    copy = tmp_path / "proj"
    shutil.copytree(PROJECT, copy)
    monkeypatch.chdir(copy)
    return copy


def totals(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["totals"]


def test_the_composed_net_is_built_as_training_builds_it(project):
    net = cli("summary", "--model", "train.yaml:model.net", "--format", "json")
    assert totals(net)["params"] == CONV1 + CONV2 + FC == 20_490
    # the whole module: the same net inside, lr is no parameter; the input from the config's comment
    group_file = cli("summary", "--model", "model/mnist.yaml:net", "--format", "json")
    assert totals(group_file)["params"] == 20_490
    module = cli("summary", "--model", "train.yaml:model", "--format", "json")
    assert totals(module)["params"] == 20_490


def test_an_override_changes_the_kernel_and_the_finding_points_at_the_yaml_line(project):
    result = cli("summary", "--model", "train.yaml:model.net", "--override", "model.net.kernel=5")
    assert result.exit_code == 1, result.stderr
    # kernel 5, padding 1: 28 → 26 → pool 13 → 11 → pool 5, so fc receives 32·5·5 = 800
    lines = (project / "model" / "mnist.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "fc_in" in text)
    assert f"model/mnist.yaml:{line}:10: CNN201 fc: in_features is 1568 but it receives 800" in result.stdout
    assert "set fc_in: 800 in model/mnist.yaml" in result.stdout


def test_fix_fc_writes_the_config_value_byte_exact_and_leaves_the_python_alone(project):
    config = project / "model" / "mnist.yaml"
    source = project / "src" / "models" / "small_cnn.py"
    before = config.read_bytes().replace(b"kernel: 3", b"kernel: 5")
    config.write_bytes(before)
    python = source.read_bytes()
    result = cli("fix-fc", "--model", "train.yaml:model.net", "--write")
    assert result.exit_code == 0, result.stderr
    assert config.read_bytes() == before.replace(b"fc_in: 1568", b"fc_in: 800")
    assert source.read_bytes() == python
    assert totals(cli("summary", "--model", "train.yaml:model.net", "--format", "json"))["params"] == (
        16 * 25 + 16 + 32 * 16 * 25 + 32 + 800 * 10 + 10
    )


def test_an_interpolated_value_is_written_where_it_is_defined(project):
    config = project / "model" / "mnist.yaml"
    text = config.read_text().replace("fc_in: 1568", "fc_in: ${..features}")
    text = text.replace("lr: 0.001", "lr: 0.001\nfeatures: 2048")
    config.write_text(text)
    result = cli("fix-fc", "--model", "train.yaml:model.net", "--write")
    assert result.exit_code == 0, result.stderr
    assert config.read_text() == text.replace("features: 2048", "features: 1568")


def test_a_value_set_by_an_override_is_explained_not_written(project):
    config = project / "model" / "mnist.yaml"
    before = config.read_bytes()
    result = cli("fix-fc", "--model", "train.yaml:model.net", "--override", "model.net.fc_in=99", "--write")
    assert result.exit_code == 1
    assert "model.net.fc_in is set by --override" in result.stdout + result.stderr
    assert config.read_bytes() == before


def test_a_resolver_is_refused_before_any_user_code_runs(project):
    (project / "src" / "models" / "small_cnn.py").write_text("raise SystemExit('user code ran')\n")
    config = project / "model" / "mnist.yaml"
    config.write_text(config.read_text().replace("fc_in: 1568", "fc_in: ${oc.env:HOME}"))
    result = cli_error("summary", "--model", "train.yaml:model.net")
    assert "calls a resolver, which cnninspect never runs" in result.stderr
    assert "model/mnist.yaml:9:10" in result.stderr and "user code ran" not in result.stderr


def test_a_missing_node_is_named_with_a_suggestion(project):
    result = cli_error("summary", "--model", "train.yaml:model.nett")
    assert "model has no 'nett'; did you mean 'net'?" in result.stderr
    assert "--override is for a Hydra config" in cli_error("summary", "--model", "x:y", "--override", "a=1").stderr


def test_lint_names_a_config_of_your_own_classes_and_builds_nothing(project):
    (project / "src" / "models" / "small_cnn.py").write_text("raise SystemExit('user code ran')\n")
    result = cli("lint", "model/mnist.yaml")
    assert result.exit_code == 0, result.stderr
    assert (
        "model/mnist.yaml: a Hydra config of your own classes (src.models.mnist_module.MnistModule, "
        "src.models.small_cnn.SmallCNN)" in result.stderr
    )
    assert "cnninspect summary --model model/mnist.yaml:net" in result.stderr
    assert "not a model spec" not in result.stderr and "user code ran" not in result.stderr


def test_lint_run_models_traces_the_config_and_points_at_the_yaml_line(project):
    config = project / "model" / "mnist.yaml"
    config.write_text(config.read_text().replace("kernel: 3", "kernel: 5"))
    result = cli("lint", "model/mnist.yaml", "--run-models", "--format", "concise")
    assert result.exit_code == 1, result.stderr
    assert "model/mnist.yaml:9:10: CNN201 net.fc: in_features is 1568 but it receives 800" in result.stdout
    # the same from [tool.cnninspect]; the input comes from the config's comment
    (project / "pyproject.toml").write_text("[tool.cnninspect]\nrun-models = true\n")
    assert "receives 800" in cli("lint", "model/mnist.yaml", "--format", "concise").stdout
    config.write_text(config.read_text().replace("kernel: 5", "kernel: 3"))
    clean = cli("lint", "model/mnist.yaml")
    assert clean.exit_code == 0 and clean.stdout == "", clean.stdout


def test_the_write_keeps_comments_and_crlf_and_arg_overrides_a_key(project):
    config = project / "model" / "mnist.yaml"
    before = config.read_bytes().replace(b"kernel: 3", b"kernel: 5").replace(b"fc_in: 1568", b"fc_in: 1568   # 32*7*7")
    before = before.replace(b"\n", b"\r\n")
    config.write_bytes(before)
    assert cli("fix-fc", "--model", "train.yaml:model.net", "--write").exit_code == 0
    assert config.read_bytes() == before.replace(b"fc_in: 1568   # 32*7*7", b"fc_in: 800   # 32*7*7")
    # --arg goes to hydra.utils.instantiate as a keyword, over the config's value: 16·25+16 + … with 4 classes
    small = cli("summary", "--model", "train.yaml:model.net", "--arg", "num_classes=4", "--format", "json")
    assert totals(small)["params"] == 16 * 25 + 16 + 32 * 16 * 25 + 32 + 800 * 4 + 4


def test_a_resolver_in_the_defaults_list_or_an_override_is_refused_before_hydra_composes(project):
    train = project / "train.yaml"
    train.write_text(train.read_text().replace("  - model: mnist", "  - model: ${oc.env:MODEL_NAME}"))
    refused = cli_error("summary", "--model", "train.yaml:model.net", "--input", "1x28x28")
    assert "train.yaml:3:12: ${oc.env:MODEL_NAME} calls a resolver" in refused.stderr
    override = cli_error("summary", "--model", "model/mnist.yaml:net", "--override", "net.fc_in=${oc.env:HOME}")
    assert "--override net.fc_in=${oc.env:HOME}: ${oc.env:HOME} calls a resolver" in override.stderr
