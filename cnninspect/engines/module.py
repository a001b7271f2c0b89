"""--model: the user's own nn.Module, traced call by call. This runs the user's code.

The model is imported from a file or a package and built on the meta device first (no memory,
no weight initialisation). Its size then chooses where it is traced: a model whose parameters
and activations fit in ``CPU_TRACE_LIMIT`` is built again on the CPU, with seeded (so
deterministic) weights, because a small CPU forward pass is faster than the meta device's first
use; larger ones are traced on meta. Where meta cannot go — a constructor that reads tensor
values (RegNet), a forward pass with data-dependent ops (``torch.nonzero`` in a detector) — the
CPU takes over when memory allows, and the trace says so.

Every module call is seen by global forward hooks (a TorchScript module takes no hooks of its
own, so it is one opaque row). The pre-hooks check Linear, Conv and norm layers with the same
rule as both spec engines (``check_input``): a mismatch is recorded and the layer gets a stand-in
input of the size it expects, so the forward pass carries on and later mismatches are found in
the same run. A rank the catalog refuses is left to PyTorch: only when PyTorch refuses it too is
it a finding.

Mult-adds are counted per op by a dispatch mode with ``torch.utils.flop_counter``'s formulas
(FlopCounterMode's own, ÷ 2), plus one per output value for each bias add and each norm's scale
and shift, as torchinfo and the spec engines count them. FlopCounterMode itself is not used: rows
need each call's share and the ops without a formula, and its dispatch mode imports
torch._dynamo on first use (about 1.7 s, more than a whole small CPU trace). The same mode follows
the data: which call's output each module receives, unchanged or through ops that keep its shape.

An instance given by name is never touched: it is copied first, so it is not moved, not
switched between train and eval, and keeps no hook, buffer or gradient it did not have.
Each module is located where the user's code constructed it (``self.fc = nn.Linear(…)``).
While the user's code runs, ``print`` goes to stderr, ``os._exit`` raises instead of ending the
process, and ``--timeout`` ends it.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import hashlib
import importlib
import importlib.util
import math
import os
import signal
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cnninspect.engines.analytic import check_input, keeps_received
from cnninspect.engines.records import BYTES_PER_VALUE, LayerRecord, Mismatch, Trace
from cnninspect.engines.torch import CPU_TRACE_LIMIT, blank, count_parameters, import_torch
from cnninspect.errors import CnnInspectError, Location, ModelError, UsageError
from cnninspect.spec.catalog import ArgValueError, lookup
from cnninspect.spec.model import LayerSpec, ModelSpec
from cnninspect.spec.validate import parse_input
from cnninspect.text import did_you_mean, first_line

RANDOM_INITS = (
    "uniform_",
    "normal_",
    "trunc_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "xavier_uniform_",
    "xavier_normal_",
    "orthogonal_",
    "sparse_",
)
"""torch.nn.init's random initialisers: what building a large model on the CPU costs most."""
DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "long", "int", "bool")
DEFAULT_TIMEOUT = 120.0
"""Seconds the user's code may run (import, construction, forward passes) unless --timeout says otherwise."""
SEED = 0
"""Weights built on the CPU, and any random number the model draws, come from this seed."""
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
RESHAPES = frozenset({"view", "_unsafe_view", "reshape", "_reshape_alias"})
DISPATCH_FRAMES = ("torch.utils._python_dispatch", "torch._ops", __name__)
"""Python frames between the code that called an op and the dispatch mode that sees it."""


@dataclass(frozen=True)
class ModelTarget:
    """What ``--model`` names."""

    text: str
    """As typed: ``path/to/file.py:NAME`` or ``package.module:NAME``."""
    path: Path | None
    """The .py file, or None for an importable module."""
    module: str
    """The module name (for a file: its stem)."""
    attr: str
    """The class, factory function or instance, dotted if nested."""


@dataclass(frozen=True, kw_only=True)
class ModuleRecord(LayerRecord):
    """One row of a ``--model`` trace: a module call, with what it computed and where its input came
    from; or the parameters of a module that forward never used."""

    mult_adds: int | None = 0
    """Multiply-accumulates of the ops in this call that no other row shows; None when one of them has
    no cost rule."""
    uncounted: tuple[str, ...] = ()
    """The ops without a cost rule (``aten._trilinear``)."""
    source: int | None = None
    """The row whose output arrives here with its layout kept (as it came out, or through ops that keep
    its shape); None for the model's input or an input computed otherwise."""
    direct: bool = False
    """The input is ``source``'s output itself, no op in between."""
    from_input: bool = False
    """The input is one of the model's inputs (or made from it by ops that keep its shape)."""


@dataclass(frozen=True)
class Reshape:
    """A reshape in the user's code that changed the size of dimension 0."""

    location: Location
    """The line."""
    before: tuple[int, ...]
    """The shape it reshaped."""
    after: tuple[int, ...]
    """The shape it made."""


