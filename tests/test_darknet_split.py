"""darknet's ``[route] groups= group_id=`` read as a Split: a YOLOv4-tiny-style cfg written for these
tests against the same network built by hand in plain PyTorch, and the route's own errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import cli, load
from torch import nn

from cnninspect import rules
from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.torch import trace_spec
from cnninspect.errors import ArgumentError
from cnninspect.export import export_pytorch
from cnninspect.inputs.darknet.read import parse_darknet
from cnninspect.rules import find_problems

TINY4 = Path(__file__).parent / "fixtures" / "darknet" / "yolov4-tiny-style.cfg"
PUBLISHED = 6_056_606
"""YOLOv4-tiny's published parameter count, 80 classes."""


def conv(c_in: int, c_out: int, size: int, stride: int = 1, bn: bool = True) -> nn.Module:
    """darknet's [convolutional] with pad=1: padding size // 2; batch_normalize=1: no conv bias."""
    if not bn:
        return nn.Conv2d(c_in, c_out, size, stride, size // 2)
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, size, stride, size // 2, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.1)
    )


class Pool(nn.Module):
    """darknet's [maxpool] size=2 stride=2: one row and column of padding after, then the window."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 2, 2)


def csp(c: int) -> list[nn.Module | tuple[str, list[int]]]:
    """conv c; the second half of its channels; two convs c/2; both joined; 1×1 conv c; joined with the first conv."""
    return [conv(c, c, 3), ("half", [-1]), conv(c // 2, c // 2, 3), conv(c // 2, c // 2, 3), ("cat", [-1, -2]),
            conv(c, c, 1), ("cat", [-6, -1])]  # fmt: skip


def layers() -> list[nn.Module | tuple[str, list[int]]]:
    return [
        conv(3, 32, 3, 2), conv(32, 64, 3, 2), *csp(64), Pool(), conv(128, 128, 3), *csp(128)[1:], Pool(),
        conv(256, 256, 3), *csp(256)[1:], Pool(),
        conv(512, 512, 3), conv(512, 256, 1), conv(256, 512, 3), conv(512, 255, 1, bn=False), ("head", []),
        ("cat", [-4]), conv(256, 128, 1), nn.Upsample(scale_factor=2), ("cat", [-1, 23]),
        conv(384, 256, 3), conv(256, 255, 1, bn=False), ("head", []),
    ]  # fmt: skip


def run_by_hand(size: int) -> tuple[list[tuple[int, ...]], int]:
    """Each darknet layer's output shape and the parameter total, from a forward pass on meta."""
    network = layers()
    outputs: list[torch.Tensor] = []
    x = torch.empty(1, 3, size, size, device="meta")
    for index, layer in enumerate(network):
        if isinstance(layer, tuple):
            kind, sources = layer
            picked = [outputs[index + s if s < 0 else s] for s in sources]
            if kind == "half":
                x = torch.chunk(picked[0], 2, 1)[1]  # groups=2 group_id=1
            elif kind == "cat":
                x = torch.cat(picked, 1)
        else:
            x = layer.to("meta").eval()(x)
        outputs.append(x)
    total = sum(p.numel() for layer in network if isinstance(layer, nn.Module) for p in layer.parameters())
    return [tuple(o.shape) for o in outputs], total


def darknet_outputs(trace) -> list[tuple[int, ...]]:
    """The output of each darknet layer: its group's last layer, or the layer itself."""
    shape_of = {record.layer.name: record.output_shape for record in trace.records}
    last = {group.name: group.output for group in trace.spec.groups}
    count = 1 + max(int(record.layer.name.split(".")[0]) for record in trace.records)
    return [shape_of[last.get(str(i), str(i))] for i in range(count)]


def test_the_hand_count_is_yolov4_tinys_published_one():
    # k·k·c_in·c_out weights + 2·c_out for a BatchNorm; the two 1×1 heads have a bias instead
    convs = [(3, 3, 32), (3, 32, 64), (3, 64, 64), (3, 32, 32), (3, 32, 32), (1, 64, 64), (3, 128, 128),
             (3, 64, 64), (3, 64, 64), (1, 128, 128), (3, 256, 256), (3, 128, 128), (3, 128, 128), (1, 256, 256),
             (3, 512, 512), (1, 512, 256), (3, 256, 512), (1, 256, 128), (3, 384, 256)]  # fmt: skip
    heads = [(1, 512, 255), (1, 256, 255)]
    total = sum(k * k * i * o + 2 * o for k, i, o in convs) + sum(k * k * i * o + o for k, i, o in heads)
    assert total == PUBLISHED
    assert run_by_hand(416)[1] == PUBLISHED


