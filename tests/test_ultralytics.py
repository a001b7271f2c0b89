"""Ultralytics model YAMLs: parse_model's rules, what each module is made of, the findings at a
row's line; and every shipped model at every scale against what Ultralytics itself builds (when
the ``ultralytics`` package's files are installed; it is never imported)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import CONFIGS, ROOT, cli, cli_error

from cnninspect.engines.analytic import infer_shapes
from cnninspect.errors import CnnInspectError
from cnninspect.inputs import ReadOptions, format_of, read_text
from cnninspect.inputs.ultralytics import UltralyticsFormat
from cnninspect.inputs.ultralytics.read import read_ultralytics, scale_from_name
from cnninspect.spec.model import ModelSpec

REFERENCE = Path(__file__).parent / "data" / "ultralytics_reference.json"
TINY = CONFIGS / "ultralytics" / "tiny_detector.yaml"
SHIFTED = CONFIGS / "broken" / "ultralytics_shifted.yaml"
FLOW_MODEL = 12 * ((2 * 64 + 64) + (64 * 64 + 64) + (64 * 2 + 2))
"""Pose26's RealNVP (6 s-nets and 6 t-nets of Linear 2→64→64→2): used by the training loss only,
never in the forward pass; layers that forward never calls here, counted as Ultralytics does."""
DFL = 16
"""DFL's frozen 1×1 conv (reg_max weights, a fixed decoding): counted, not as trainable, as Ultralytics does."""


def conv(c1: int, c2: int, k: int) -> int:
    """Parameters of Ultralytics' Conv: Conv2d without bias, then BatchNorm2d (weight and bias)."""
    return c1 * c2 * k * k + 2 * c2


def spec_of(text: str, label: str = "custom.yaml", scale: str | None = None) -> ModelSpec:
    return read_ultralytics(text, label, scale)


def row_output(spec: ModelSpec, row: int) -> str:
    """The layer whose output is row ``row``'s: the row's group output, or the row's own layer."""
    name = f"model.{row}"
    return next((g.output for g in spec.groups if g.name == name), name)


