"""Ultralytics' detection heads (Detect, Segment, Pose, OBB, v10Detect and the YOLO26 variants) and
CBFuse: the modules that read several rows. They are composed here, not written as one template:
per feature map a use of a branch template of modules.yaml (``HeadBranch``,
``ClassBranch``, ``PoseBranch``, ``Proto``, ``Conv``) in a ModuleList, each level's map flattened
and joined as the head returns them in training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from cnninspect.errors import GraphError, SpecError
from cnninspect.inputs.ultralytics.blocks import Net, Row, conv, make_divisible
from cnninspect.text import is_int, show_value


@dataclass(frozen=True)
class Head:
    """A detection head's arguments, as parse_model completes them."""

    kind: str
    """Detect, Segment, Pose, OBB, v10Detect, or a YOLO26 variant."""
    nc: int
    reg_max: int
    end2end: bool
    legacy: bool
    """The head of v3/v5/v8/v9 (cv3 of plain 3×3 Convs), used unless a C3k2, A2C2f or C2fCIB came earlier."""
    ch: tuple[int, ...]
    extra: tuple[str, int] | None = None
    """The third branch (cv4): what it predicts and how many values per place (mask coefficients, keypoints, angle)."""
    proto: tuple[int, int] | None = None
    """Segment's prototype net: (npr, nm)."""
    keypoints: tuple[int, int] | None = None
    """Pose26's kpt_shape: its third branch ends in separate keypoint and sigma convs."""


HEADS = {"Detect": None, "Segment": "mask_coefficient", "Pose": "kpts", "OBB": "angle", "v10Detect": None}
"""Detection heads, and what their third branch predicts."""


def _branch(net: Net, local: str, xs: list[str], template: str, params: Sequence[Mapping[str, object]]) -> list[str]:
    """A ModuleList of one template use per feature map."""
    with net.group(local, "ModuleList"):
        return [net.module(template, str(i), x, p) for i, (x, p) in enumerate(zip(xs, params, strict=True))]


def _flat(net: Net, local: str, maps: list[str]) -> str:
    """Each level's map flattened to (C, H·W) and joined along the places: what the head returns."""
    flat = [net.layer(f"{local}_flat{i}", "Flatten", {"start_dim": 2}, m) for i, m in enumerate(maps)]
    return flat[0] if len(flat) == 1 else net.layer(local, "Concat", {"dim": 2}, flat)