@pytest.mark.parametrize("engine", ["analytic", "torch"])
@pytest.mark.parametrize("size", [416, 608])
def test_a_yolov4_tiny_style_cfg_equals_the_network_written_by_hand(engine, size):
    spec = load(TINY4)
    if size != 416:
        spec = parse_darknet(TINY4.read_text().replace("=416", f"={size}"), str(TINY4))
    trace = infer_shapes(spec) if engine == "analytic" else trace_spec(spec)
    shapes, total = run_by_hand(size)
    assert darknet_outputs(trace) == shapes
    assert trace.total_params == total == PUBLISHED
    # the halves: 64 → 32 at 104×104, 128 → 64 at 52×52, 256 → 128 at 26×26 (416 in)
    if size == 416:
        assert [shapes[i] for i in (3, 11, 19)] == [(1, 32, 104, 104), (1, 64, 52, 52), (1, 128, 26, 26)]
        assert [shapes[i] for i in (30, 37)] == [(1, 255, 13, 13), (1, 255, 26, 26)]
    assert find_problems(trace) == []


def test_the_route_is_a_split_at_its_line_and_exports_as_torch_chunk():
    spec = load(TINY4)
    route = next(layer for layer in spec.layers if layer.name == "3")
    text = TINY4.read_text().splitlines()
    assert (route.type, route.args) == ("Split", {"chunks": 2, "index": 1})
    assert route.location.line == text.index("layers=-1") + 1  # placed at the layers it reads
    assert route.where("chunks").line == text.index("groups=2") + 1
    assert route.where("index").line == text.index("group_id=1") + 1
    code = export_pytorch(infer_shapes(spec))
    assert code.count("torch.chunk(") == 3
    namespace: dict = {}
    exec(compile(code, "exported.py", "exec"), namespace)  # the test runs the generated classes
    model = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, nn.Module)][-1]()
    with torch.no_grad():
        heads = model.eval()(torch.zeros(1, 3, 416, 416))
    assert [tuple(h.shape) for h in heads] == [(1, 255, 13, 13), (1, 255, 26, 26)]
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED


CFG = "[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters={filters}\nsize=3\npad=1\n\n"
CFG += "[route]\n{route}\n"


@pytest.mark.parametrize(
    ("route", "option", "words"),
    [
        ("layers=-1\ngroups=2\ngroup_id=2", "group_id", "group_id=2 does not exist; groups=2 are numbered 0 to 1"),
        ("layers=-1\ngroups=0", "groups", "groups=0 must be at least 1"),
        ("layers=-1,0\ngroups=2\ngroup_id=1", "groups", "groups= with several layers"),
    ],
)
def test_a_route_split_darknet_cannot_make_is_refused_at_its_option(route, option, words):
    text = CFG.format(filters=8, route=route)
    with pytest.raises(ArgumentError, match=words) as caught:
        parse_darknet(text, "t.cfg")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith(f"{option}="))
    assert (caught.value.location.line, caught.value.location.col) == (line, len(option) + 2)


def test_groups_that_do_not_divide_the_channels_are_cnn211_at_the_route(tmp_path):
    path = tmp_path / "odd.cfg"
    path.write_text(CFG.format(filters=10, route="layers=-1\ngroups=4\ngroup_id=3"))
    (finding,) = json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]
    assert finding["code"] == rules.SPLIT_CHANNELS.code
    assert finding["line"] == path.read_text().splitlines().index("layers=-1") + 1
    # torch.chunk cuts 10 channels in 4 as ⌈10 / 4⌉ = 3, 3, 3 and 1
    assert [t.shape[1] for t in torch.chunk(torch.zeros(1, 10, 1, 1), 4, 1)] == [3, 3, 3, 1]
    words = "does not divide 10 channels (from 0.conv): torch.chunk would give pieces of 3, 3, 3 and 1"
    assert words in finding["message"]
