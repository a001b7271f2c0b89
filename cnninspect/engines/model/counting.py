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


class TooMuchWork(BaseException):
    """A CPU pass reached its budget of mult-adds (``counting``'s ``budget``) before an op that would
    pass it: the trace goes to the meta device instead. A BaseException, so the user's
    ``except Exception`` lets it through."""

    def __init__(self, budget: int) -> None:
        super().__init__(f"over {budget:,} mult-adds")
        self.budget = budget


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


def expected(formula: Callable[..., int], name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> int:
    """An op's mult-adds before it runs: its formula on its inputs, and for a convolution on the
    output shape worked out here (the other formulas read their inputs only); 0 when the shapes
    are not what the formula expects."""
    try:
        out = _convolved(args) if name in CONVOLUTIONS else None
        return formula(*args, **kwargs, out_val=out) // 2
    except Exception:
        return 0


def _convolved(args: Sequence[Any]) -> tuple[int, ...]:
    """aten.convolution's output shape from its arguments (input, weight, bias, stride, padding,
    dilation, transposed, …); a transposed convolution's formula reads its input instead."""
    x, w, _, stride, padding, dilation, transposed = args[:7]
    if transposed:
        return tuple(x.shape)
    sizes = [
        (size + 2 * padding[min(i, len(padding) - 1)] - dilation[min(i, len(dilation) - 1)] * (kernel - 1) - 1)
        // stride[min(i, len(stride) - 1)]
        + 1
        for i, (size, kernel) in enumerate(zip(x.shape[2:], w.shape[2:]))
    ]
    return (x.shape[0], w.shape[0], *sizes)


@contextmanager
def counting(tracer: Tracer, budget: int | None = None) -> Iterator[None]:
    """A dispatch mode that shows every op to ``tracer.on_op``; with a ``budget``, an op that would
    take the pass's mult-adds over it raises TooMuchWork before it runs."""
    torch = import_torch()
    from torch.utils._python_dispatch import TorchDispatchMode

    formulas = op_formulas()
    device_op = torch.ops.prim.device.default
    work = 0

    class Counting(TorchDispatchMode):  # type: ignore[no-untyped-call]
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            # Wrapping __torch_dispatch__ for torch.compile imports torch._dynamo; nothing compiles here.
            return False

        def __torch_dispatch__(
            self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
        ) -> Any:
            nonlocal work
            kwargs = kwargs or {}
            formula = formulas.get(func._overloadpacket)
            if formula is None and func is not device_op:
                with self:  # an op that decomposes is counted by its parts, as FlopCounterMode does
                    result = func.decompose(*args, **kwargs)
                if result is not NotImplemented:
                    return result
            if budget is not None and formula is not None:
                work += expected(formula, func._overloadpacket.__name__, args, kwargs)
                if work > budget:
                    raise TooMuchWork(budget)
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
