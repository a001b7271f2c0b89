"""The command line: exit codes, streams, golden outputs, clean errors."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import ROOT, cli, cli_error


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv"])
@pytest.mark.parametrize("kernel", [3, 5])
def test_tutorial_golden_output_in_every_format(golden, fmt, kernel):
    result = cli("summary", "--format", fmt, "--kernel", str(kernel))
    assert result.exit_code == (0 if kernel == 3 else 1)
    golden(f"tutorial_k{kernel}.{fmt}.out", result.stdout)


SUMMED = ("params", "weights", "biases", "trainable", "mult_adds")
"""Per-layer numbers whose column adds up to the footer's total."""


@pytest.mark.parametrize(
    "args",
    [
        ["--kernel", "3"],
        ["--kernel", "5"],
        [f"{ROOT}/configs/resnet18.yaml", "--engine", "analytic"],
        [f"{ROOT}/configs/unet.yaml", "--engine", "analytic"],
        [f"{ROOT}/configs/darknet/yolov3-tiny.cfg", "--engine", "analytic"],
        [f"{ROOT}/configs/hydra/cifar_cnn.yaml", "--engine", "analytic"],
        ["--model", f"{ROOT}/tests/fixtures/models/tutorial_cnn.py:myCNN", "--input", "3x32x32"],
    ],
)
def test_layer_rows_add_up_to_the_totals_in_json_and_the_table_footer(args):
    document = json.loads(cli("summary", *args, "--format", "json").stdout)
    table = cli("summary", *args).stdout
    layers, totals = document["layers"], document["totals"]
    assert len(layers) >= 3
    for key in SUMMED:
        assert sum(layer[key] for layer in layers) == totals[key], key
    assert totals["params"] == totals["weights"] + totals["biases"]
    footer = f"Total params: {totals['params']:,} (weights {totals['weights']:,} + biases {totals['biases']:,})"
    assert footer in table
    assert f"Mult-adds: {sum(layer['mult_adds'] for layer in layers):,} " in table


def test_explain_golden(golden):
    result = cli("summary", "--kernel", "5", "--explain", "--engine", "analytic")
    golden("tutorial_k5_explain.out", result.stdout)
    assert "⌊(32 + 2·1 − 5) / 2⌋ + 1 = 15" in result.stdout
    assert "⌊(15 + 2·1 − 5) / 2⌋ + 1 = 7" in result.stdout
    assert "32 × 7 × 7 = 1,568" in result.stdout


def test_machine_formats_keep_stdout_clean_and_findings_on_stderr():
    result = cli("summary", "--format", "json", "--kernel", "5")
    document = json.loads(result.stdout)
    assert document["input"] == [1, 3, 32, 32]
    assert [layer["output_shape"] for layer in document["layers"]][2] == [1, 32, 7, 7]
    assert document["findings"][0]["fix"] == {"arg": "in_features", "value": 32 * 7 * 7}
    assert "CNN201 fc: in_features is 2048 but it receives 1568" in result.stderr


def test_exit_0_when_clean_and_the_default_model_needs_no_spec():
    result = cli("summary")
    assert result.exit_code == 0
    assert "Total params: 25,578" in result.stdout
    assert "No size problems found." in result.stdout


def test_exit_1_on_mismatch_with_every_row_shown():
    result = cli("summary", "--kernel", "5")
    assert result.exit_code == 1
    fc_row = next(line for line in result.stdout.splitlines() if line.split()[:2] == ["5", "fc"])
    assert fc_row.endswith("✗ CNN201")
    assert (
        "<built-in>:10:5: CNN201 fc: in_features is 2048 but it receives 1568 (32×7×7 from conv2); "
        "set in_features: 1568" in result.stdout
    )


