"""--model's trace of one model on the CPU and on the meta device, paired: fresh processes in turn
(cpu, meta, cpu, meta, …), so each pays its device's first use and both see the same load. Prints
each device's median time for ``inspect_model`` (``import torch`` excluded: both pay it) and the
model's mult-adds.

    python bench/model_devices.py tests/reference_models.py:unet 1x512x512 [--batch 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

CHILD = """
import sys, time
from cnninspect.engines.model import device, inspect_model, parse_target
from cnninspect.engines.torch import import_torch
from cnninspect.formats.summary import totals
import_torch()
if sys.argv[1] == "cpu":
    device.MODEL_CPU_LIMIT = device.MODEL_CPU_MULT_ADDS = 10**18
else:
    device.MODEL_CPU_LIMIT = -1
start = time.perf_counter()
trace = inspect_model(parse_target(sys.argv[2]), {}, [sys.argv[3]], batch=int(sys.argv[4]))
took = time.perf_counter() - start
assert trace.device == sys.argv[1], trace.device
print(took, totals(trace).mult_adds)
"""


def main() -> None:
    """Run the pairs and print the medians."""
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("input")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    times: dict[str, list[float]] = {"cpu": [], "meta": []}
    work = 0
    for _ in range(options.rounds):
        for device in times:
            argv = [sys.executable, "-c", CHILD, device, options.model, options.input, str(options.batch)]
            took, work_text = subprocess.run(argv, check=True, capture_output=True, text=True).stdout.split()
            times[device].append(float(took))
            work = int(work_text)
    cpu, meta = (statistics.median(times[d]) for d in times)
    print(
        f"{options.model} {options.input} batch {options.batch}: {work / 1e9:.1f} G mult-adds; "
        f"cpu {cpu:.2f} s, meta {meta:.2f} s (median of {options.rounds}); cpu/meta {cpu / meta:.2f}"
    )


if __name__ == "__main__":
    main()
