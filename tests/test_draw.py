"""draw: what is drawn (folding), where (the scale and the layout, by hand-worked numbers), and the
files (SVG that parses, deterministic, escaped; the self-contained HTML page; the CLI)."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cnninspect.draw import DrawFormat, draw
from cnninspect.draw.items import MAX_ITEMS, Item, Role, build_items, fold_runs
from cnninspect.draw.layout import CHAR_WIDTH, GAP, OBLIQUE_X, OBLIQUE_Y, depth_of, face, layout, text_width
from cnninspect.draw.source import groups_of, parts_of
from cnninspect.engines import Engine, trace_with
from cnninspect.rules import find_problems
from cnninspect.spec.overrides import Overrides, apply_overrides
from tests.conftest import CONFIGS, ROOT, builtin, cli, load, parse

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script>\n\x1b[31m"""&'


def traced(spec, kernel: int | None = None):
    if kernel is not None:
        spec = apply_overrides(spec, Overrides(None, None, kernel, None, None, ()))
    trace = trace_with(spec, Engine.ANALYTIC)
    return trace, find_problems(trace)


def items_of(spec, kernel: int | None = None, depth: int | None = None) -> list[Item]:
    trace, findings = traced(spec, kernel)
    return build_items(parts_of(trace, findings), groups_of(trace), depth)


# --- the scale ----------------------------------------------------------------------------------


def test_the_scale_is_logarithmic_with_a_minimum():
    assert face(1) == 10  # the minimum: a 1×1 map is still seen
    assert face(32) == pytest.approx(10 + 12 * 5)
    assert face(224) == pytest.approx(10 + 12 * math.log2(224))  # 103.7: both fit one page
    assert face(7) == pytest.approx(10 + 12 * math.log2(7))  # 43.7
    assert depth_of(16) == pytest.approx(4 + 10 * 4)
    assert depth_of(2048) == pytest.approx(4 + 10 * 11)
    assert face(0) == face(1)  # a collapsed output is drawn at the minimum, not as a crash


def test_text_width_counts_monospace_cells():
    assert text_width("15×15×16") == pytest.approx(8 * CHAR_WIDTH)
    assert text_width("層") == pytest.approx(2 * CHAR_WIDTH)


# --- what is drawn ----------------------------------------------------------------------------------


def test_kernel_5_reads_like_the_tutorials_figure():
    items = items_of(builtin(), kernel=5)
    assert [item.label for item in items] == ["32×32×3", "15×15×16", "7×7×32", "1568", "10"]
    assert [item.role for item in items] == [Role.INPUT, Role.CONV, Role.CONV, Role.FLATTEN, Role.LINEAR]
    assert [item.name for item in items] == ["input", "conv1", "conv2", "Flatten", "fc"]  # the ReLUs go with their conv
    assert items[1].kernel == (5, 5)
    fc = items[-1]
    assert fc.severity == "error"
    assert fc.marks == ("✗ CNN201", "expects 2048", "receives 1568")
    assert all(item.severity is None for item in items[:-1])


def test_kernel_3_has_no_finding():
    items = items_of(builtin())
    assert [item.label for item in items] == ["32×32×3", "16×16×16", "8×8×32", "2048", "10"]
    assert all(item.severity is None and not item.marks for item in items)


def test_a_norm_and_an_activation_are_drawn_with_the_conv_they_follow():
    spec = parse(
        """input: [3, 16, 16]
layers:
  - {type: Conv2d, name: c, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: BatchNorm2d, name: bn}
  - {type: ReLU, name: r}
  - {type: MaxPool2d, name: p, kernel_size: 2}
"""
    )
    items = items_of(spec)
    assert [item.name for item in items] == ["input", "c", "p"]
    assert [len(item.parts) for item in items] == [1, 3, 1]
    assert items[2].kernel == (2, 2) and items[2].role is Role.POOL


def test_a_skip_is_drawn_into_its_merge():
    items = items_of(load(CONFIGS / "resnet18.yaml"))
    adds = [item for item in items if item.operator == "+"]
    assert len(adds) == 8  # one per BasicBlock
    by_key = {item.key: index for index, item in enumerate(items)}
    first = adds[0]
    # layer1.0's add reads its second conv and the block's input, the maxpool's output
    assert [items[i].key for i in first.inputs] == ["layer1.0.conv2", "maxpool"]
    assert by_key["maxpool"] < by_key[first.key] - 1  # not the item before: an arc


