"""What each Ultralytics module is made of, as torch.nn layers and cnninspect's own merges and splits.

Every builder takes the channels a module receives (``c1``) and its constructor arguments as
``parse_model`` passes them, appends the layers under the names PyTorch gives them
(``model.2.cv1.conv``, ``model.2.m.0.cv2.bn``) and returns the name of the module's output.
Shapes and parameters are exact. Where a module computes something that is no layer (the
attention product, a reshape), a layer of the same shape stands in: an ``Add`` of the values
and their positional encoding for attention (so mult-adds leave out the attention's matrix
products); the parameters are the module's own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cnninspect.errors import Location, SpecError
from cnninspect.spec.graph import MAX_LAYERS
from cnninspect.spec.model import GroupSpec, LayerSpec
from cnninspect.spec.validate import make_layer
from cnninspect.text import is_number

ULTRALYTICS_FORMAT = "ultralytics"


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


@dataclass
class Net:
    """The layers and groups of a model being built, with the row being built."""

    act: tuple[str, dict[str, Any]] = ("SiLU", {})
    """Conv's activation (``activation:`` in the YAML): a torch.nn class and its arguments."""
    layers: list[LayerSpec] = field(default_factory=list)
    groups: list[GroupSpec] = field(default_factory=list)
    where: Location = field(default_factory=lambda: Location("", 1, 1))
    """The row being built: every layer in it is located there."""
    row: int = 0
    path: list[str] = field(default_factory=list)
    """Qualified names of the groups open now, outermost first."""

    def name(self, local: str) -> str:
        """The qualified name of ``local`` in the innermost open group."""
        return f"{self.path[-1]}.{local}" if self.path else local

    def layer(
        self,
        local: str,
        kind: str,
        args: dict[str, Any],
        inputs: str | list[str],
        sources: tuple[str, ...] = (),
        *,
        trainable: bool = True,
        called: bool = True,
    ) -> str:
        """Append one layer reading ``inputs`` (``sources``: how messages name them; ``trainable`` and
        ``called`` as the spec keys: frozen, never called in forward); returns its name."""
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
                trainable=trainable,
                called=called,
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


def autopad(k: Any, p: Any = None, d: int = 1) -> Any:
    """Ultralytics' "same" padding: k // 2 for each kernel size (dilated kernels first widened)."""
    if p is not None:
        return p
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else tuple(d * (x - 1) + 1 for x in k)
    return k // 2 if isinstance(k, int) else tuple(x // 2 for x in k)


# -- the basic units --------------------------------------------------------------------------


def conv(
    net: Net,
    local: str,
    x: str,
    c1: int,
    c2: int,
    k: Any = 1,
    s: int = 1,
    p: Any = None,
    g: int = 1,
    d: int = 1,
    act: bool = True,
) -> str:
    """Conv: Conv2d without bias, BatchNorm2d, and the model's activation unless ``act`` is false."""
    with net.group(local, "Conv"):
        y = net.layer(
            "conv",
            "Conv2d",
            {
                "in_channels": c1,
                "out_channels": c2,
                "kernel_size": k,
                "stride": s,
                "padding": autopad(k, p, d),
                "groups": g,
                "dilation": d,
                "bias": False,
            },
            x,
        )
        y = net.layer("bn", "BatchNorm2d", {"num_features": c2}, y)
        if act:
            y = net.layer("act", net.act[0], dict(net.act[1]), y)
    return y


def dwconv(net: Net, local: str, x: str, c1: int, c2: int, k: int = 1, s: int = 1, act: bool = True) -> str:
    """DWConv: a Conv whose groups are gcd(c1, c2)."""
    from math import gcd

    return conv(net, local, x, c1, c2, k, s, g=gcd(c1, c2), act=act)


def conv2d(net: Net, local: str, x: str, c1: int, c2: int, k: int = 1, bias: bool = True) -> str:
    """A plain nn.Conv2d with Ultralytics' padding (the heads' last layers)."""
    return net.layer(
        local,
        "Conv2d",
        {"in_channels": c1, "out_channels": c2, "kernel_size": k, "padding": autopad(k), "bias": bias},
        x,
    )


def split(net: Net, local: str, x: str, sizes: list[int], index: int) -> str:
    """One piece of ``torch.split`` along the channels."""
    return net.layer(local, "Split", {"sizes": tuple(sizes), "index": index, "dim": 1}, x)


def chunk(net: Net, local: str, x: str, index: int) -> str:
    """One half of ``torch.chunk(2, 1)``."""
    return net.layer(local, "Split", {"chunks": 2, "index": index, "dim": 1}, x)


def concat(net: Net, local: str, xs: list[str]) -> str:
    """torch.cat along the channels."""
    return net.layer(local, "Concat", {"dim": 1}, xs)


def add(net: Net, local: str, xs: list[str]) -> str:
    """An elementwise sum (a residual connection)."""
    return net.layer(local, "Add", {}, xs)


