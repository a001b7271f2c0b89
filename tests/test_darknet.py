"""darknet .cfg files: YOLOv3-tiny and YOLOv3 against the same networks written by hand in plain
PyTorch, the format's own findings, byte-exact fixes, and hostile files."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from conftest import CONFIGS, cli, cli_error, load
from torch import nn

from cnninspect import input_sizes as sizes
from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.torch import trace_spec
from cnninspect.errors import CnnInspectError
from cnninspect.inputs.darknet.read import parse_darknet
from cnninspect.rules import find_problems

TINY = CONFIGS / "darknet" / "yolov3-tiny.cfg"
YOLOV3 = CONFIGS / "darknet" / "yolov3.cfg"


# --- the same networks by hand ------------------------------------------------------------------
# darknet's conventions, written out: a convolution with batch_normalize=1 has no bias (the
# BatchNorm holds the shift) and pad=1 pads size // 2; a [maxpool] pads size − 1 in all, the
# smaller half before, with values no window picks (-inf); [route] concatenates channels (one
# index: passes that layer's output on); [shortcut] adds; [yolo] passes its input on.


def conv(c_in: int, c_out: int, size: int, stride: int = 1, bn: bool = True) -> nn.Module:
    if not bn:
        return nn.Conv2d(c_in, c_out, size, stride, size // 2)
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, size, stride, size // 2, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.1)
    )


class DarknetMaxPool(nn.Module):
    def __init__(self, size: int, stride: int) -> None:
        super().__init__()
        self.size, self.stride = size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        before = (self.size - 1) // 2
        after = self.size - 1 - before
        return F.max_pool2d(F.pad(x, (before, after, before, after), value=float("-inf")), self.size, self.stride)


def tiny_layers() -> list[nn.Module | tuple[str, list[int]]]:
    pools = [DarknetMaxPool(2, 2) for _ in range(5)]
    return [
        conv(3, 16, 3), pools[0], conv(16, 32, 3), pools[1], conv(32, 64, 3), pools[2],
        conv(64, 128, 3), pools[3], conv(128, 256, 3), pools[4], conv(256, 512, 3), DarknetMaxPool(2, 1),
        conv(512, 1024, 3), conv(1024, 256, 1), conv(256, 512, 3), conv(512, 255, 1, bn=False), ("yolo", []),
        ("route", [13]), conv(256, 128, 1), nn.Upsample(scale_factor=2), ("route", [19, 8]),
        conv(384, 256, 3), conv(256, 255, 1, bn=False), ("yolo", []),
    ]  # fmt: skip


def yolov3_layers() -> list[nn.Module | tuple[str, list[int]]]:
    layers: list[nn.Module | tuple[str, list[int]]] = [conv(3, 32, 3)]
    channels = 32
    for width, repeats in ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)):
        layers.append(conv(channels, width, 3, 2))
        for _ in range(repeats):
            here = len(layers)
            layers += [conv(width, width // 2, 1), conv(width // 2, width, 3), ("shortcut", [here - 1])]
        channels = width
    # the heads, each fed by five convs; layers 36 and 61 are the last residuals at strides 8 and 16
    layers += [conv(1024, 512, 1), conv(512, 1024, 3), conv(1024, 512, 1), conv(512, 1024, 3), conv(1024, 512, 1)]
    layers += [conv(512, 1024, 3), conv(1024, 255, 1, bn=False), ("yolo", []), ("route", [79])]
    layers += [conv(512, 256, 1), nn.Upsample(scale_factor=2), ("route", [85, 61])]
    layers += [conv(768, 256, 1), conv(256, 512, 3), conv(512, 256, 1), conv(256, 512, 3), conv(512, 256, 1)]
    layers += [conv(256, 512, 3), conv(512, 255, 1, bn=False), ("yolo", []), ("route", [91])]
    layers += [conv(256, 128, 1), nn.Upsample(scale_factor=2), ("route", [97, 36])]
    layers += [conv(384, 128, 1), conv(128, 256, 3), conv(256, 128, 1), conv(128, 256, 3), conv(256, 128, 1)]
    layers += [conv(128, 256, 3), conv(256, 255, 1, bn=False), ("yolo", [])]
    return layers


def run_by_hand(layers: list[nn.Module | tuple[str, list[int]]], size: int) -> tuple[list[tuple[int, ...]], int]:
    """Each darknet layer's output shape, and the parameter total."""
    outputs: list[torch.Tensor] = []
    x = torch.empty(1, 3, size, size, device="meta")
    for index, layer in enumerate(layers):
        if isinstance(layer, tuple):
            kind, sources = layer
            if kind == "route":
                x = torch.cat([outputs[i] for i in sources], 1)
            elif kind == "shortcut":
                x = outputs[index - 1] + outputs[sources[0]]
        else:
            x = layer.to("meta").eval()(x)
        outputs.append(x)
    total = sum(p.numel() for layer in layers if isinstance(layer, nn.Module) for p in layer.parameters())
    return [tuple(o.shape) for o in outputs], total