@dataclass(frozen=True, kw_only=True)
class ModelTrace(Trace):
    """A ``--model`` trace: the records are ``ModuleRecord``s, and the data flow is the real one."""

    inputs: tuple[tuple[int, ...], ...] = ()
    """Every input's shape, batch first (``spec.input`` is the first)."""
    device: str = "cpu"
    """Where the forward pass ran: ``cpu`` or ``meta``."""
    notes: tuple[str, ...] = ()
    """Why the model was built or traced where it was, when that is not the usual choice."""
    activations: int = 0
    """Every leaf module call's output, float32, whatever the rows shown (``--depth``)."""
    batch_mixed: bool = False
    """The output has no dimension that follows the batch size (checked at batch and batch + 1)."""
    reshape: Reshape | None = None
    """The user's reshape that made the output's dimension 0, when the batch is mixed."""

    @cached_property
    def producers(self) -> tuple[int | None, ...]:
        """The row whose output each row reads with its layout kept; None when there is none."""
        return tuple(_source(record) for record in self.records)

    @cached_property
    def consumers(self) -> tuple[tuple[int, ...], ...]:
        """The rows that read each row's output itself, no op in between."""
        readers: list[list[int]] = [[] for _ in self.records]
        for index, record in enumerate(self.records):
            source = _source(record)
            if source is not None and isinstance(record, ModuleRecord) and record.direct:
                readers[source].append(index)
        return tuple(tuple(r) for r in readers)

    @property
    def activation_bytes(self) -> int:
        """Every leaf module call's output, float32, at the traced batch size."""
        return self.activations

    def nearest(self, index: int) -> int | None:
        """Where a row's input most likely comes from, for messages: its source, else (an input made by
        the model's own code, such as ``x.view``) the row before; None for the model's input."""
        record = self.records[index]
        source = _source(record)
        if source is not None or (isinstance(record, ModuleRecord) and record.from_input) or not index:
            return source
        return index - 1


def _source(record: LayerRecord) -> int | None:
    return record.source if isinstance(record, ModuleRecord) else None


@dataclass
class _Call:
    """One call of one module during the trace."""

    module: Any
    name: str
    parent: _Call | None
    input_shape: tuple[int, ...]
    spec: LayerSpec | None
    mismatches: tuple[Mismatch, ...] = ()
    refused: tuple[Mismatch, ...] = ()
    """A rank the catalog refuses: a finding only if PyTorch refuses it too."""
    in_size: int | None = None
    output_shape: tuple[int, ...] | None = None
    children: list[_Call] = field(default_factory=list)
    received: Any = None
    """The tensor that really arrived, when the module ran on a stand-in."""
    own: int = 0
    """Multiply-accumulates of the ops run in this call and in none of its children."""
    uncounted: list[str] = field(default_factory=list)
    """Ops without a cost rule run in this call and in none of its children."""
    source: _Call | None = None
    direct: bool = False
    from_input: bool = False

    def within(self, other: _Call) -> bool:
        """This call is ``other`` or runs inside it."""
        call: _Call | None = self
        while call is not None and call is not other:
            call = call.parent
        return call is other


class _TimeUp(BaseException):
    """``--timeout`` ran out while the user's code ran."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"stopped after {seconds:g} s (--timeout SECONDS allows longer)")


class _ExitCalled(BaseException):
    """The user's code called ``os._exit``."""

    def __init__(self, code: object) -> None:
        super().__init__(f"called os._exit({code!r})")


def parse_target(text: str) -> ModelTarget:
    """``file.py:NAME`` or ``package.module:NAME``."""
    where, _, attr = text.rpartition(":")
    if not where or not attr or not all(part.isidentifier() for part in attr.split(".")):
        raise UsageError(f"--model {text!r}: write path/to/file.py:NAME or package.module:NAME")
    if not where.endswith(".py") and Path(where).is_file():
        raise UsageError(f"--model {text}: {where} is not a .py file; a spec file is given as SPEC, without --model")
    if where.endswith(".py") or "/" in where or os.sep in where:
        path = Path(where)
        if not path.is_file():
            raise UsageError(f"--model {text}: no such file {where}")
        return ModelTarget(text, path, path.stem, attr)
    if not all(part.isidentifier() for part in where.split(".")):
        raise UsageError(f"--model {text!r}: {where!r} is neither a .py file nor a module name")
    return ModelTarget(text, None, where, attr)


