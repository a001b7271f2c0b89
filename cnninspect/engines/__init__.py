"""Engines turn a ModelSpec into a Trace: one LayerRecord per layer.

records.py (what every engine produces), analytic.py (PyTorch's formulas, no torch),
torch.py (real modules on CPU or meta), model/ (``--model``: the user's own nn.Module).
``trace_with`` picks one.
"""

from __future__ import annotations

import importlib.util
from enum import StrEnum
from typing import TYPE_CHECKING

from cnninspect.errors import UsageError

if TYPE_CHECKING:  # the choice of engine is all the CLI's options need: import no engine for it
    from cnninspect.engines.records import Trace
    from cnninspect.spec.model import ModelSpec

TORCH_INSTALL = "pip install torch --index-url https://download.pytorch.org/whl/cpu"
"""How to install PyTorch's CPU build, the one cnninspect needs (PyPI's default on Linux is the
CUDA build, several GB)."""


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


def torch_installed() -> bool:
    """True when torch can be imported here; it is looked up, not imported (that takes seconds).
    torch is an extra (``cnninspect[torch]``): ``lint`` and the pre-commit hooks run without it."""
    return importlib.util.find_spec("torch") is not None


def require_torch(what: str) -> None:
    """Raise a one-line usage error saying how to install torch when ``what`` needs it and it is missing."""
    if not torch_installed():
        raise UsageError(f"{what} needs PyTorch, which is not installed here; install it with: {TORCH_INSTALL}")


def trace_with(spec: ModelSpec, engine: Engine) -> Trace:
    """Trace ``spec`` with the engine asked for; torch is imported only when it is used."""
    if engine is Engine.ANALYTIC or (engine is Engine.AUTO and not spec.needs_torch):
        from cnninspect.engines.analytic import infer_shapes

        return infer_shapes(spec)
    if engine is Engine.TORCH:
        require_torch("--engine torch")
    elif not torch_installed():
        from cnninspect.errors import LayerTypeError
        from cnninspect.spec.catalog import LAYER_TYPES
        from cnninspect.text import did_you_mean

        layer = next(layer for layer in spec.layers if layer.kind is None)
        close = did_you_mean(layer.type, list(LAYER_TYPES))
        raise LayerTypeError(
            f"{layer.title}: {layer.type} is not one of the layers known without torch, and torch (which knows all "
            f"of torch.nn) is not installed here; install it with: {TORCH_INSTALL}{close}",
            layer.location,
        )
    from cnninspect.engines.torch import trace_spec

    return trace_spec(spec)