def shapes_by_name(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    trace = infer_shapes(spec)
    assert not trace.problems if hasattr(trace, "problems") else True
    return {r.layer.name: tuple(r.output_shape[1:]) for r in trace.records if r.output_shape is not None}


def layer(spec: ModelSpec, name: str) -> Any:
    return next(x for x in spec.layers if x.name == name)


# -- the tiny detector, worked out by hand ---------------------------------------------------

C2F_32 = conv(32, 32, 1) + 2 * conv(16, 16, 3) + conv(48, 32, 1)  # cv1, one Bottleneck (two 3×3), cv2 from (2+1)·16
C2F_64 = conv(64, 64, 1) + 2 * conv(32, 32, 3) + conv(96, 64, 1)
SPPF_128 = conv(128, 64, 1) + conv(256, 128, 1)  # cv1 to 128 // 2, cv2 from 4·64
C2F_192 = conv(192, 64, 1) + 2 * conv(32, 32, 3) + conv(96, 64, 1)
# Detect(nc=3, ch=(64, 128)), legacy: c2 = max(16, 64 // 4, 4·16) = 64, c3 = max(64, min(3, 100)) = 64
BOX = [conv(c, 64, 3) + conv(64, 64, 3) + 64 * 64 + 64 for c in (64, 128)]
CLS = [conv(c, 64, 3) + conv(64, 64, 3) + 64 * 3 + 3 for c in (64, 128)]
TINY_ROWS = [
    (conv(3, 16, 3), (16, 320, 320)),
    (conv(16, 32, 3), (32, 160, 160)),
    (C2F_32, (32, 160, 160)),
    (conv(32, 64, 3), (64, 80, 80)),
    (C2F_64, (64, 80, 80)),
    (conv(64, 128, 3), (128, 40, 40)),
    (SPPF_128, (128, 40, 40)),
    (0, (128, 80, 80)),
    (0, (192, 80, 80)),  # 128 from row 7 + 64 from row 4
    (C2F_192, (64, 80, 80)),
]


def test_the_tiny_detector_row_by_row():
    spec = read_text(TINY.read_text(), str(TINY))
    assert spec.format == "ultralytics"
    shapes = shapes_by_name(spec)
    trace = infer_shapes(spec)
    for row, (params, shape) in enumerate(TINY_ROWS):
        assert shapes[row_output(spec, row)] == shape, row
        inside = [r.params for r in trace.records if f"{r.layer.name}.".startswith(f"model.{row}.")]
        assert sum(inside) == params, row
    head = sum(BOX) + sum(CLS) + DFL
    assert head == sum(r.params for r in trace.records if r.layer.name.startswith("model.10."))
    assert shapes["model.10.boxes"] == (64, 80 * 80 + 40 * 40)
    assert shapes["model.10.scores"] == (3, 80 * 80 + 40 * 40)
    assert spec.outputs == ("model.10.boxes", "model.10.scores")
    assert trace.total_params == sum(p for p, _ in TINY_ROWS) + head == 591_062 + 16
    assert trace.trainable_params == trace.total_params - DFL


def test_the_tiny_detector_against_plain_pytorch_layer_by_layer():
    torch = pytest.importorskip("torch")
    from torch import nn

    def tconv(c1: int, c2: int, k: int = 1, s: int = 1, act: bool = True) -> nn.Module:
        parts = {"conv": nn.Conv2d(c1, c2, k, s, k // 2, bias=False), "bn": nn.BatchNorm2d(c2)}
        return nn.ModuleDict({**parts, **({"act": nn.SiLU()} if act else {})})

    def run(m: nn.Module, x: Any) -> Any:
        for part in m.values():  # type: ignore[operator]
            x = run(part, x) if isinstance(part, nn.ModuleDict) else part(x)
        return x

    class Bottleneck(nn.Module):
        def __init__(self, c: int, shortcut: bool) -> None:
            super().__init__()
            self.cv1, self.cv2, self.add = tconv(c, c, 3), tconv(c, c, 3), shortcut

        def forward(self, x: Any) -> Any:
            y = run(self.cv2, run(self.cv1, x))
            return x + y if self.add else y

    class C2f(nn.Module):
        def __init__(self, c1: int, c2: int, shortcut: bool) -> None:
            super().__init__()
            c = c2 // 2
            self.cv1, self.cv2 = tconv(c1, 2 * c), tconv(3 * c, c2)
            self.m = nn.ModuleList([Bottleneck(c, shortcut)])

        def forward(self, x: Any) -> Any:
            y = list(run(self.cv1, x).chunk(2, 1))
            y.append(self.m[0](y[-1]))
            return run(self.cv2, torch.cat(y, 1))

    class SPPF(nn.Module):
        def __init__(self, c1: int, c2: int) -> None:
            super().__init__()
            self.cv1, self.cv2, self.m = tconv(c1, c1 // 2), tconv(c1 * 2, c2), nn.MaxPool2d(5, 1, 2)

        def forward(self, x: Any) -> Any:
            y = [run(self.cv1, x)]
            for _ in range(3):
                y.append(self.m(y[-1]))
            return run(self.cv2, torch.cat(y, 1))

    def branch(c1: int, out: int) -> nn.Module:
        return nn.ModuleDict({"0": tconv(c1, 64, 3), "1": tconv(64, 64, 3), "2": nn.Conv2d(64, out, 1)})

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            dfl = nn.Conv2d(16, 1, 1, bias=False).requires_grad_(False)  # decodes boxes at inference only
            rows = [tconv(3, 16, 3, 2), tconv(16, 32, 3, 2), C2f(32, 32, True), tconv(32, 64, 3, 2), C2f(64, 64, True),
                    tconv(64, 128, 3, 2), SPPF(128, 128), nn.Upsample(scale_factor=2), nn.Identity(),
                    C2f(192, 64, False),
                    nn.ModuleDict({"cv2": nn.ModuleList([branch(64, 64), branch(128, 64)]),
                                   "cv3": nn.ModuleList([branch(64, 3), branch(128, 3)]),
                                   "dfl": nn.ModuleDict({"conv": dfl})})]  # fmt: skip
            self.model = nn.ModuleList(rows)

        def forward(self, x: Any) -> list[Any]:
            y: list[Any] = []
            for i, m in enumerate(self.model[:10]):
                if i == 8:
                    x = torch.cat([y[7], y[4]], 1)
                elif isinstance(m, nn.ModuleDict):
                    x = run(m, x)
                else:
                    x = m(x)
                y.append(x)
            head = self.model[10]
            feats = [y[9], y[6]]
            boxes = torch.cat([run(head["cv2"][i], f).flatten(2) for i, f in enumerate(feats)], 2)
            scores = torch.cat([run(head["cv3"][i], f).flatten(2) for i, f in enumerate(feats)], 2)
            return [*y, boxes, scores]

    model = Tiny().to("meta")
    seen: dict[str, tuple[int, ...]] = {}

    def record(name: str) -> Any:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            seen.setdefault(name, tuple(output.shape[1:]))  # SPPF's pool: its first run

        return hook

    for name, module in model.named_modules():
        if not list(module.children()) and name:
            module.register_forward_hook(record(name))
    outputs = model(torch.zeros(1, 3, 640, 640, device="meta"))
    spec = read_text(TINY.read_text(), str(TINY))
    trace = infer_shapes(spec)
    by_name = {r.layer.name: r for r in trace.records}
    counted = {n: m for n, m in model.named_modules() if not list(m.children()) and n and n != "model.8"}
    mine = {n for n, r in by_name.items() if r.layer.type in ("Conv2d", "BatchNorm2d", "SiLU", "MaxPool2d", "Upsample")}
    # SPPF's one pool runs three times; the spec has a layer per run (m.0, m.1, m.2): the first is PyTorch's m
    assert {"model.6.m.0", "model.6.m.1", "model.6.m.2"} <= mine
    by_name["model.6.m"] = by_name["model.6.m.0"]
    assert mine - {"model.6.m.0", "model.6.m.1", "model.6.m.2"} | {"model.6.m"} == set(counted)
    for name, module in counted.items():
        assert by_name[name].params == sum(p.numel() for p in module.parameters()), name
        assert by_name[name].trainable == sum(p.numel() for p in module.parameters() if p.requires_grad), name
        if name == "model.10.dfl.conv":  # never called in the training forward
            assert name not in seen and by_name[name].output_shape is None and not by_name[name].layer.called
        else:
            assert tuple(by_name[name].output_shape[1:]) == seen[name], name
    for row in range(10):
        assert tuple(outputs[row].shape[1:]) == tuple(by_name[row_output(spec, row)].output_shape[1:])
    assert tuple(outputs[10].shape[1:]) == tuple(by_name["model.10.boxes"].output_shape[1:])
    assert tuple(outputs[11].shape[1:]) == tuple(by_name["model.10.scores"].output_shape[1:])
    assert sum(p.numel() for p in model.parameters()) == trace.total_params
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == trace.trainable_params


def test_every_module_and_its_parts_are_groups_at_the_row_s_line():
    spec = read_text(TINY.read_text(), str(TINY))
    kinds = {g.name: g.type for g in spec.groups}
    assert kinds["model.0"] == "Conv" and kinds["model.2"] == "C2f" and kinds["model.6"] == "SPPF"
    assert kinds["model.2.cv1"] == "Conv" and kinds["model.2.m"] == "Bottleneck × 1"
    assert kinds["model.2.m.0"] == "Bottleneck" and kinds["model.2.m.0.cv2"] == "Conv"
    assert kinds["model.10"] == "Detect" and kinds["model.10.cv2"] == "ModuleList"
    assert kinds["model.10.cv3.1"] == "HeadBranch"
    line = next(n for n, text in enumerate(TINY.read_text().splitlines(), 1) if "C2f" in text)
    assert {x.location.line for x in spec.layers if x.name.startswith("model.2.")} == {line}
    assert {g.location.line for g in spec.groups if g.name.startswith("model.2")} == {line}


def test_a_row_inserted_without_renumbering_is_a_concat_across_two_scales_at_its_line():
    result = cli("lint", str(SHIFTED), "--format", "concise")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 1
    line = next(n for n, text in enumerate(SHIFTED.read_text().splitlines(), 1) if "Concat, [1]" in text)
    assert f"ultralytics_shifted.yaml:{line}:5: CNN208 model.9:" in result.stdout
    assert "row 8 gives 40×40×128 and row 4 gives 80×80×64" in result.stdout
    # 640 / 40 = 16 and 640 / 80 = 8; row 5, the inserted one, gives 40×40 too: the from to check
    assert (
        "check the from: indices of row 9: it reads row 8 at stride 16 and row 4 at stride 8 "
        "(a row inserted above shifts them); row 5 is at stride 16 as row 8"
    ) in result.stdout
    assert "ZeroPad" not in result.stdout


# -- parse_model's rules ----------------------------------------------------------------------

SMALL = """\
nc: 5
scales:
  n: [0.50, 0.25, 64]
  s: [0.33, 0.50, 1024]
backbone:
  - [-1, 1, Conv, [100, 3, 2]] # 0
  - [-1, 3, C2f, [64, True]] # 1
  - [-1, 5, C2f, [64, True]] # 2
  - [-1, 2, C2f, [64, True]] # 3
head:
  - [-1, 1, Classify, [nc]] # 4
"""


@pytest.mark.parametrize(
    ("name", "scale"),
    [("yolov8n.yaml", "n"), ("yolo11s-seg.yaml", "s"), ("yoloe-11m.yaml", "m"), ("yolov8.yaml", None),
     ("path/to/yolov5x6.yaml", "x"), ("my_model.yaml", None)],
)  # fmt: skip
def test_the_scale_comes_from_the_file_name_as_ultralytics_reads_it(name: str, scale: str | None):
    assert scale_from_name(name) == scale


def test_no_scale_in_the_name_builds_the_first_and_says_so_and_a_scale_option_overrides():
    first = spec_of(SMALL)
    assert first.overridden == ("scale n (no scale in the file name; --scale picks one of n, s)",)
    # n: width 0.25, max_channels 64: ceil(min(100, 64) · 0.25 / 8) · 8 = 16
    assert layer(first, "model.0.conv").args["out_channels"] == 16
    chosen = UltralyticsFormat().read(SMALL, "custom.yaml", ReadOptions(scale="s"))
    # s: width 0.5: ceil(100 · 0.5 / 8) · 8 = 56
    assert layer(chosen, "model.0.conv").args["out_channels"] == 56
    assert chosen.overridden == ("scale s",)
    named = spec_of(SMALL, "tinys.yaml")
    assert scale_from_name("tinys.yaml") is None and named.overridden[0].startswith("scale n")
    assert spec_of(SMALL, "yolov8s.yaml").overridden == ("scale s",)


def test_a_scale_the_model_does_not_have_is_one_line():
    with pytest.raises(CnnInspectError, match=r"the file name 'yolov8x.yaml' asks for scale 'x', but scales: has n, s"):
        spec_of(SMALL, "yolov8x.yaml")
    with pytest.raises(CnnInspectError, match=r"--scale asks for scale 'm'"):
        spec_of(SMALL, scale="m")


def test_depth_rounds_as_python_does_and_never_below_one():
    spec = spec_of(SMALL)  # depth 0.5

    def bottlenecks(row: int) -> int:
        return len({x.name.split(".")[3] for x in spec.layers if x.name.startswith(f"model.{row}.m.")})

    assert bottlenecks(1) == round(3 * 0.5) == 2
    assert bottlenecks(2) == round(5 * 0.5) == 2  # 2.5 rounds to even
    assert bottlenecks(3) == 1  # round(2 · 0.5) = 1
    at_s = spec_of(SMALL, scale="s")  # depth 0.33: max(round(0.66), 1) = 1 for the 2
    assert len({x.name.split(".")[3] for x in at_s.layers if x.name.startswith("model.3.m.")}) == 1


def test_classify_keeps_nc_unscaled_and_nc_is_substituted():
    spec = spec_of(SMALL)
    assert layer(spec, "model.4.linear").args == {"in_features": 1280, "out_features": 5}
    assert spec.input == (3, 224, 224)


def test_legacy_multipliers_and_the_activation():
    text = "nc: 2\ndepth_multiple: 0.33\nwidth_multiple: 0.25\nactivation: nn.LeakyReLU(0.1)\n" \
           "backbone:\n  - [-1, 1, Conv, [64, 3, 2]]\nhead:\n  - [-1, 3, C3, [128]]\n"  # fmt: skip
    spec = spec_of(text)
    assert layer(spec, "model.0.conv").args["out_channels"] == 16
    assert layer(spec, "model.0.act").type == "LeakyReLU" and layer(spec, "model.0.act").args == {"negative_slope": 0.1}
    assert layer(spec, "model.1.cv3.conv").args["out_channels"] == 32
    assert {x.name.split(".")[3] for x in spec.layers if x.name.startswith("model.1.m.")} == {"0"}  # round(0.99)


def test_the_activation_is_conv_s_and_dwconv_s_only_and_stays_in_its_model():
    text = "nc: 2\nactivation: nn.ReLU()\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-1, 1, DWConv, [16, 3]]\n" \
           "head:\n  - [-1, 1, RepNCSPELAN4, [32, 16, 8, 1]]\n"  # fmt: skip
    spec = spec_of(text)
    assert layer(spec, "model.0.act").type == "ReLU" and layer(spec, "model.1.act").type == "ReLU"
    assert layer(spec, "model.1.conv").args["groups"] == 16  # gcd(16, 16)
    assert layer(spec, "model.2.cv1.act").type == "ReLU"
    # RepConv has its own activation, which activation: does not change
    assert layer(spec, "model.2.cv2.0.m.0.cv1.act").type == "SiLU"
    assert layer(spec, "model.2.cv2.0.m.0.cv2.act").type == "ReLU"
    plain = spec_of(text.replace("activation: nn.ReLU()\n", ""))
    assert layer(plain, "model.0.act").type == "SiLU"  # the templates are shared; the setting is not


def test_a_conv_of_a_kernel_pair_is_padded_per_side_and_a_dilated_one_widened():
    text = "nc: 2\nbackbone:\n  - [-1, 1, Conv, [16, [1, 3]]]\n  - [-1, 1, Conv, [16, 3, 1, null, 1, 2]]\n" \
           "head:\n  - [-1, 1, Conv, [16, 3, 1, 0]]\n"  # fmt: skip
    spec = spec_of(text)
    assert layer(spec, "model.0.conv").args["kernel_size"] == (1, 3)
    assert layer(spec, "model.0.conv").args["padding"] == (0, 1)  # 1 // 2, 3 // 2
    assert layer(spec, "model.1.conv").args["padding"] == 2  # dilation 2: (2·(3 − 1) + 1) // 2
    assert layer(spec, "model.2.conv").args["padding"] == 0  # as given
    assert shapes_by_name(spec)["model.2.act"] == (16, 638, 638)  # 640 − 3 + 1, unpadded


C3K2 = """\
nc: 80
scales:
  s: [0.50, 0.50, 1024]
  m: [0.50, 1.00, 512]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 2, C3k2, [256, False, 0.25]]
  - [-1, 1, Conv, [256, 3, 2]]
head:
  - [[2, 3], 1, Detect, [nc]]
"""


def test_c3k2_takes_c3k_at_m_and_the_head_is_the_newer_one_after_it():
    small, medium = spec_of(C3K2, scale="s"), spec_of(C3K2, scale="m")
    assert any(g.name == "model.2.m.0" and g.type == "Bottleneck" for g in small.groups)
    assert any(g.name == "model.2.m.0" and g.type == "C3k" for g in medium.groups)
    # the class branch after a C3k2: a depthwise 3×3 then a 1×1
    assert layer(small, "model.4.cv3.0.0.0.conv").args["groups"] == 128
    assert layer(small, "model.4.cv3.0.0.1.conv").args["kernel_size"] == 1
    legacy = spec_of(C3K2.replace("C3k2, [256, False, 0.25]", "C2f, [256]"), scale="s")
    assert layer(legacy, "model.4.cv3.0.0.conv").args["kernel_size"] == 3


# -- findings at a row's line -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("[-1, 1, Cnv, [64, 3, 2]]", "row 2: no module named 'Cnv'; did you mean 'Conv'?"),
        ("[5, 1, Conv, [64, 3, 2]]", "row 2: from 5 is row 5, a later row"),
        ("[2, 1, Conv, [64, 3, 2]]", "row 2: from 2 is row 2, this row"),
        ("[-4, 1, Conv, [64, 3, 2]]", "row 2: from -4 points before row 0"),
        ("[-1, 1, RTDETRDecoder, [nc]]", "row 2: RTDETRDecoder belongs to RT-DETR models"),
        ("[-1, 1, TorchVision, [768, convnext_tiny]]", "row 2: TorchVision belongs to TorchVision models"),
        ("[-1, 1, C2PSA, [1024]]", "row 2: C2PSA gives as many channels as it receives, but it receives 32 and"),
        ("[[1, 0], 1, Detect, [nc]]", "row 2: Detect reads row 1 at stride 4, row 0 at stride 2: a head reads"),
        ("[[-1, 0], 1, Conv, [64]]", "row 2: Conv reads one row"),
        ("[-1, 1, SCDown, [64]]", "row 2: SCDown cannot be built from the arguments [64] (as parse_model passes"),
        ("[-1, 20000, C2f, [64]]", "row 2: 20,000 repeats; cnninspect builds at most 10,000"),
        ("[-1, 1, A2C2f, [8, True, 4]]", "row 2: A2C2f's hidden channels int(8·0.5) = 4 must be a multiple of 32"),
        ("[-1, 1, Conv, [0]]", "model.2.conv: out_channels: expected an integer ≥ 1, got 0"),
        # a template's own arithmetic ($k // 2) is no word of the user's: the arguments are named
        ("[-1, 1, SPPF, [64, [5, 3]]]", "row 2: SPPF cannot be built from the arguments [64, [5, 3]] (as parse_model"),
    ],
)
def test_a_mistake_in_a_row_is_one_line_at_the_row(row: str, words: str):
    text = f"nc: 3\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-1, 1, Conv, [32, 3, 2]]\nhead:\n  - {row}\n"
    with pytest.raises(CnnInspectError) as caught:
        spec_of(text, "bad.yaml")
    assert caught.value.location is not None and (caught.value.location.line, caught.value.location.col) == (6, 5)
    assert words in str(caught.value)


def test_the_cli_says_a_bad_row_in_one_line_and_exits_2(tmp_path: Path):
    path = tmp_path / "yolov8n.yaml"
    path.write_text("nc: 3\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n  - [-1, 1, SPFF, [16]]\n")
    result = cli("summary", str(path))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"cnninspect: error: {path}:5:5: row 1: no module named 'SPFF'; did you mean 'SPPF'?"
    )


def test_lint_names_a_model_family_it_does_not_read_and_goes_on(tmp_path: Path):
    # a valid RT-DETR file is not wrong: lint says it was not checked (never a CNN1xx finding that
    # fails a pre-commit hook); summary, asked for that very file, refuses it
    rtdetr = "nc: 3\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n  - [-1, 1, AIFI, [16]]\n"
    (tmp_path / "rtdetr.yaml").write_text(rtdetr)
    (tmp_path / "yolov8n.yaml").write_text(TINY.read_text())
    result = cli("lint", str(tmp_path), "--format", "concise")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{tmp_path / 'rtdetr.yaml'}: not checked: row 1: AIFI belongs to RT-DETR models, which cnninspect does "
        "not read (it reads YOLO detect, segment, pose, OBB and classify models)",
        "All checks passed: 1 file checked.",
    ]
    refused = cli("summary", str(tmp_path / "rtdetr.yaml"))
    assert refused.exit_code == 2 and "AIFI belongs to RT-DETR models" in refused.stderr


