"""CNN208's remedies: the exact ZeroPad that crops or pads one side, and input sizes that work,
moving only the dimension that does not fit."""

from __future__ import annotations

import json

from conftest import CONFIGS, cli, parse

from cnninspect import rules
from cnninspect.engines.analytic import infer_shapes
from cnninspect.rules import find_problems

BROKEN_UNET = CONFIGS / "broken" / "unet_odd_size.yaml"


def test_the_crops_cnn208_names_fix_the_padded_unet_at_572_level_by_level():
    """572 → 286 → 143 → 71 → 35 in the encoder; the decoder doubles what it gets. Cropping each skip
    to the decoder's size: 71 → 70 (one at the end), then 143 → 140 (1 before, 2 after), 286 → 280
    (3 each side), 572 → 560 (6 each side); the output is then 560×560."""
    text = BROKEN_UNET.read_text()
    crops = {4: "[0, -1, 0, -1]", 3: "[-1, -2, -1, -2]", 2: "-3", 1: "-6"}
    for level, padding in crops.items():
        found = [
            f for f in find_problems(infer_shapes(parse(text)), search=False) if f.rule is rules.CONCAT_SHAPE_MISMATCH
        ]
        assert found[0].layer == f"cat{level}"
        written = padding.replace("[", "(").replace("]", ")")
        assert (
            f"crop enc{level} to " in found[0].message
            and f"with ZeroPad2d({written}) before cat{level}" in found[0].message
        )
        text = text.replace(
            f"  - {{type: Concat, name: cat{level}, from: [enc{level}, up{level}]}}",
            f"  - {{type: ZeroPad2d, name: crop{level}, from: enc{level}, padding: {padding}}}\n"
            f"  - {{type: Concat, name: cat{level}, from: [crop{level}, up{level}]}}",
        )
    trace = infer_shapes(parse(text))
    assert [f for f in find_problems(trace) if f.rule is rules.CONCAT_SHAPE_MISMATCH] == []
    assert trace.output_shape == (1, 2, 560, 560)


def test_crop_and_pad_are_split_between_both_sides_and_both_inputs():
    spec = parse(
        "input: [3, 20, 21]\nlayers:\n"
        "  - {type: Conv2d, name: a, out_channels: 4, kernel_size: [1, 3]}\n"  # 20×19
        "  - {type: Conv2d, name: b, out_channels: 4, kernel_size: [5, 1], from: input}\n"  # 16×21
        "  - {type: Concat, name: cat, from: [a, b]}\n"
    )
    (finding,) = find_problems(infer_shapes(spec), search=False)
    # crop to 16×19: a loses 4 rows, 2 at the top and 2 at the bottom; b 2 columns, one each side.
    # pad to 20×21: a gains a column each side, b 2 rows each side. ZeroPad2d: (left, right, top, bottom)
    assert finding.message == (
        "cat: Concat joins channels, but a gives 20×19×4 and b gives 16×21×4: they differ in height and width; "
        "crop a to 16×19 with ZeroPad2d((0, 0, -2, -2)) and b to 16×19 with ZeroPad2d((-1, -1, 0, 0)) before cat, "
        "or pad a to 20×21 with ZeroPad2d((1, 1, 0, 0)) and b to 20×21 with ZeroPad2d((0, 0, 2, 2))"
    )


def test_a_bad_width_keeps_the_height_that_works(tmp_path):
    """YOLOv3-tiny at 416×420: darknet's stride-2 max-pools give ⌈w / 2⌉, so the route at stride 16
    needs ⌈w / 16⌉ = 2·⌈w / 32⌉: 420 gives 27 against 2·14 = 28. The nearest widths that work are
    416 (26 = 2·13) and 433 (28 = 2·14): only widths with w mod 32 = 0 or 17–31 fit, and 417–432
    do not. The height, 416, fits and stays."""
    path = tmp_path / "tiny.cfg"
    path.write_text((CONFIGS / "darknet" / "yolov3-tiny.cfg").read_text().replace("width=416", "width=420"))
    (finding,) = json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]
    assert finding["code"] == "CNN208"
    assert finding["message"].endswith(
        "they differ in width; inputs of 416×416 or 416×433 work (cnninspect sizes lists every size)"
    )
    # no ZeroPad2d advice for a darknet file: it has no such layer
    assert "ZeroPad" not in finding["message"]