def detect(net: Net, local: str, xs: list[str], head: Head) -> list[str]:
    """Detect and its kin, composed here from per-level branch templates: per level a box branch
    (cv2, to 4·reg_max), a class branch (cv3, to nc) and for Segment/Pose/OBB a third (cv4); a
    one-to-one copy of each when end2end. Returns the head's outputs: boxes, scores (and the third
    branch's values, Segment's prototypes), each level flattened and joined. DFL's conv (reg_max
    weights, frozen: a fixed decoding) and Pose26's flow model (the training loss's) are parameters
    forward never calls in training."""
    ch = head.ch
    c2 = max(16, ch[0] // 4, head.reg_max * 4)
    c3 = max(ch[0], min(head.nc, 100))
    kpts, dims = head.keypoints or (0, 0)
    what, count = head.extra or ("", 0)
    c4 = max(ch[0] // 4, kpts * (dims + 2) if head.keypoints else count)
    outputs: list[str] = []
    with net.group(local, head.kind):
        sets = [""] + (["one2one_"] if head.end2end else [])
        built: dict[str, list[str]] = {}
        for prefix in sets:
            box = [{"c1": c, "c": c2, "out": 4 * head.reg_max} for c in ch]
            built[prefix + "cv2"] = _branch(net, prefix + "cv2", xs, "HeadBranch", box)
            cls = [{"c1": c, "c": c3, "out": head.nc} for c in ch]
            kind = "HeadBranch" if head.legacy else "ClassBranch"
            built[prefix + "cv3"] = _branch(net, prefix + "cv3", xs, kind, cls)
            if head.keypoints is not None:
                features = _branch(net, prefix + "cv4", xs, "PoseBranch", [{"c1": c, "c": c4} for c in ch])
                for key, name, out in (("kpts", "cv4_kpts", kpts * dims), ("kpts_sigma", "cv4_sigma", kpts * 2)):
                    with net.group(prefix + name, "ModuleList"):
                        built[prefix + key] = [
                            net.layer(str(i), "Conv2d", {"in_channels": c4, "out_channels": out, "kernel_size": 1}, x)
                            for i, x in enumerate(features)
                        ]
            elif head.extra is not None:
                extra = [{"c1": c, "c": c4, "out": count} for c in ch]
                built[prefix + what] = _branch(net, prefix + "cv4", xs, "HeadBranch", extra)
            if not prefix:
                _unused(net, head, xs[0])
        if head.proto is not None:
            npr, nm = head.proto
            if head.kind.endswith("26"):
                outputs.extend(proto26(net, "proto", xs, ch, npr, nm, head.nc))
            else:
                outputs.append(net.module("Proto", "proto", xs[0], {"c1": ch[0], "c_": npr, "c2": nm}))
        for prefix in sets:
            for key in built:
                if key.startswith(prefix) and (prefix or not key.startswith("one2one_")):
                    what = key.removeprefix(prefix)
                    label = {"cv2": "boxes", "cv3": "scores"}.get(what, what)
                    outputs.append(_flat(net, prefix + label, built[key]))
    return outputs


def _unused(net: Net, head: Head, x: str) -> None:
    """What the head holds and its training forward never calls (templates whose layers say
    ``called: false``): DFL's frozen 1×1 conv when reg_max > 1, and Pose26's flow model."""
    if head.reg_max > 1:
        net.module("DFL", "dfl", x, {"c1": head.reg_max})
    if head.keypoints is not None:
        net.module("RealNVP", "flow_model", x, {})


def proto26(net: Net, local: str, xs: list[str], ch: tuple[int, ...], c_: int, c2: int, nc: int) -> list[str]:
    """Proto26, composed here as it reads every level: each coarser map refined (1×1 to ch[0]) and
    upsampled onto the finest, all summed; feat_fuse 3×3 to c_, then Proto's layers; semseg (3×3,
    3×3, 1×1 to nc) on the sum, for training."""
    with net.group(local, "Proto26"):
        with net.group("feat_refine", "ModuleList"):
            levels = enumerate(zip(xs[1:], ch[1:], strict=True))
            refined = [net.module("Conv", str(i), x, conv(c, ch[0], 1)) for i, (x, c) in levels]
        ups = [
            net.layer(f"up{i}", "Upsample", {"scale_factor": 2 ** (i + 1), "mode": "nearest"}, r)
            for i, r in enumerate(refined)
        ]
        feat = net.layer("sum", "Add", {}, [xs[0], *ups]) if ups else xs[0]
        y = net.module("Conv", "feat_fuse", feat, conv(ch[0], c_, 3))
        y = net.module("Conv", "cv1", y, conv(c_, c_, 3))
        y = net.layer(
            "upsample",
            "ConvTranspose2d",
            {"in_channels": c_, "out_channels": c_, "kernel_size": 2, "stride": 2, "bias": True},
            y,
        )
        y = net.module("Conv", "cv2", y, conv(c_, c_, 3))
        p = net.module("Conv", "cv3", y, conv(c_, c2, 1))
        semantic = net.module("HeadBranch", "semseg", feat, {"c1": ch[0], "c": c_, "out": nc})
    return [p, semantic]


def head_of(
    row: Row,
    module: str,
    args: list[Any],
    c_in: list[int],
    s_in: list[Fraction],
    nc: object,
    reg_max: int,
    end2end: bool,
    legacy: bool,
    width: float,
    max_channels: float,
) -> Head:
    """The head's arguments as parse_model completes them, its inputs' strides checked."""
    base = module.removesuffix("26")
    for i in range(1, len(s_in)):
        if s_in[i] <= s_in[i - 1]:
            listing = ", ".join(f"row {s} at stride {_show(st)}" for s, st in zip(row.sources, s_in, strict=True))
            raise GraphError(
                f"row {row.index}: {module} reads {listing}: a head reads its feature maps from fine to coarse, "
                "at strictly increasing strides; check the from: indices (a row inserted above shifts them)",
                row.where,
            )
    count = args[0] if args else nc
    if count is None:
        raise SpecError(f"row {row.index}: {module} needs the number of classes (nc: at the top)", row.where)
    if not is_int(count) or count < 1:
        raise SpecError(
            f"row {row.index}: {module} needs the number of classes, an integer ≥ 1, got {show_value(count)} "
            "(nc: at the top, or the head's first argument)",
            row.where,
        )
    extra_what = HEADS[base]
    extra = None
    proto = None
    keypoints = None
    if base == "Segment":
        nm = args[1] if len(args) > 1 else 32
        npr = args[2] if len(args) > 2 else 256
        proto = (make_divisible(min(npr, max_channels) * width), nm)
        extra = (extra_what or "", nm)
    elif base == "Pose":
        shape = args[1] if len(args) > 1 else [17, 3]
        if not (isinstance(shape, list) and len(shape) == 2 and all(is_int(v) and v > 0 for v in shape)):
            raise SpecError(f"row {row.index}: {module}'s kpt_shape is [keypoints, dims], got {shape!r}", row.where)
        extra = (extra_what or "", shape[0] * shape[1])
        keypoints = (shape[0], shape[1]) if module == "Pose26" else None
    elif base == "OBB":
        extra = (extra_what or "", args[1] if len(args) > 1 else 1)
    head = Head(
        kind=module,
        nc=count,
        reg_max=reg_max,
        end2end=end2end or base == "v10Detect",
        legacy=legacy and base != "v10Detect",
        ch=tuple(c_in),
        extra=extra,
        proto=proto,
        keypoints=keypoints,
    )
    return head


def cbfuse(
    net: Net, row: Row, args: list[Any], inputs: list[str], s_in: list[Fraction], pieces: dict[int, list[int]]
) -> None:
    """CBFuse: a piece of each CBLinear it reads, resized (nearest) onto the last input, all summed."""
    idx = args[0] if args else None
    sources = row.sources[:-1]
    if not (isinstance(idx, list) and len(idx) == len(sources) and all(is_int(i) for i in idx)):
        raise SpecError(f"row {row.index}: CBFuse's argument picks one piece of each CBLinear it reads", row.where)
    terms = []
    with net.group(f"model.{row.index}", "CBFuse"):
        for i, (source, pick) in enumerate(zip(sources, idx, strict=True)):
            if source not in pieces:
                raise GraphError(f"row {row.index}: CBFuse reads row {source}, which is not a CBLinear", row.where)
            y = net.layer(f"pick{i}", "Split", {"sizes": tuple(pieces[source]), "index": pick, "dim": 1}, inputs[i])
            ratio = s_in[i] / s_in[-1]
            if ratio != 1:
                factor = int(ratio) if ratio.denominator == 1 else float(ratio)
                y = net.layer(f"resize{i}", "Upsample", {"scale_factor": factor, "mode": "nearest"}, y)
            terms.append(y)
        net.layer("sum", "Add", {}, [*terms, inputs[-1]])


def _show(stride: Fraction) -> str:
    return str(stride.numerator) if stride.denominator == 1 else str(stride)