def test_recognised_by_its_shape_and_read_by_the_registry():
    text = TINY.read_text()
    assert isinstance(format_of(text, "x.yaml"), UltralyticsFormat)
    assert format_of("layers:\n  - ReLU\n", "x.yaml") is not None
    assert not isinstance(format_of("layers:\n  - ReLU\n", "x.yaml"), UltralyticsFormat)
    assert isinstance(format_of("nc: 1\nbackbone:\nhead: [\n", "broken.yaml"), UltralyticsFormat)


# -- every shipped model at every scale, against Ultralytics' own build -----------------------


def _shipped() -> tuple[Path | None, str]:
    """The installed ultralytics package's cfg/models folder, found without importing it."""
    found = importlib.util.find_spec("ultralytics")
    if found is None or found.origin is None:
        return None, "the ultralytics package is not installed (make install adds its files)"
    package = Path(found.origin).parent
    version = re.search(r'__version__\s*=\s*"([^"]+)"', (package / "__init__.py").read_text())
    wanted = json.loads(REFERENCE.read_text())["ultralytics"]
    if version is None or version.group(1) != wanted:
        return None, f"the reference is of ultralytics {wanted}; installed: {version and version.group(1)}"
    return package / "cfg" / "models", ""


SHIPPED, WHY_NOT = _shipped()
MODELS = json.loads(REFERENCE.read_text())["models"]


