"""The analytic engine's speed on a generated graph spec of about 20,000 layers (residual blocks
used with repeat), loading included, rendering left out: best of several runs, in one process."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from cnninspect.engines.analytic import infer_shapes
from cnninspect.inputs import load_source

BLOCKS = 5_000
SPEC = f"""\
name: generated-graph
input: [16, 32, 32]
blocks:
  Residual:
    params: {{c: 16}}
    layers:
      - {{type: Conv2d, name: conv, out_channels: $c, kernel_size: 3, padding: 1, bias: false}}
      - {{type: BatchNorm2d, name: bn}}
      - {{type: ReLU, name: relu}}
      - {{type: Add, name: add, from: [relu, input]}}
layers:
  - {{type: Residual, name: body, repeat: {BLOCKS}}}
  - {{type: AdaptiveAvgPool2d, name: pool, output_size: 1}}
  - {{type: Flatten, name: flatten}}
  - {{type: Linear, name: fc, out_features: 10}}
"""


def main(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "graph.yaml"
        path.write_text(SPEC)
        best, layers = float("inf"), 0
        for _ in range(repeats):
            start = time.perf_counter()
            trace = infer_shapes(load_source(path).spec)
            best = min(best, time.perf_counter() - start)
            layers = len(trace.records)
    print(f"{layers:,} layers in {best:.3f} s: {layers / best:,.0f} layers per second")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
