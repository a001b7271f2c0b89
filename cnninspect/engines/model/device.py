"""Where the forward pass runs: on the CPU when the model is small and light, else on the meta device,
and on the CPU after all when meta fails and memory allows; the dummy inputs for it."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
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
CPU_TRACE_BUDGET = 2 * 2**30
"""Address space a CPU trace may take beyond what the process already holds (Linux). A forward pass
that allocates far more than ``_footprint`` sees (an attention matrix over every pixel) then fails at
once and is traced on meta, instead of filling the machine's memory."""
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
        if isinstance(failure.__cause__, TimeUp):
            raise
        if device == "cpu":
            return _on_meta_after_all(maker, inputs, kinds, failure), "meta"
        if footprint > _memory_available() // 2:
            raise ModelError(
                f"{failure.message} (on the meta device, which holds no data; at an estimated "
                f"{_size_text(footprint)} the model is too large to retry on the CPU)"
            ) from failure.__cause__
        maker.notes.append(f"traced on the CPU: on the meta device the forward pass fails ({reason(failure)})")
        return _traced(maker, "cpu", inputs, kinds), "cpu"


def _on_meta_after_all(
    maker: Maker, inputs: Sequence[tuple[int, ...]], kinds: Sequence[str], failure: ModelError
) -> Tracer:
    """The CPU was chosen for speed alone, and what fails there (memory forward allocates beyond the
    estimate, an op the CPU lacks) may pass on meta. When meta fails too, the CPU's failure is the
    one reported: its messages are torch's clearest."""
    try:
        tracer = _traced(maker, "meta", inputs, kinds)
    except ModelError as second:
        if isinstance(second.__cause__, TimeUp):
            raise
        raise failure from failure.__cause__
    maker.notes.append(f"traced on the meta device: on the CPU the forward pass fails ({reason(failure)})")
    return tracer


def _traced(
    maker: Maker, device: str, inputs: Sequence[tuple[int, ...]], kinds: Sequence[str], budget: int | None = None
) -> Tracer:
    """A forward pass on ``device``; on the CPU within ``CPU_TRACE_BUDGET`` of memory, and stopped by
    TooMuchWork before its mult-adds pass ``budget``."""
    with _address_space(CPU_TRACE_BUDGET) if device == "cpu" else contextlib.nullcontext():
        tracer = Tracer(maker.target, *maker.on(device), inputs[0][0])
        tracer.run([dummy(shape, kind, device) for shape, kind in zip(inputs, kinds)], budget)
    return tracer


@contextlib.contextmanager
def _address_space(budget: int) -> Iterator[None]:
    """At most ``budget`` more bytes of address space while the block runs (Linux; elsewhere no
    limit): an allocation beyond it fails at once. A tighter limit already set is kept."""
    try:
        import resource

        used = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    except (ImportError, OSError, ValueError, IndexError):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = used + budget
    if (soft != resource.RLIM_INFINITY and soft <= cap) or (hard != resource.RLIM_INFINITY and hard < cap):
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


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
