"""--model: the user's own nn.Module, traced module by module. This runs the user's code.

The model is imported from a file or a package, built on the meta device (no weight
initialisation), then traced with a forward pre-hook and a forward hook on every module.
The pre-hooks check Linear, Conv and norm layers with the same rule as both engines
(``check_input``): a mismatch is recorded and the layer gets a stand-in input of the size it
expects, so the forward pass carries on and later mismatches are found in the same run.

An instance given by name is never touched: it is copied first, so it is not moved, not
switched between train and eval, and keeps no hook, buffer or gradient it did not have.
Each module is located where the user's code constructed it (``self.fc = nn.Linear(…)``).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnninspect.engines.analytic import check_input, keeps_received
from cnninspect.engines.records import LayerRecord, Mismatch, Trace
from cnninspect.engines.torch import CPU_TRACE_LIMIT, blank, count_parameters, import_torch
from cnninspect.errors import CnnInspectError, Location, ModelError, UsageError
from cnninspect.spec.catalog import ArgValueError, lookup
from cnninspect.spec.model import LayerSpec, ModelSpec
from cnninspect.spec.validate import parse_input
from cnninspect.text import did_you_mean, first_line

DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "long", "int", "bool")


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


@dataclass
class _Call:
    """One call of one module during the trace."""

    module: Any
    name: str
    input_shape: tuple[int, ...]
    spec: LayerSpec | None
    mismatches: tuple[Mismatch, ...] = ()
    in_size: int | None = None
    output_shape: tuple[int, ...] | None = None
    children: list[_Call] = field(default_factory=list)
    received: Any = None
    """The tensor that really arrived, when the module ran on a stand-in."""


class _Stop(Exception):
    """A layer got a tensor of the wrong rank: the trace cannot go on."""


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
) -> Trace:
    """Import, build and trace the user's model; one record per module call shown."""
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
    obj = _load_attr(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, sites = _build(target, obj, args)
        device = _device(model)
        if device == "cpu" and _on_meta(model):
            _materialize(model)
        model.eval()
        kinds = [dtypes[min(i, len(dtypes) - 1)] if dtypes else "float32" for i in range(len(shapes))]
        tensors = [_dummy((batch, *shape), kind, device) for shape, kind in zip(shapes, kinds)]
        root = _trace(target, model, tensors, sites)
    spec_name = target.attr.rsplit(".", 1)[-1]
    records = _records(model, root, depth, sites, target)
    layers = tuple(record.layer for record in records)
    spec = ModelSpec(spec_name, shapes[0], layers, target.text, batch)
    return Trace(spec, tuple(records), "torch", finished=root.output_shape is not None, returned=root.output_shape)


# ---------------------------------------------------------------------------------------
# Import and construction


def _load_attr(target: ModelTarget) -> Any:
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
    return obj


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


def _run_user(action: Any, what: str) -> Any:
    """Run the user's code; any exception becomes one ModelError line (traceback with --debug)."""
    try:
        return action()
    except CnnInspectError:
        raise
    except BaseException as error:  # SystemExit and KeyboardInterrupt in user code too
        if isinstance(error, KeyboardInterrupt):
            raise
        raise ModelError(f"{what}: {type(error).__name__}: {first_line(error)}") from error


def _build(target: ModelTarget, obj: Any, args: dict[str, Any]) -> tuple[Any, dict[int, Location]]:
    torch = import_torch()
    nn = torch.nn
    label = target.attr
    if isinstance(obj, nn.Module):
        if args:
            raise UsageError(f"--arg: {label} is an instance; --arg is for classes and factory functions")
        return _run_user(lambda: copy.deepcopy(obj), f"copying {label} failed"), {}
    if not callable(obj):
        raise UsageError(
            f"--model {target.text}: {label} is a {type(obj).__name__}, not an nn.Module, class or factory"
        )
    call = f"{label}({', '.join(f'{k}={v!r}' for k, v in args.items())})"
    with _construction_sites() as sites, torch.device("meta"):
        model = _run_user(lambda: obj(**args), f"{call} failed")
    if not isinstance(model, nn.Module):
        raise UsageError(f"--model {target.text}: {call} returned a {type(model).__name__}, not an nn.Module")
    base = Path.cwd()
    return model, {key: _location(path, line, base) for key, (path, line) in sites.items()}


@contextmanager
def _construction_sites() -> Iterator[dict[int, tuple[str, int]]]:
    """Record, for every module built inside, the user's line that constructed it: the first
    frame outside torch that is not the module's own ``__init__``."""
    torch = import_torch()
    sites: dict[int, tuple[str, int]] = {}
    module_class = torch.nn.Module
    original = module_class.__init__
    torch_dir = os.path.dirname(torch.__file__ or "")

    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        frame = sys._getframe(1)
        while frame is not None and (
            frame.f_code.co_filename.startswith(torch_dir)
            or (frame.f_code.co_name == "__init__" and frame.f_locals.get("self") is self)
        ):
            frame = frame.f_back  # type: ignore[assignment]
        if frame is not None:
            sites[id(self)] = (frame.f_code.co_filename, frame.f_lineno)

    module_class.__init__ = recording_init
    try:
        yield sites
    finally:
        module_class.__init__ = original


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


def _device(model: Any) -> str:
    """CPU for small models (fast, and data-dependent code works), meta for large ones."""
    size = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    return "cpu" if size <= CPU_TRACE_LIMIT else "meta"


def _materialize(model: Any) -> None:
    """Meta → uninitialised CPU memory, keeping tied weights tied (``to_empty`` makes a new
    parameter in every module that holds one)."""
    holders: dict[int, list[tuple[Any, str]]] = {}
    for module in model.modules():
        for name, parameter in module._parameters.items():
            if parameter is not None:
                holders.setdefault(id(parameter), []).append((module, name))
    model.to_empty(device="cpu")
    for places in holders.values():
        first, first_name = places[0]
        for module, name in places[1:]:
            module._parameters[name] = first._parameters[first_name]


def _on_meta(model: Any) -> bool:
    return any(t.is_meta for t in (*model.parameters(), *model.buffers()))


def _dummy(shape: tuple[int, ...], kind: str, device: str) -> Any:
    torch = import_torch()
    dtype = {"long": torch.int64, "int": torch.int32}.get(kind) or getattr(torch, kind)
    return torch.zeros(shape, dtype=dtype, device=device)


# ---------------------------------------------------------------------------------------
# Tracing


def _trace(target: ModelTarget, model: Any, tensors: list[Any], sites: dict[int, Location]) -> _Call:
    torch = import_torch()
    names = {module: name for name, module in model.named_modules()}
    specs: dict[int, LayerSpec | None] = {}
    root = _Call(model, "", tuple(tensors[0].shape), None)
    stack = [root]

    def pre_hook(module: Any, inputs: tuple[Any, ...]) -> tuple[Any, ...] | None:
        position = next((i for i, x in enumerate(inputs) if isinstance(x, torch.Tensor)), None)
        shape = tuple(inputs[position].shape) if position is not None else ()
        if id(module) not in specs:
            specs[id(module)] = _layer_spec(module, names[module], sites)
        call = _Call(module, names[module], shape, specs[id(module)])
        stack[-1].children.append(call)
        stack.append(call)
        if call.spec is None or position is None:
            return None
        mismatches, stand_in, call.in_size = check_input(call.spec, shape)
        call.mismatches = mismatches
        if stand_in is None:
            raise _Stop
        if stand_in != shape:
            x = call.received = inputs[position]
            return (*inputs[:position], blank(stand_in, x.device.type, like=x), *inputs[position + 1 :])
        return None

    def post_hook(module: Any, _inputs: Any, output: Any) -> Any:
        call = stack.pop()
        # A norm layer with a wrong declared size passes on what it received, as in the spec
        # engines, so the layers after it are judged on the truth.
        received = call.received
        if received is not None and call.spec is not None and keeps_received(call.spec):
            output = received
        tensor = _first_tensor(output)
        call.output_shape = None if tensor is None else tuple(tensor.shape)
        return output

    handles = []
    for module in names:
        if module is not model:
            handles += [module.register_forward_pre_hook(pre_hook), module.register_forward_hook(post_hook)]
    try:
        with torch.no_grad():
            output = model(*tensors)
        tensor = _first_tensor(output)
        root.output_shape = None if tensor is None else tuple(tensor.shape)
    except _Stop:
        pass
    except Exception as error:
        culprit = stack[-1]
        where = f" in {culprit.name} ({type(culprit.module).__name__})" if culprit is not root else ""
        place = _user_frame(error, target)
        raise ModelError(f"{place}forward pass failed{where}: {type(error).__name__}: {first_line(error)}") from error
    finally:
        for handle in handles:
            handle.remove()
    return root


def _first_tensor(value: Any) -> Any:
    torch = import_torch()
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (list, tuple)):
        return next((t for t in (_first_tensor(v) for v in value) if t is not None), None)
    if isinstance(value, dict):
        return next((t for t in (_first_tensor(v) for v in value.values()) if t is not None), None)
    return None


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