def darknet_outputs(trace) -> list[tuple[int, ...]]:
    """The output of each darknet layer in a trace: a group's last layer, or the layer itself."""
    shape_of = {record.layer.name: record.output_shape for record in trace.records}
    last = {group.name: group.output for group in trace.spec.groups}
    count = 1 + max(int(record.layer.name.split(".")[0]) for record in trace.records)
    return [shape_of[last.get(str(i), str(i))] for i in range(count)]


# --- the networks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "layers", "total"), [(TINY, tiny_layers, 8_852_366), (YOLOV3, yolov3_layers, 61_949_149)]
)
@pytest.mark.parametrize("engine", ["analytic", "torch"])
def test_cfg_equals_the_network_written_by_hand(path, layers, total, engine):
    spec = load(path)
    trace = infer_shapes(spec) if engine == "analytic" else trace_spec(spec)
    shapes, by_hand = run_by_hand(layers(), 416)
    assert darknet_outputs(trace) == shapes
    assert trace.total_params == by_hand == total
    assert find_problems(trace) == []


def test_tiny_total_worked_out_by_hand():
    # k·k·c_in·c_out weights, + 2·c_out for a BatchNorm (no conv bias), + c_out bias without one
    convs = [(3, 3, 16), (3, 16, 32), (3, 32, 64), (3, 64, 128), (3, 128, 256), (3, 256, 512), (3, 512, 1024),
             (1, 1024, 256), (3, 256, 512), (1, 256, 128), (3, 384, 256)]  # fmt: skip
    heads = [(1, 512, 255), (1, 256, 255)]
    total = sum(k * k * i * o + 2 * o for k, i, o in convs) + sum(k * k * i * o + o for k, i, o in heads)
    assert total == 8_852_366
    assert infer_shapes(load(TINY)).total_params == total


def test_heads_are_at_strides_32_16_and_8():
    shapes = darknet_outputs(infer_shapes(load(YOLOV3)))
    assert [shapes[i] for i in (82, 94, 106)] == [(1, 255, 13, 13), (1, 255, 26, 26), (1, 255, 52, 52)]


def test_names_are_darknets_layer_indices():
    spec = load(TINY)
    assert [g.name for g in spec.groups] == [str(i) for i in range(24) if i not in (16, 17, 20, 23)]
    assert [g.type for g in spec.groups][:3] == ["convolutional", "maxpool", "convolutional"]
    assert [layer.name for layer in spec.layers][:5] == ["0.conv", "0.bn", "0.act", "1.pad", "1.pool"]
    route = next(layer for layer in spec.layers if layer.name == "20")
    assert route.type == "Concat" and route.sources == ("-1", "8") and route.inputs == ("19.up", "8.act")
    conv15 = next(layer for layer in spec.layers if layer.name == "15.conv")
    # what the section writes (stride=1, pad=1: size // 2 = 0) is kept; a bias, as batch_normalize=0
    assert conv15.args == {"out_channels": 255, "kernel_size": 1, "stride": 1, "padding": 0}
    assert conv15.get("bias") is True