def test_every_mismatch_in_one_run(tmp_path):
    spec = tmp_path / "three.yaml"
    spec.write_text(
        "input: [3, 32, 32]\nlayers:\n"
        "  - {type: Conv2d, name: conv1, out_channels: 16, kernel_size: 3}\n"
        "  - {type: Conv2d, name: conv2, in_channels: 8, out_channels: 32, kernel_size: 3}\n"
        "  - {type: BatchNorm2d, name: bn, num_features: 16}\n"
        "  - Flatten\n"
        "  - {type: Linear, name: fc, in_features: 100, out_features: 10}\n"
    )
    result = cli("summary", str(spec), "--format", "csv")
    assert result.exit_code == 1
    codes = [line.split(": ")[1].split()[0] for line in result.stderr.splitlines()]
    assert codes == ["CNN202", "CNN303", "CNN203", "CNN201"]  # conv2's bias before bn is a warning
    assert "conv2: in_channels is 8 but it receives 16 (from conv1); set in_channels: 16" in result.stderr
    assert "bn: num_features is 16 but it receives 32 (from conv2); set num_features: 32" in result.stderr
    # bn passes on the 32 channels it really receives: 32 - 3 + 1 = 30, 30 - 3 + 1 = 28
    assert f"receives {32 * 28 * 28} (32×28×28 from conv2); set in_features: {32 * 28 * 28}" in result.stderr


def test_spatial_collapse_is_flagged_and_the_trace_goes_on():
    result = cli("summary", "--input", "3x4x4", "--kernel", "7", "--format", "csv")
    assert result.exit_code == 1
    # conv1: (4 + 2 - 7) // 2 + 1 = 0 → needs an input of at least 7 - 2 = 5
    assert "CNN204 conv1: height and width 4 are too small" in result.stderr
    assert "it needs at least 5" in result.stderr
    assert result.stdout.count("\n") == 7  # header and all six layers


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lint", "x", "--format", "yaml"], "--format': 'yaml' is not one of full, concise, json, github, sarif; "),
        (
            ["summary", "--format", "jsn"],
            "--format': 'jsn' is not one of table, json, markdown, csv; did you mean 'json'? ",
        ),
        (
            ["summary", "--engine", "touch"],
            "--engine': 'touch' is not one of auto, analytic, torch; did you mean 'torch'? ",
        ),
        (
            ["lint", "x", "--fail-on", "warn"],
            "--fail-on': 'warn' is not one of error, warning; did you mean 'warning'? ",
        ),
        (["rules", "--format", "json"], "--format': 'json' is not one of table, markdown; "),
        (["summary", "--batch", "0"], "--batch': must be at least 1, not 0; "),
        (["summary", "--kernel", "3.5"], "--kernel': '3.5' is not a whole number; "),
        (["summary", "--timeout", "soon"], "--timeout': 'soon' is not a number; "),
    ],
)
def test_a_bad_option_value_is_said_in_our_words(args, message):
    result = cli(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2
    hint = f"`cnninspect {args[0]} --help` lists the options"
    assert result.stderr == f"cnninspect: error: Invalid value for '{message}{hint}\n"
    assert "Value error" not in result.stderr and "Input should" not in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["summary", "nope.yaml"], "nope.yaml: no such file"),
        (["summary", "--set", "conv9.kernel_size=5"], "no layer named 'conv9'"),
        (
            ["summary", "--set", "conv1.trainable=false"],
            "only arguments can be set, not the layer's trainable; write trainable: false on the layer in the spec",
        ),
        (["summary", "--set", "conv1.repeat=2"], "only arguments can be set, not the layer's repeat"),
        (["summary", "--layers", "Conv2d(3, 16, 3) Foo(1)"], "torch.nn has no layer 'Foo'"),
        (["summary", "--layers", "ReLU()", "--engine", "analytic", "--input", "3x0"], "needs 1 to 4 sizes"),
        (["summary", "--padding", "lots"], "--padding 'lots'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, words):
    result = cli_error(*args)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnninspect: error: ")
    assert words in lines[0]
    assert "Traceback" not in result.output


def test_bad_yaml_names_file_line_col(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: -1}\n")
    result = cli_error("summary", str(spec))
    assert result.stderr.strip() == (
        f"cnninspect: error: {spec}:3:50: layer 0: kernel_size: "
        "expected an integer ≥ 1 or a list of 2 such integers, got -1"
    )


def test_layer_names_with_markup_print_literally(tmp_path):
    spec = tmp_path / "markup.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - {type: ReLU, name: 'conv[/i]'}\n  - {type: ReLU, name: 'a[b]c'}\n")
    result = cli("summary", str(spec))
    assert result.exit_code == 0
    assert "conv[/i]" in result.stdout and "a[b]c" in result.stdout


