"""Benchmarks: whole-process wall time and peak memory, each target against its baseline in the same run.

Run with `make bench`. Runs alternate between target and baseline so machine noise hits both;
the table reports medians and the ratio target/baseline. Two tables: the machine as it is, and
busy, with two other processes doing small torch matmuls on their default threads throughout
(as on a shared CI runner). BENCH_CASES=quiet or BENCH_CASES=busy runs one of them;
BENCH_CASES=lint only the quiet table's lint rows.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CLI = [PY, "-m", "cnninspect"]


def measure(command: list[str], env: Mapping[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one whole process; ``env`` is added to the environment."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"benchmark command failed: {' '.join(command)}")
    return wall, usage.ru_maxrss / 1024


def compare(
    name: str, target: list[str], baseline: list[str], repeats: int, baseline_env: Mapping[str, str] | None = None
) -> str:
    """One table row: medians of ``repeats`` alternating runs of target and baseline, and their ratios."""
    runs: dict[str, list[tuple[float, float]]] = {"target": [], "baseline": []}
    for _ in range(repeats):
        runs["target"].append(measure(target))
        runs["baseline"].append(measure(baseline, baseline_env))
    t_wall, b_wall = (statistics.median(w for w, _ in runs[k]) for k in ("target", "baseline"))
    t_mem, b_mem = (statistics.median(m for _, m in runs[k]) for k in ("target", "baseline"))
    row = (
        f"| {name} | {t_wall:.2f} s | {b_wall:.2f} s | {t_wall / b_wall:.2f}× | "
        f"{t_mem:,.0f} MiB | {b_mem:,.0f} MiB | {t_mem / b_mem:.2f}× | {repeats} |"
    )
    print(row, file=sys.stderr, flush=True)  # progress: the table comes at the end, on stdout
    return row


LINT_SPECS = 200
WIDE_LAYERS = 20_000
DEEP_BLOCKS = 700
DEEP_SPEC = f"""\
name: deep
input: [8, 8, 8]
blocks:
  Block:
    layers:
      - {{type: Conv2d, name: conv, out_channels: 8, kernel_size: 3, padding: 1, bias: false}}
      - {{type: BatchNorm2d, name: bn}}
      - {{type: ReLU, name: relu}}
layers:
  - {{type: Block, name: body, repeat: {DEEP_BLOCKS}}}
"""
"""Conv 8→8 3×3, BatchNorm, ReLU, 700 times: 2,100 layers of tiny work, where a torch trace's
cost is per-layer overhead, and on a busy machine, waiting for threads."""
BUSY_PROCESSES = 2
BUSY_LOOP = """\
import sys, time, torch
a = torch.rand(128, 128)
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    a @ a
"""
"""Small matmuls on torch's default threads, for at most the given seconds (stopped sooner)."""
BUSY_LIMIT = 3600


def write_specs(folder: Path, count: int) -> None:
    """``count`` VGG-like specs of 3–5 conv blocks with BatchNorm and a two-layer head, all valid."""
    chooser = random.Random(0)
    for n in range(count):
        start = chooser.choice([32, 64, 96])
        size, channels, lines = start, 3, []
        for block in range(chooser.randint(3, 5)):
            width = chooser.choice([16, 32, 64, 128])
            lines += [
                f"  - {{type: Conv2d, name: conv{block}, in_channels: {channels}, out_channels: {width}, "
                "kernel_size: 3, padding: 1, bias: false}",
                f"  - {{type: BatchNorm2d, name: bn{block}, num_features: {width}}}",
                "  - ReLU",
                f"  - {{type: MaxPool2d, name: pool{block}, kernel_size: 2}}",
            ]
            channels, size = width, size // 2
        lines += [
            "  - Flatten",
            f"  - {{type: Linear, name: fc1, in_features: {channels * size * size}, out_features: 128}}",
            "  - ReLU",
            "  - {type: Linear, name: fc2, in_features: 128, out_features: 10}",
        ]
        header = f"name: generated{n}\ninput: [3, {start}, {start}]\nlayers:\n"
        (folder / f"spec{n:03}.yaml").write_text(header + "\n".join(lines) + "\n")