def test_depth_folds_groups_into_one_labelled_box():
    items = items_of(load(CONFIGS / "resnet152.yaml"), depth=1)
    groups = [item.name for item in items if item.role is Role.GROUP]
    assert groups == [
        "layer1 · 3 × Bottleneck",
        "layer2 · 8 × Bottleneck",
        "layer3 · 36 × Bottleneck",
        "layer4 · 3 × Bottleneck",
    ]
    assert [item.label for item in items if item.role is Role.GROUP] == [
        "56×56×256",
        "28×28×512",
        "14×14×1024",
        "7×7×2048",
    ]


def test_the_default_folds_big_models_to_one_page():
    resnet = items_of(load(CONFIGS / "resnet152.yaml"))
    assert len(resnet) <= MAX_ITEMS
    assert "layer3 · 36 × Bottleneck" in [item.name for item in resnet]
    yolo = items_of(load(CONFIGS / "darknet" / "yolov3.cfg"))
    assert len(yolo) <= MAX_ITEMS
    runs = [item.name for item in yolo if item.role is Role.RUN]
    # darknet-53's residual units, 1, 2, 8, 8 and 4 of them: the first stands alone, the others fold
    assert [re.search(r"· (\d+) ×", name).group(1) for name in runs][:4] == ["2", "8", "8", "4"]
    small = items_of(load(CONFIGS / "resnet18.yaml"))
    assert not any(item.role in (Role.GROUP, Role.RUN) for item in small)  # it fits unfolded


def test_fold_runs_folds_a_repeated_stretch_and_rewires_the_inputs():
    def item(index: int, kind: str, inputs: tuple[int, ...]) -> Item:
        return Item(
            key=str(index), role=Role.CONV, name=str(index), type=kind, dims=(8, 4, 4), inputs=inputs, parts=(index,)
        )

    # 0, then (a, b) three times, then 7 reading the last b
    items = [item(0, "x", ())] + [item(i, "ab"[(i - 1) % 2], (i - 1,)) for i in range(1, 7)] + [item(7, "z", (6,))]
    folded = fold_runs(items)
    assert [i.role for i in folded] == [Role.CONV, Role.RUN, Role.CONV]
    assert folded[1].name == "1…6 · 3 × a·b"
    assert folded[1].inputs == (0,) and folded[2].inputs == (1,)
    assert folded[1].parts == (1, 2, 3, 4, 5, 6)


# --- where it goes ----------------------------------------------------------------------------------


def test_layout_of_the_tutorial_by_hand():
    placed = layout(items_of(builtin(), kernel=5))
    boxes = placed.boxes
    # input: face 32 → 70 wide and high, 3 channels deep; its column is the shape (wider than its label)
    assert (boxes[0].width, boxes[0].height) == (pytest.approx(70), pytest.approx(70))
    input_column = 70 + (4 + 10 * math.log2(3)) * OBLIQUE_X
    assert boxes[0].x == 0
    assert boxes[1].x == pytest.approx(input_column + GAP)
    assert boxes[1].width == pytest.approx(10 + 12 * math.log2(15))
    assert boxes[1].dy == pytest.approx((4 + 10 * 4) * OBLIQUE_Y)
    assert all(box.mid == 0 for box in boxes)  # no upsampling: one line
    # the Linear bar: 10 + 12·log2(10) high
    assert boxes[4].height == pytest.approx(10 + 12 * math.log2(10))
    # conv1's 5×5 kernel on the input's 70-unit face: 70·5/32 wide
    kernel = placed.kernels[0]
    assert (kernel.width, kernel.height) == (pytest.approx(70 * 5 / 32), pytest.approx(70 * 5 / 32))
    assert kernel.x + kernel.width == pytest.approx(70 * 0.8)