def bottleneck(
    net: Net,
    local: str,
    x: str,
    c1: int,
    c2: int,
    shortcut: bool = True,
    g: int = 1,
    k: Any = (3, 3),
    e: float = 0.5,
    kind: str = "Bottleneck",
) -> str:
    """Bottleneck: cv1 (k[0]) to int(c2·e), cv2 (k[1], groups g) to c2, plus x when shortcut and c1 == c2."""
    hidden = int(c2 * e)
    with net.group(local, kind):
        y = conv(net, "cv1", x, c1, hidden, k[0], 1)
        y = conv(net, "cv2", y, hidden, c2, k[1], 1, g=g)
        if shortcut and c1 == c2:
            y = add(net, "add", [x, y])
    return y


def sequential(net: Net, local: str, x: str, parts: list[Callable[[str, str], str]]) -> str:
    """An nn.Sequential: each part builds under its index and reads the one before."""
    with net.group(local, "Sequential"):
        for i, part in enumerate(parts):
            x = part(str(i), x)
    return x


def attention(net: Net, local: str, x: str, dim: int, num_heads: int, attn_ratio: float = 0.5) -> str:
    """Attention (PSA's): qkv 1×1 to dim + 2·heads·key_dim, a depthwise 3×3 ``pe`` on the values,
    ``proj`` 1×1. The attention product has the values' shape; an Add of values and ``pe`` stands
    for the product plus its positional encoding."""
    head_dim = dim // num_heads
    key_dim = int(head_dim * attn_ratio)
    keys = key_dim * num_heads
    with net.group(local, "Attention"):
        qkv = conv(net, "qkv", x, dim, dim + 2 * keys, 1, act=False)
        v = split(net, "v", qkv, [2 * keys, dim], 1)
        pe = conv(net, "pe", v, dim, dim, 3, 1, g=dim, act=False)
        y = add(net, "attend", [v, pe])
        y = conv(net, "proj", y, dim, dim, 1, act=False)
    return y


def psa_block(net: Net, local: str, x: str, c: int, attn_ratio: float, num_heads: int, shortcut: bool = True) -> str:
    """PSABlock: attention and a 1×1 feed-forward (c → 2c → c), each with a residual when shortcut."""
    with net.group(local, "PSABlock"):
        y = attention(net, "attn", x, c, num_heads, attn_ratio)
        if shortcut:
            x = y = add(net, "add1", [x, y])
        else:
            x = y
        y = sequential(
            net,
            "ffn",
            y,
            [lambda n, z: conv(net, n, z, c, 2 * c, 1), lambda n, z: conv(net, n, z, 2 * c, c, 1, act=False)],
        )
        if shortcut:
            y = add(net, "add2", [x, y])
    return y


# -- the CSP family ---------------------------------------------------------------------------


def c2f_like(net: Net, x: str, c1: int, c2: int, n: int, inner: Callable[[str, str], str], e: float = 0.5) -> str:
    """C2f's frame: cv1 1×1 to 2c (c = int(c2·e)), cut in two, n inner blocks chained on the
    second half, every piece concatenated, cv2 1×1 from (2 + n)·c to c2."""
    c = int(c2 * e)
    y = conv(net, "cv1", x, c1, 2 * c, 1, 1)
    pieces = [chunk(net, "chunk0", y, 0), chunk(net, "chunk1", y, 1)]
    with net.group("m", "ModuleList"):
        for i in range(n):
            pieces.append(inner(str(i), pieces[-1]))
    y = concat(net, "cat", pieces)
    return conv(net, "cv2", y, (2 + n) * c, c2, 1)


def c3_like(net: Net, x: str, c1: int, c2: int, n: int, inner: Callable[[str, str, int], str], e: float = 0.5) -> str:
    """C3's frame: cv1 and cv2 1×1 to c_ = int(c2·e), n inner blocks on cv1, concatenated with cv2,
    cv3 1×1 from 2·c_ to c2."""
    c_ = int(c2 * e)
    a = conv(net, "cv1", x, c1, c_, 1, 1)
    b = conv(net, "cv2", x, c1, c_, 1, 1)
    with net.group("m", "Sequential"):
        for i in range(n):
            a = inner(str(i), a, c_)
    y = concat(net, "cat", [a, b])
    return conv(net, "cv3", y, 2 * c_, c2, 1)


def c3k(
    net: Net,
    local: str,
    x: str,
    c1: int,
    c2: int,
    n: int = 1,
    shortcut: bool = True,
    g: int = 1,
    e: float = 0.5,
    k: int = 3,
) -> str:
    """C3k: C3 with Bottlenecks of k×k, k×k."""
    with net.group(local, "C3k"):
        return c3_like(
            net,
            x,
            c1,
            c2,
            n,
            lambda name, z, c: bottleneck(net, name, z, c, c, shortcut, g, (k, k), 1.0),
            e,
        )


# -- row modules: each takes the arguments parse_model passes to the constructor -------------

Builder = Callable[..., str]


m_conv: Builder = conv


def m_dwconv(
    net: Net, local: str, x: str, c1: int, c2: int, k: int = 1, s: int = 1, d: int = 1, act: bool = True
) -> str:
    from math import gcd

    return conv(net, local, x, c1, c2, k, s, None, gcd(c1, c2), d, act)


