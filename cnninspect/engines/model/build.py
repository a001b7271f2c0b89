"""Building the user's model: the import (with the line that constructed each module), a class or
factory called on the meta device or the CPU, an instance copied, weights seeded or left undrawn."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from cnninspect.engines import Mode
from cnninspect.engines.model.sandbox import TimeUp, reason, run_user
from cnninspect.engines.model.target import ModelTarget
from cnninspect.engines.torch import import_torch
from cnninspect.errors import Location, ModelError, UsageError
from cnninspect.inputs.source import decode_source, read_source
from cnninspect.text import article, did_you_mean

if TYPE_CHECKING:
    from torch import Tensor, nn

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


SEED = 0
"""Weights built on the CPU, and any random number the model draws, come from this seed."""


INSTALLED = frozenset({"site-packages", "dist-packages"})
"""The folders installed packages live in."""


def load_attr(target: ModelTarget) -> tuple[object, dict[int, Location]]:
    """The named object, and where the import constructed modules (a ready instance's layers)."""
    if target.config:
        assert target.path is not None
        from cnninspect.engines.model.config import compose_config, node_factory

        text = decode_source(read_source(target.path), str(target.path))
        config = compose_config(target.path, target.overrides, text)
        factory = node_factory(config, target.attr)

        def instantiated(**kwargs: object) -> object:
            with _on_path(config.project):
                return factory(**kwargs)

        return instantiated, {}
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
                run_user(lambda: loader.exec_module(module), f"importing {target.path} failed")
        else:
            with _on_path(Path.cwd()):
                module = run_user(lambda: importlib.import_module(target.module), f"importing {target.module} failed")
    obj: object = module
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
    file could also hide an edit made within the same second). The modules imported from it are
    forgotten afterwards, so another project's ``src.models`` in the same process is its own."""
    entry = str(folder.resolve())
    before = set(sys.modules)
    sys.path.insert(0, entry)
    write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        yield
    finally:
        sys.path.remove(entry)
        sys.dont_write_bytecode = write_bytecode
        for name in set(sys.modules) - before:
            file = getattr(sys.modules[name], "__file__", None)
            if file is not None and Path(file).resolve().is_relative_to(entry):
                del sys.modules[name]


class Maker:
    """The user's model on the device a trace needs: a class or factory built there, an instance
    copied there. The CPU gets seeded weights, so every run computes the same."""

    def __init__(
        self,
        target: ModelTarget,
        obj: Any,
        args: dict[str, object],
        import_sites: dict[int, Location],
        mode: Mode | None = None,
    ):
        nn = import_torch().nn
        self.target, self.obj, self.args, self.import_sites = target, obj, args, import_sites
        self.instance = isinstance(obj, nn.Module)
        label = target.attr
        if self.instance and args:
            raise UsageError(f"--arg: {label} is an instance; --arg is for classes and factory functions")
        if not self.instance and not callable(obj):
            kind = type(obj).__name__
            raise UsageError(
                f"--model {target.text}: {label} is {article(kind)} {kind}, not an nn.Module, class or factory"
            )
        self.call = f"{label}({', '.join(f'{k}={v!r}' for k, v in args.items())})"
        self.mode = mode if mode is not None or self.instance else Mode.EVAL
        """The mode to trace in: a model built here in eval mode, an instance's copy in the instance's
        own mode (module by module), unless ``--mode`` says otherwise (None: as it is)."""
        self.model: Any = None
        self.sites: dict[int, Location] = {}
        self.device = ""
        """Where ``model``'s tensors are: ``meta`` or ``cpu``; "" before it is built."""
        self.drawn = True
        """False for a CPU build whose random weights were never drawn (fit for meta only)."""
        self.meta_builds = True
        """False when building on meta fails: the CPU's model is moved to meta instead."""
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
            if isinstance(failure.__cause__, TimeUp):
                raise
            # The user's own mistake fails here too, and is reported. The weights are left undrawn:
            # if the model is large it is traced on meta and no value is ever read.
            self.model, self.sites = self.build("cpu", drawn=False)
            self.device, self.drawn, self.meta_builds = "cpu", False, False
            self.notes.append(f"built on the CPU: on the meta device {self.call} fails ({reason(failure)})")
        return self.model

    def on(self, device: str) -> tuple[nn.Module, dict[int, Location]]:
        """The model to trace on ``device``, in the mode to trace in, and where its modules were
        constructed."""
        if self.instance:
            model, sites = self.copy(device)
        else:
            if self.device == "cpu" and device == "meta" and not self.meta_builds:
                self.model = self.model.to("meta")  # built on the CPU because meta could not; ours to move
            elif self.device != device or not self.drawn:
                self.model, self.sites = self.build(device)
            self.device, self.drawn = device, True
            model, sites = self.model, self.sites
        mode = self.mode
        if mode is not None:
            run_user(lambda: model.train(mode is Mode.TRAIN), f"switching {self.target.attr} to {mode} mode failed")
        return model, sites

    def build(self, device: str, drawn: bool = True) -> tuple[nn.Module, dict[int, Location]]:
        """The model built on ``device``; with ``drawn`` false, torch.nn.init draws no weights."""
        torch = import_torch()
        obj, args = self.obj, self.args
        undrawn = contextlib.nullcontext() if drawn else _undrawn()
        with _construction_sites() as sites, torch.device(device), seeded(), undrawn:
            model = run_user(lambda: obj(**args), f"{self.call} failed")
        if not isinstance(model, torch.nn.Module):
            raise UsageError(
                f"--model {self.target.text}: {self.call} returned {article(type(model).__name__)} "
                f"{type(model).__name__}, not an nn.Module"
            )
        return model, sites

    def copy(self, device: str) -> tuple[nn.Module, dict[int, Location]]:
        """A copy of the instance, with the import's construction sites carried over by name; on meta,
        the tensors are never copied at all."""
        torch = import_torch()
        obj = self.obj
        memo: dict[int, Tensor] = {}
        if device == "meta":
            for tensor in (*obj.parameters(), *obj.buffers()):
                empty = torch.empty_like(tensor, device="meta")
                memo[id(tensor)] = (
                    torch.nn.Parameter(empty, tensor.requires_grad) if isinstance(tensor, torch.nn.Parameter) else empty
                )
        model = run_user(lambda: copy.deepcopy(obj, memo), f"copying {self.target.attr} failed")
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


