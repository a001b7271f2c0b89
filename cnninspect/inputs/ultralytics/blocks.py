"""What each Ultralytics module is made of: the block templates of ``modules.yaml``
(cnninspect's own graph format, shipped with the package), and for each module how
``parse_model``'s arguments become the template's integer parameters.

The reader uses one block per module of a row (``Net.module``), so the module is a group in
every output and its layers are named as PyTorch nests them (``model.2.cv1.conv``,
``model.2.m.0.cv2.bn``). Ultralytics' float arithmetic (``int(c2 * e)``) is done here, in
Python; the templates' ``$`` expressions stay integer-only. Every layer and every error of a
row is located at the row's line. Shapes, parameters and mult-adds are exact; attention's matrix
products are cnninspect's own ``Attend`` layer (see the YAML file).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from cnninspect.errors import CnnInspectError, Location, SpecError
from cnninspect.inputs.ultralytics import ULTRALYTICS_FORMAT
from cnninspect.spec.expr import ExpressionError
from cnninspect.spec.graph import MAX_LAYERS, Expander
from cnninspect.spec.items import Block, read_blocks
from cnninspect.spec.model import GroupSpec, LayerSpec
from cnninspect.spec.validate import make_layer
from cnninspect.spec.yamldoc import Document, read_document
from cnninspect.text import is_int, is_number

MODULES_FILE = "modules.yaml"
ACTIVATED = ("Conv", "DWConv")
"""Blocks whose ``act`` layer is the model's activation (``activation:`` in the YAML sets
Conv's, which DWConv inherits; RepConv keeps its own SiLU)."""

Params = dict[str, object]
"""A block use's parameter values: integers and booleans (a kernel size may be a pair)."""
Kernel = int | tuple[int, ...]
"""A kernel size or padding: one for every side, or one per dimension."""


@dataclass(frozen=True)
class Row:
    """One ``[from, repeats, module, args]`` row, read."""

    index: int
    sources: tuple[int, ...]
    """Absolute row indices it reads (−1: the model's input)."""
    several: bool
    """``from`` is a list."""
    repeats: int
    module: str
    args: list[Any]
    where: Location


@functools.cache
def templates() -> tuple[Document, dict[str, Block]]:
    """The shipped module templates, read once."""
    text = resources.files("cnninspect.inputs.ultralytics").joinpath(MODULES_FILE).read_text(encoding="utf-8")
    document = read_document(text, MODULES_FILE)
    blocks = document.root.resolved().own("blocks")
    assert blocks is not None
    return document, read_blocks(document, blocks)


@dataclass
class Net:
    """The layers and groups of a model being built, with the row being built."""

    expander: Expander = field(default_factory=lambda: Expander(*templates()))
    """Expands the module templates; its layer and group lists are the model's."""
    where: Location = field(default_factory=lambda: Location("", 1, 1))
    """The row being built: every layer in it is located there."""
    row: int = 0
    path: list[str] = field(default_factory=list)
    """Qualified names of the groups open now, outermost first."""

    @property
    def layers(self) -> list[LayerSpec]:
        """Every layer so far, in order."""
        return self.expander.layers

    @property
    def groups(self) -> list[GroupSpec]:
        """Every group so far, outermost first."""
        return self.expander.groups

    def activation(self, kind: str, args: Mapping[str, object]) -> None:
        """Conv's activation, for every block built after this."""
        for block in ACTIVATED:
            self.expander.retype(block, "act", kind, args)

    def name(self, local: str) -> str:
        """The qualified name of ``local`` in the innermost open group."""
        return f"{self.path[-1]}.{local}" if self.path else local

    def module(self, kind: str, local: str, x: str, params: Mapping[str, object]) -> str:
        """One use of the module template ``kind`` named ``local``, reading ``x``; returns its output."""
        start, first = len(self.layers), len(self.groups)
        try:
            output = self.expander.use(kind, self.name(local), params, x, tuple(self.path), self.where)
        except CnnInspectError as error:
            if isinstance(error.__cause__, ExpressionError):
                # the template's own arithmetic ($k // 2) failed: the row's arguments do not fit the
                # module, which the reader says in its words, naming them (not the template's)
                raise ValueError(error.message) from error
            raise type(error)(error.message, self.where) from None
        self.layers[start:] = [
            replace(
                layer,
                location=self.where,
                arg_locations={},
                node_path=(ULTRALYTICS_FORMAT, self.row, layer.name),
                templated=frozenset(),
            )
            for layer in self.layers[start:]
        ]
        self.groups[first:] = [
            replace(group, location=self.where, node_path=(ULTRALYTICS_FORMAT, self.row, group.name))
            for group in self.groups[first:]
        ]
        return output

    def layer(
        self, local: str, kind: str, args: dict[str, object], inputs: str | list[str], sources: tuple[str, ...] = ()
    ) -> str:
        """Append one layer reading ``inputs`` (``sources``: how messages name them); returns its name."""
        if len(self.layers) >= MAX_LAYERS:
            raise SpecError(f"the model expands to more than {MAX_LAYERS:,} layers", self.where)
        qualified = self.name(local)
        named = sources
        sources = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        self.layers.append(
            make_layer(
                len(self.layers),
                qualified,
                kind,
                args,
                self.where,
                {},
                self.where,
                scope=tuple(self.path),
                inputs=sources,
                sources=named,
                node_path=(ULTRALYTICS_FORMAT, self.row, qualified),
            )
        )
        return qualified

    @contextmanager
    def group(self, local: str, kind: str) -> Iterator[str]:
        """Layers appended inside form the group ``local`` (a module); its output is the last one."""
        qualified = self.name(local)
        start, slot = len(self.layers), len(self.groups)
        self.groups.append(None)  # type: ignore[arg-type]  # its place, so groups open outermost first
        self.path.append(qualified)
        try:
            yield qualified
        finally:
            self.path.pop()
        inside = tuple(layer.name for layer in self.layers[start:])
        self.groups[slot] = GroupSpec(
            name=qualified,
            type=kind,
            location=self.where,
            scope=tuple(self.path),
            layers=inside,
            output=inside[-1] if inside else qualified,
            node_path=(ULTRALYTICS_FORMAT, self.row, qualified),
        )