def test_summary_table_and_json_name_the_layers_as_darknet_does():
    result = cli("summary", str(TINY), "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    names = [layer["name"] for layer in document["layers"]]
    assert names[:3] == ["0.conv", "0.bn", "0.act"] and "16" in names and "20" in names
    assert document["totals"]["params"] == 8_852_366
    table = cli("summary", str(TINY), "--depth", "1").stdout
    assert "12     convolutional" in table and "20     Concat" in table


def test_maxpool_size_2_stride_1_keeps_13x13_and_its_padding_is_not_a_finding():
    # darknet: out = (13 + 1 − 2) / 1 + 1 = 13; the padded column a stride-2 pool never reads is zeros
    shapes = darknet_outputs(infer_shapes(load(TINY)))
    assert shapes[10] == (1, 512, 13, 13) and shapes[11] == (1, 512, 13, 13)
    assert shapes[1] == (1, 16, 208, 208)


# --- the format's own findings ----------------------------------------------------------------------


def two_classes(text: str) -> str:
    """The classic mistake: classes changed for a new dataset, filters before the second head forgotten."""
    text = text.replace("classes=80", "classes=2")
    first = text.index("filters=255")
    return text[:first] + "filters=21" + text[first + len("filters=255") :]


def test_yolo_filters_finding_names_the_arithmetic_and_the_place(tmp_path):
    path = tmp_path / "tiny.cfg"
    path.write_text(two_classes(TINY.read_text()))
    result = cli("lint", str(path), "--format", "json")
    assert result.exit_code == 1
    (finding,) = json.loads(result.stdout)["findings"]
    line = path.read_text().splitlines().index("filters=255", 60) + 1
    assert (finding["code"], finding["line"], finding["col"]) == ("CNN210", line, 9)
    yolo_line = path.read_text().splitlines().index("[yolo]", line) + 1
    assert finding["message"] == (
        f"22.conv: filters is 255 but [yolo] at line {yolo_line} needs (classes + 5) × len(mask) = (2 + 5) × 3 = 21; "
        "set filters=21"
    )


def test_fix_fc_writes_filters_in_place_and_nothing_else(tmp_path):
    path = tmp_path / "tiny.cfg"
    broken = two_classes(TINY.read_text()).replace("\n", "\r\n")
    path.write_bytes(broken.encode())
    result = cli("fix-fc", str(path), "--write")
    assert result.exit_code == 0, result.output
    after = path.read_bytes().decode()
    position = broken.index("filters=255")
    assert after == broken[:position] + "filters=21" + broken[position + len("filters=255") :]
    assert cli("lint", str(path)).exit_code == 0


def test_fix_fc_diff_shows_the_change_and_writes_nothing(tmp_path):
    path = tmp_path / "tiny.cfg"
    path.write_text(two_classes(TINY.read_text()))
    before = path.read_bytes()
    result = cli("fix-fc", str(path), "--diff")
    assert result.exit_code == 1
    assert "-filters=255\n+filters=21\n" in result.stdout
    assert path.read_bytes() == before


def test_region_head_needs_classes_plus_coords_plus_one_times_num(tmp_path):
    path = tmp_path / "v2.cfg"
    path.write_text(
        "[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters=30\nsize=1\nactivation=linear\n\n"
        "[region]\nclasses=20\ncoords=4\nnum=5\n"
    )
    (finding,) = json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]
    assert finding["code"] == "CNN210" and "(20 + 4 + 1) × 5 = 125" in finding["message"]
    assert finding["fix"] == {"arg": "out_channels", "value": 125}


def test_a_route_that_points_at_the_wrong_layer_is_a_concat_finding_at_the_route(tmp_path):
    path = tmp_path / "tiny.cfg"
    text = TINY.read_text().replace("layers = -1, 8", "layers = -1, 9")  # the 13×13 pool, not the 26×26 conv
    path.write_text(text)
    (finding,) = json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]
    assert finding["code"] == "CNN208"
    assert finding["line"] == text.splitlines().index("layers = -1, 9") + 1
    assert "26×26" in finding["message"] and "13×13" in finding["message"]


def test_a_shortcut_of_other_channels_is_legal_darknet_and_a_warning_that_says_what_it_does(tmp_path):
    path = tmp_path / "v3.cfg"
    text = YOLOV3.read_text().replace("from=-3", "from=-2", 1)  # adds the 1×1 conv's 32 channels to 64
    path.write_text(text)
    result = cli("lint", str(path), "--format", "json")
    (finding,) = json.loads(result.stdout)["findings"]
    # layer 1 halves 416 to 208; shortcut 4 now adds layer 2's 1×1 conv (32 channels) to layer 3's
    # 64: darknet adds them into the first 32 of the 64 and keeps 208×208×64
    assert result.exit_code == 0 and finding["code"] == "CNN304" and finding["severity"] == "warning"
    assert "adds layer 2's 208×208×32 to layer 3's 208×208×64" in finding["message"]
    assert "the first 32 channels and keeps 208×208×64" in finding["message"]
    assert "AlexeyAB" not in finding["message"]  # equal widths and heights: both darknets read it


