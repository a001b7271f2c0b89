"""Ultralytics' detection heads (Detect, Segment, Pose, OBB, v10Detect and the YOLO26 variants) as
torch.nn layers: per feature map a box, a class and maybe a third branch, each level's map
flattened and joined as the head returns them in training."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cnninspect.inputs.ultralytics_blocks import Net, add, conv, conv2d, dwconv, sequential


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


def _branch(
    net: Net, local: str, xs: list[str], ch: tuple[int, ...], build: Callable[[str, str, int], str]
) -> list[str]:
    with net.group(local, "ModuleList"):
        return [build(str(i), x, c) for i, (x, c) in enumerate(zip(xs, ch, strict=True))]


def _flat(net: Net, local: str, maps: list[str]) -> str:
    """Each level's map flattened to (C, H·W) and joined along the places: what the head returns."""
    flat = [net.layer(f"{local}_flat{i}", "Flatten", {"start_dim": 2}, m) for i, m in enumerate(maps)]
    return flat[0] if len(flat) == 1 else net.layer(local, "Concat", {"dim": 2}, flat)


def _three(net: Net, name: str, x: str, c1: int, c: int, out: int) -> str:
    """Conv 3×3 to c, Conv 3×3, then a biased 1×1 nn.Conv2d to ``out``: each branch of a head."""
    return sequential(
        net,
        name,
        x,
        [
            lambda i, z: conv(net, i, z, c1, c, 3),
            lambda i, z: conv(net, i, z, c, c, 3),
            lambda i, z: conv2d(net, i, z, c, out, 1),
        ],
    )


def _light(net: Net, name: str, x: str, c1: int, c3: int, nc: int) -> str:
    """The newer class branch: depthwise 3×3 and 1×1 to c3, depthwise 3×3 and 1×1, a biased 1×1 to nc."""
    return sequential(
        net,
        name,
        x,
        [
            lambda i, z: sequential(
                net, i, z, [lambda j, w: dwconv(net, j, w, c1, c1, 3), lambda j, w: conv(net, j, w, c1, c3, 1)]
            ),
            lambda i, z: sequential(
                net, i, z, [lambda j, w: dwconv(net, j, w, c3, c3, 3), lambda j, w: conv(net, j, w, c3, c3, 1)]
            ),
            lambda i, z: conv2d(net, i, z, c3, nc, 1),
        ],
    )


def detect(net: Net, local: str, xs: list[str], head: Head) -> list[str]:
    """Detect and its kin: per level a box branch (cv2, to 4·reg_max), a class branch (cv3, to nc)
    and for Segment/Pose/OBB a third (cv4); a one-to-one copy of each when end2end. Returns the
    head's outputs: boxes, scores (and the third branch's values, Segment's prototypes), each level
    flattened and joined. DFL's conv (reg_max weights, frozen, a fixed decoding) is not a layer here."""
    ch = head.ch
    c2 = max(16, ch[0] // 4, head.reg_max * 4)
    c3 = max(ch[0], min(head.nc, 100))
    kpts, dims = head.keypoints or (0, 0)
    what, count = head.extra or ("", 0)
    c4 = max(ch[0] // 4, kpts * (dims + 2) if head.keypoints else count)
    outputs: list[str] = []
    with net.group(local, head.kind):
        sets = [("", "")] + ([("one2one_", "one2one_")] if head.end2end else [])
        built: dict[str, list[str]] = {}
        for prefix, _ in sets:
            built[prefix + "cv2"] = _branch(
                net, prefix + "cv2", xs, ch, lambda i, x, c: _three(net, i, x, c, c2, 4 * head.reg_max)
            )
            if head.legacy:
                cls = _branch(net, prefix + "cv3", xs, ch, lambda i, x, c: _three(net, i, x, c, c3, head.nc))
            else:
                cls = _branch(net, prefix + "cv3", xs, ch, lambda i, x, c: _light(net, i, x, c, c3, head.nc))
            built[prefix + "cv3"] = cls
            if head.keypoints is not None:
                features = _branch(
                    net,
                    prefix + "cv4",
                    xs,
                    ch,
                    lambda i, x, c: sequential(
                        net, i, x, [lambda j, z: conv(net, j, z, c, c4, 3), lambda j, z: conv(net, j, z, c4, c4, 3)]
                    ),
                )
                built[prefix + "kpts"] = _branch(
                    net,
                    prefix + "cv4_kpts",
                    features,
                    (c4,) * len(ch),
                    lambda i, x, c: conv2d(net, i, x, c, kpts * dims),
                )
                built[prefix + "kpts_sigma"] = _branch(
                    net, prefix + "cv4_sigma", features, (c4,) * len(ch), lambda i, x, c: conv2d(net, i, x, c, kpts * 2)
                )
            elif head.extra is not None:
                built[prefix + what] = _branch(
                    net, prefix + "cv4", xs, ch, lambda i, x, c: _three(net, i, x, c, c4, count)
                )
        if head.proto is not None:
            npr, nm = head.proto
            if head.kind.endswith("26"):
                outputs.extend(proto26(net, "proto", xs, ch, npr, nm, head.nc))
            else:
                outputs.append(proto(net, "proto", xs[0], ch[0], npr, nm))
        for prefix, _ in sets:
            for key in built:
                if key.startswith(prefix) and (prefix or not key.startswith("one2one_")):
                    what = key.removeprefix(prefix)
                    label = {"cv2": "boxes", "cv3": "scores"}.get(what, what)
                    outputs.append(_flat(net, prefix + label, built[key]))
    return outputs


def proto26(net: Net, local: str, xs: list[str], ch: tuple[int, ...], c_: int, c2: int, nc: int) -> list[str]:
    """Proto26: each coarser map refined (1×1 to ch[0]) and upsampled onto the finest, all summed;
    feat_fuse 3×3 to c_, then Proto's layers; semseg (3×3, 3×3, 1×1 to nc) on the sum, for training."""
    with net.group(local, "Proto26"):
        with net.group("feat_refine", "ModuleList"):
            refined = [conv(net, str(i), x, c, ch[0], 1) for i, (x, c) in enumerate(zip(xs[1:], ch[1:], strict=True))]
        ups = [
            net.layer(f"up{i}", "Upsample", {"scale_factor": 2 ** (i + 1), "mode": "nearest"}, r)
            for i, r in enumerate(refined)
        ]
        feat = add(net, "sum", [xs[0], *ups]) if ups else xs[0]
        y = conv(net, "feat_fuse", feat, ch[0], c_, 3)
        y = conv(net, "cv1", y, c_, c_, 3)
        y = net.layer(
            "upsample",
            "ConvTranspose2d",
            {"in_channels": c_, "out_channels": c_, "kernel_size": 2, "stride": 2, "bias": True},
            y,
        )
        y = conv(net, "cv2", y, c_, c_, 3)
        p = conv(net, "cv3", y, c_, c2, 1)
        semantic = _three(net, "semseg", feat, ch[0], c_, nc)
    return [p, semantic]


def proto(net: Net, local: str, x: str, c1: int, c_: int, c2: int) -> str:
    """Proto: Conv 3×3 to c_, ConvTranspose2d 2×2 stride 2 (with bias), Conv 3×3, Conv 1×1 to c2."""
    with net.group(local, "Proto"):
        y = conv(net, "cv1", x, c1, c_, 3)
        y = net.layer(
            "upsample",
            "ConvTranspose2d",
            {"in_channels": c_, "out_channels": c_, "kernel_size": 2, "stride": 2, "bias": True},
            y,
        )
        y = conv(net, "cv2", y, c_, c_, 3)
        return conv(net, "cv3", y, c_, c2, 1)