def test_labels_never_overlap_by_the_layouts_own_estimate():
    for spec in (builtin(), load(CONFIGS / "resnet18.yaml"), load(CONFIGS / "unet.yaml")):
        placed = layout(items_of(spec))
        boxes = [text.box for text in placed.texts]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_unet_is_drawn_as_a_u():
    items = items_of(load(CONFIGS / "unet.yaml"))
    boxes = {box.item.name: box for box in layout(items).boxes}
    level = boxes["pool1"].mid - boxes["input"].mid
    assert level > 0
    assert boxes["bottleneck.0"].mid == pytest.approx(4 * level)  # 512 → 32: four halvings down
    assert boxes["head"].mid == boxes["input"].mid == boxes["enc1.0"].mid  # back up
    edges = layout(items).edges
    lanes = [e for e in edges if e.concat and e.arc]
    assert len(lanes) == 4  # the four bridges across


def test_arcs_pass_over_the_items_they_span():
    placed = layout(items_of(load(CONFIGS / "resnet18.yaml")))
    for edge in placed.edges:
        if edge.arc:
            top = edge.points[1][1]
            spanned = placed.boxes[edge.source : edge.target + 1]
            assert all(top < box.top for box in spanned)


# --- the files ----------------------------------------------------------------------------------


def test_svg_parses_has_title_and_desc_and_is_deterministic():
    trace, findings = traced(builtin(), kernel=5)
    text = draw(trace, findings, DrawFormat.SVG)
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == f"{SVG}svg" and root.get("version") == "1.1"
    assert root.find(f"{SVG}title").text == "myCNN · input 3×32×32 · --kernel 5"
    assert "conv1 15×15×16 → conv2 7×7×32" in root.find(f"{SVG}desc").text
    labels = [t.text for t in root.iter(f"{SVG}text") if "shape" in t.get("class", "")]
    assert labels == ["32×32×3", "15×15×16", "7×7×32", "1568", "10"]
    red = [g for g in root.iter(f"{SVG}g") if "error" in g.get("class", "").split()]
    assert len(red) == 1 and "fc · Linear" in red[0].find(f"{SVG}title").text
    # SVG 1.1's own elements and attributes only: no ARIA, data- or tabindex (those are the HTML page's)
    elements = {"svg", "title", "desc", "defs", "marker", "pattern", "path", "rect", "g", "polygon", "circle", "text"}
    assert {element.tag.removeprefix(SVG) for element in root.iter()} <= elements
    assert not [a for e in root.iter() for a in e.attrib if a.startswith(("aria", "data-", "role", "tabindex"))]
    again = draw(*traced(builtin(), kernel=5), DrawFormat.SVG)
    assert again == text
    assert not re.search(r"\bhref=\"(?!#)|xlink:href|https?://(?!www\.w3\.org/2000/svg)", text)


def test_a_hostile_name_is_escaped_everywhere():
    spec = parse(
        'input: [3, 8, 8]\nlayers:\n  - {type: Conv2d, name: "<script>alert(1)</script>\\n\\e[31m\\"\\"\\"&", '
        "out_channels: 4, kernel_size: 3}\n  - Flatten\n  - {type: Linear, in_features: 10, out_features: 2}\n"
    )
    assert spec.layers[0].name == HOSTILE
    trace, findings = traced(spec)
    for fmt in DrawFormat:
        text = draw(trace, findings, fmt)
        assert "<script>alert" not in text and "\x1b" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;\\n\\x1b[31m&quot;&quot;&quot;&amp;" in text
    root = ET.fromstring(draw(trace, findings, DrawFormat.SVG).encode("utf-8"))
    names = [t.text for t in root.iter(f"{SVG}text") if "name" in t.get("class", "").split()]
    assert '<script>alert(1)</script>\\n\\x1b[31m"""&' in names


def test_the_html_page_is_self_contained_with_table_and_details():
    trace, findings = traced(load(CONFIGS / "resnet18.yaml"))
    page = draw(trace, findings, DrawFormat.HTML)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"<(script|link|img)[^>]*\b(src|href)=", page)
    assert "@import" not in page and "url(http" not in page
    details = json.loads(re.search(r'<script type="application/json" id="details">(.*?)</script>', page).group(1))
    assert len(details) == page.count('<div class="picture"')
    assert page.count("<tr ") == len(trace.records) + len(trace.spec.groups)
    assert '<td class="number">11,689,512</td>' not in page  # rows, not the total
    assert "layer1.0.conv1 · Conv2d · 64 × 3×3×64 · s/p 1/1 · 56×56×64 · params 36,864" in json.dumps(
        details, ensure_ascii=False
    )