def m_c2f(
    net: Net, local: str, x: str, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5
) -> str:
    c = int(c2 * e)
    with net.group(local, "C2f"):
        return c2f_like(net, x, c1, c2, n, lambda name, z: bottleneck(net, name, z, c, c, shortcut, g, (3, 3), 1.0), e)


def m_c3k2(
    net: Net,
    local: str,
    x: str,
    c1: int,
    c2: int,
    n: int = 1,
    c3k_: bool = False,
    e: float = 0.5,
    attn: bool = False,
    g: int = 1,
    shortcut: bool = True,
) -> str:
    c = int(c2 * e)

    def inner(name: str, z: str) -> str:
        if attn:
            return sequential(
                net,
                name,
                z,
                [
                    lambda i, w: bottleneck(net, i, w, c, c, shortcut, g),
                    lambda i, w: psa_block(net, i, w, c, 0.5, max(c // 64, 1)),
                ],
            )
        if c3k_:
            return c3k(net, name, z, c, c, 2, shortcut, g)
        return bottleneck(net, name, z, c, c, shortcut, g)

    with net.group(local, "C3k2"):
        return c2f_like(net, x, c1, c2, n, inner, e)


def m_sppf(
    net: Net,
    local: str,
    x: str,
    c1: int,
    c2: int,
    k: int = 5,
    n: int = 3,
    shortcut: bool = False,
    cv1_act: bool = False,
) -> str:
    """SPPF: cv1 1×1 to c1 // 2 (activated for YAMLs of three arguments or fewer), n chained
    MaxPool2d(k, 1, k // 2), every stage concatenated, cv2 1×1 to c2, plus x when shortcut and c1 == c2."""
    c_ = c1 // 2
    with net.group(local, "SPPF"):
        y = conv(net, "cv1", x, c1, c_, 1, 1, act=cv1_act)
        pieces = [y]
        for i in range(n):
            pieces.append(
                net.layer(
                    f"m{i}" if i else "m", "MaxPool2d", {"kernel_size": k, "stride": 1, "padding": k // 2}, pieces[-1]
                )
            )
        y = conv(net, "cv2", concat(net, "cat", pieces), c_ * (n + 1), c2, 1, 1)
        if shortcut and c1 == c2:
            y = add(net, "add", [x, y])
    return y


def m_c2psa(net: Net, local: str, x: str, c1: int, c2: int, n: int = 1, e: float = 0.5) -> str:
    """C2PSA: cv1 1×1 to 2c (c = int(c1·e)), split in two, n PSABlocks on the second, cv2 1×1 back to c1."""
    c = int(c1 * e)
    with net.group(local, "C2PSA"):
        y = conv(net, "cv1", x, c1, 2 * c, 1, 1)
        a, b = split(net, "a", y, [c, c], 0), split(net, "b", y, [c, c], 1)
        with net.group("m", "Sequential"):
            for i in range(n):
                b = psa_block(net, str(i), b, c, 0.5, max(c // 64, 1))
        return conv(net, "cv2", concat(net, "cat", [a, b]), 2 * c, c1, 1)


def m_c3(
    net: Net, local: str, x: str, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5
) -> str:
    with net.group(local, "C3"):
        return c3_like(
            net, x, c1, c2, n, lambda name, z, c: bottleneck(net, name, z, c, c, shortcut, g, (1, 3), 1.0), e
        )


def m_bottleneck(
    net: Net, local: str, x: str, c1: int, c2: int, shortcut: bool = True, g: int = 1, k: Any = (3, 3), e: float = 0.5
) -> str:
    return bottleneck(net, local, x, c1, c2, shortcut, g, k, e)


def m_classify(
    net: Net, local: str, x: str, c1: int, c2: int, k: int = 1, s: int = 1, p: Any = None, g: int = 1
) -> str:
    """Classify: Conv to 1280, global average pool, flatten, dropout, Linear to nc (its c2)."""
    with net.group(local, "Classify"):
        y = conv(net, "conv", x, c1, 1280, k, s, p, g)
        y = net.layer("pool", "AdaptiveAvgPool2d", {"output_size": 1}, y)
        y = net.layer("flatten", "Flatten", {}, y)
        y = net.layer("drop", "Dropout", {"p": 0.0}, y)
        return net.layer("linear", "Linear", {"in_features": 1280, "out_features": c2}, y)


ROW_BUILDERS: dict[str, Builder] = {
    "Conv": m_conv,
    "DWConv": m_dwconv,
    "C2f": m_c2f,
    "C3k2": m_c3k2,
    "SPPF": m_sppf,
    "C2PSA": m_c2psa,
    "C3": m_c3,
    "Bottleneck": m_bottleneck,
    "Classify": m_classify,
}
"""Row modules with one input, by the name a YAML gives them."""


def make_divisible(x: float, divisor: int = 8) -> int:
    """The smallest multiple of ``divisor`` that is at least x."""
    return math.ceil(x / divisor) * divisor


def positive(value: object) -> bool:
    """A finite number above 0 (a multiplier)."""
    return is_number(value) and math.isfinite(value) and value > 0