def autopad(k: Kernel, p: Kernel | None = None, d: int = 1) -> Kernel:
    """Ultralytics' "same" padding: k // 2 for each kernel size (dilated kernels first widened)."""
    if p is not None:
        return p
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else tuple(d * (x - 1) + 1 for x in k)
    return k // 2 if isinstance(k, int) else tuple(x // 2 for x in k)


def make_divisible(x: float, divisor: int = 8) -> int:
    """The smallest multiple of ``divisor`` that is at least x."""
    return math.ceil(x / divisor) * divisor


def positive(value: object) -> bool:
    """A finite number above 0 (a multiplier)."""
    return is_number(value) and math.isfinite(value) and value > 0


# -- each module's constructor arguments (as parse_model passes them) → its template's parameters --


def _padding(k: Kernel, p: Kernel | None, d: int) -> Kernel:
    """Conv's ``p`` parameter: as given, else -1 (the template's "same" padding), computed here for a
    kernel given as a pair (the template's arithmetic is on one integer)."""
    if p is None:
        return -1 if is_int(k) else autopad(k, None, d)
    return p


def conv(
    c1: int,
    c2: int,
    k: int | Sequence[int] = 1,
    s: int = 1,
    p: int | Sequence[int] | None = None,
    g: int = 1,
    d: int = 1,
    act: object = True,
) -> Params:
    """Conv: act is True, False, or a module Ultralytics would take as is (here: an Identity unless True)."""
    kernel = k if isinstance(k, int) else tuple(k)
    padding = p if p is None or isinstance(p, int) else tuple(p)
    return {
        "c1": c1,
        "c2": c2,
        "k": kernel,
        "s": s,
        "p": _padding(kernel, padding, d),
        "g": g,
        "d": d,
        "act": act is True,
    }


def dwconv(c1: int, c2: int, k: int = 1, s: int = 1, d: int = 1, act: object = True) -> Params:
    """DWConv: a Conv whose groups are gcd(c1, c2)."""
    return {**conv(c1, c2, k, s, None, 1, d, act), "g": math.gcd(c1, c2)}


def bottleneck(
    c1: int, c2: int, shortcut: bool = True, g: int = 1, k: Sequence[int] = (3, 3), e: float = 0.5
) -> Params:
    """Bottleneck: cv1 to int(c2·e)."""
    k1, k2 = k
    return {"c1": c1, "c2": c2, "shortcut": bool(shortcut), "g": g, "k1": k1, "k2": k2, "hidden": int(c2 * e)}


def c2f(c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5) -> Params:
    """C2f: c = int(c2·e)."""
    return {"c1": c1, "c2": c2, "n": n, "shortcut": bool(shortcut), "g": g, "c": int(c2 * e)}


def c3k2(
    c1: int,
    c2: int,
    n: int = 1,
    c3k: bool = False,
    e: float = 0.5,
    attn: bool = False,
    g: int = 1,
    shortcut: bool = True,
) -> Params:
    """C3k2: C2f's frame, c = int(c2·e)."""
    return {
        "c1": c1,
        "c2": c2,
        "n": n,
        "c3k": bool(c3k),
        "attn": bool(attn),
        "g": g,
        "shortcut": bool(shortcut),
        "c": int(c2 * e),
    }


def c3(c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5) -> Params:
    """C3: hidden = int(c2·e)."""
    return {"c1": c1, "c2": c2, "n": n, "shortcut": bool(shortcut), "g": g, "hidden": int(c2 * e)}


def sppf(c1: int, c2: int, k: int = 5, n: int | None = None, shortcut: bool = False) -> Params:
    """SPPF: cv1 is activated in the older rows, of three arguments or fewer ([c1, c2, k]: no n)."""
    return {"c1": c1, "c2": c2, "k": k, "n": 3 if n is None else n, "shortcut": bool(shortcut), "cv1_act": n is None}


def c2psa(c1: int, c2: int, n: int = 1, e: float = 0.5) -> Params:
    """C2PSA: c = int(c1·e)."""
    return {"c1": c1, "c2": c2, "n": n, "c": int(c1 * e)}


def classify(c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1) -> Params:
    """Classify: c2 is nc."""
    return {"c1": c1, "c2": c2, "k": k, "s": s, "p": _padding(k, p, 1), "g": g}


MODULES: dict[str, Callable[..., Params]] = {
    "Conv": conv,
    "DWConv": dwconv,
    "Bottleneck": bottleneck,
    "C2f": c2f,
    "C3k2": c3k2,
    "C3": c3,
    "SPPF": sppf,
    "C2PSA": c2psa,
    "Classify": classify,
}
"""Row modules that are one template each, by the name a YAML gives them (the template's name)."""
