"""The tracer: one forward pass with global module hooks for the calls (each checked with the spec
engines' size rule, a mismatch given a stand-in input) and the op counter for what each call
computes and where its input came from."""

from __future__ import annotations

import contextlib
import sys
import warnings
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnninspect.engines.analytic import check_input, keeps_received
from cnninspect.engines.model.build import in_package, seeded, source_location
from cnninspect.engines.model.counting import (
    UNCOUNTED_OPS,
    TooMuchWork,
    added,
    counting,
    op_formulas,
    without_fast_attention,
)
from cnninspect.engines.model.records import Call, SubclassSpec, layer_spec
from cnninspect.engines.model.sandbox import TimeUp, describe
from cnninspect.engines.model.target import ModelTarget
from cnninspect.engines.records import Reshape
from cnninspect.engines.torch import blank, import_torch
from cnninspect.errors import Location, ModelError
from cnninspect.spec.model import LayerSpec

if TYPE_CHECKING:
    from torch import Tensor, nn

RESHAPES = frozenset({"view", "_unsafe_view", "reshape", "_reshape_alias"})
MAP_OPS = ("convolution", "_convolution", "max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool", "upsample")
"""aten ops (by name or name prefix) whose result is a feature map, channels first."""
MAP_KEEPING_OPS = ("constant_pad_nd", "reflection_pad", "replication_pad", "pixel_shuffle", "pixel_unshuffle")
"""aten ops that change a feature map's size and keep it one."""
DISPATCH_FRAMES = ("torch.utils._python_dispatch", "torch._ops", __name__, "cnninspect.engines.model.counting")
"""Python frames between the code that called an op and the dispatch mode that sees it."""