def _joined(shape: list[Any]) -> list[int]:
    """A row's output; a CBLinear's pieces (a tuple in Ultralytics) as the one map they are cut from."""
    if shape and isinstance(shape[0], list):
        return [sum(piece[0] for piece in shape), *shape[0][1:]]
    return shape


def _head_key(name: str) -> str:
    local = name.split(".", 2)[2]
    return "proto" if local.startswith("proto.cv3") else "semseg" if local.startswith("proto.semseg") else local


@pytest.mark.skipif(SHIPPED is None, reason=WHY_NOT)
@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m['file']}:{m['scale']}")
def test_every_shipped_model_is_what_ultralytics_builds(model: dict[str, Any]):
    assert SHIPPED is not None
    path = next(SHIPPED.glob(f"*/{model['file']}"))
    spec = read_ultralytics(path.read_text(), str(path), model["scale"])
    assert not spec.needs_torch
    trace = infer_shapes(spec)
    shapes = {r.layer.name: list(r.output_shape[1:]) for r in trace.records if r.output_shape is not None}
    assert not [r.layer.name for r in trace.records if r.mismatches]
    assert trace.total_params == model["params"]
    assert trace.trainable_params == model["trainable"]
    flow = sum(r.params for r in trace.records if ".flow_model." in r.layer.name)
    assert flow == (FLOW_MODEL if model["file"].startswith("yolo26") and "pose" in model["file"] else 0)
    assert model["params"] - model["trainable"] in (0, DFL)  # DFL's frozen conv when reg_max is 16
    assert [shapes[row_output(spec, row)] for row in range(len(model["rows"]))] == [_joined(r) for r in model["rows"]]
    if "head" in model:
        assert {_head_key(name): shapes[name] for name in spec.outputs} == model["head"]


