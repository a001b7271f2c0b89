"""Where the forward pass runs: on the CPU when the model is small and light, else on the meta device,
and on the CPU after all when meta fails and memory allows; the dummy inputs for it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cnninspect.engines.model.build import Maker
from cnninspect.engines.model.counting import TooMuchWork
from cnninspect.engines.model.sandbox import TimeUp, reason
from cnninspect.engines.model.tracer import Tracer
from cnninspect.engines.torch import import_torch
from cnninspect.errors import ModelError

if TYPE_CHECKING:
    from torch import Tensor, dtype, nn

MODEL_CPU_LIMIT = 256 * 2**20
"""A model whose CPU pass would hold at most this many bytes (``_footprint``) is traced on the CPU.
The meta device's first use imports sympy and torch._dynamo (PyTorch's meta kernels for convolutions
and norms need them): about a second on a quiet machine, several on a busy one, where building with
seeded weights and a CPU pass of ResNet-50 at 224×224 (4.1 G mult-adds, about 170 MiB by this
estimate) takes under half a second (bench/run.py)."""
MODEL_CPU_MULT_ADDS = 16 * 10**9
"""...and whose forward pass computes at most this many mult-adds: the CPU pass stops before an op
that would take it over (counting.TooMuchWork) and the trace goes to meta, with a note. Chosen from
paired runs (docs/model.md): the CPU computes a few billion mult-adds a second on one thread, so past
this the meta device's first use costs less than the arithmetic it skips."""
DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "long", "int", "bool")


def trace_where_it_fits(maker: Maker, inputs: Sequence[tuple[int, ...]], kinds: Sequence[str]) -> tuple[Tracer, str]:
    """The trace, on the CPU when the model is small and light, else on meta (``maker.notes`` says when
    it was the mult-adds); on the CPU after all when meta fails and memory allows (the notes say
    so). Also the device it ran on."""
    footprint = _footprint(maker.first(), inputs, kinds)
    device = "cpu" if footprint <= MODEL_CPU_LIMIT else "meta"
    try:
        if device == "cpu":
            try:
                return _traced(maker, device, inputs, kinds, MODEL_CPU_MULT_ADDS), device
            except TooMuchWork as heavy:
                device = "meta"
                maker.notes.append(
                    f"traced on the meta device: a CPU pass would compute over {heavy.budget / 10**9:g} billion "
                    "mult-adds, which take longer than the meta device's first use"
                )
        return _traced(maker, device, inputs, kinds), device
    except ModelError as failure:
        if device == "cpu" or isinstance(failure.__cause__, TimeUp):
            raise
        if footprint > _memory_available() // 2:
            raise ModelError(
                f"{failure.message} (on the meta device, which holds no data; at an estimated "
                f"{_size_text(footprint)} the model is too large to retry on the CPU)"
            ) from failure.__cause__
        maker.notes.append(f"traced on the CPU: on the meta device the forward pass fails ({reason(failure)})")
        return _traced(maker, "cpu", inputs, kinds), "cpu"


def _traced(
    maker: Maker, device: str, inputs: Sequence[tuple[int, ...]], kinds: Sequence[str], budget: int | None = None
) -> Tracer:
    """A forward pass on ``device``, stopped by TooMuchWork before its mult-adds pass ``budget``."""
    tracer = Tracer(maker.target, *maker.on(device), inputs[0][0])
    tracer.run([dummy(shape, kind, device) for shape, kind in zip(inputs, kinds)], budget)
    return tracer


def _footprint(model: nn.Module, inputs: Sequence[tuple[int, ...]], kinds: Sequence[str]) -> int:
    """Bytes a CPU trace would hold, roughly: the parameters and buffers, and every leaf module's
    output counted as large as the inputs (so input size and batch count as much as the weights)."""
    torch = import_torch()
    held = sum(
        t.numel() * t.element_size()
        for t in (*model.parameters(), *model.buffers())
        if not isinstance(t, torch.nn.parameter.UninitializedTensorMixin)
    )
    leaves = sum(1 for m in model.modules() if next(m.children(), None) is None)
    fed = sum(math.prod(shape) * int(_dtype(kind).itemsize) for shape, kind in zip(inputs, kinds))
    return int(held) + fed * max(leaves, 1)


def _memory_available() -> int:
    """Bytes of memory the system can still give (Linux: MemAvailable), else 2 GiB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 2 * 2**30


def _size_text(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"


def _dtype(kind: str) -> dtype:
    torch = import_torch()
    found: dtype = {"long": torch.int64, "int": torch.int32}.get(kind) or getattr(torch, kind)
    return found


def dummy(shape: tuple[int, ...], kind: str, device: str) -> Tensor:
    torch = import_torch()
    tensor: Tensor = torch.zeros(shape, dtype=_dtype(kind), device=device)
    return tensor