def test_a_shortcut_across_sizes_says_which_darknet_refuses_it(tmp_path):
    # layer 1 (a stride-2 conv) gives 16×16×16 from 32×32; the shortcut adds layer 0's 32×32×8
    path = tmp_path / "across.cfg"
    path.write_text(
        "[net]\nwidth=32\nheight=32\nchannels=3\n\n"
        "[convolutional]\nfilters=8\nsize=3\npad=1\nactivation=leaky\n\n"
        "[convolutional]\nfilters=16\nsize=3\nstride=2\npad=1\nactivation=leaky\n\n"
        "[shortcut]\nfrom=0\nactivation=linear\n"
    )
    result = cli("lint", str(path), "--format", "json")
    (finding,) = json.loads(result.stdout)["findings"]
    assert result.exit_code == 0 and finding["code"] == "CNN304" and finding["line"] == 20  # at from=
    message = finding["message"]
    assert "adds layer 0's 32×32×8 to layer 1's 16×16×16" in message
    assert "the first 8 channels, one row and column in 2 of the larger" in message
    assert "AlexeyAB's darknet refuses this one" in message
    trace = infer_shapes(load(path))
    assert darknet_outputs(trace)[2] == (1, 16, 16, 16)  # the previous layer's shape, as darknet keeps


def test_a_route_to_the_wrong_layer_is_still_an_error(tmp_path):
    # [route] joins channels; sizes that differ are refused by darknet too, so CNN208 stays an error
    path = tmp_path / "v3.cfg"
    path.write_text(YOLOV3.read_text().replace("layers = -1, 61", "layers = -1, 36", 1))
    codes = [f["code"] for f in json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]]
    assert "CNN208" in codes


def test_a_width_not_divisible_by_the_total_stride_breaks_a_route(tmp_path):
    path = tmp_path / "v3.cfg"
    path.write_text(YOLOV3.read_text().replace("width=416", "width=400"))  # 400 / 32 = 12.5
    findings = json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]
    assert {f["code"] for f in findings} == {"CNN208"}
    assert "25" in findings[0]["message"] and "26" in findings[0]["message"]


# --- what-if options, sizes, export ----------------------------------------------------------------


def test_a_new_kernel_size_brings_pad_1_padding_along_and_is_written_as_size(tmp_path):
    path = tmp_path / "tiny.cfg"
    path.write_text(TINY.read_text())
    document = json.loads(cli("summary", str(path), "--set", "12.conv.kernel_size=5", "--format", "json").stdout)
    conv = next(layer for layer in document["layers"] if layer["name"] == "12.conv")
    assert conv["output_shape"] == [1, 1024, 13, 13]  # padding 2 = 5 // 2, as darknet's pad=1 gives
    assert conv["params"] == 5 * 5 * 512 * 1024
    diff = cli("fix-fc", str(path), "--set", "12.conv.kernel_size=5", "--diff").stdout
    assert diff.count("\n-") == 1 and "-size=3\n+size=5\n" in diff


def test_input_override_is_written_as_width_and_height(tmp_path):
    path = tmp_path / "tiny.cfg"
    path.write_text(TINY.read_text())
    result = cli("fix-fc", str(path), "--input", "3x320x320", "--write")
    assert result.exit_code == 0
    text = path.read_text()
    assert "width=320\nheight=320\nchannels=3\n" in text
    assert text.replace("320", "416") == TINY.read_text()


def test_sizes_finds_the_input_sizes_that_keep_every_route_fitting():
    # a stride-2 conv with pad=1 rounds up (⌈w / 2⌉), so sizes just below a multiple of 32 fit too
    result = cli("sizes", str(YOLOV3), "--format", "json", "--range", "20:70")
    assert result.exit_code == 0
    fitting = json.loads(result.stdout)["merges_fit"]
    # The routes concat the ×2-upsampled 1/32 map with the 1/16 one, and that with the 1/8 one:
    # they fit when ⌈w/16⌉ = 2⌈w/32⌉ and ⌈w/8⌉ = 2⌈w/16⌉, i.e. w in 25–32 and 57–64 here.
    assert fitting == [*range(25, 33), *range(57, 65)]
    # PyTorch agrees at each edge (a meta pass of YOLOv3 per size, so not all 51 of them)
    with torch.device("meta"):
        layers = yolov3_layers()
    edges = [20, 24, 25, 32, 33, 48, 56, 57, 64, 65, 70]
    by_hand = []
    for size in edges:
        try:
            run_by_hand(layers, size)
            by_hand.append(size)
        except RuntimeError:  # torch.cat refuses the route's sizes
            pass
    assert by_hand == [size for size in edges if size in fitting]


