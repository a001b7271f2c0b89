"""Every cfg in the cfg/ folders of pjreddie/darknet and AlexeyAB/darknet (tests/corpus/darknet,
public domain under their YOLO LICENSE), read and traced, against what darknet's own C parser
builds from it (tests/data/darknet_reference.json: each layer's output width × height × channels
and its parameters, counted as PyTorch counts them; how it was made is in its "meta").

A cfg is either read exactly (every layer's output and the total equal darknet's, and lint finds
no error, only the warnings listed here, each a true statement about the file) or refused with one
line that says why (recurrent layers, darknet options cnninspect does not model)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from conftest import cli, load

from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.records import Trace
from cnninspect.engines.torch import trace_spec
from cnninspect.errors import CnnInspectError
from cnninspect.inputs.darknet.cfg import read_sections
from cnninspect.rules import Severity, find_problems
from cnninspect.spec.model import Note

CORPUS = Path(__file__).parent / "corpus" / "darknet"
REFERENCE = json.loads((Path(__file__).parent / "data" / "darknet_reference.json").read_text())["cfgs"]

REFUSED: dict[str, str] = {}
"""The non-recurrent cfgs cnninspect refuses, and why: none."""
TORCH_ONLY = {"pjreddie/go.cfg", "pjreddie/go.test.cfg"}
"""The cfgs with a layer only the torch engine sizes: [reorg] extra=1, a flat copy and one value more
(torch's ConstantPad1d on the flattened input)."""

SHORTCUTS = "[shortcut] of unequal layers"
SHORTCUT = re.compile(r"\[shortcut\] \d+ adds layer \d+'s \S+ to layer \d+'s \S+: darknet adds the first \d+ channels")
WARNINGS = {
    **dict.fromkeys(
        [
            *(
                f"{repo}/{name}.cfg"
                for repo in ("pjreddie", "alexeyab")
                for name in ("resnet50", "resnet101", "resnet152")
            ),
            *(f"pjreddie/{name}.cfg" for name in ("resnet18", "resnet34", "resnext50", "resnext101-32x4d")),
            "pjreddie/resnext152-32x4d.cfg",
            "alexeyab/resnext152-32x4d.cfg",
            "alexeyab/resnet152_trident.cfg",
            "alexeyab/csresnext50-panet-spp.cfg",
            "alexeyab/csresnext50-panet-spp-original-optimal.cfg",
            "alexeyab/enet-coco.cfg",
            "alexeyab/yolov3-tiny-prn.cfg",
            "alexeyab/yolov4-sam-mish-csp-reorg-bfm.cfg",
        ],
        SHORTCUTS,
    ),
    # [net] has batch=1 and batch=64 (and subdivisions twice): darknet reads the first (yolo9000.cfg
    # repeats batch=1 with the same value: no warning)
    "pjreddie/yolov3-openimages.cfg": "is given twice in this [net]",
    "alexeyab/yolov3-openimages.cfg": "is given twice in this [net]",
    "alexeyab/efficientnet_b0.cfg": "decay is given twice in this [net]",
    "alexeyab/efficientnet-lite3.cfg": "decay is given twice in this [net]",
    "alexeyab/cspx-p7-mish.cfg": "mask: anchor 19 does not exist",  # num=16, but anchors= lists 20
    # ramp is x·(x>0) + 0.1·x, read as LeakyReLU(0.1): one note, at the first of its 22 layers
    "pjreddie/strided.cfg": "activation=ramp (here and in 21 more layers): darknet computes x·(x>0) + 0.1·x",
    "alexeyab/strided.cfg": "activation=ramp (here and in 21 more layers): darknet computes x·(x>0) + 0.1·x",
    # [local_avgpool] size=4 stride=4 pads 1 before and 2 after a 208×208 input: windows start at
    # -1, 3, …, 203 and end at 206, so row and column 207 are never read (darknet's own arithmetic)
    "alexeyab/yolov4-tiny_contrastive.cfg": "the last 3 rows and columns of its 211×211 input",
}
"""The cfgs read exactly that lint warns about, and what each warning says."""


UNREAD_NOTE = re.compile(r"\[(\w+)\] has no key (\w+): darknet ignores it")
UNREAD = {
    # [net]: read by neither darknet today (pjreddie's read seen= until 2015); darknet says nothing of [net]
    "alexeyab/Gaussian_yolov3_BDD.cfg": [("net", "max_epochs", 24)],
    "alexeyab/writing.cfg": [("net", "seen", 10)],
    "pjreddie/writing.cfg": [("net", "seen", 10)],
    # uc_normalizer is a [Gaussian_yolo] key, and no darknet reads beta1 (its DIoU-NMS takes beta_nms):
    # AlexeyAB's darknet prints "Unused field" for both, in each of the three heads
    "alexeyab/yolov4-sam-mish-csp-reorg-bfm.cfg": [
        ("yolo", key, line)
        for head in (1156, 1290, 1424)
        for key, line in (("uc_normalizer", head), ("beta1", head + 4))
    ],
}
"""The only keys of the corpus darknet does not read in their sections: (section, key, line)."""


def darknet_layers(trace: Trace, count: int) -> list[tuple[int, ...] | None]:
    """Each darknet layer's output shape: its group's last layer, or the layer itself."""
    shape_of = {record.layer.name: record.output_shape for record in trace.records}
    last = {group.name: group.output for group in trace.spec.groups}
    return [shape_of[last.get(str(i), str(i))] for i in range(count)]


def check_against_darknet(key: str, trace: Trace) -> None:
    """Every layer's output and the total equal darknet's."""
    entry = REFERENCE[key]
    shapes = darknet_layers(trace, len(entry["layers"]))
    for index, (shape, (section, w, h, c, outputs, _)) in enumerate(zip(shapes, entry["layers"])):
        assert shape is not None, f"layer {index} [{section}] has no output"
        if w * h * c == 0:  # darknet leaves a flat layer's sizes at 0 (softmax, cost): compare the values
            assert math.prod(shape[1:]) == outputs, f"layer {index} [{section}]: {shape} vs {outputs} values"
        else:
            dims = shape[1:] if len(shape) == 4 else (shape[1], 1, 1)
            assert dims == (c, h, w), f"layer {index} [{section}]: {dims} vs darknet's {(c, h, w)}"
    assert trace.total_params == entry["params"]


CASES = sorted(REFERENCE)


def test_the_corpus_is_both_repositories_whole():
    on_disk = {path.relative_to(CORPUS).as_posix() for path in CORPUS.rglob("*.cfg")}
    assert on_disk == set(REFERENCE) and len(on_disk) == 45 + 95
    assert (CORPUS / "pjreddie" / "LICENSE").exists() and (CORPUS / "alexeyab" / "LICENSE").exists()


def test_the_reference_has_the_published_counts():
    # darknet's own parser on YOLOv3, YOLOv4 and YOLOv4-tiny, as published (FACTS.md)
    assert REFERENCE["pjreddie/yolov3.cfg"]["params"] == REFERENCE["alexeyab/yolov3.cfg"]["params"] == 61_949_149
    assert REFERENCE["alexeyab/yolov4.cfg"]["params"] == 64_363_101
    assert REFERENCE["alexeyab/yolov4-tiny.cfg"]["params"] == 6_056_606
    assert REFERENCE["pjreddie/vgg-16.cfg"]["params"] == 138_357_544


@pytest.mark.skipif(not CORPUS.exists(), reason="the darknet corpus is not here")
@pytest.mark.parametrize("key", CASES)
def test_each_cfg_is_read_as_darknet_reads_it_or_refused_with_one_line(key):
    entry = REFERENCE[key]
    path = CORPUS / key
    if "refused" in entry or key in REFUSED:
        with pytest.raises(CnnInspectError) as caught:
            load(path)
        reason = "is a recurrent layer" if "refused" in entry else REFUSED[key]
        assert reason in str(caught.value) and "\n" not in str(caught.value)
        return
    spec = load(path)
    assert spec.needs_torch == (key in TORCH_ONLY)
    trace = trace_spec(spec) if spec.needs_torch else infer_shapes(spec)  # else no layer falls back to torch
    check_against_darknet(key, trace)
    findings = [f for f in find_problems(trace) if not UNREAD_NOTE.match(f.message)]  # the test below
    assert all(f.rule.severity is Severity.WARNING for f in findings), [f.line for f in findings]
    expected = WARNINGS.get(key)
    if expected is None:
        assert findings == [], [f.line for f in findings]
    elif expected == SHORTCUTS:
        assert findings and all(f.rule.code == "CNN304" and SHORTCUT.match(f.message) for f in findings)
    else:
        assert findings and all(expected in f.message for f in findings), [f.line for f in findings]


def test_every_key_of_the_corpus_is_one_darknet_reads_but_the_few_it_ignores():
    # every cfg, the recurrent ones too: darknet's own cfgs use only keys its parser reads
    for path in sorted(CORPUS.rglob("*.cfg")):
        key = path.relative_to(CORPUS).as_posix()
        notes: list[Note] = []
        read_sections(path.read_text(), key, notes)
        unread = [(m[1], m[2], n.location.line) for n in notes if (m := UNREAD_NOTE.match(n.message))]
        assert unread == UNREAD.get(key, []), key
        assert all(n.location.col == 1 for n in notes if UNREAD_NOTE.match(n.message))  # at the key


def test_the_refusals_are_the_only_ones():
    refused = {key for key, entry in REFERENCE.items() if "refused" in entry} | set(REFUSED)
    assert len(refused) == 9  # recurrent
    assert len(REFERENCE) - len(refused) == 131


@pytest.mark.parametrize(
    "key",
    [
        "alexeyab/yolov4-tiny.cfg",  # [route] groups=
        "alexeyab/efficientnet_b0.cfg",  # [scale_channels]
        "alexeyab/yolov4-sam-mish-csp-reorg-bfm.cfg",  # [sam], [reorg3d], unequal [shortcut]
        "alexeyab/resnet152_trident.cfg",  # dilation=, share_index=
        "pjreddie/yolov2.cfg",  # [reorg]
        "pjreddie/vgg-16.cfg",  # [crop], [cost]
        "pjreddie/resnet18.cfg",  # [shortcut] across sizes
        "alexeyab/yolov1/tiny-yolo.cfg",  # [detection]
        "pjreddie/yolov1.cfg",  # [local]
        "alexeyab/yolov1/yolo-coco.cfg",  # [local]
        "pjreddie/strided.cfg",  # activation=ramp
    ],
)
def test_the_torch_engine_agrees_on_the_new_layers(key):
    check_against_darknet(key, trace_spec(load(CORPUS / key)))


@pytest.mark.parametrize(
    ("key", "outputs"),
    [
        ("alexeyab/yolov4-tiny.cfg", [(1, 255, 13, 13), (1, 255, 26, 26)]),  # Split: [route] groups=
        ("alexeyab/efficientnet_b0.cfg", [(1, 1000)]),  # Mul: [scale_channels]; a softmax over 1000 classes
        ("pjreddie/vgg-16.cfg", [(1, 1000)]),  # a negative ZeroPad2d: [crop]; [connected] 1000
    ],
)
def test_export_writes_the_new_layers_as_pytorch_runs_them(key, outputs):
    import torch

    spec = load(CORPUS / key)
    namespace: dict = {}
    exec(compile(cli("export", str(CORPUS / key)).stdout, "exported.py", "exec"), namespace)
    model = [value for value in namespace.values() if isinstance(value, type)][-1]()  # the model: the last class
    assert sum(p.numel() for p in model.parameters()) == REFERENCE[key]["params"]
    heads = model.to("meta")(torch.empty(1, *spec.input, device="meta"))
    shapes = [tuple(head.shape) for head in (heads if isinstance(heads, (list, tuple)) else [heads])]
    assert [shape[: len(want)] for shape, want in zip(shapes, outputs)] == outputs  # a classifier's (1, 1000, 1, 1)