def test_the_reference_covers_every_family_and_task():
    files = {m["file"] for m in MODELS}
    for family in ("yolov3", "yolov5", "yolov6", "yolov8", "yolov9", "yolov10", "yolo11", "yolo12", "yolo26"):
        assert any(f.startswith(family) for f in files), family
    for task in ("-seg", "-pose", "-obb", "-cls"):
        assert any(task in f for f in files), task
    assert {m["scale"] for m in MODELS if m["file"] == "yolov8.yaml"} == set("nslmx")
    known = {("yolov8.yaml", "n"): 3_157_200, ("yolov8.yaml", "s"): 11_166_560, ("yolo11.yaml", "n"): 2_624_080,
             ("yolov5.yaml", "n"): 2_654_816, ("yolov8-seg.yaml", "n"): 3_409_968, ("yolov8-pose.yaml", "n"): 3_295_470,
             ("yolov8-cls.yaml", "n"): 2_719_288, ("yolov10n.yaml", "n"): 2_775_520, ("yolov9t.yaml", None): 2_128_720,
             ("yolo12.yaml", "n"): 2_602_288, ("yolo26.yaml", "n"): 2_572_280}  # fmt: skip
    assert {(m["file"], m["scale"]): m["params"] for m in MODELS if (m["file"], m["scale"]) in known} == known