def test_export_builds_the_same_network(tmp_path):
    source = cli("export", str(TINY)).stdout
    namespace: dict = {}
    exec(compile(source, "exported.py", "exec"), namespace)
    model = namespace["yolov3_tiny"]()
    assert sum(p.numel() for p in model.parameters()) == 8_852_366
    with torch.no_grad():
        heads = model(torch.zeros(1, 3, 416, 416))
    assert [tuple(head.shape) for head in heads] == [(1, 255, 13, 13), (1, 255, 26, 26)]  # both [yolo] heads


def test_export_of_a_classifier_with_connected_layers(tmp_path):
    path = tmp_path / "cls.cfg"
    path.write_text(
        NET + "[convolutional]\nfilters=8\nsize=3\npad=1\n\n[avgpool]\n\n[connected]\noutput=10\n\n[softmax]\n"
    )
    namespace: dict = {}
    exec(compile(cli("export", str(path)).stdout, "exported.py", "exec"), namespace)
    model = namespace["cls"]()
    # conv 3·3·3·8 + 8 (no batch_normalize: a bias), connected 8·10 + 10
    assert sum(p.numel() for p in model.parameters()) == 224 + 90
    assert tuple(model(torch.zeros(1, 3, 32, 32)).shape) == (1, 10)


def test_an_activated_shortcut_is_one_darknet_layer_that_later_routes_read(tmp_path):
    path = tmp_path / "res.cfg"
    path.write_text(
        "[net]\nwidth=16\nheight=16\nchannels=3\n[convolutional]\nfilters=8\nsize=3\npad=1\n"
        "[convolutional]\nfilters=8\nsize=3\npad=1\n[shortcut]\nfrom=-2\nactivation=leaky\n"
        "[convolutional]\nfilters=4\nsize=1\n[route]\nlayers=-1,-2\n"
    )
    spec = load(path)
    assert [(g.name, g.layers) for g in spec.groups if g.type == "shortcut"] == [("2", ("2.add", "2.act"))]
    namespace: dict = {}
    exec(compile(cli("export", str(path)).stdout, "exported.py", "exec"), namespace)
    model = namespace["res"]()
    # the route joins layer 3 (4 channels) and the shortcut's activated sum (8 channels)
    assert tuple(model(torch.zeros(1, 3, 16, 16)).shape) == (1, 12, 16, 16)
    assert sum(p.numel() for p in model.parameters()) == (3 * 9 * 8 + 8) + (8 * 9 * 8 + 8) + (8 * 4 + 4)


def test_schema_refuses_a_cfg():
    result = cli_error("schema", str(TINY))
    assert "is a darknet .cfg" in result.stderr


def test_lint_walks_cfg_files_and_skips_other_ones(tmp_path):
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = x\n")
    (tmp_path / "tiny.cfg").write_text(two_classes(TINY.read_text()))
    result = cli("lint", str(tmp_path), "--format", "json")
    assert [f["path"] for f in json.loads(result.stdout)["findings"]] == [str(tmp_path / "tiny.cfg")]
    assert "skipped 1 file that is not a model spec" in result.stderr


# --- hostile files --------------------------------------------------------------------------------


NET = "[net]\nwidth=32\nheight=32\nchannels=3\n"