def test_resnet152_fits_in_a_megabyte():
    trace, findings = traced(load(CONFIGS / "resnet152.yaml"))
    assert len(draw(trace, findings, DrawFormat.SVG).encode()) < 1_000_000
    assert len(draw(trace, findings, DrawFormat.HTML).encode()) < 2_000_000


# --- the command ----------------------------------------------------------------------------------


def test_draw_writes_the_picture_and_exits_like_summary(tmp_path: Path):
    out = tmp_path / "k5.svg"
    result = cli("draw", "--kernel", "5", "-o", str(out))
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 1
    assert "CNN201 fc: in_features is 2048 but it receives 1568" in result.stderr
    assert f"wrote {out}" in result.stderr
    assert out.read_text(encoding="utf-8") == draw(*traced(builtin(), kernel=5), DrawFormat.SVG)
    page = tmp_path / "r.html"
    assert cli("draw", str(CONFIGS / "resnet18.yaml"), "-o", str(page)).exit_code == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert text == draw(*traced(load(CONFIGS / "resnet18.yaml")), DrawFormat.HTML)  # the same bytes every time
    folded = tmp_path / "r2.svg"
    assert cli("draw", str(CONFIGS / "resnet18.yaml"), "--depth", "2", "-o", str(folded)).exit_code == 0
    names = [t.text for t in ET.fromstring(folded.read_bytes()).iter(f"{SVG}text") if "name" in t.get("class", "")]
    assert names[3:7] == [
        "layer1.0 · BasicBlock",
        "layer1.1 · BasicBlock",
        "layer2.0 · BasicBlock",
        "layer2.1 · BasicBlock",
    ]


