"""draw's speed and size on ResNet-152 and YOLOv3: the picture written after the trace (trace
left out), best of several runs, in one process. The goal: ResNet-152 in at most 1 s and 1 MB."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cnninspect.draw import DrawFormat, draw
from cnninspect.engines.analytic import infer_shapes
from cnninspect.inputs import load_source
from cnninspect.rules import find_problems

ROOT = Path(__file__).resolve().parent.parent
CASES = ("configs/resnet152.yaml", "configs/darknet/yolov3.cfg")


def main(repeats: int) -> None:
    for case in CASES:
        trace = infer_shapes(load_source(ROOT / case).spec)
        findings = find_problems(trace)
        for fmt in DrawFormat:
            best, size = float("inf"), 0
            for _ in range(repeats):
                start = time.perf_counter()
                size = len(draw(trace, findings, fmt).encode("utf-8"))
                best = min(best, time.perf_counter() - start)
            print(f"draw {case} as {fmt.value}: {best:.3f} s, {size / 1024:,.0f} KiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
