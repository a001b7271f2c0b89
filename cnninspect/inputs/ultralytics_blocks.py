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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cnninspect.errors import Location
from cnninspect.spec.model import GroupSpec, LayerSpec
from cnninspect.spec.validate import make_layer

ULTRALYTICS_FORMAT = "ultralytics"


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

    def layer(self, local: str, kind: str, args: dict[str, Any], inputs: str | list[str]) -> str:
        """Append one layer reading ``inputs``; returns its qualified name."""
        qualified = self.name(local)
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


def m_conv(
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
    return conv(net, local, x, c1, c2, k, s, p, g, d, act)


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


def m_c2fcib(
    net: Net,
    local: str,
    x: str,
    c1: int,
    c2: int,
    n: int = 1,
    shortcut: bool = False,
    lk: bool = False,
    g: int = 1,
    e: float = 0.5,
) -> str:
    c = int(c2 * e)
    with net.group(local, "C2fCIB"):
        return c2f_like(net, x, c1, c2, n, lambda name, z: cib(net, name, z, c, c, shortcut, 1.0, lk), e)


def cib(net: Net, local: str, x: str, c1: int, c2: int, shortcut: bool = True, e: float = 0.5, lk: bool = False) -> str:
    """CIB: depthwise 3×3, 1×1 to 2c_, depthwise 3×3 (RepVGGDW when lk), 1×1 to c2, depthwise 3×3."""
    c_ = int(c2 * e)
    with net.group(local, "CIB"):
        parts: list[Callable[[str, str], str]] = [
            lambda i, z: conv(net, i, z, c1, c1, 3, g=c1),
            lambda i, z: conv(net, i, z, c1, 2 * c_, 1),
            (lambda i, z: repvggdw(net, i, z, 2 * c_))
            if lk
            else (lambda i, z: conv(net, i, z, 2 * c_, 2 * c_, 3, g=2 * c_)),
            lambda i, z: conv(net, i, z, 2 * c_, c2, 1),
            lambda i, z: conv(net, i, z, c2, c2, 3, g=c2),
        ]
        y = sequential(net, "cv1", x, parts)
        if shortcut and c1 == c2:
            y = add(net, "add", [x, y])
    return y


def repvggdw(net: Net, local: str, x: str, ed: int) -> str:
    """RepVGGDW: a depthwise 7×7 and a depthwise 3×3, summed, then SiLU."""
    with net.group(local, "RepVGGDW"):
        a = conv(net, "conv", x, ed, ed, 7, 1, 3, g=ed, act=False)
        b = conv(net, "conv1", x, ed, ed, 3, 1, 1, g=ed, act=False)
        y = add(net, "add", [a, b])
        return net.layer("act", "SiLU", {}, y)


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


def m_spp(net: Net, local: str, x: str, c1: int, c2: int, k: Any = (5, 9, 13)) -> str:
    """SPP: cv1 1×1 to c1 // 2, parallel MaxPool2d(k, 1, k // 2) per kernel, concatenated, cv2 1×1."""
    c_ = c1 // 2
    with net.group(local, "SPP"):
        y = conv(net, "cv1", x, c1, c_, 1, 1)
        with net.group("m", "ModuleList"):
            pools = [
                net.layer(str(i), "MaxPool2d", {"kernel_size": size, "stride": 1, "padding": size // 2}, y)
                for i, size in enumerate(k)
            ]
        return conv(net, "cv2", concat(net, "cat", [y, *pools]), c_ * (len(k) + 1), c2, 1, 1)


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


def m_psa(net: Net, local: str, x: str, c1: int, c2: int, e: float = 0.5) -> str:
    """PSA: as C2PSA with one attention and feed-forward, each with its residual."""
    c = int(c1 * e)
    with net.group(local, "PSA"):
        y = conv(net, "cv1", x, c1, 2 * c, 1, 1)
        a, b = split(net, "a", y, [c, c], 0), split(net, "b", y, [c, c], 1)
        b = add(net, "add1", [b, attention(net, "attn", b, c, max(c // 64, 1), 0.5)])
        f = sequential(
            net,
            "ffn",
            b,
            [lambda i, z: conv(net, i, z, c, 2 * c, 1), lambda i, z: conv(net, i, z, 2 * c, c, 1, act=False)],
        )
        b = add(net, "add2", [b, f])
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


def m_upsample(net: Net, local: str, x: str, size: Any = None, scale_factor: Any = None, mode: str = "nearest") -> str:
    args: dict[str, Any] = {"mode": mode}
    if size is not None:
        args["size"] = size
    if scale_factor is not None:
        args["scale_factor"] = scale_factor
    return net.layer(local, "Upsample", args, x)


def m_concat(net: Net, local: str, xs: list[str], dimension: int = 1) -> str:
    return net.layer(local, "Concat", {"dim": dimension}, xs)


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


def m_scdown(net: Net, local: str, x: str, c1: int, c2: int, k: int, s: int) -> str:
    """SCDown: 1×1 to c2, then a depthwise k×k with stride s, not activated."""
    with net.group(local, "SCDown"):
        y = conv(net, "cv1", x, c1, c2, 1, 1)
        return conv(net, "cv2", y, c2, c2, k, s, g=c2, act=False)


def repconv(net: Net, local: str, x: str, c1: int, c2: int, k: int = 3, s: int = 1, p: int = 1, g: int = 1) -> str:
    """RepConv (without its identity BatchNorm): a 3×3 Conv and a 1×1 Conv, not activated, summed, then activated."""
    with net.group(local, "RepConv"):
        a = conv(net, "conv1", x, c1, c2, k, s, p, g, act=False)
        b = conv(net, "conv2", x, c1, c2, 1, s, p - k // 2, g, act=False)
        return net.layer("act", net.act[0], dict(net.act[1]), add(net, "add", [a, b]))


def rep_csp(net: Net, local: str, x: str, c1: int, c2: int, n: int = 1) -> str:
    """RepCSP: C3 whose Bottlenecks start with a RepConv."""

    def inner(name: str, z: str, c: int) -> str:
        with net.group(name, "RepBottleneck"):
            y = repconv(net, "cv1", z, c, c)
            y = conv(net, "cv2", y, c, c, 3, 1)
            return add(net, "add", [z, y])

    with net.group(local, "RepCSP"):
        return c3_like(net, x, c1, c2, n, inner)


def m_repncspelan4(net: Net, local: str, x: str, c1: int, c2: int, c3: int, c4: int, n: int = 1) -> str:
    """RepNCSPELAN4: cv1 1×1 to c3, cut in two; cv2 (RepCSP, Conv 3×3) on the second half, cv3 on
    cv2; the four concatenated, cv4 1×1 from c3 + 2·c4 to c2."""
    with net.group(local, "RepNCSPELAN4"):
        y = conv(net, "cv1", x, c1, c3, 1, 1)
        a, b = chunk(net, "chunk0", y, 0), chunk(net, "chunk1", y, 1)
        d = sequential(
            net, "cv2", b, [lambda i, z: rep_csp(net, i, z, c3 // 2, c4, n), lambda i, z: conv(net, i, z, c4, c4, 3, 1)]
        )
        e = sequential(
            net, "cv3", d, [lambda i, z: rep_csp(net, i, z, c4, c4, n), lambda i, z: conv(net, i, z, c4, c4, 3, 1)]
        )
        return conv(net, "cv4", concat(net, "cat", [a, b, d, e]), c3 + 2 * c4, c2, 1, 1)


def m_elan1(net: Net, local: str, x: str, c1: int, c2: int, c3: int, c4: int) -> str:
    """ELAN1: RepNCSPELAN4 with a plain 3×3 Conv for each of cv2 and cv3."""
    with net.group(local, "ELAN1"):
        y = conv(net, "cv1", x, c1, c3, 1, 1)
        a, b = chunk(net, "chunk0", y, 0), chunk(net, "chunk1", y, 1)
        d = conv(net, "cv2", b, c3 // 2, c4, 3, 1)
        e = conv(net, "cv3", d, c4, c4, 3, 1)
        return conv(net, "cv4", concat(net, "cat", [a, b, d, e]), c3 + 2 * c4, c2, 1, 1)


def m_aconv(net: Net, local: str, x: str, c1: int, c2: int) -> str:
    """AConv: a 2×2 average pool with stride 1, then Conv 3×3 stride 2."""
    with net.group(local, "AConv"):
        y = net.layer("pool", "AvgPool2d", {"kernel_size": 2, "stride": 1, "padding": 0}, x)
        return conv(net, "cv1", y, c1, c2, 3, 2, 1)


def m_adown(net: Net, local: str, x: str, c1: int, c2: int) -> str:
    """ADown: 2×2 average pool (stride 1), cut in two; Conv 3×3 stride 2 on one half, MaxPool 3×3
    stride 2 and Conv 1×1 on the other, each to c2 // 2, concatenated."""
    with net.group(local, "ADown"):
        y = net.layer("pool", "AvgPool2d", {"kernel_size": 2, "stride": 1, "padding": 0}, x)
        a, b = chunk(net, "chunk0", y, 0), chunk(net, "chunk1", y, 1)
        a = conv(net, "cv1", a, c1 // 2, c2 // 2, 3, 2, 1)
        b = net.layer("maxpool", "MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, b)
        b = conv(net, "cv2", b, c1 // 2, c2 // 2, 1, 1, 0)
        return concat(net, "cat", [a, b])


def m_sppelan(net: Net, local: str, x: str, c1: int, c2: int, c3: int, k: int = 5) -> str:
    """SPPELAN: cv1 1×1 to c3, three chained MaxPool2d(k, 1, k // 2), all four concatenated, cv5 1×1."""
    with net.group(local, "SPPELAN"):
        pieces = [conv(net, "cv1", x, c1, c3, 1, 1)]
        for name in ("cv2", "cv3", "cv4"):
            pieces.append(net.layer(name, "MaxPool2d", {"kernel_size": k, "stride": 1, "padding": k // 2}, pieces[-1]))
        return conv(net, "cv5", concat(net, "cat", pieces), 4 * c3, c2, 1, 1)


def m_ghostconv(
    net: Net, local: str, x: str, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1, act: bool = True
) -> str:
    """GhostConv: cv1 (k, s) to c2 // 2, a depthwise 5×5 cv2 on it, the two concatenated."""
    c_ = c2 // 2
    with net.group(local, "GhostConv"):
        y = conv(net, "cv1", x, c1, c_, k, s, None, g, act=act)
        z = conv(net, "cv2", y, c_, c_, 5, 1, None, c_, act=act)
        return concat(net, "cat", [y, z])


def ghost_bottleneck(net: Net, local: str, x: str, c1: int, c2: int) -> str:
    """GhostBottleneck (stride 1): GhostConv to c2 // 2, GhostConv to c2 not activated, plus x."""
    with net.group(local, "GhostBottleneck"):
        with net.group("conv", "Sequential"):
            y = m_ghostconv(net, "0", x, c1, c2 // 2, 1, 1)
            y = m_ghostconv(net, "2", y, c2 // 2, c2, 1, 1, act=False)
        return add(net, "add", [x, y])


def m_c3ghost(
    net: Net, local: str, x: str, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5
) -> str:
    with net.group(local, "C3Ghost"):
        return c3_like(net, x, c1, c2, n, lambda name, z, c: ghost_bottleneck(net, name, z, c, c), e)


def area_attention(net: Net, local: str, x: str, dim: int, num_heads: int) -> str:
    """AAttn: qkv 1×1 to 3·dim, a depthwise 7×7 ``pe`` on the values, ``proj`` 1×1 (see attention())."""
    inner = dim // num_heads * num_heads
    with net.group(local, "AAttn"):
        qkv = conv(net, "qkv", x, dim, 3 * inner, 1, act=False)
        v = split(net, "v", qkv, [2 * inner, inner], 1)
        pe = conv(net, "pe", v, inner, inner, 7, 1, 3, g=inner, act=False)
        return conv(net, "proj", add(net, "attend", [v, pe]), inner, dim, 1, act=False)


def ablock(net: Net, local: str, x: str, dim: int, num_heads: int, mlp_ratio: float) -> str:
    """ABlock: area attention and a 1×1 MLP (dim → int(dim·mlp_ratio) → dim), each with its residual."""
    hidden = int(dim * mlp_ratio)
    with net.group(local, "ABlock"):
        x = add(net, "add1", [x, area_attention(net, "attn", x, dim, num_heads)])
        y = sequential(
            net,
            "mlp",
            x,
            [lambda i, z: conv(net, i, z, dim, hidden, 1), lambda i, z: conv(net, i, z, hidden, dim, 1, act=False)],
        )
        return add(net, "add2", [x, y])


def m_a2c2f(
    net: Net,
    local: str,
    x: str,
    c1: int,
    c2: int,
    n: int = 1,
    a2: bool = True,
    area: int = 1,
    residual: bool = False,
    mlp_ratio: float = 2.0,
    e: float = 0.5,
    g: int = 1,
    shortcut: bool = True,
) -> str:
    """A2C2f: cv1 1×1 to c_ = int(c2·e), n stages chained (two ABlocks each, or a C3k when not a2),
    all concatenated, cv2 1×1 to c2; with a2 and residual, x plus a per-channel scale (gamma) of it."""
    c_ = int(c2 * e)

    def inner(name: str, z: str) -> str:
        if a2:
            return sequential(net, name, z, [lambda i, w: ablock(net, i, w, c_, c_ // 32, mlp_ratio)] * 2)
        return c3k(net, name, z, c_, c_, 2, shortcut, g)

    with net.group(local, "A2C2f"):
        pieces = [conv(net, "cv1", x, c1, c_, 1, 1)]
        with net.group("m", "ModuleList"):
            for i in range(n):
                pieces.append(inner(str(i), pieces[-1]))
        y = conv(net, "cv2", concat(net, "cat", pieces), (1 + n) * c_, c2, 1)
        if a2 and residual:
            # gamma · y per channel: exactly a depthwise 1×1 conv without bias (c2 weights)
            y = net.layer(
                "gamma",
                "Conv2d",
                {"in_channels": c2, "out_channels": c2, "kernel_size": 1, "groups": c2, "bias": False},
                y,
            )
            y = add(net, "add", [x, y])
    return y


def resnet_block(net: Net, local: str, x: str, c1: int, c2: int, s: int = 1, e: int = 4) -> str:
    """ResNetBlock: 1×1, 3×3 (stride s), 1×1 to e·c2 not activated, plus the shortcut, then ReLU."""
    c3 = e * c2
    with net.group(local, "ResNetBlock"):
        y = conv(net, "cv1", x, c1, c2, 1, 1)
        y = conv(net, "cv2", y, c2, c2, 3, s, 1)
        y = conv(net, "cv3", y, c2, c3, 1, act=False)
        short = x
        if s != 1 or c1 != c3:
            short = sequential(net, "shortcut", x, [lambda i, z: conv(net, i, z, c1, c3, 1, s, act=False)])
        return net.layer("relu", "ReLU", {}, add(net, "add", [y, short]))


def m_resnetlayer(
    net: Net, local: str, x: str, c1: int, c2: int, s: int = 1, is_first: bool = False, n: int = 1, e: int = 4
) -> str:
    """ResNetLayer: the stem (Conv 7×7 stride 2, MaxPool 3×3 stride 2), or n ResNetBlocks."""
    with net.group(local, "ResNetLayer"):
        if is_first:
            return sequential(
                net,
                "layer",
                x,
                [
                    lambda i, z: conv(net, i, z, c1, c2, 7, 2, 3),
                    lambda i, z: net.layer(i, "MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, z),
                ],
            )
        parts: list[Callable[[str, str], str]] = [lambda i, z: resnet_block(net, i, z, c1, c2, s, e)]
        parts += [lambda i, z: resnet_block(net, i, z, e * c2, c2, 1, e)] * (n - 1)
        return sequential(net, "layer", x, parts)


BUILDERS: dict[str, Builder] = {
    "Conv": m_conv,
    "DWConv": m_dwconv,
    "C2f": m_c2f,
    "C3k2": m_c3k2,
    "C2fCIB": m_c2fcib,
    "SPPF": m_sppf,
    "SPP": m_spp,
    "C2PSA": m_c2psa,
    "PSA": m_psa,
    "C3": m_c3,
    "Bottleneck": m_bottleneck,
    "Classify": m_classify,
    "SCDown": m_scdown,
    "RepNCSPELAN4": m_repncspelan4,
    "ELAN1": m_elan1,
    "AConv": m_aconv,
    "ADown": m_adown,
    "SPPELAN": m_sppelan,
    "GhostConv": m_ghostconv,
    "C3Ghost": m_c3ghost,
    "A2C2f": m_a2c2f,
    "ResNetLayer": m_resnetlayer,
}
"""Row modules with one input, by the name a YAML gives them."""