def test_draw_refuses_an_unknown_suffix_and_writes_nothing(tmp_path: Path):
    out = tmp_path / "k5.png"
    result = cli("draw", "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"cnninspect: error: -o {out}: give a file ending in .svg or .html"
    assert not out.exists()
    missing = tmp_path / "no" / "x.svg"
    result = cli("draw", "-o", str(missing))
    assert (
        result.exit_code == 2
        and result.stderr.startswith("cnninspect: error: -o ")
        and "Traceback" not in result.stderr
    )
    assert list(tmp_path.iterdir()) == []


def test_a_zero_padding_is_drawn_with_the_pool_after_it():
    items = items_of(load(CONFIGS / "darknet" / "yolov3-tiny.cfg"))
    pool = next(item for item in items if item.name == "1.pool")
    # darknet's maxpool size=2 stride=2 pads (0, 1, 0, 1) first: 416 → 417 → (417 - 2) // 2 + 1 = 208
    assert pool.label == "208×208×16"
    assert pool.kernel == (2, 2) and len(pool.parts) == 2
    assert "1.pad" not in [item.name for item in items]


def test_a_warning_has_its_own_colour_and_a_mark_that_survives_greyscale():
    spec = parse(
        """input: [3, 16, 16]
layers:
  - {type: Conv2d, name: c, out_channels: 8, kernel_size: 3}
  - {type: BatchNorm2d, name: bn}
  - Flatten
  - {type: Linear, name: fc, in_features: 100, out_features: 2}
"""
    )
    trace, findings = traced(spec)
    assert {f.rule.code for f in findings} == {"CNN303", "CNN201"}
    root = ET.fromstring(draw(trace, findings, DrawFormat.SVG).encode("utf-8"))
    marked = {
        g.find(f"{SVG}title").text.split(" · ")[0]: g for g in root.iter(f"{SVG}g") if "item" in g.get("class", "")
    }
    warning, error = marked["c"], marked["fc"]
    assert "warning" in warning.get("class").split() and "error" in error.get("class").split()
    faces = {name: g.find(f"{SVG}rect[@class='face']") for name, g in (("c", warning), ("fc", error))}
    # without colour the outline still tells them apart: dotted for a warning, thick dashes for an error
    assert faces["c"].get("stroke-dasharray") == "1.5 2" and faces["fc"].get("stroke-dasharray") == "6 3"
    assert faces["c"].get("fill") != faces["fc"].get("fill")
    marks = {g: [t.text for t in g.iter(f"{SVG}text") if "mark" in t.get("class").split()] for g in (warning, error)}
    assert marks[warning] == ["! CNN303"]
    assert marks[error] == ["✗ CNN201", "expects 100", "receives 1568"]


def test_draw_takes_a_model_too(tmp_path: Path):
    out = tmp_path / "m.svg"
    model = str(ROOT / "tests" / "fixtures" / "models" / "tutorial_cnn_k5.py") + ":myCNN"
    result = cli("draw", "--model", model, "--input", "3x32x32", "-o", str(out))
    assert result.exit_code == 1, result.stderr
    root = ET.fromstring(out.read_bytes())
    labels = [t.text for t in root.iter(f"{SVG}text") if "shape" in t.get("class", "").split()]
    assert labels == ["32×32×3", "15×15×16", "7×7×32", "10"]  # x.view is the model's own code, not drawn
    # ... but fc reads conv2's output through it, as the messages say: one line into each item
    assert len([p for p in root.iter(f"{SVG}path") if "edge" in p.get("class", "").split()]) == 3
    assert next(t.text for t in root.iter(f"{SVG}text") if "mark" in t.get("class", "").split()) == "✗ CNN201"


DOCS_PICTURES = {
    "tutorial_k3": (None, None, None),
    "tutorial_k5": (None, 5, None),
    "resnet18": ("resnet18.yaml", None, None),
    "resnet18_depth2": ("resnet18.yaml", None, 2),
    "resnet152": ("resnet152.yaml", None, None),
    "unet": ("unet.yaml", None, None),
    "yolov3-tiny": ("darknet/yolov3-tiny.cfg", None, None),
    "yolov3": ("darknet/yolov3.cfg", None, None),
}


@pytest.mark.parametrize("name", list(DOCS_PICTURES))
def test_the_pictures_in_the_docs_are_current(name: str, request: pytest.FixtureRequest):
    """README.md and docs/draw.md show these files; ``pytest --update-golden`` redraws them."""
    path, kernel, depth = DOCS_PICTURES[name]
    trace, findings = traced(builtin() if path is None else load(CONFIGS / path), kernel)
    text = draw(trace, findings, DrawFormat.SVG, depth)
    picture = ROOT / "docs" / "draw" / f"{name}.svg"
    if request.config.getoption("--update-golden"):
        picture.write_text(text, encoding="utf-8")
    assert picture.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(
    ("layers", "marks"),
    [
        # 8 → 2 after the first 7×7; the second needs at least 7
        ("Conv2d(3,8,7) Conv2d(8,8,7)", ("✗ CNN204", "needs ≥ 7", "receives 2")),
        ("Conv2d(3,8,3) Flatten() Conv2d(8,8,3)", ("✗ CNN205", "expects 4-d", "receives 2-d")),
        ("Conv2d(3,8,3) Conv2d(4,8,3)", ("✗ CNN202", "expects 4", "receives 8")),
    ],
)
def test_each_size_error_says_what_it_expects_and_gets(layers: str, marks: tuple[str, ...]):
    from cnninspect.inputs.flags import parse_layers

    items = items_of(parse_layers(layers, (3, 8, 8)))
    assert [item.marks for item in items if item.marks] == [marks]


def test_a_merge_says_what_it_receives_as_feature_maps():
    spec = parse(
        """input: [3, 8, 8]
layers:
  - {type: Conv2d, name: conv, out_channels: 8, kernel_size: 3}
  - {type: Add, name: add, from: [conv, input]}
"""
    )
    add = items_of(spec)[-1]
    # conv: 8 - 3 + 1 = 6, so 6×6×8 meets the 8×8×3 input
    assert add.operator == "+" and add.marks[0] == "✗ CNN207"
    assert "receives 6×6×8, 8×8×3" in add.marks