def _layer_spec(module: Any, name: str, sites: dict[int, Location]) -> LayerSpec | None:
    """The module as a LayerSpec: torch.nn catalog layers with their arguments read back."""
    cls = type(module)
    location = sites.get(id(module), Location("<model>", 1, 1))
    kind = lookup(cls.__name__) if cls.__module__.startswith("torch.nn") else None
    type_name = cls.__name__ if kind or lookup(cls.__name__) is None else f"{cls.__module__}.{cls.__qualname__}"
    if kind is None:
        return LayerSpec(0, name, type_name, {}, location)
    args = {}
    for param in kind.params:
        if not hasattr(module, param.name):
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
    model: Any, root: _Call, depth: int | None, sites: dict[int, Location], target: ModelTarget
) -> list[LayerRecord]:
    calls = list(_walk(root))
    shown = [c for c in calls if _visible(c, depth)]
    shown_names = {c.name for c in shown}
    owner_of = {}  # each parameter once, under the first name PyTorch gives it
    for qualified, parameter in model.named_parameters():
        owner = qualified.rpartition(".")[0]
        while owner and owner not in shown_names:
            owner = owner.rpartition(".")[0]
        owner_of[id(parameter)] = (owner, qualified)
    counted: set[int] = set()
    first_call: dict[int, str] = {}
    records = []
    for index, call in enumerate(shown):
        notes = []
        own: list[tuple[str, Any]] = []
        if id(call.module) in first_call:
            notes.append(f"called again (as {first_call[id(call.module)]}): parameters counted once")
        else:
            first_call[id(call.module)] = call.name
            for qualified, parameter in call.module.named_parameters():
                owner, first_name = owner_of[id(parameter)]
                if not first_name.startswith(f"{call.name}."):  # tied to another module's weight
                    notes.append(f"shares {qualified} with {first_name.rpartition('.')[0] or 'the model'}")
                if owner == call.name and id(parameter) not in counted:
                    counted.add(id(parameter))
                    own.append((qualified, parameter))
        weights, biases, trainable = count_parameters(own)
        spec = call.spec or LayerSpec(0, call.name, type(call.module).__name__, {}, Location("<model>", 1, 1))
        layer = LayerSpec(index, call.name, spec.type, spec.args, spec.location)
        records.append(
            LayerRecord(
                layer=layer,
                input_shape=call.input_shape,
                output_shape=call.output_shape,
                weights=weights,
                biases=biases,
                trainable=trainable,
                mismatches=call.mismatches,
                in_size=call.in_size,
                note="; ".join(dict.fromkeys(notes)),
                depth=call.name.count(".") if depth is not None else 0,
                container=any(c.name in shown_names for c in _walk(call)),
            )
        )
    records += _uncalled(model, counted, len(records), sites, target)
    return records


