"""Ultralytics modules beyond YOLOv8 and YOLO11's: YOLOv3's SPP, the P6 models' C2, YOLOv9 (GELAN),
YOLOv10, YOLO12, the Ghost and ResNet variants. Each is a template of ``modules.yaml``;
here, as in blocks, is how parse_model's arguments become its parameters."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cnninspect.inputs.ultralytics.blocks import Params


def spp(c1: int, c2: int, k: Sequence[int] = (5, 9, 13)) -> Params:
    """SPP: three pool sizes side by side (as every Ultralytics model gives; the template has three)."""
    k1, k2, k3 = k
    return {"c1": c1, "c2": c2, "k1": k1, "k2": k2, "k3": k3}


def c2(c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5) -> Params:
    """C2: c = int(c2·e)."""
    return {"c1": c1, "c2": c2, "n": n, "shortcut": bool(shortcut), "g": g, "c": int(c2 * e)}


def c2fcib(
    c1: int, c2: int, n: int = 1, shortcut: bool = False, lk: bool = False, g: int = 1, e: float = 0.5
) -> Params:
    """C2fCIB: c = int(c2·e); each CIB's e is 1.0 (hidden = c)."""
    return {"c1": c1, "c2": c2, "n": n, "shortcut": bool(shortcut), "lk": bool(lk), "c": int(c2 * e)}


def psa(c1: int, c2: int, e: float = 0.5) -> Params:
    """PSA: c = int(c1·e)."""
    return {"c1": c1, "c2": c2, "c": int(c1 * e)}


def scdown(c1: int, c2: int, k: int, s: int) -> Params:
    """SCDown: every argument is needed."""
    return {"c1": c1, "c2": c2, "k": k, "s": s}


def repncspelan4(c1: int, c2: int, c3: int, c4: int, n: int = 1) -> Params:
    """RepNCSPELAN4: as given."""
    return {"c1": c1, "c2": c2, "c3": c3, "c4": c4, "n": n}


def elan1(c1: int, c2: int, c3: int, c4: int) -> Params:
    """ELAN1: as given."""
    return {"c1": c1, "c2": c2, "c3": c3, "c4": c4}


def down(c1: int, c2: int) -> Params:
    """AConv and ADown: the channels only."""
    return {"c1": c1, "c2": c2}


def sppelan(c1: int, c2: int, c3: int, k: int = 5) -> Params:
    """SPPELAN: as given."""
    return {"c1": c1, "c2": c2, "c3": c3, "k": k}


def ghostconv(c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1, act: object = True) -> Params:
    """GhostConv: act as Conv's (True, else not activated)."""
    return {"c1": c1, "c2": c2, "k": k, "s": s, "g": g, "act": act is True}


def c3ghost(c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5) -> Params:
    """C3Ghost: hidden = int(c2·e) (a GhostBottleneck always adds its input)."""
    return {"c1": c1, "c2": c2, "n": n, "hidden": int(c2 * e)}


def a2c2f(
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
) -> Params:
    """A2C2f: hidden = int(c2·e), each ABlock's MLP to int(hidden·mlp_ratio), its attention in ``area`` runs."""
    hidden = int(c2 * e)
    return {
        "c1": c1,
        "c2": c2,
        "n": n,
        "a2": bool(a2),
        "residual": bool(residual),
        "g": g,
        "shortcut": bool(shortcut),
        "hidden": hidden,
        "mlp": int(hidden * mlp_ratio),
        "area": max(area, 1),  # AAttn cuts the places only when area > 1
    }


def resnetlayer(c1: int, c2: int, s: int = 1, is_first: bool = False, n: int = 1, e: int = 4) -> Params:
    """ResNetLayer: as given."""
    return {"c1": c1, "c2": c2, "s": s, "is_first": bool(is_first), "n": n, "e": e}


MORE_MODULES: dict[str, Callable[..., Params]] = {
    "SPP": spp,
    "C2": c2,
    "C2fCIB": c2fcib,
    "PSA": psa,
    "SCDown": scdown,
    "RepNCSPELAN4": repncspelan4,
    "ELAN1": elan1,
    "AConv": down,
    "ADown": down,
    "SPPELAN": sppelan,
    "GhostConv": ghostconv,
    "C3Ghost": c3ghost,
    "A2C2f": a2c2f,
    "ResNetLayer": resnetlayer,
}
"""Row modules of the later families, by the name a YAML gives them (the template's name)."""
