"""The torch engine's trace of one spec on one device, in one process: the first trace (which
pays the device's first use) and a second one, with the time per layer. The 2,100-layer spec of
bench/run.py is written to a temporary file when the spec is `deep`.

    python bench/devices.py configs/resnet50.yaml meta
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from run import DEEP_SPEC

from cnninspect.engines.torch import choose_device, import_torch, trace_spec
from cnninspect.inputs import load_source


def main(path: str, device: str) -> None:
    """Print the two traces' times and the second one's time per layer."""
    start = time.perf_counter()
    import_torch()
    imported = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        if path == "deep":
            path = str(Path(folder) / "deep.yaml")
            Path(path).write_text(DEEP_SPEC)
        spec = load_source(Path(path)).spec
    times = []
    for _ in range(2):
        start = time.perf_counter()
        trace_spec(spec, device)
        times.append(time.perf_counter() - start)
    print(
        f"{path} on {device} (chosen: {choose_device(spec)}), {len(spec.layers):,} layers: import torch "
        f"{imported:.2f} s, first {times[0]:.3f} s, again {times[1]:.3f} s "
        f"({1000 * times[1] / len(spec.layers):.2f} ms per layer)"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
