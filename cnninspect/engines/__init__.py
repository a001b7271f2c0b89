"""Engines turn a ModelSpec into a Trace: one LayerRecord per layer.

records.py (what every engine produces), analytic.py (PyTorch's formulas, no torch),
torch.py (real modules on CPU or meta), model/ (``--model``: the user's own nn.Module).
``trace_with`` picks one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the choice of engine is all the CLI's options need: import no engine for it
    from cnninspect.engines.records import Trace
    from cnninspect.spec.model import ModelSpec


class Engine(StrEnum):
    """How shapes are computed."""

    AUTO = "auto"
    """analytic when it knows every layer, else torch."""
    ANALYTIC = "analytic"
    """PyTorch's formulas in pure Python (analytic.py); torch is never imported."""
    TORCH = "torch"
    """Real modules and a dummy forward pass (torch.py)."""


class Mode(StrEnum):
    """The mode a ``--model`` is traced in (``--mode``)."""

    EVAL = "eval"
    """As inference runs: BatchNorm on its running statistics, Dropout passing values through."""
    TRAIN = "train"
    """As training runs: BatchNorm on the batch's own statistics, Dropout drawing (seeded)."""


def trace_with(spec: ModelSpec, engine: Engine) -> Trace:
    """Trace ``spec`` with the engine asked for; torch is imported only when it is used."""
    if engine is Engine.ANALYTIC or (engine is Engine.AUTO and not spec.needs_torch):
        from cnninspect.engines.analytic import infer_shapes

        return infer_shapes(spec)
    from cnninspect.engines.torch import trace_spec

    return trace_spec(spec)