@contextmanager
def busy() -> Iterator[None]:
    """Two other processes doing small torch matmuls until the block ends (an hour at most)."""
    workers = [
        subprocess.Popen([PY, "-c", BUSY_LOOP, str(BUSY_LIMIT)], stdout=subprocess.PIPE, text=True)
        for _ in range(BUSY_PROCESSES)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        yield
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()


def busy_rows(repeats: int, folder: Path) -> list[str]:
    """The cases of the busy table; ``folder`` holds the generated specs."""
    deep = str(folder / "deep.yaml")
    import_torch_then_cli = "import sys, torch\nfrom cnninspect.cli import run\nsys.argv[0] = 'cnninspect'\nrun()\n"
    info = [PY, "bench/torchinfo_summary.py"]
    torch_engine = [*CLI, "summary", deep, "--engine", "torch"]
    with busy():
        return [
            compare(
                f"{DEEP_BLOCKS * 3:,} layers: torch engine vs `import torch` + analytic engine",
                torch_engine,
                [PY, "-c", import_torch_then_cli, "summary", deep, "--engine", "analytic"],
                repeats,
            ),
            compare(
                f"{DEEP_BLOCKS * 3:,} layers: torch engine vs the same on torch's default threads",
                torch_engine,
                [PY, "-c", DEFAULT_THREADS_THEN_CLI, "summary", deep, "--engine", "torch"],
                repeats,
            ),
            compare(
                f"{DEEP_BLOCKS * 3:,} layers: torch engine vs itself with `OMP_NUM_THREADS=1`",
                torch_engine,
                torch_engine,
                repeats,
                {"OMP_NUM_THREADS": "1"},
            ),
            compare('`cnninspect --help` vs `python -c "import torch"`', [*CLI, "--help"], IMPORT_TORCH, repeats),
            compare(
                f'`lint` of {LINT_SPECS} generated specs vs `python -c "import torch"`',
                [*CLI, "lint", str(folder / "lint")],
                IMPORT_TORCH,
                repeats,
            ),
            compare(
                "tutorial: `summary` vs torchinfo",
                [*CLI, "summary", "configs/tutorial.yaml"],
                [*info, "configs/tutorial.yaml", "1"],
                repeats,
            ),
            compare(
                "VGG-16, batch 64: `summary --batch 64` vs torchinfo",
                [*CLI, "summary", "configs/vgg16.yaml", "--batch", "64"],
                [*info, "configs/vgg16.yaml", "64"],
                max(1, repeats // 3),
            ),
            compare(RESNET50_MODEL_CASE, [*CLI, *RESNET50_MODEL], [*info, *RESNET50_INFO], repeats),
        ]


IMPORT_TORCH = [PY, "-c", "import torch"]
RESNET50 = "tests/reference_models.py:resnet50"
"""torchvision's ResNet-50 layout in plain torch.nn (torchvision itself is not installable here)."""
RESNET50_MODEL_CASE = "ResNet-50, your own `nn.Module`: `summary --model` vs torchinfo"
RESNET50_MODEL = ["summary", "--model", RESNET50, "--input", "3x224x224"]
RESNET50_INFO = [RESNET50, "1", "3x224x224"]
DEFAULT_THREADS_THEN_CLI = (
    "import contextlib, sys\nimport cnninspect.engines.torch as engine\n"
    "engine.one_thread = contextlib.nullcontext  # the trace as it was, on torch's default threads\n"
    "from cnninspect.cli import run\nsys.argv[0] = 'cnninspect'\nrun()\n"
)
HEADER = (
    "| case | cnninspect | baseline | ratio | cnninspect peak | baseline peak | ratio | runs |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|"
)


def lint_rows(repeats: int, folder: str) -> list[str]:
    """lint of the generated specs in ``folder`` against ``import torch``, and on every core against
    one process."""
    return [
        compare(
            f'`lint` of {LINT_SPECS} generated specs vs `python -c "import torch"`',
            [*CLI, "lint", folder],
            [PY, "-c", "import torch"],
            repeats,
        ),
        compare(
            f"`lint` of {LINT_SPECS} generated specs: a worker per core vs `--jobs 1`",
            [*CLI, "lint", folder],
            [*CLI, "lint", folder, "--jobs", "1"],
            repeats,
        ),
    ]


def main() -> None:
    repeats = int(os.environ.get("BENCH_REPEATS", "5"))
    cases = os.environ.get("BENCH_CASES", "quiet,busy").split(",")
    if "quiet" in cases:
        quiet(repeats)
    if "lint" in cases:  # the lint rows of the quiet table alone
        with tempfile.TemporaryDirectory() as folder:
            write_specs(Path(folder), LINT_SPECS)
            rows = lint_rows(repeats, folder)
        print(HEADER)
        print("\n".join(rows), flush=True)
    if "busy" in cases:
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "lint").mkdir()
            write_specs(Path(folder) / "lint", LINT_SPECS)
            (Path(folder) / "deep.yaml").write_text(DEEP_SPEC)
            rows = busy_rows(repeats, Path(folder))
        print(f"Busy: {BUSY_PROCESSES} other processes doing small torch matmuls throughout\n")
        print(HEADER)
        print("\n".join(rows), flush=True)


def quiet(repeats: int) -> None:
    """The machine as it is: every case, then the analytic engine's speed on a large graph."""
    tutorial, vgg = "configs/tutorial.yaml", "configs/vgg16.yaml"
    info = [PY, "bench/torchinfo_summary.py"]
    rows = [
        compare(
            '`cnninspect --help` vs `python -c "import torch"`', [*CLI, "--help"], [PY, "-c", "import torch"], repeats
        ),
        compare("tutorial: `summary` vs torchinfo", [*CLI, "summary", tutorial], [*info, tutorial, "1"], repeats),
        compare("VGG-16, batch 1: `summary` vs torchinfo", [*CLI, "summary", vgg], [*info, vgg, "1"], repeats),
        compare(
            "VGG-16, batch 64: `summary --batch 64` vs torchinfo",
            [*CLI, "summary", vgg, "--batch", "64"],
            [*info, vgg, "64"],
            max(1, repeats // 3),
        ),
        compare(RESNET50_MODEL_CASE, [*CLI, *RESNET50_MODEL], [*info, *RESNET50_INFO], repeats),
    ]
    with tempfile.TemporaryDirectory() as folder:
        write_specs(Path(folder), LINT_SPECS)
        rows += lint_rows(repeats, folder)
        relus = Path(folder) / "relus.yaml"
        relus.write_text("input: [3, 8, 8]\nlayers:\n" + "  - ReLU\n" * WIDE_LAYERS)
        rows.append(
            compare(
                f"{WIDE_LAYERS:,} ReLUs: `summary` (table) vs `summary --format json`",
                [*CLI, "summary", str(relus)],
                [*CLI, "summary", str(relus), "--format", "json"],
                max(1, repeats // 3),
            )
        )
    resnet152 = "configs/resnet152.yaml"
    rows += [
        compare(
            'ResNet-152 spec: `lint` vs `python -c "import torch"`',
            [*CLI, "lint", resnet152],
            [PY, "-c", "import torch"],
            repeats,
        ),
        compare(
            'ResNet-152 spec: `summary --engine analytic` vs `python -c "import torch"`',
            [*CLI, "summary", resnet152, "--engine", "analytic"],
            [PY, "-c", "import torch"],
            repeats,
        ),
        compare(
            "ResNet-152, batch 64: `summary --batch 64` vs torchinfo",
            [*CLI, "summary", resnet152, "--batch", "64"],
            [*info, resnet152, "64"],
            max(1, repeats // 3),
        ),
    ]
    rows.append(
        compare(
            '`fix-fc --kernel 5` vs `python -c "import torch"`',
            [*CLI, "fix-fc", "--kernel", "5"],
            [PY, "-c", "import torch"],
            repeats,
        )
    )
    print(HEADER)
    print("\n".join(rows))
    print(flush=True)
    subprocess.run([PY, "bench/graph_speed.py", str(repeats)], cwd=ROOT, check=True)
    subprocess.run([PY, "bench/draw_speed.py", str(repeats)], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