def _walk(call: _Call) -> Iterator[_Call]:
    for child in call.children:
        yield child
        yield from _walk(child)


def _visible(call: _Call, depth: int | None) -> bool:
    """Leaves by default (and modules with parameters of their own); with --depth N every
    module down to depth N, deeper ones folded into their ancestor."""
    if depth is not None:
        return call.name.count(".") < depth
    has_children = any(True for _ in call.module.children())
    return not has_children or any(True for _ in call.module.parameters(recurse=False))


def _uncalled(
    model: Any, counted: set[int], start: int, sites: dict[int, Location], target: ModelTarget
) -> list[LayerRecord]:
    """Rows for parameters of modules the forward pass never called, so totals are complete."""
    rows: list[LayerRecord] = []
    for name, module in model.named_modules():
        own = [(n, p) for n, p in module.named_parameters(recurse=False) if id(p) not in counted]
        if not own:
            continue
        counted.update(id(p) for _, p in own)
        weights, biases, trainable = count_parameters(own)
        location = sites.get(id(module), Location(target.text, 1, 1))
        layer = LayerSpec(start + len(rows), name or target.attr, type(module).__name__, {}, location)
        rows.append(
            LayerRecord(
                layer=layer,
                input_shape=(),
                output_shape=None,
                weights=weights,
                biases=biases,
                trainable=trainable,
                note="never called in forward: parameters only",
            )
        )
    return rows
