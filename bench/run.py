"""Benchmarks: whole-process wall time and peak memory, each target against its baseline in the same run.

Run with `make bench`. Runs alternate between target and baseline so machine noise hits both;
the table reports medians and the ratio target/baseline.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CLI = [PY, "-m", "cnninspect"]


def measure(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one whole process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"benchmark command failed: {' '.join(command)}")
    return wall, usage.ru_maxrss / 1024


def compare(name: str, target: list[str], baseline: list[str], repeats: int) -> str:
    runs: dict[str, list[tuple[float, float]]] = {"target": [], "baseline": []}
    for _ in range(repeats):
        runs["target"].append(measure(target))
        runs["baseline"].append(measure(baseline))
    t_wall, b_wall = (statistics.median(w for w, _ in runs[k]) for k in ("target", "baseline"))
    t_mem, b_mem = (statistics.median(m for _, m in runs[k]) for k in ("target", "baseline"))
    return (
        f"| {name} | {t_wall:.2f} s | {b_wall:.2f} s | {t_wall / b_wall:.2f}× | "
        f"{t_mem:,.0f} MiB | {b_mem:,.0f} MiB | {t_mem / b_mem:.2f}× | {repeats} |"
    )


LINT_SPECS = 200
WIDE_LAYERS = 20_000


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


def main() -> None:
    repeats = int(os.environ.get("BENCH_REPEATS", "5"))
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
    ]
    with tempfile.TemporaryDirectory() as folder:
        write_specs(Path(folder), LINT_SPECS)
        rows.append(
            compare(
                f'`lint` of {LINT_SPECS} generated specs vs `python -c "import torch"`',
                [*CLI, "lint", folder],
                [PY, "-c", "import torch"],
                repeats,
            )
        )
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
    print("| case | cnninspect | baseline | ratio | cnninspect peak | baseline peak | ratio | runs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print()
    subprocess.run([PY, "bench/graph_speed.py", str(repeats)], cwd=ROOT, check=True)
    subprocess.run([PY, "bench/draw_speed.py", str(repeats)], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