def test_torch_only_layers_go_through_the_torch_engine():
    result = cli("summary", "--layers", "Conv2d(3, 16, 3, padding=1) PixelShuffle(2) Flatten()", "--format", "json")
    assert result.exit_code == 0
    shapes = [layer["output_shape"] for layer in json.loads(result.stdout)["layers"]]
    assert shapes == [[1, 16, 32, 32], [1, 16 // 4, 64, 64], [1, 4 * 64 * 64]]
    analytic = cli_error("summary", "--layers", "PixelShuffle(2)", "--engine", "analytic")
    assert "use --engine torch" in analytic.stderr


def test_debug_shows_what_pytorch_said_when_it_refuses_a_layer():
    args = ("summary", "--layers", "Conv2d(3,16,3) PixelShuffle(3)")
    plain = cli_error(*args)
    assert plain.stderr.startswith("cnninspect: error: --layers:1:16: layer 1 (PixelShuffle) cannot take an input")
    assert "Traceback" not in plain.stderr
    debug = cli_error(*args, "--debug")
    assert "Traceback (most recent call last)" in debug.stderr  # the cause is kept (raise … from error)
    # 16 channels cannot be shuffled by 3: 16 is not a multiple of 3 * 3
    assert "RuntimeError: Invalid input shape for pixel_shuffle" in debug.stderr


def test_help_and_version():
    assert cli("--help").exit_code == 0
    summary_help = cli("summary", "--help").stdout
    assert "--kernel" in summary_help and "--set" in summary_help
    assert cli("--version").stdout.startswith("cnninspect ")


def test_help_and_the_analytic_engine_never_import_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cnninspect.cli import app\n"
        "runner = CliRunner()\n"
        "assert runner.invoke(app, ['--help']).exit_code == 0\n"
        "assert runner.invoke(app, ['summary', '--engine', 'analytic', '--format', 'csv']).exit_code == 0\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


LAZY = (
    "torch",
    "cnninspect.engines.analytic",
    "cnninspect.engines.torch",
    "cnninspect.engines.model",
    "cnninspect.linter",
    "cnninspect.metrics",
    "cnninspect.inputs",
    "cnninspect.formats.summary",
)
"""Modules --help and rules must not load: torch, the engines that trace, lint's driver, the
statistics, the input formats and the summary renderers."""


@pytest.mark.parametrize("args", [["--help"], ["rules"], ["rules", "CNN201"], ["summary", "--help"]])
def test_help_and_rules_import_no_engine_no_checks_and_no_torch(args):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cnninspect.cli import app\n"
        f"assert CliRunner().invoke(app, {args!r}).exit_code == 0\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = result.stdout.split()
    assert "cnninspect.cli" in modules and "typer" in modules
    # engines.records is data (the records and mismatch kinds the rules are written against), no engine
    engines = [m for m in modules if m.startswith("cnninspect.engines.") and m != "cnninspect.engines.records"]
    loaded = engines + [m for m in modules if m.split(".")[0] == "torch"]
    loaded += [m for m in modules for lazy in LAZY if m == lazy or m.startswith(lazy + ".")]
    assert loaded == []
    if args == ["--help"]:  # the help page is plain text: not even Rich, nor any rule, is needed
        assert not [m for m in modules if m.split(".")[0] == "rich"]
        assert not [m for m in modules if m == "cnninspect.rules" or m.startswith("cnninspect.rules.")]


@pytest.mark.parametrize("fmt", ["concise", "full"])
def test_clean_lint_needs_no_rich(fmt, tmp_path):
    """concise is plain text; a clean full report is empty. Neither needs Rich, however many files
    (a long run's progress bar is only for a terminal, and CliRunner's stderr is none)."""
    import subprocess
    import sys

    for n in range(25):
        shutil.copy(ROOT / "configs" / "lenet5.yaml", tmp_path / f"model{n}.yaml")
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cnninspect.cli import app\n"
        f"result = CliRunner().invoke(app, ['lint', {str(tmp_path)!r}, '--format', {fmt!r}])\n"
        "assert result.exit_code == 0 and result.stdout == '', result.output\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = result.stdout.split()
    assert "cnninspect.linter" in modules
    assert not [m for m in modules if m.split(".")[0] in ("rich", "torch")]


LINT_NEEDS_NOT = (
    "torch",
    "rich",
    "cnninspect.engines.torch",
    "cnninspect.engines.model",
    "cnninspect.formats.summary",
    "cnninspect.formats.table",
    "cnninspect.draw",
    "cnninspect.export",
    "cnninspect.fixes",
    "cnninspect.metrics",
    "cnninspect.input_sizes",
    "cnninspect.inputs.ultralytics.read",
    "cnninspect.inputs.darknet.read",
    "cnninspect.inputs.darknet.edit",
)
"""What lint of clean specs on catalog layers never loads: torch, Rich, the engines it does not use,
the summary and its statistics (CNN301 loads them for a Linear that gets a feature map), drawing,
export, the fixers, and the readers of the formats it reads no file of."""


def test_lint_imports_the_analytic_engine_and_the_checks_only(tmp_path):
    import subprocess
    import sys

    for n, name in enumerate(("lenet5", "resnet18", "mobilenet_v2")):
        shutil.copy(ROOT / "configs" / f"{name}.yaml", tmp_path / f"model{n}.yaml")
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cnninspect.cli import app\n"
        f"result = CliRunner().invoke(app, ['lint', {str(tmp_path)!r}])\n"
        "assert result.exit_code == 0 and 'All checks passed: 3 files checked.' in result.output, result.output\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = result.stdout.split()
    assert {"cnninspect.linter", "cnninspect.engines.analytic", "cnninspect.rules"} <= set(modules)
    loaded = [m for m in modules for heavy in LINT_NEEDS_NOT if m == heavy or m.startswith(heavy + ".")]
    assert loaded == []


def test_the_cli_names_the_engine_default_and_the_suffixes_lint_walks():
    from cnninspect import cli_options, inputs
    from cnninspect.engines.model import DEFAULT_TIMEOUT

    assert cli_options.MODEL_TIMEOUT == DEFAULT_TIMEOUT
    # the help is built without importing the formats, so it keeps its own copy of their names
    assert [s.lstrip("*") for s in cli_options.SPEC_SUFFIXES] == list(inputs.FILE_SUFFIXES)
    assert list(cli_options.SPEC_FORMATS) == [fmt.title for fmt in inputs.FORMATS]
    page = " ".join(cli_page("lint").split())
    assert "walked for *.yaml, *.yml and *.cfg" in page
    formats = "cnninspect YAML spec, darknet .cfg, Hydra config or Ultralytics model YAML"
    assert f"not a {formats} are skipped" in page
    for command in ("summary", "fix-fc", "sizes", "export"):
        assert f"A model file: {formats}." in " ".join(
            cli_page(command).split()
        )


def cli_page(command: str) -> str:
    return cli(command, "--help", columns=200).stdout


def test_arguments_read_as_their_metavar_in_usage_and_in_the_list():
    lint_page, summary_page = cli_page("lint"), cli_page("summary")
    assert "Usage: cnninspect lint [OPTIONS] PATH..." in lint_page
    assert re.search(r"^\s+PATH\.\.\.\s+Model files", lint_page, re.M)
    assert "Usage: cnninspect summary [OPTIONS] [SPEC]" in summary_page
    assert re.search(r"^\s+SPEC\s+A model file", summary_page, re.M)
    assert "{" not in lint_page + summary_page and "<list" not in lint_page


# --- one way per option -----------------------------------------------------------------------

PER_COMMAND = ("--format", "--engine", "--input", "--depth")
"""Options whose choices differ by command (each command's own formats; summary's engine default,
explained in its help; --input, which may be repeated where --model exists; --depth, whose default
is everything in a table and one page in a drawing)."""


def commands():
    import typer

    from cnninspect.cli import app

    return typer.main.get_command(app).commands


def test_an_option_means_the_same_thing_on_every_command():
    seen: dict[str, set] = {}
    for command in commands().values():
        for param in command.params:
            if param.opts[0].startswith("--") and param.opts[0] not in PER_COMMAND:
                seen.setdefault(param.opts[0], set()).add((param.help, param.metavar, param.default))
    assert all(len(variants) == 1 for variants in seen.values()), {k: v for k, v in seen.items() if len(v) > 1}
    assert len(seen) > 10
    engines = {name: p for name, c in commands().items() for p in c.params if p.opts[0] == "--engine"}
    # summary: torch, or analytic where torch is not installed (tests/test_without_torch.py)
    assert {name: p.default and p.default.value for name, p in engines.items()} == {
        "summary": None,
        "fix-fc": "auto",
        "draw": "auto",
        "lint": "auto",
        "export": "auto",
    }
    assert "summary defaults to torch: its table shows what PyTorch itself computes" in engines["summary"].help
    inputs = {p.metavar for c in commands().values() for p in c.params if p.opts[0] == "--input"}
    assert inputs == {"CxHxW"}


def test_help_never_mentions_an_option_the_command_lacks_and_metavars_read_like_values():
    import re

    for name, command in commands().items():
        options = {o for p in command.params for o in p.opts} | {"--help"}
        texts = [command.help or ""] + [p.help or "" for p in command.params if hasattr(p, "help")]
        mentioned = {m for text in texts for m in re.findall(r"--[a-z][a-z-]+", text)}
        assert mentioned <= options, (name, mentioned - options)
        page = cli(name, "--help", columns=200).stdout
        assert not re.search(r"<(list|str|int|path)\b", page), name
    assert "--set LAYER.ARG=VALUE" in cli("summary", "--help", columns=200).stdout
    assert "Usage: cnninspect lint [OPTIONS] PATH..." in cli("lint", "--help").stdout


@pytest.mark.parametrize("option", [["--arg", "num_classes=3"], ["--dtype", "int64"]])
@pytest.mark.parametrize("command", ["summary", "fix-fc"])
def test_model_options_without_a_model_are_an_error(command, option):
    result = cli_error(command, *option)
    assert result.stderr == f"cnninspect: error: {option[0]} is for --model; this run has no --model\n"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["summary", "--kernal", "3"], "No such option: --kernal"),
        (["summary", "--batch", "0"], "Invalid value for '--batch'"),
        (["summary", "--format", "xml"], "Invalid value for '--format'"),
        (["lint"], "Missing argument 'PATH'"),
        (["sumary"], "No such command 'sumary'"),
    ],
)
def test_usage_errors_are_one_line_with_a_hint(args, words):
    result = cli_error(*args)
    (line,) = result.stderr.splitlines()
    assert line.startswith("cnninspect: error: ") and words in line
    assert line.endswith("--help` lists the commands" if args == ["sumary"] else "--help` lists the options")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("given", "code", "corrected"),
    [("32x32x3", "CNN202", "--input 3x32x32"), ("1x3x32x32", "CNN205", "--input 3x32x32")],
)
def test_an_input_in_the_wrong_layout_gets_the_corrected_input_not_a_fix(given, code, corrected):
    result = cli("summary", "--input", given, "--format", "json")
    (only,) = json.loads(result.stdout)["findings"]  # said once: nothing that follows from the input
    assert only["code"] == code and only["layer"] == "conv1"
    assert only["message"].endswith(corrected) and only["fix"] is None
    fixes = cli("fix-fc", "--input", given)
    assert "in_channels 3 → 32" not in fixes.stdout and "→" not in fixes.stdout
    assert corrected in fixes.stdout
    # 32x32x3 read as C×H×W gives fc 32 × 8 × 1 = 256 features: advice to set that would be wrong
    table = cli("summary", "--input", given)
    assert table.exit_code == 1 and "Total params" not in table.stdout  # no table of a mistaken trace
    assert "the table follows once it is corrected" in table.stdout and corrected in table.stdout
    for output in (fixes.stdout + fixes.stderr, table.stdout):
        assert "in_features" not in output and "256" not in output
    lint = cli("lint", "configs/tutorial.yaml", "--input", given, "--format", "concise")
    assert lint.exit_code == 1 and len(lint.stdout.splitlines()) == 1 and f"{code} conv1:" in lint.stdout


def test_a_channels_last_input_in_a_spec_file_gets_the_spec_line(tmp_path):
    spec = tmp_path / "hwc.yaml"
    spec.write_text(
        "input: [28, 28, 1]\nlayers:\n  - {type: Conv2d, in_channels: 1, out_channels: 4, kernel_size: 3}\n"
    )
    message = json.loads(cli("summary", str(spec), "--format", "json").stdout)["findings"][0]["message"]
    assert message.endswith("looks channels-last (H×W×C), but cnninspect reads C×H×W: input: [1, 28, 28]")