class Tracer:
    """One forward pass: global module hooks for the calls, a dispatch mode for the ops."""

    def __init__(self, target: ModelTarget, model: nn.Module, sites: dict[int, Location], batch: int) -> None:
        torch = import_torch()
        self.torch = torch
        self.target, self.model, self.sites, self.batch = target, model, sites, batch
        self.names = {id(module): name for name, module in model.named_modules()}
        self.lazy = {
            id(module)
            for module in model.modules()
            if isinstance(module, torch.nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params()
        }
        self.specs: dict[int, LayerSpec] = {}
        self.stack: list[Call] = []
        self.root = Call(model, "", None, (), None)
        self.links: dict[int, tuple[weakref.ref[Tensor], Call | None, bool]] = {}
        self.maps: dict[int, weakref.ref[Tensor]] = {}
        """id(tensor) → the tensor, for feature maps: made by a convolution or pooling op, or from one
        by ops that keep its shape."""
        """id(tensor) → (the tensor, the call whose output it is or None for the model's input, direct)."""
        self.used: set[int] = set()
        """Parameters some op received."""
        self.reshapes: list[Reshape] = []
        self.output: object = None
        """What the model returned."""

    def run(self, tensors: list[Tensor], budget: int | None = None) -> None:
        """The forward pass; a ModelError when the user's code fails for a reason that is not a
        size mismatch (a rank PyTorch refuses too ends the trace as a finding); TooMuchWork before
        an op that would take its mult-adds over ``budget`` (None: no limit)."""
        torch = self.torch
        for tensor in tensors:
            self._link(tensor, None, True)
        hooks = torch.nn.modules.module
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            if tensors and tensors[0].device.type == "cpu":
                stack.enter_context(seeded())
                # oneDNN runs an LSTM as one op without a formula; without it, as the meta device does
                stack.enter_context(warnings.catch_warnings())
                warnings.filterwarnings("ignore", "TF32 acceleration on top of oneDNN")  # our switch, not the model
                stack.enter_context(torch.backends.mkldnn.flags(enabled=False))
            stack.enter_context(without_fast_attention())
            stack.callback(hooks.register_module_forward_pre_hook(self._pre).remove)
            stack.callback(hooks.register_module_forward_hook(self._post).remove)
            stack.enter_context(counting(self, budget))
            try:
                self.output = self.model(*tensors)
            except (KeyboardInterrupt, TooMuchWork):
                raise
            except BaseException as error:
                culprit = self.stack[-1] if self.stack else self.root
                if culprit.refused and not isinstance(error, TimeUp):  # PyTorch refuses the rank too: a finding
                    culprit.mismatches = culprit.refused
                    return
                where = f" in {culprit.name} ({type(culprit.module).__name__})" if culprit.name else ""
                place = _user_frame(error, self.target)
                raise ModelError(f"{place}forward pass failed{where}: {describe(error)}") from error

    def _pre(self, module: Any, inputs: tuple[Any, ...]) -> tuple[Any, ...] | None:
        key = id(module)
        if key not in self.names:
            return None  # a module made during forward, or another model's: its ops are its caller's
        torch = self.torch
        position = next((i for i, x in enumerate(inputs) if isinstance(x, torch.Tensor)), None)
        shape = tuple(inputs[position].shape) if position is not None else ()
        if key not in self.specs:
            self.specs[key] = layer_spec(module, self.names[key], self.sites, self.target)
        parent = self.stack[-1] if self.stack else None
        call = self.root if parent is None else Call(module, self.names[key], parent, shape, self.specs[key])
        call.input_shape, call.spec = shape, self.specs[key]
        if parent is not None:
            parent.children.append(call)
        self.stack.append(call)
        if position is not None:
            known, call.source, call.direct = self._link_of(inputs[position])
            call.from_input = known and call.source is None
        if call.spec is None or position is None:
            return None
        mismatches, stand_in, call.in_size = check_input(call.spec, shape)
        if isinstance(call.spec, SubclassSpec):  # its own forward: shown as its torch.nn layer, never checked
            return None
        if stand_in is None:
            call.refused = mismatches
            return None
        call.mismatches = mismatches
        if stand_in != shape:
            x = call.received = inputs[position]
            return (*inputs[:position], blank(stand_in, x.device.type, like=x), *inputs[position + 1 :])
        return None

    def _post(self, module: nn.Module, _inputs: object, output: object) -> object:
        if id(module) not in self.names:
            return None
        while len(self.stack) > 1 and self.stack[-1].module is not module:
            self.stack.pop()  # a call whose exception the model's own code caught
        call = self.stack.pop()
        call.refused = ()  # PyTorch ran it: whatever the catalog says, that rank is fine
        if id(module) in self.lazy:  # materialised by its own pre-hook: now it has its sizes
            self.lazy.discard(id(module))
            spec = layer_spec(module, call.name, self.sites, self.target, lazy=True)
            self.specs[id(module)] = call.spec = spec
            call.in_size = check_input(spec, call.input_shape)[2]
        # A norm layer with a wrong declared size passes on what it received, as in the spec
        # engines, so the layers after it are judged on the truth.
        received = call.received
        if received is not None and call.spec is not None and keeps_received(call.spec):
            output = received
        tensor = first_tensor(output)
        call.output_shape = None if tensor is None else tuple(tensor.shape)
        call.map_output = tensor is not None and self._is_map(tensor)
        for value in _tensors(output):
            _, source, _ = self._link_of(value)
            if not (source is not None and source.within(call)):  # an inner call made it: that one shows it
                self._link(value, call, True)
        return output

    def _is_map(self, tensor: object) -> bool:
        entry = self.maps.get(id(tensor))
        return entry is not None and entry() is tensor

    def _link(self, tensor: Tensor, call: Call | None, direct: bool) -> None:
        self.links[id(tensor)] = (weakref.ref(tensor), call, direct)

    def _link_of(self, tensor: object) -> tuple[bool, Call | None, bool]:
        """(known, the call whose output it is, direct) for a tensor."""
        entry = self.links.get(id(tensor))
        if entry is None or entry[0]() is not tensor:
            return False, None, False
        return True, entry[1], entry[2]

    def on_op(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> None:
        """Count one op's multiply-accumulates for the innermost call, and follow its data."""
        torch = self.torch
        call = self.stack[-1] if self.stack else self.root
        packet = func._overloadpacket
        name = packet.__name__
        leaves = torch.utils._pytree.tree_leaves((args, kwargs))
        parameters = [a for a in leaves if isinstance(a, torch.nn.Parameter)]
        self.used.update(id(p) for p in parameters)
        formula = op_formulas().get(packet)
        if formula is not None:
            try:
                call.own += formula(*args, **kwargs, out_val=out) // 2
            except Exception:  # a shape the formula does not expect
                call.uncounted.append(f"{func.namespace}.{name}")
        elif name in UNCOUNTED_OPS or "attention" in name or (func.namespace != "aten" and parameters):
            call.uncounted.append(f"{func.namespace}.{name}")
        results = [t for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
        if not results:
            return
        call.own += added(name, args, kwargs, results[0])
        self._follow(leaves, results[0])
        if (
            (name.startswith(MAP_OPS) and results[0].dim() >= 3)
            or (name.startswith(MAP_KEEPING_OPS) and self._is_map(args[0]))
            or any(self._is_map(value) and value.shape == results[0].shape for value in leaves)
        ):
            self.maps[id(results[0])] = weakref.ref(results[0])
        if name in RESHAPES and isinstance(args[0], torch.Tensor):
            self._note_reshape(tuple(args[0].shape), tuple(results[0].shape))

    def _follow(self, leaves: Sequence[Any], result: Any) -> None:
        """An op's result carries on the layout of an argument of the same shape; an op that changed a
        tensor in place leaves it no longer any call's output as it came out."""
        torch = self.torch
        for value in leaves:
            if not isinstance(value, torch.Tensor):
                continue
            known, source, _ = self._link_of(value)
            if known and value is result:
                self._link(value, source, False)
                return
            if known and value.shape == result.shape:
                self._link(result, source, False)
                return

    def _note_reshape(self, before: tuple[int, ...], after: tuple[int, ...]) -> None:
        """A reshape of the batch dimension, called from the user's own line (not torch's)."""
        if not before or not after or before[0] != self.batch or after[0] == before[0]:
            return
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__") in DISPATCH_FRAMES:
            frame = frame.f_back  # type: ignore[assignment]
        if frame is None or in_package(frame, "torch") or in_package(frame, "cnninspect"):
            return
        where = source_location(frame.f_code.co_filename, frame.f_lineno, Path.cwd())
        self.reshapes.append(Reshape(where, before, after))

    def reshape_to(self, returned: tuple[int, ...] | None) -> Reshape | None:
        """The user's reshape that made the returned batch size, else their first reshape of the batch."""
        made = [r for r in self.reshapes if returned and r.after[0] == returned[0]]
        return next(iter(made or self.reshapes), None)


def first_tensor(value: object) -> Tensor | None:
    return next(_tensors(value), None)


def _tensors(value: object) -> Iterator[Tensor]:
    """Every tensor in an output: a tensor, or tuples, lists and dicts of them."""
    torch = import_torch()
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _user_frame(error: BaseException, target: ModelTarget) -> str:
    """``file.py:LINE: `` of the innermost frame in the user's file, if there is one."""
    tb = error.__traceback__
    found = ""
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if target.path is not None and Path(filename).resolve() == target.path.resolve():
            found = f"{target.path}:{tb.tb_lineno}: "
        tb = tb.tb_next
    return found