def _as_it_is(tensor: Tensor, *_: object, **__: object) -> Tensor:
    return tensor


@contextmanager
def seeded() -> Iterator[None]:
    """Random numbers from SEED, and the caller's random state as it was afterwards."""
    torch = import_torch()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        yield


@contextmanager
def _construction_sites() -> Iterator[dict[int, Location]]:
    """Record, for every module built inside, the line that constructed it: the first frame outside
    torch that is not the module's own ``__init__``. None when that frame is cnninspect's own
    (a model built by a factory of torch's)."""
    torch = import_torch()
    found: dict[int, tuple[str, int]] = {}
    module_class = torch.nn.Module
    original = module_class.__init__

    def recording_init(self: nn.Module, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)
        frame = sys._getframe(1)
        while frame is not None and (
            in_package(frame, "torch") or (frame.f_code.co_name == "__init__" and frame.f_locals.get("self") is self)
        ):
            frame = frame.f_back  # type: ignore[assignment]
        if frame is not None and not in_package(frame, "cnninspect"):
            found[id(self)] = (frame.f_code.co_filename, frame.f_lineno)

    sites: dict[int, Location] = {}
    module_class.__init__ = recording_init
    try:
        yield sites
    finally:
        module_class.__init__ = original
        base = Path.cwd()
        places = {place: source_location(*place, base) for place in set(found.values())}  # a file read once a line
        sites.update({key: places[place] for key, place in found.items()})


def in_package(frame: FrameType, package: str) -> bool:
    """The frame runs code of ``package`` (torch, not torchvision)."""
    name = frame.f_globals.get("__name__", "")
    return isinstance(name, str) and (name == package or name.startswith(f"{package}."))


def source_location(path: str, line: int, base: Path) -> Location:
    try:
        shown = str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        shown = path
    if any(part in INSTALLED for part in Path(shown).parts):
        return InstalledLocation(shown, line, _call_column(path, line))
    return Location(shown, line, _call_column(path, line))


@dataclass(frozen=True)
class InstalledLocation(Location):
    """A line in an installed package's file: printed from the package down
    (``timm/layers/std_conv.py:12:9``), ``path`` kept whole for reading the file."""

    def __str__(self) -> str:
        parts = Path(self.path).parts
        last = max(i for i, part in enumerate(parts) if part in INSTALLED)
        return str(Location("/".join(parts[last + 1 :]) or self.path, self.line, self.col))


def _call_column(path: str, line: int) -> int:
    """The column where the constructing call starts on that line (1 if it cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8").splitlines()[line - 1]
    except (OSError, IndexError, UnicodeDecodeError):
        return 1
    return len(text) - len(text.lstrip()) + 1


def no_line(target: ModelTarget) -> Location:
    """Where a module is when its constructing line is unknown: the model's file or package, no line."""
    return Location(str(target.path) if target.path is not None else target.module, 0, 0)
