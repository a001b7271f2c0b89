"""Ultralytics modules beyond YOLOv8 and YOLO11's: YOLOv3's SPP, the P6 models' C2, YOLOv9 (GELAN),
YOLOv10, YOLO12, the Ghost and ResNet variants, as torch.nn layers the way ultralytics_blocks
builds them (see there)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnninspect.inputs.ultralytics_blocks import (
    Builder,
    Net,
    add,
    attention,
    bottleneck,
    c2f_like,
    c3_like,
    c3k,
    chunk,
    concat,
    conv,
    sequential,
    split,
)


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


def m_c2(
    net: Net, local: str, x: str, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5
) -> str:
    """C2: cv1 1×1 to 2c (c = int(c2·e)), cut in two, n Bottlenecks on the first half, the result
    concatenated with the second, cv2 1×1 to c2."""
    c = int(c2 * e)
    with net.group(local, "C2"):
        y = conv(net, "cv1", x, c1, 2 * c, 1, 1)
        a, b = chunk(net, "chunk0", y, 0), chunk(net, "chunk1", y, 1)
        with net.group("m", "Sequential"):
            for i in range(n):
                a = bottleneck(net, str(i), a, c, c, shortcut, g, (3, 3), 1.0)
        return conv(net, "cv2", concat(net, "cat", [a, b]), 2 * c, c2, 1)


MORE_BUILDERS: dict[str, Builder] = {
    "SPP": m_spp,
    "C2": m_c2,
    "C2fCIB": m_c2fcib,
    "PSA": m_psa,
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
"""Row modules of the later families, by the name a YAML gives them."""
