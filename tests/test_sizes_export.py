"""sizes (input sizes a spec accepts) and export --to pytorch (the spec as an nn.Module class)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import CONFIGS, builtin, cli, cli_error, load

from cnninspect.engines.analytic import infer_shapes
from cnninspect.export import export_pytorch
from cnninspect.input_sizes import compact, input_sizes

# --- sizes ---------------------------------------------------------------------------------


def test_tutorial_sizes_by_hand():
    report = input_sizes(builtin(), 16, 64)
    assert report.survive == tuple(range(16, 65))
    # conv1 = ⌊(N − 1)/2⌋ + 1, conv2 = ⌊(conv1 − 1)/2⌋ + 1 must be 8 for 32 × 8 × 8 = 2048: conv1 ∈ {15, 16}
    assert report.linear_fits == {"fc": (29, 30, 31, 32)}
    assert report.exact == tuple(range(16, 65))  # padding 1 covers every odd size's leftover row


def test_lenet_sizes_by_hand():
    report = input_sizes(load(CONFIGS / "lenet5.yaml"), 8, 64)
    # conv 5 → pool 2 → conv 5 → pool 2 needs ⌊(N − 4)/2⌋ ≥ 6: N ≥ 16
    assert report.smallest == (1, 16, 16)
    assert report.survive[0] == 16
    # 16 × 5 × 5 = 400 when ⌊(⌊(N − 4)/2⌋ − 4)/2⌋ = 5: N − 4 ∈ 28..31
    assert report.linear_fits["c5"] == (32, 33, 34, 35)
    # both pools divide evenly when N − 4 and (N − 4)/2 − 4 are even: N ≡ 0 (mod 4)
    assert report.exact == tuple(range(16, 65, 4))


def test_compact_size_lists():
    assert compact([]) == "none"
    assert compact([32]) == "32"
    assert compact(list(range(16, 513))) == "16–512"
    assert compact(list(range(16, 513, 4))) == "16, 20, …, 512 (every 4)"
    assert compact([1, 2, 3, 10, 11, 20]) == "1–3, 10–11, 20"
    # runs of 8 every 16 (a stride-32 net's Concat): the first three runs, then the count
    every = [16] + [n for start in range(25, 640, 16) for n in range(start, start + 8)]
    assert compact(every) == f"16, 25–32, 41–48, … ({len(every)} sizes up to {every[-1]})"
    assert compact([1, 3, 5, 8, 13, 21, 34, 55]) == "1, 3, 5, … (8 sizes up to 55)"


def test_sizes_golden_and_json(golden):
    result = cli("sizes", str(CONFIGS / "lenet5.yaml"))
    assert result.exit_code == 0
    golden("lenet5.sizes.out", result.stdout.replace(str(CONFIGS), "configs"))
    document = json.loads(cli("sizes", "--range", "30:36", "--format", "json").stdout)
    assert document["linear_fits"]["fc"] == {"in_features": 2048, "sizes": [30, 31, 32]}
    assert document["survive"] == list(range(30, 37))


def test_sizes_errors():
    cli_error("sizes", "--range", "64:16")
    cli_error("sizes", "--range", "abc")
    needs_torch = cli_error("sizes", "--layers", "Conv2d(3,16,3) PixelShuffle(2)")
    assert "analytic engine" in needs_torch.stderr


def test_sizes_default_range_reaches_the_specs_own_input():
    # 16 to 512 unless the spec's own input is larger: an Ultralytics model is 3×640×640
    lenet = json.loads(cli("sizes", str(CONFIGS / "lenet5.yaml"), "--format", "json").stdout)
    assert (lenet["tried"][0], lenet["tried"][-1]) == (16, 512)
    tiny = CONFIGS / "ultralytics" / "tiny_detector.yaml"
    detector = json.loads(cli("sizes", str(tiny), "--format", "json").stdout)
    assert detector["tried"] == [16, 640]
    assert detector["survive"] == list(range(16, 641))
    flat = cli_error("sizes", "--layers", "Linear(784,10)", "--input", "784")
    assert "spatial dimensions" in flat.stderr


def test_sizes_never_imports_torch():
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom cnninspect.cli import app\n"
        "assert CliRunner().invoke(app, ['sizes', 'configs/vgg16.yaml']).exit_code == 0\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=CONFIGS.parent)


# --- export ------------------------------------------------------------------------------------


def test_export_golden(golden):
    result = cli("export")
    assert result.exit_code == 0
    golden("tutorial.export.out", result.stdout)
    assert "self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=2, padding=1)" in result.stdout
    assert "x = torch.flatten(x, 1)" in result.stdout


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_exported_code_is_ruff_clean_and_equals_the_spec(tmp_path, path):
    trace = infer_shapes(load(path))
    code = export_pytorch(trace)
    source = tmp_path / "exported.py"
    source.write_text(code)
    for command in (["check", "--isolated"], ["format", "--isolated", "--check"]):
        result = subprocess.run([sys.executable, "-m", "ruff", *command, str(source)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    namespace: dict = {}
    exec(compile(code, str(source), "exec"), namespace)  # the test runs the generated classes
    model_class = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, torch.nn.Module)][-1]
    with torch.device("meta"):
        model = model_class().eval()
    shapes = []
    hooks = [
        module.register_forward_hook(lambda m, i, o: shapes.append((type(m).__name__, tuple(o.shape))))
        for module in model.modules()
        if not list(module.children()) and not isinstance(module, torch.nn.Flatten)
    ]
    output = model(torch.empty(1, *trace.spec.input, device="meta"))
    for hook in hooks:
        hook.remove()
    # Every layer's shape, in order: merges are +, * and torch.cat, and Flatten may be torch.flatten.
    expected = [
        (r.layer.type, r.output_shape) for r in trace.records if r.layer.type not in ("Add", "Concat", "Mul", "Flatten")
    ]
    assert shapes == expected
    assert sum(p.numel() for p in model.parameters()) == trace.total_params
    assert tuple(output.shape) == trace.output_shape


def test_export_of_torch_only_layers_and_odd_names():
    result = cli("export", "--layers", "class=Conv2d(3,8,3) PixelShuffle(2) Flatten(start_dim=0, end_dim=1)")
    assert result.exit_code == 1  # Flatten(start_dim=0) mixes the batch up: CNN206, and the class is still printed
    assert "self.layer_class = nn.Conv2d(3, 8, kernel_size=3)" in result.stdout
    assert "self.pixelshuffle1 = nn.PixelShuffle(2)" in result.stdout
    assert "x = torch.flatten(x, 0, 1)" in result.stdout