def test_makefile_installs_the_reference_version():
    version = json.loads(REFERENCE.read_text())["ultralytics"]
    assert f"ULTRALYTICS_VERSION ?= {version}" in (ROOT / "Makefile").read_text()


def test_export_writes_a_module_that_runs_and_returns_the_head(tmp_path: Path):
    torch = pytest.importorskip("torch")
    from cnninspect.export import export_pytorch

    spec = read_text(TINY.read_text(), str(TINY))
    code = export_pytorch(infer_shapes(spec))
    namespace: dict[str, Any] = {}
    exec(compile(code, str(tmp_path / "exported.py"), "exec"), namespace)  # the test runs the generated class
    model_class = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, torch.nn.Module)][-1]
    with torch.device("meta"):
        model = model_class()
    assert sum(p.numel() for p in model.parameters()) == 591_062 + DFL
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 591_062
    boxes, scores = model(torch.zeros(1, 3, 640, 640, device="meta"))
    assert tuple(boxes.shape) == (1, 64, 80 * 80 + 40 * 40) and tuple(scores.shape) == (1, 3, 8000)


def test_lint_checks_ultralytics_files_instead_of_skipping_them():
    result = cli("lint", str(CONFIGS / "ultralytics"), "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["files_checked"] == len(list((CONFIGS / "ultralytics").glob("*.yaml"))) >= 1
    assert report["findings"] == []


@pytest.mark.parametrize(
    ("settings", "row", "at", "words"),
    [  # a multiplier so large that a channel count times it is no number (inf) is refused where it is written
        ("scales: {n: [1.0e+308, 1.0e+308, 1.0e+308]}\n", "[-1, 1, Conv, [32, 3, 2]]", (2, 9), "scales: n: needs"),
        ("scales: {n: [0.5, 3.0e+9, 1024]}\n", "[-1, 1, Conv, [32, 3, 2]]", (2, 9), "at most 2,147,483,647"),
        ("depth_multiple: 1.0e+308\n", "[-1, 2, C2f, [32]]", (2, 17), "depth_multiple: needs a number above 0"),
        ("width_multiple: 1.0e+300\n", "[-1, 1, Conv, [32, 3, 2]]", (2, 17), "at most 2,147,483,647"),
        # a channel count beyond any float
        ("", f"[-1, 1, Conv, [{10**400}, 3, 2]]", (6, 5), "row 2: Conv's first argument is too large"),
    ],
)
def test_sizes_beyond_any_number_are_one_line_where_written(tmp_path: Path, settings, row, at, words):
    path = tmp_path / "huge.yaml"
    path.write_text(
        f"nc: 3\n{settings}backbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-1, 1, Conv, [32, 3, 2]]\nhead:\n  - {row}\n"
    )
    with pytest.raises(CnnInspectError) as caught:
        spec_of(path.read_text(), str(path))
    assert caught.value.location is not None
    assert (caught.value.location.line, caught.value.location.col) == at
    assert words in str(caught.value)
    result = cli_error("summary", str(path))
    assert result.stderr.count("\n") == 1 and f"{path}:{at[0]}:{at[1]}: " in result.stderr
    linted = cli("lint", str(path), "--format", "concise")
    assert linted.exit_code == 1 and f"{path}:{at[0]}:{at[1]}: CNN1" in linted.stdout


@pytest.mark.parametrize(
    ("activation", "words"),
    [  # checked where activation: is written, not at the first row that uses it
        ("nn.Conv2d(3, 3)", "activation: 'nn.Conv2d(3, 3)' is not a torch.nn activation such as nn.ReLU()"),
        ("nn.Linear(3, 3)", "activation: 'nn.Linear(3, 3)' is not a torch.nn activation such as nn.ReLU()"),
        ("nn.BatchNorm2d(7)", "is not a torch.nn activation"),
        ("nn.LeakyReLU(0.1, 'x')", "activation: inplace: expected true or false, got 'x'"),
        ("nn.LeakyReLU(bogus=1)", "LeakyReLU has no argument 'bogus'"),
        ("nn.ReLU(1, 2, 3)", "activation: 'nn.ReLU(1, 2, 3)': ReLU takes at most 1 argument"),
    ],
)
def test_a_wrong_activation_is_one_line_where_it_is_written(activation: str, words: str):
    rows = "backbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n  - [-1, 1, Conv, [8]]\n"
    text = f'nc: 2\nactivation: "{activation}"\n{rows}'
    with pytest.raises(CnnInspectError) as caught:
        spec_of(text)
    assert caught.value.location is not None
    assert (caught.value.location.line, caught.value.location.col) == (2, 13)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("nc: 0", "row 2: Detect needs the number of classes, an integer ≥ 1, got 0"),
        ("nc: 2.5", "row 2: Detect needs the number of classes, an integer ≥ 1, got 2.5"),
        ("nc: '[red]x'", "row 2: Detect needs the number of classes, an integer ≥ 1, got '[red]x'"),
        # YAML 1.1, which Ultralytics reads with, makes no a false; 1.2 keeps it a string: neither guessed
        ("nc: 3\nend2end: no", "end2end: needs true or false, got 'no'"),
    ],
)
def test_a_setting_of_the_wrong_kind_is_one_line(setting: str, words: str):
    text = f"{setting}\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-1, 1, Conv, [32, 3, 2]]\nhead:\n"
    with pytest.raises(CnnInspectError, match=re.escape(words)):
        spec_of(text + "  - [[0, 1], 1, Detect, [nc]]\n")
