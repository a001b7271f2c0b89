"""Op counting: a dispatch mode that shows every aten op to the tracer, torch.utils.flop_counter's
formulas (FlopCounterMode's own, ÷ 2), and the bias and norm adds counted on top."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from cnninspect.engines.torch import import_torch

if TYPE_CHECKING:
    from torch import Tensor

    from cnninspect.engines.model.tracer import Tracer

UNCOUNTED_OPS = frozenset(
    {
        "_trilinear",
        "addbmm",
        "addr",
        "_addmm_activation",
        "_native_multi_head_attention",
        "_transformer_encoder_layer_fwd",
        "mkldnn_rnn_layer",
        "mkldnn_linear",
        "mkldnn_convolution",
        "_int_mm",
        "_weight_int8pack_mm",
        "_weight_int4pack_mm",
        "_thnn_fused_lstm_cell",
        "_thnn_fused_gru_cell",
    }
)
"""aten ops that multiply by weights but have no formula: a call that runs one has no count ("?")."""
NORM_WEIGHTS = {
    "native_batch_norm": 1,
    "_native_batch_norm_legit": 1,
    "_native_batch_norm_legit_no_training": 1,
    "native_group_norm": 1,
    "native_layer_norm": 2,
}
"""Norm ops and the position of their weight: with one, each output value is scaled and shifted."""
ADDED_TERM = frozenset({"addmm", "addmv", "baddbmm"})
"""Products with a term added to each output value (a Linear's bias)."""
CONVOLUTIONS = frozenset({"convolution", "_convolution"})
ADDS = frozenset({"add", "add_"})


@functools.cache
def op_formulas() -> dict[object, Callable[..., int]]:
    """torch.utils.flop_counter's formulas (FlopCounterMode's own), and the CPU's fused attention,
    which is the same sum as the others' (its op has no formula in torch)."""
    torch = import_torch()
    from torch.utils import flop_counter

    aten = torch.ops.aten
    formulas = dict(flop_counter.flop_registry)
    formulas[aten._scaled_dot_product_flash_attention_for_cpu] = flop_counter.sdpa_flop
    for op in (aten.mv, aten.dot, aten.vdot):
        formulas[op] = flop_counter.shape_wrapper(_vector_flops)  # type: ignore[no-untyped-call]
    formulas[aten.addmv] = flop_counter.shape_wrapper(_added_vector_flops)  # type: ignore[no-untyped-call]
    return formulas


def _vector_flops(matrix: Sequence[int], *_: object, **__: object) -> int:
    """A matrix or vector times a vector (``x @ w`` with a 1-d w, F.linear on one sample): a product
    per value of the first operand, 2 FLOPs each as the counter's own mm formula counts them."""
    return 2 * math.prod(matrix)


def _added_vector_flops(_added: object, matrix: Sequence[int], *_: object, **__: object) -> int:
    """addmv: the same products, the added vector being counted as a bias."""
    return _vector_flops(matrix)


@contextmanager
def counting(tracer: Tracer) -> Iterator[None]:
    """A dispatch mode that shows every op to ``tracer.on_op``."""
    torch = import_torch()
    from torch.utils._python_dispatch import TorchDispatchMode

    formulas = op_formulas()
    device_op = torch.ops.prim.device.default

    class Counting(TorchDispatchMode):  # type: ignore[no-untyped-call]
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            # Wrapping __torch_dispatch__ for torch.compile imports torch._dynamo; nothing compiles here.
            return False

        def __torch_dispatch__(
            self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
        ) -> Any:
            kwargs = kwargs or {}
            if func._overloadpacket not in formulas and func is not device_op:
                with self:  # an op that decomposes is counted by its parts, as FlopCounterMode does
                    result = func.decompose(*args, **kwargs)
                if result is not NotImplemented:
                    return result
            out = func(*args, **kwargs)
            tracer.on_op(func, args, kwargs, out)
            return out

    with Counting():  # type: ignore[no-untyped-call]
        yield


def added(name: str, args: Sequence[object], kwargs: dict[str, object], result: Tensor) -> int:
    """One mult-add per output value for a term added to products (a bias) or a norm's scale and shift."""
    torch = import_torch()
    if name in ADDED_TERM and kwargs.get("beta", 1) != 0:
        return int(result.numel())
    if name in CONVOLUTIONS and len(args) > 2 and args[2] is not None:
        return int(result.numel())
    if (
        name in ADDS
        and result.dim()
        and any(isinstance(a, torch.nn.Parameter) and a.dim() == 1 and a.shape[0] == result.shape[-1] for a in args[:2])
    ):  # a Linear's bias added after its matmul (an input of 4 dimensions, or not contiguous)
        return int(result.numel())
    weight = NORM_WEIGHTS.get(name)
    if weight is not None and len(args) > weight and args[weight] is not None:
        return int(result.numel())
    return 0


@contextmanager
def without_fast_attention() -> Iterator[None]:
    """nn.MultiheadAttention and nn.TransformerEncoderLayer in eval mode take a fused path (one op
    without a formula); switched off, they run the ops the counter knows."""
    mha = getattr(import_torch().backends, "mha", None)
    if mha is None:
        yield
        return
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(before)
