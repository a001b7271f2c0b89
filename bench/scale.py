"""Does `summary` scale linearly? One generated spec at 20,000 and at 200,000 layers (residual
blocks used with repeat), traced and rendered in one process per size, each stage timed in CPU
seconds (time.process_time, so other work on the machine counts less): reading, the trace,
the findings, the statistics and rows, the table. Linear work takes about 10 times as long at
the larger size; the last line gives the time per 1,000 layers (docs/safety.md's limits).

    python bench/scale.py [analytic|torch] [SMALL LARGE]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

BLOCK_LAYERS = 4
REPEAT = 2_500
"""Layers per block use and uses per line of the spec: 10,000 layers a line."""
SPEC_HEAD = """\
name: scale
input: [8, 16, 16]
blocks:
  Residual:
    layers:
      - {type: Conv2d, name: conv, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
      - {type: BatchNorm2d, name: bn}
      - {type: ReLU, name: relu}
      - {type: Add, name: add, from: [relu, input]}
layers:
"""
STAGES = ("read", "trace", "findings", "rows", "table")


def spec_text(layers: int) -> str:
    """A spec of ``layers`` layers (a multiple of 10,000): repeated residual blocks."""
    uses = layers // (BLOCK_LAYERS * REPEAT)
    return SPEC_HEAD + "".join(f"  - {{type: Residual, name: stage{i}, repeat: {REPEAT}}}\n" for i in range(uses))


def stages(path: str, engine: str) -> None:
    """In a child process: each stage's CPU seconds, on one line (the collector set as the CLI sets it)."""
    import gc

    from cnninspect.cli import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)
    from cnninspect.engines import Engine, trace_with
    from cnninspect.formats.choices import SummaryFormat
    from cnninspect.formats.summary import RENDERERS, SummaryReport, choose_columns
    from cnninspect.inputs import load_source
    from cnninspect.rules import find_problems

    if engine == "torch":
        from cnninspect.engines.torch import import_torch

        import_torch()
    times = []
    mark = time.process_time()

    def lap() -> None:
        nonlocal mark
        now = time.process_time()
        times.append(now - mark)
        mark = now

    spec = load_source(Path(path)).spec
    lap()
    trace = trace_with(spec, Engine(engine))
    lap()
    findings = find_problems(trace)
    lap()
    report = SummaryReport(trace, findings, columns=choose_columns(None), width=100, wrap=False)
    lap()
    RENDERERS[SummaryFormat.TABLE](report)
    lap()
    print(" ".join(f"{t:.3f}" for t in times), len(trace.records))


def main(engine: str, sizes: list[int]) -> None:
    """Run each size in its own process and print the stages side by side."""
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = Path(folder) / f"scale{size}.yaml"
            path.write_text(spec_text(size))
            done = subprocess.run(
                [sys.executable, __file__, "--stages", str(path), engine], capture_output=True, text=True, check=True
            )
            *times, layers = done.stdout.split()
            results[size] = ([float(t) for t in times], int(layers))
    small, large = sizes
    print(f"engine {engine}: CPU seconds per stage, {small:,} and {large:,} layers")
    print("| stage | " + f"{small:,} | {large:,} | ratio |")
    print("|---|---:|---:|---:|")
    for i, stage in enumerate([*STAGES, "total"]):
        a = results[small][0][i] if stage != "total" else sum(results[small][0])
        b = results[large][0][i] if stage != "total" else sum(results[large][0])
        print(f"| {stage} | {a:.2f} s | {b:.2f} s | {b / a if a else float('nan'):.1f}× |")
    total = sum(results[large][0])
    print(f"{1000 * total / results[large][1]:.3f} s per 1,000 layers at {large:,} layers")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--stages"]:
        stages(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "analytic", [int(n) for n in sys.argv[2:4]] or [20_000, 200_000])