@pytest.mark.parametrize(
    ("body", "line", "col", "message"),
    [
        (
            "[convolutinal]\nfilters=8\n",
            5,
            1,
            "[convolutinal] is not a darknet layer cnninspect reads; did you mean 'convolutional'?",
        ),
        ("[convolutional]\nfilters=eight\n", 6, 9, "filters=eight is not an integer"),
        ("[convolutional]\nfilters=99999999999\n", 6, 9, "filters=99999999999 is too large (at most 2,147,483,647)"),
        ("[dropout]\nprobability=nan\n", 6, 13, "probability=nan is not a finite number"),
        ("[convolutional]\nfilters=0\n", 6, 9, "filters=0 must be at least 1"),
        (
            "[convolutional]\nfilters=8\n[route]\nlayers=5\n",
            8,
            8,
            "layers: 5 points at layer 5, but layer 1 can only read layers 0 to 0",
        ),
        (
            "[convolutional]\nfilters=8\n[route]\nlayers=-2\n",
            8,
            8,
            "layers: -2 points at layer -1, but layer 1 can only read layers 0 to 0",
        ),
        ("[convolutional]\nfilters=8\n[shortcut]\nfrom=x\n", 8, 6, "from: 'x' is not a layer index"),
        ("[route]\n", 5, 1, "[route] needs layers="),
        ("[maxpool]\n[yolo]\nmask=0\n", 6, 1, "[yolo] must follow a [convolutional] layer"),
        ("[convolutional]\nfilters=8\nactivation=gelu2\n", 7, 12, "activation 'gelu2' is not one cnninspect reads"),
        ("[convolutional\nfilters=8\n", 5, 1, "'[convolutional' is not a section header"),
        ("just text\n", 5, 1, "'just text' is neither a [section] nor a key=value option"),
        ("[convolutional]\nfilters=\u0661\u0666\n", 6, 9, "is not an integer"),  # Arabic-Indic digits
        ("[convolutional]\nfilters=\uff11\uff16\n", 6, 9, "is not an integer"),  # full-width digits
        ("[Convolutional]\nfilters=8\n", 5, 1, "did you mean 'convolutional'?"),
        ("[convolutional]\nfilters=8\n[yolo]\nnum=0\n", 8, 5, "num=0 must be at least 1"),
        ("[rnn]\nhidden=8\n", 5, 1, "[rnn] is a recurrent layer; cnninspect reads darknet's convolutional"),
        ("[local]\nfilters=8\nsize=5\npad=1\n", 8, 5, "pad=1 with size=5: darknet's [local] counts"),
        ("[local]\nfilters=8\nsize=4\npad=2\n", 8, 5, "pad=2 with an even size=4"),
        ("[reorg]\nextra=-1\n", 6, 7, "extra=-1 must be at least 0"),
        ("[convolutional]\nfilters=8\nstride_x=2\n", 7, 10, "stride_x=2 changes this [convolutional]'s sizes"),
        ("[reorg]\nstride=2\nreverse=1\n", 7, 9, "reverse=1 changes this [reorg]'s sizes or parameters"),
        ("[convolutional]\nfilters=8\n[crop]\ncrop_width=8\n", 7, 1, "a [crop] reads the input's size"),
        ("[crop]\ncrop_height=8\ncrop_width=64\n", 7, 12, "crop_width=64 is larger than the input's width 32"),
        ("[convolutional]\nfilters=8\n[route]\nlayers=0,0\ngroups=2\n", 9, 8, "groups= with several layers"),
        ("[convolutional]\nfilters=8\n[route]\nlayers=0\ngroups=2\ngroup_id=2\n", 10, 10, "group_id=2 does not"),
    ],
)
def test_a_bad_cfg_is_one_line_at_its_place(tmp_path, body, line, col, message):
    path = tmp_path / "bad.cfg"
    path.write_text(NET + body)
    result = cli_error("summary", str(path))
    assert result.stderr.startswith(f"cnninspect: error: {path}:{line}:{col}: ")
    assert message in result.stderr and result.stderr.count("\n") == 1
    lint = json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]
    assert [(f["line"], f["col"]) for f in lint] == [(line, col)] and lint[0]["code"].startswith("CNN1")


@pytest.mark.parametrize("text", ["", "\n\n# only a comment\n", "filters=3\n", "[convolutional]\nfilters=3\n"])
def test_a_cfg_without_net_is_refused(text):
    with pytest.raises(CnnInspectError, match=r"starts with \[net\]|before the first \[section\]"):
        parse_darknet(text, "x.cfg")


# --- darknet's own parsing rules ------------------------------------------------------------------