def parse_args(items: Sequence[str]) -> dict[str, Any]:
    """``--arg KEY=VALUE`` → keyword arguments; values are Python literals, else strings."""
    args: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UsageError(f"--arg {item!r}: write KEY=VALUE, e.g. --arg num_classes=10")
        try:
            args[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            args[key.strip()] = raw.strip()
    return args


def inspect_model(
    target: ModelTarget,
    args: dict[str, Any],
    inputs: Sequence[str],
    dtypes: Sequence[str] = (),
    batch: int = 1,
    depth: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> ModelTrace:
    """Import, build and trace the user's model; one record per module call shown. ``timeout`` bounds
    the user's code (None: no limit)."""
    if not inputs:
        raise UsageError(
            "--model needs --input: the shape of one sample, e.g. --input 3x32x32 (several for several inputs)"
        )
    shapes = [parse_input(text, Location("--input", 1, 1)) for text in inputs]
    if len(dtypes) not in (0, 1, len(shapes)):
        raise UsageError(
            f"give one --dtype for every input, or one for all ({len(shapes)} inputs, {len(dtypes)} dtypes)"
        )
    for dtype in dtypes:
        if dtype not in DTYPES:
            raise UsageError(f"--dtype {dtype!r}: choose one of {', '.join(DTYPES)}{did_you_mean(dtype, DTYPES)}")
    import_torch()  # before the user's code, so its own "import torch" is quiet
    kinds = [dtypes[min(i, len(dtypes) - 1)] if dtypes else "float32" for i in range(len(shapes))]
    batched = [(batch, *shape) for shape in shapes]
    with _sandbox(timeout), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj, import_sites = _load_attr(target)
        maker = _Maker(target, obj, args, import_sites)
        tracer, device = _trace_where_it_fits(maker, batched, kinds)
        root = tracer.root
        mixed = _batch_mixed(tracer.model, root.output_shape, batched, kinds, device)
    spec_name = target.attr.rsplit(".", 1)[-1]
    records = _records(tracer.model, root, depth, tracer.sites, target, tracer.used, spec_name)
    layers = tuple(record.layer for record in records)
    spec = ModelSpec(spec_name, shapes[0], layers, target.text, batch)
    reshape = tracer.reshape_to(root.output_shape) if mixed else None
    return ModelTrace(
        spec,
        tuple(records),
        "torch",
        finished=root.output_shape is not None,
        returned=root.output_shape,
        inputs=tuple(batched),
        device=device,
        notes=tuple(maker.notes),
        activations=sum(_output_bytes(c) for c in (root, *_walk(root)) if not c.children),
        batch_mixed=mixed,
        reshape=reshape,
    )


def _trace_where_it_fits(maker: _Maker, inputs: Sequence[tuple[int, ...]], kinds: Sequence[str]) -> tuple[_Tracer, str]:
    """The trace, on the CPU when the model is small, else on meta; on the CPU after all when meta
    fails and memory allows (``maker.notes`` says so). Also the device it ran on."""
    footprint = _footprint(maker.first(), inputs, kinds)
    device = "cpu" if footprint <= CPU_TRACE_LIMIT else "meta"
    try:
        return _traced(maker, device, inputs, kinds), device
    except ModelError as failure:
        if device == "cpu" or isinstance(failure.__cause__, _TimeUp):
            raise
        if footprint > _memory_available() // 2:
            raise ModelError(
                f"{failure.message} (on the meta device, which holds no data; at an estimated "
                f"{_size_text(footprint)} the model is too large to retry on the CPU)"
            ) from failure.__cause__
        maker.notes.append(f"traced on the CPU: on the meta device the forward pass fails ({_reason(failure)})")
        return _traced(maker, "cpu", inputs, kinds), "cpu"


def _traced(maker: _Maker, device: str, inputs: Sequence[tuple[int, ...]], kinds: Sequence[str]) -> _Tracer:
    """A forward pass on ``device``."""
    tracer = _Tracer(maker.target, *maker.on(device), inputs[0][0])
    tracer.run([_dummy(shape, kind, device) for shape, kind in zip(inputs, kinds)])
    return tracer


# ---------------------------------------------------------------------------------------
# The user's code: kept on stderr, bounded in time, never ending the process


@contextmanager
def _sandbox(seconds: float | None) -> Iterator[None]:
    """While the user's code runs: print() goes to stderr (stdout may carry JSON), os._exit raises
    instead of ending the process, and after ``seconds`` SIGALRM stops the code."""
    real_exit = os._exit

    def refuse_exit(code: int) -> None:
        raise _ExitCalled(code)

    os._exit = refuse_exit  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(sys.stderr), _deadline(seconds):
            yield
    except (_TimeUp, _ExitCalled) as error:  # between two steps that report their own
        raise ModelError(f"the model's code {_describe(error)}") from error
    finally:
        os._exit = real_exit


@contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """SIGALRM after ``seconds``, in the main thread of a system that has it (else no limit); the
    previous handler is restored. The alarm rings again every second, should the code swallow it."""
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def ring(_signum: int, _frame: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        raise _TimeUp(seconds)

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run_user(action: Callable[[], Any], what: str) -> Any:
    """Run the user's code; anything it raises, exits included, becomes one ModelError line
    (traceback with --debug)."""
    try:
        return action()
    except (CnnInspectError, KeyboardInterrupt):
        raise
    except BaseException as error:
        raise ModelError(f"{what}: {_describe(error)}") from error


def _describe(error: BaseException) -> str:
    """What the user's code did: ``called sys.exit(0)``, ``ValueError: …``."""
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r})"
    if isinstance(error, (_TimeUp, _ExitCalled)):
        return str(error)
    return f"{type(error).__name__}: {first_line(error)}"


def _reason(failure: ModelError) -> str:
    """Why the meta device failed, in a sentence: torch's own messages run on for several."""
    cause = failure.__cause__
    text = failure.message if cause is None else _describe(cause)
    return text.split(". ", 1)[0].rstrip(".")


# ---------------------------------------------------------------------------------------
# Import and construction


def _load_attr(target: ModelTarget) -> tuple[Any, dict[int, Location]]:
    """The named object, and where the import constructed modules (a ready instance's layers)."""
    with _construction_sites() as sites:
        if target.path is not None:
            digest = hashlib.sha1(str(target.path.resolve()).encode()).hexdigest()[:12]
            name = f"_cnninspect_model_{target.module}_{digest}"
            spec = importlib.util.spec_from_file_location(name, target.path)
            if spec is None or spec.loader is None:
                raise UsageError(f"--model {target.text}: {target.path} cannot be imported as Python")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            loader = spec.loader
            with _on_path(target.path.parent):
                _run_user(lambda: loader.exec_module(module), f"importing {target.path} failed")
        else:
            with _on_path(Path.cwd()):
                module = _run_user(lambda: importlib.import_module(target.module), f"importing {target.module} failed")
    obj: Any = module
    for part in target.attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            where = target.path or target.module
            raise UsageError(f"--model {target.text}: {where} has no {part!r}{did_you_mean(part, names)}")
        obj = getattr(obj, part)
    return obj, sites


@contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    """The folder importable, and no __pycache__ written into the user's tree (a cached
    file could also hide an edit made within the same second)."""
    entry = str(folder.resolve())
    sys.path.insert(0, entry)
    write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        yield
    finally:
        sys.path.remove(entry)
        sys.dont_write_bytecode = write_bytecode


class _Maker:
    """The user's model on the device a trace needs: a class or factory built there, an instance
    copied there. The CPU gets seeded weights, so every run computes the same."""

    def __init__(self, target: ModelTarget, obj: Any, args: dict[str, Any], import_sites: dict[int, Location]):
        nn = import_torch().nn
        self.target, self.obj, self.args, self.import_sites = target, obj, args, import_sites
        self.instance = isinstance(obj, nn.Module)
        label = target.attr
        if self.instance and args:
            raise UsageError(f"--arg: {label} is an instance; --arg is for classes and factory functions")
        if not self.instance and not callable(obj):
            kind = type(obj).__name__
            raise UsageError(
                f"--model {target.text}: {label} is {_article(kind)} {kind}, not an nn.Module, class or factory"
            )
        self.call = f"{label}({', '.join(f'{k}={v!r}' for k, v in args.items())})"
        self.model: Any = None
        self.sites: dict[int, Location] = {}
        self.device = ""
        """Where ``model``'s tensors are: ``meta`` or ``cpu``; "" before it is built."""
        self.drawn = True
        """False for a CPU build whose random weights were never drawn (fit for meta only)."""
        self.notes: list[str] = []
        """Why the model was built or traced where it was, when that is not the usual place."""

    def first(self) -> Any:
        """A model to size: the instance itself, else one built on meta, else (with a note why) on
        the CPU."""
        if self.instance:
            return self.obj
        try:
            self.model, self.sites = self.build("meta")
            self.device = "meta"
        except ModelError as failure:
            if isinstance(failure.__cause__, _TimeUp):
                raise
            # The user's own mistake fails here too, and is reported. The weights are left undrawn:
            # if the model is large it is traced on meta and no value is ever read.
            self.model, self.sites = self.build("cpu", drawn=False)
            self.device, self.drawn = "cpu", False
            self.notes.append(f"built on the CPU: on the meta device {self.call} fails ({_reason(failure)})")
        return self.model

    def on(self, device: str) -> tuple[Any, dict[int, Location]]:
        """The model to trace on ``device``, and where its modules were constructed."""
        if self.instance:
            return self.copy(device)
        if self.device == "cpu" and device == "meta":
            self.model = self.model.to("meta")  # built on the CPU because meta could not; ours to move
        elif self.device != device or not self.drawn:
            self.model, self.sites = self.build(device)
        self.device, self.drawn = device, True
        return self.model, self.sites

    def build(self, device: str, drawn: bool = True) -> tuple[Any, dict[int, Location]]:
        """The model built on ``device``; with ``drawn`` false, torch.nn.init draws no weights."""
        torch = import_torch()
        obj, args = self.obj, self.args
        undrawn = contextlib.nullcontext() if drawn else _undrawn()
        with _construction_sites() as sites, torch.device(device), _seeded(), undrawn:
            model = _run_user(lambda: obj(**args), f"{self.call} failed")
        if not isinstance(model, torch.nn.Module):
            raise UsageError(
                f"--model {self.target.text}: {self.call} returned {_article(type(model).__name__)} "
                f"{type(model).__name__}, not an nn.Module"
            )
        return model, sites

    def copy(self, device: str) -> tuple[Any, dict[int, Location]]:
        """A copy of the instance, with the import's construction sites carried over by name; on meta,
        the tensors are never copied at all."""
        torch = import_torch()
        obj = self.obj
        memo: dict[int, Any] = {}
        if device == "meta":
            for tensor in (*obj.parameters(), *obj.buffers()):
                empty = torch.empty_like(tensor, device="meta")
                memo[id(tensor)] = (
                    torch.nn.Parameter(empty, tensor.requires_grad) if isinstance(tensor, torch.nn.Parameter) else empty
                )
        model = _run_user(lambda: copy.deepcopy(obj, memo), f"copying {self.target.attr} failed")
        copies = dict(model.named_modules())
        sites = {
            id(copies[name]): self.import_sites[id(module)]
            for name, module in obj.named_modules()
            if id(module) in self.import_sites and name in copies
        }
        return model, sites


@contextmanager
def _undrawn() -> Iterator[None]:
    """torch.nn.init's random initialisers leave their tensor as it is, undrawn."""
    init = import_torch().nn.init
    saved = {name: getattr(init, name) for name in RANDOM_INITS}
    for name in RANDOM_INITS:
        setattr(init, name, _as_it_is)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(init, name, function)


def _as_it_is(tensor: Any, *_: Any, **__: Any) -> Any:
    return tensor


@contextmanager
def _seeded() -> Iterator[None]:
    """Random numbers from SEED, and the caller's random state as it was afterwards."""
    torch = import_torch()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        yield


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


@contextmanager
def _construction_sites() -> Iterator[dict[int, Location]]:
    """Record, for every module built inside, the line that constructed it: the first frame outside
    torch that is not the module's own ``__init__``. None when that frame is cnninspect's own
    (a model built by a factory of torch's)."""
    torch = import_torch()
    found: dict[int, tuple[str, int]] = {}
    module_class = torch.nn.Module
    original = module_class.__init__

    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        frame = sys._getframe(1)
        while frame is not None and (
            _in_package(frame, "torch") or (frame.f_code.co_name == "__init__" and frame.f_locals.get("self") is self)
        ):
            frame = frame.f_back  # type: ignore[assignment]
        if frame is not None and not _in_package(frame, "cnninspect"):
            found[id(self)] = (frame.f_code.co_filename, frame.f_lineno)

    sites: dict[int, Location] = {}
    module_class.__init__ = recording_init
    try:
        yield sites
    finally:
        module_class.__init__ = original
        base = Path.cwd()
        sites.update({key: _location(path, line, base) for key, (path, line) in found.items()})


def _in_package(frame: Any, package: str) -> bool:
    """The frame runs code of ``package`` (torch, not torchvision)."""
    name = frame.f_globals.get("__name__", "")
    return isinstance(name, str) and (name == package or name.startswith(f"{package}."))


def _location(path: str, line: int, base: Path) -> Location:
    try:
        shown = str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        shown = path
    return Location(shown, line, _call_column(path, line))


def _call_column(path: str, line: int) -> int:
    """The column where the constructing call starts on that line (1 if it cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8").splitlines()[line - 1]
    except (OSError, IndexError, UnicodeDecodeError):
        return 1
    return len(text) - len(text.lstrip()) + 1


def _no_line(target: ModelTarget) -> Location:
    """Where a module is when its constructing line is unknown: the model's file or package, no line."""
    return Location(str(target.path) if target.path is not None else target.module, 0, 0)


# ---------------------------------------------------------------------------------------
# Where to trace


def _footprint(model: Any, inputs: Sequence[tuple[int, ...]], kinds: Sequence[str]) -> int:
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


def _dtype(kind: str) -> Any:
    torch = import_torch()
    return {"long": torch.int64, "int": torch.int32}.get(kind) or getattr(torch, kind)


def _dummy(shape: tuple[int, ...], kind: str, device: str) -> Any:
    torch = import_torch()
    return torch.zeros(shape, dtype=_dtype(kind), device=device)


# ---------------------------------------------------------------------------------------
# Tracing


class _Tracer:
    """One forward pass: global module hooks for the calls, a dispatch mode for the ops."""

    def __init__(self, target: ModelTarget, model: Any, sites: dict[int, Location], batch: int) -> None:
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
        self.stack: list[_Call] = []
        self.root = _Call(model, "", None, (), None)
        self.links: dict[int, tuple[weakref.ref[Any], _Call | None, bool]] = {}
        """id(tensor) → (the tensor, the call whose output it is or None for the model's input, direct)."""
        self.used: set[int] = set()
        """Parameters some op received."""
        self.reshapes: list[Reshape] = []

    def run(self, tensors: list[Any]) -> None:
        """The forward pass; a ModelError when the user's code fails for a reason that is not a
        size mismatch (a rank PyTorch refuses too ends the trace as a finding)."""
        torch = self.torch
        for tensor in tensors:
            self._link(tensor, None, True)
        hooks = torch.nn.modules.module
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            if tensors and tensors[0].device.type == "cpu":
                stack.enter_context(_seeded())
                # oneDNN runs an LSTM as one op without a formula; without it, as the meta device does
                stack.enter_context(torch.backends.mkldnn.flags(enabled=False))
            stack.enter_context(_without_fast_attention())
            stack.callback(hooks.register_module_forward_pre_hook(self._pre).remove)
            stack.callback(hooks.register_module_forward_hook(self._post).remove)
            stack.enter_context(_counting(self))
            try:
                self.model(*tensors)
            except KeyboardInterrupt:
                raise
            except BaseException as error:
                culprit = self.stack[-1] if self.stack else self.root
                if culprit.refused and not isinstance(error, _TimeUp):  # PyTorch refuses the rank too: a finding
                    culprit.mismatches = culprit.refused
                    return
                where = f" in {culprit.name} ({type(culprit.module).__name__})" if culprit.name else ""
                place = _user_frame(error, self.target)
                raise ModelError(f"{place}forward pass failed{where}: {_describe(error)}") from error

    def _pre(self, module: Any, inputs: tuple[Any, ...]) -> tuple[Any, ...] | None:
        key = id(module)
        if key not in self.names:
            return None  # a module made during forward, or another model's: its ops are its caller's
        torch = self.torch
        position = next((i for i, x in enumerate(inputs) if isinstance(x, torch.Tensor)), None)
        shape = tuple(inputs[position].shape) if position is not None else ()
        if key not in self.specs:
            self.specs[key] = _layer_spec(module, self.names[key], self.sites, self.target)
        parent = self.stack[-1] if self.stack else None
        call = self.root if parent is None else _Call(module, self.names[key], parent, shape, self.specs[key])
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
        if stand_in is None:
            call.refused = mismatches
            return None
        call.mismatches = mismatches
        if stand_in != shape:
            x = call.received = inputs[position]
            return (*inputs[:position], blank(stand_in, x.device.type, like=x), *inputs[position + 1 :])
        return None

    def _post(self, module: Any, _inputs: Any, output: Any) -> Any:
        if id(module) not in self.names:
            return None
        while len(self.stack) > 1 and self.stack[-1].module is not module:
            self.stack.pop()  # a call whose exception the model's own code caught
        call = self.stack.pop()
        call.refused = ()  # PyTorch ran it: whatever the catalog says, that rank is fine
        if id(module) in self.lazy:  # materialised by its own pre-hook: now it has its sizes
            self.lazy.discard(id(module))
            spec = _layer_spec(module, call.name, self.sites, self.target, lazy=True)
            self.specs[id(module)] = call.spec = spec
            call.in_size = check_input(spec, call.input_shape)[2]
        # A norm layer with a wrong declared size passes on what it received, as in the spec
        # engines, so the layers after it are judged on the truth.
        received = call.received
        if received is not None and call.spec is not None and keeps_received(call.spec):
            output = received
        tensor = _first_tensor(output)
        call.output_shape = None if tensor is None else tuple(tensor.shape)
        for value in _tensors(output):
            _, source, _ = self._link_of(value)
            if not (source is not None and source.within(call)):  # an inner call made it: that one shows it
                self._link(value, call, True)
        return output

    def _link(self, tensor: Any, call: _Call | None, direct: bool) -> None:
        self.links[id(tensor)] = (weakref.ref(tensor), call, direct)

    def _link_of(self, tensor: Any) -> tuple[bool, _Call | None, bool]:
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
        formula = _formulas().get(packet)
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
        call.own += _added(name, args, kwargs, results[0])
        self._follow(leaves, results[0])
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
        if frame is None or _in_package(frame, "torch") or _in_package(frame, "cnninspect"):
            return
        where = _location(frame.f_code.co_filename, frame.f_lineno, Path.cwd())
        self.reshapes.append(Reshape(where, before, after))

    def reshape_to(self, returned: tuple[int, ...] | None) -> Reshape | None:
        """The user's reshape that made the returned batch size, else their first reshape of the batch."""
        made = [r for r in self.reshapes if returned and r.after[0] == returned[0]]
        return next(iter(made or self.reshapes), None)


@functools.cache
def _formulas() -> dict[Any, Any]:
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


def _vector_flops(matrix: Sequence[int], *_: Any, **__: Any) -> int:
    """A matrix or vector times a vector (``x @ w`` with a 1-d w, F.linear on one sample): a product
    per value of the first operand, 2 FLOPs each as the counter's own mm formula counts them."""
    return 2 * math.prod(matrix)


def _added_vector_flops(_added: Any, matrix: Sequence[int], *_: Any, **__: Any) -> int:
    """addmv: the same products, the added vector being counted as a bias."""
    return _vector_flops(matrix)


@contextmanager
def _counting(tracer: _Tracer) -> Iterator[None]:
    """A dispatch mode that shows every op to ``tracer.on_op``."""
    torch = import_torch()
    from torch.utils._python_dispatch import TorchDispatchMode

    formulas = _formulas()
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


def _added(name: str, args: Sequence[Any], kwargs: dict[str, Any], result: Any) -> int:
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
def _without_fast_attention() -> Iterator[None]:
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


def _first_tensor(value: Any) -> Any:
    return next(_tensors(value), None)


def _tensors(value: Any) -> Iterator[Any]:
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


def _batch_mixed(
    model: Any, returned: tuple[int, ...] | None, inputs: Sequence[tuple[int, ...]], kinds: Sequence[str], device: str
) -> bool:
    """True when the output has no dimension that follows the batch: it differs in dimension 0, and a
    second forward pass at batch + 1 grows no dimension by exactly one sample. A sequence-first
    model, which returns (time, batch, …), keeps its samples apart."""
    if not returned or returned[0] == inputs[0][0]:
        return False
    torch = import_torch()
    batch = inputs[0][0]
    bigger = [_dummy((batch + 1, *shape[1:]), kind, device) for shape, kind in zip(inputs, kinds)]
    try:
        with torch.no_grad(), _seeded():
            again = _first_tensor(model(*bigger))
    except (_TimeUp, KeyboardInterrupt):
        raise
    except BaseException:
        return True  # it cannot run at another batch size: judged by dimension 0 alone
    if again is None or again.dim() != len(returned):
        return True
    return not any(a == batch and b == batch + 1 for a, b in zip(returned, again.shape))


def _layer_spec(
    module: Any, name: str, sites: dict[int, Location], target: ModelTarget, lazy: bool = False
) -> LayerSpec:
    """The module as a LayerSpec: torch.nn catalog layers with their arguments read back (a lazy
    layer's input size left out: it was inferred)."""
    torch = import_torch()
    cls = type(module)
    location = sites.get(id(module)) or _no_line(target)
    if isinstance(module, torch.jit.ScriptModule):
        return LayerSpec(0, name, f"{module.original_name} (TorchScript)", {}, location)
    kind = lookup(cls.__name__) if cls.__module__.startswith("torch.nn") else None
    type_name = cls.__name__ if kind or lookup(cls.__name__) is None else f"{cls.__module__}.{cls.__qualname__}"
    if kind is None:
        return LayerSpec(0, name, type_name, {}, location)
    args = {}
    for param in kind.params:
        if not hasattr(module, param.name) or (lazy and param.name == kind.inferred):
            continue
        value = getattr(module, param.name)
        if param.name == "bias" and not isinstance(value, bool):
            value = value is not None
        if isinstance(value, (list, tuple)):
            # PyTorch stores kernel_size=3 as (3, 3); show it as written most often.
            value = (
                value[0]
                if len(value) > 1 and len(set(value)) == 1 and param.name != "normalized_shape"
                else tuple(value)
            )
        try:
            args[param.name] = param.check(value)
        except ArgValueError:
            continue
    return LayerSpec(0, name, kind.name, args, location)


# ---------------------------------------------------------------------------------------
# Records


def _records(
    model: Any,
    root: _Call,
    depth: int | None,
    sites: dict[int, Location],
    target: ModelTarget,
    used: set[int],
    label: str,
) -> list[ModuleRecord]:
    """One record per call shown, then one per module that forward never called and whose parameters
    no op used; every op and every parameter counted once."""
    calls = [root, *_walk(root)]
    called = {id(c.module) for c in calls}
    unused = {
        id(module)
        for module in model.modules()
        if id(module) not in called and not any(id(p) in used for p in module.parameters(recurse=False))
    }
    shown = [c for c in calls if c is not root and _visible(c, depth)]
    shown_names = {c.name for c in shown}
    owner_of = _owners(model, shown_names, unused)
    if _root_shown(root, owner_of, shown):
        shown.insert(0, root)
        shown_names.add("")
    position = {id(c): i for i, c in enumerate(shown)}
    totals = {id(c): _attributed(c, position) for c in shown}
    counted: set[int] = set()
    first_call: dict[int, str] = {}
    records = []
    for index, call in enumerate(shown):
        notes = []
        own: list[tuple[str, Any]] = []
        holds = any(True for _ in call.module.parameters())
        if id(call.module) in first_call:
            if holds:
                notes.append(f"called again (as {first_call[id(call.module)] or label}): parameters counted once")
        else:
            first_call[id(call.module)] = call.name
            for qualified, parameter in call.module.named_parameters():
                owner, first_name = owner_of.get(id(parameter), (None, ""))
                full = f"{call.name}.{qualified}" if call.name else qualified
                if first_name != full and owner is not None:  # tied to another module's weight
                    notes.append(f"shares {qualified} with {first_name.rpartition('.')[0] or label}")
                if owner == call.name and id(parameter) not in counted:
                    counted.add(id(parameter))
                    own.append((qualified, parameter))
        weights, biases, trainable = count_parameters(own)
        spec = call.spec or _layer_spec(call.module, call.name, sites, target)
        products, uncounted = totals[id(call)]
        source = _shown(call.source, position)
        records.append(
            ModuleRecord(
                layer=LayerSpec(index, call.name or label, spec.type, spec.args, spec.location),
                input_shape=call.input_shape,
                output_shape=call.output_shape,
                weights=weights,
                biases=biases,
                trainable=trainable,
                mismatches=call.mismatches,
                in_size=call.in_size,
                note="; ".join(dict.fromkeys(notes)),
                depth=call.name.count(".") if depth is not None else 0,
                container=any(id(c) in position for c in _walk(call)),
                mult_adds=None if uncounted else products,
                uncounted=tuple(dict.fromkeys(uncounted)),
                source=source,
                direct=call.direct and call.source is not None and source == position.get(id(call.source)),
                from_input=call.from_input,
            )
        )
    records += _uncalled(model, counted, len(records), sites, target, label)
    return records


def _owners(model: Any, shown: set[str], unused: set[int]) -> dict[int, tuple[str | None, str]]:
    """Each parameter once, under the first name PyTorch gives it: (the shown call it is counted in,
    or None when its module was never used; that first name)."""
    modules = dict(model.named_modules())
    owner_of: dict[int, tuple[str | None, str]] = {}
    for qualified, parameter in model.named_parameters():
        holder = qualified.rpartition(".")[0]
        if id(modules[holder]) in unused:
            owner_of[id(parameter)] = (None, qualified)
            continue
        owner = holder
        while owner and owner not in shown:
            owner = owner.rpartition(".")[0]
        owner_of[id(parameter)] = (owner, qualified)
    return owner_of


def _root_shown(root: _Call, owner_of: dict[int, tuple[str | None, str]], shown: list[_Call]) -> bool:
    """The model's own call gets a row for parameters no shown call holds (ViT's class token) and for
    ops no shown call runs."""
    position = {id(c): i for i, c in enumerate(shown)}
    products, uncounted = _attributed(root, position)
    return bool(products or uncounted or any(owner == "" for owner, _ in owner_of.values()))


def _attributed(call: _Call, shown: dict[int, int]) -> tuple[int, list[str]]:
    """A call's multiply-accumulates and uncounted ops with those of its calls not shown folded in."""
    products, uncounted = call.own, list(call.uncounted)
    for child in call.children:
        if id(child) not in shown:
            more, missing = _attributed(child, shown)
            products += more
            uncounted += missing
    return products, uncounted


def _shown(call: _Call | None, position: dict[int, int]) -> int | None:
    """The row that shows a call: its own, or its nearest shown ancestor's when folded."""
    while call is not None and id(call) not in position:
        call = call.parent
    return None if call is None else position[id(call)]


def _output_bytes(call: _Call) -> int:
    return 0 if call.output_shape is None else math.prod(call.output_shape) * BYTES_PER_VALUE


def _walk(call: _Call) -> Iterator[_Call]:
    for child in call.children:
        yield child
        yield from _walk(child)


def _visible(call: _Call, depth: int | None) -> bool:
    """Leaf calls by default, and calls with parameters or ops of their own; with --depth N every
    call down to depth N, deeper ones folded into their ancestor."""
    if depth is not None:
        return call.name.count(".") < depth
    owns = any(True for _ in call.module.parameters(recurse=False))
    return not call.children or owns or bool(call.own or call.uncounted)


def _uncalled(
    model: Any, counted: set[int], start: int, sites: dict[int, Location], target: ModelTarget, label: str
) -> list[ModuleRecord]:
    """Rows for parameters of modules the forward pass never called and no op used, so totals are
    complete."""
    rows: list[ModuleRecord] = []
    for name, module in model.named_modules():
        own = [(n, p) for n, p in module.named_parameters(recurse=False) if id(p) not in counted]
        if not own:
            continue
        counted.update(id(p) for _, p in own)
        weights, biases, trainable = count_parameters(own)
        spec = _layer_spec(module, name, sites, target)
        rows.append(
            ModuleRecord(
                layer=LayerSpec(start + len(rows), name or label, spec.type, spec.args, spec.location),
                input_shape=(),
                output_shape=None,
                weights=weights,
                biases=biases,
                trainable=trainable,
                note="never called in forward: parameters only",
            )
        )
    return rows
