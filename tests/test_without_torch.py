"""cnninspect where torch is not installed, as in a pre-commit hook's environment: torch is the
``cnninspect[torch]`` extra, `lint` never needs it, `summary` falls back to the analytic engine and
says so in one line, and whatever needs torch says how to install it (exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALL = "pip install torch --index-url https://download.pytorch.org/whl/cpu"
WITHOUT_TORCH = (
    "import sys\n"
    "sys.modules['torch'] = None  # `import torch` now raises ImportError, as where it is not installed\n"
    "sys.argv[0] = 'cnninspect'\n"
    "from cnninspect.cli import run\n"
    "run()\n"
)


def without_torch(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter that cannot import torch."""
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TORCH, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_torch_is_an_extra_not_a_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.replace(" ", "").startswith("torch") for d in project["dependencies"])
    assert project["optional-dependencies"]["torch"] == ["torch>=2.1"]


def test_the_wrapper_blocks_torch():
    code = WITHOUT_TORCH.split("sys.argv")[0] + "import torch\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1 and "ModuleNotFoundError: import of torch halted" in result.stderr


def test_lint_works_without_torch():
    clean = without_torch("lint", "configs")  # specs, darknet .cfg and a Hydra config
    assert (clean.returncode, clean.stdout) == (0, "")
    broken = without_torch("lint", "configs/broken/tutorial_k5.yaml", "--format", "concise")
    assert broken.returncode == 1, broken.stderr
    assert broken.stdout.startswith("configs/broken/tutorial_k5.yaml:11:5: CNN201 fc: in_features is 2048 but it ")
    assert "Traceback" not in broken.stderr


def test_summary_falls_back_to_the_analytic_engine_and_says_so_in_one_line():
    result = without_torch("summary")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "myCNN · input 1×3×32×32 · analytic engine"
    assert "Total params: 25,578" in result.stdout  # 448 + 4,640 + 20,490
    assert result.stderr.splitlines() == [
        f"cnninspect: torch is not installed, so the analytic engine traced this; {INSTALL}"
    ]


def test_what_needs_torch_says_how_to_install_it():
    for args, what in (
        (("summary", "--engine", "torch"), "--engine torch needs PyTorch"),
        (("summary", "--model", "tests/fixtures/models/tutorial_cnn.py:myCNN"), "--model needs PyTorch"),
        (("summary", "--layers", "PixelShuffle(2)"), "--layers:1:1: layer 0: PixelShuffle is not one of the layers"),
    ):
        result = without_torch(*args)
        assert result.returncode == 2, args
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith(f"cnninspect: error: {what}") and INSTALL in line, line


def test_lint_reports_a_torch_only_layer_for_its_file_and_goes_on(tmp_path: Path):
    (tmp_path / "shuffle.yaml").write_text("input: [16, 8, 8]\nlayers:\n  - {type: PixelShuffle, upscale_factor: 2}\n")
    conv = "  - {type: Conv2d, out_channels: 4, kernel_size: 3}\n"
    (tmp_path / "fine.yaml").write_text("input: [3, 8, 8]\nlayers:\n" + conv)
    result = without_torch("lint", str(tmp_path), "--format", "concise")
    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    assert line.startswith(f"{tmp_path / 'shuffle.yaml'}:3:5: CNN103 layer 0: PixelShuffle is not one of the layers")
    assert INSTALL in line
    assert "in 1 of 2 files" in result.stderr