def test_pad_1_wins_over_padding_as_in_darknets_parser(tmp_path):
    # parse_convolutional: padding = option "padding"; if (pad) padding = size / 2
    path = tmp_path / "p.cfg"
    path.write_text(NET + "[convolutional]\nfilters=8\nsize=5\npad=1\npadding=0\n")
    assert darknet_outputs(infer_shapes(load(path))) == [(1, 8, 32, 32)]
    path.write_text(NET + "[convolutional]\nfilters=8\nsize=5\npadding=1\n")
    assert darknet_outputs(infer_shapes(load(path))) == [(1, 8, 30, 30)]


def test_padding_written_over_pad_1_turns_pad_off(tmp_path):
    path = tmp_path / "tiny.cfg"
    path.write_text(TINY.read_text())
    first = cli("fix-fc", str(path), "--set", "0.conv.padding=0", "--diff").stdout
    assert first.count("\n-") == 1 and "-pad=1\n+pad=0\n" in first and "+padding" not in first
    second = cli("fix-fc", str(path), "--set", "0.conv.padding=2", "--diff").stdout
    assert "-pad=1\n+pad=0\n" in second and "+padding=2\n" in second


@pytest.mark.parametrize(("normalize", "activation"), [(0, "leaky"), (1, "leaky"), (0, "logistic"), (1, "linear")])
def test_head_filters_are_fixed_whatever_the_conv_holds(tmp_path, normalize, activation):
    path = tmp_path / "head.cfg"
    text = (
        f"{NET}\n[convolutional]\nbatch_normalize={normalize}\nfilters=255\nsize=1\nactivation={activation}\n\n"
        "[yolo]\nmask=0,1,2\nclasses=2\nnum=3\n"
    )
    path.write_text(text)
    assert cli("fix-fc", str(path), "--write").exit_code == 0
    assert path.read_text() == text.replace("filters=255", "filters=21")


def test_yolov2s_reorg_and_darknets_short_section_names(tmp_path):
    # YOLOv2's passthrough: the 16×16 map, reorganised (stride 2: each 2×2 patch becomes 4 channels),
    # joins the 8×8 one; [conv] and [max] are darknet's short names
    path = tmp_path / "v2.cfg"
    path.write_text(
        NET + "[conv]\nbatch_normalize=1\nfilters=16\nsize=3\npad=1\nactivation=leaky\n\n[max]\nsize=2\nstride=2\n\n"
        "[max]\nsize=2\nstride=2\n\n[route]\nlayers=-2\n\n[reorg]\nstride=2\n\n[route]\nlayers=-1,-3\n\n"
        "[conv]\nfilters=125\nsize=1\nactivation=linear\n\n[region]\nclasses=20\ncoords=4\nnum=5\n"
    )
    shapes = darknet_outputs(trace_spec(load(path)))
    assert shapes[:6] == [
        (1, 16, 32, 32),
        (1, 16, 16, 16),
        (1, 16, 8, 8),
        (1, 16, 16, 16),
        (1, 64, 8, 8),
        (1, 80, 8, 8),
    ]
    assert shapes[6] == (1, 125, 8, 8) and cli("lint", str(path)).exit_code == 0


def test_lines_are_counted_on_newlines_only(tmp_path):
    # a form feed or U+2028 inside a comment is not a line break for darknet
    path = tmp_path / "ff.cfg"
    path.write_text(NET + "# form\x0cfeed and\u2028more\n[convolutional]\nfilters=x\n")
    result = cli_error("summary", str(path))
    assert f"{path}:7:9: filters=x is not an integer" in result.stderr


def test_sizes_refuses_more_traces_than_half_a_minute_and_says_what_range_fits(tmp_path, monkeypatch):
    # The limit is lowered so that seeing a run that fits exit 0 takes 2,000 traces, not 500,000.
    monkeypatch.setattr(sizes, "MAX_TRACES", 2_000)
    path = tmp_path / "long.cfg"
    path.write_text(NET + "[convolutional]\nfilters=3\nsize=1\n\n" * 10)
    result = cli_error("sizes", str(path))
    # each [convolutional] is a Conv2d and its activation (logistic by default): 20 layers;
    # the default range 16:512 is 497 sizes, and 2,000 // 20 = 100 of them fit
    assert "20 layers × 497 sizes is more than 2,000 traces; try at most 100 sizes" in result.stderr
    assert cli("sizes", str(path), "--range", "16:115").exit_code == 0
