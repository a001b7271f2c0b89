"""The graph format's ways to read repeats and choose parts: ``from: m.*`` (every copy of a repeated
item, in order), ``repeat: 0``, and alternatives (items sharing a name, each with an ``if:``).
Expected numbers are worked out by hand; the C2f example is also checked against plain PyTorch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import ROOT, cli, cli_error, load, parse
from torch import nn

from cnninspect.engines.analytic import infer_shapes
from cnninspect.errors import CnnInspectError, GraphError, SpecError

C2F = ROOT / "docs" / "examples" / "c2f.yaml"


def shapes(spec_text: str) -> dict[str, tuple[int, ...]]:
    trace = infer_shapes(parse(spec_text))
    return {r.layer.name: tuple(r.output_shape[1:]) for r in trace.records if r.output_shape is not None}


def test_every_copy_is_read_in_order_and_the_counts_are_the_c2f_blocks():
    spec = load(C2F)
    trace = infer_shapes(spec)
    cat = next(x for x in spec.layers if x.name == "c2f.cat")
    assert cat.inputs == ("c2f.y0", "c2f.y1", "c2f.m.0.add", "c2f.m.1.add")
    assert cat.sources == ("y0", "y1", "m.0", "m.1")
    by_name = {r.layer.name: r for r in trace.records}
    # 8 + 8 from the halves, 8 from each of the two Bottlenecks
    assert tuple(by_name["c2f.cat"].output_shape) == (1, 32, 32, 32)
    # cv1 16·16·1·1 = 256; each Bottleneck two 8·8·3·3 = 576; cv2 16·32 = 512
    assert by_name["c2f.cv1"].params == 256
    assert by_name["c2f.m.1.cv2"].params == 576
    assert by_name["c2f.cv2"].params == 512
    assert trace.total_params == 256 + 4 * 576 + 512 == 3_072
    assert {g.name: g.type for g in spec.groups}["c2f.m"] == "Bottleneck × 2"


def test_the_c2f_example_is_what_plain_pytorch_computes():
    class Bottleneck(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
            self.cv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.cv2(self.cv1(x))

    class C2f(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cv1 = nn.Conv2d(16, 16, 1, bias=False)
            self.m = nn.ModuleList([Bottleneck(), Bottleneck()])
            self.cv2 = nn.Conv2d(32, 16, 1, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = list(self.cv1(x).chunk(2, 1))
            y.extend(m(y[-1]) for m in self.m)
            return self.cv2(torch.cat(y, 1))

    model = C2f().to("meta")
    out = model(torch.zeros(1, 16, 32, 32, device="meta"))
    trace = infer_shapes(load(C2F))
    assert tuple(trace.records[-1].output_shape) == tuple(out.shape)
    assert trace.total_params == sum(p.numel() for p in model.parameters())
    mine = {r.layer.name.removeprefix("c2f."): r.params for r in trace.records if r.params}
    theirs = {name: p.numel() for name, p in model.named_parameters()}
    assert {f"{name}.weight": count for name, count in mine.items()} == theirs


def test_no_copies_are_none_to_read():
    text = C2F.read_text().replace("n: 2, out: 16", "n: 0, out: 16")
    spec = parse(text)
    assert not [x for x in spec.layers if x.name.startswith("c2f.m.")]
    cat = next(x for x in spec.layers if x.name == "c2f.cat")
    assert cat.inputs == ("c2f.y0", "c2f.y1")
    trace = infer_shapes(spec)
    assert trace.total_params == 256 + 16 * 16  # cv2 now reads 8 + 8 channels


ALTERNATIVES = """\
input: [4, 8, 8]
blocks:
  Stage:
    params: {wide: false}
    layers:
      - {type: Conv2d, name: m, if: $wide, out_channels: 12, kernel_size: 3, padding: 1}
      - {type: Conv2d, name: m, if: not $wide, out_channels: 6, kernel_size: 1}
      - {type: Concat, name: cat, from: [input, m]}
layers:
  - {type: Stage, name: a}
  - {type: Stage, name: b, wide: true}
"""


def test_alternatives_sharing_a_name_one_is_on_and_later_layers_read_it():
    spec = parse(ALTERNATIVES)
    trace = infer_shapes(spec)
    by_name = {r.layer.name: r for r in trace.records}
    assert by_name["a.m"].layer.args["out_channels"] == 6 and by_name["a.m"].params == 4 * 6 + 6
    assert tuple(by_name["a.cat"].output_shape[1:]) == (4 + 6, 8, 8)
    # b reads a's 10 channels: its 3×3 conv has 12 × 10×3×3 weights, and cat gives 10 + 12
    assert by_name["b.m"].layer.args["out_channels"] == 12 and by_name["b.m"].params == 12 * 10 * 9 + 12
    assert tuple(by_name["b.cat"].output_shape[1:]) == (10 + 12, 8, 8)
    assert by_name["b.m"].layer.inputs == ("a.cat",)


@pytest.mark.parametrize(
    ("change", "error", "place", "words"),
    [
        # cat's from: names cv1 with .*, but cv1 has no repeat
        (("[y0, y1, m.*]", "[y0, y1, cv1.*]"), GraphError, (18, 50), "cv1.*: cv1 is not repeated"),
        (("[y0, y1, m.*]", "[y0, y1, mm.*]"), GraphError, (18, 50), "no layer named 'mm' here; did you mean 'm'?"),
        # y1 renamed m: the Bottleneck below it is the second m
        (("name: y1, from: cv1,", "name: m, from: cv1,"), SpecError, (17, 9), "two layers are named 'm' (the first at"),
        # said at the block's repeat: $n, which the use's n: -1 makes -1
        (("n: 2, out: 16", "n: -1, out: 16"), SpecError, (17, 45), "repeat: needs an integer from 0 to 10,000, got -1"),
    ],
)
def test_misuse_is_one_line_at_its_place(change: tuple[str, str], error: type, place: tuple[int, int], words: str):
    text = C2F.read_text().replace(*change)
    with pytest.raises(error) as caught:
        parse(text)
    assert caught.value.location is not None
    assert (caught.value.location.line, caught.value.location.col) == place
    assert words in str(caught.value)


def test_two_alternatives_both_on_and_a_from_with_nothing_to_read_are_refused():
    both = ALTERNATIVES.replace("if: not $wide", "if: true")
    with pytest.raises(CnnInspectError) as caught:
        parse(both)
    assert caught.value.location is not None and caught.value.location.line == 7
    assert "two alternatives named 'm' are both on (the first at line 6)" in str(caught.value)
    nothing = C2F.read_text().replace("n: 2, out: 16", "n: 0, out: 16").replace("[y0, y1, m.*]", "[m.*]")
    with pytest.raises(GraphError, match=r"from: \[m\.\*\] has nothing to read here"):
        parse(nothing)


def test_the_cli_says_it_in_one_line_and_export_says_what_it_cannot_write(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(C2F.read_text().replace("[y0, y1, m.*]", "[y0, y1, cv1.*]"))
    result = cli_error("summary", str(bad))
    assert result.stderr.strip().startswith(f"cnninspect: error: {bad}:18:50: cv1.*: cv1 is not repeated")
    assert len(result.stderr.strip().splitlines()) == 1
    linted = cli("lint", str(bad), "--format", "concise")
    assert linted.exit_code == 1
    assert f"{bad}:18:50: CNN107 cv1.*: cv1 is not repeated" in linted.stdout
    result = cli("export", str(C2F))
    assert result.exit_code == 2
    assert "export: cat reads every copy of a repeat (from: m.*), which export cannot write yet" in result.stderr


def test_the_schema_takes_every_copy_no_copies_and_alternatives():
    import jsonschema

    from cnninspect.spec.schema import spec_schema
    from cnninspect.spec.yamldoc import read_document

    for text in (C2F.read_text(), C2F.read_text().replace("n: 2, out: 16", "n: 0, out: 16"), ALTERNATIVES):
        document = read_document(text, "t.yaml")
        assert not list(jsonschema.Draft7Validator(spec_schema(document)).iter_errors(document.data(document.root)))
    validator = jsonschema.Draft7Validator(spec_schema())
    assert not list(validator.iter_errors({"layers": [{"type": "ReLU", "repeat": 0}]}))
    assert list(validator.iter_errors({"layers": [{"type": "ReLU", "repeat": -1}]}))


@pytest.mark.parametrize(
    ("text", "at", "words"),
    [
        (  # repeat: 0 leaves no layer, as if: false does
            "input: [4, 8, 8]\nlayers:\n  - {type: Conv2d, name: m, out_channels: 4, kernel_size: 1, repeat: 0}\n",
            (3, 3),
            "every layer is switched off by its if: or left without copies by repeat: 0",
        ),
        (  # trainable and called are keys of every use, so no block parameter can have either name
            "input: [4, 8, 8]\nblocks:\n  B:\n    params: {called: true}\n    layers: [ReLU]\nlayers: [B]\n",
            (4, 14),
            "parameter name 'called' is a key every use of a block has (type, name, from, repeat, if, layers, "
            "trainable, called); pick another name",
        ),
        (  # the flags are facts of the model written as true or false, never a block's parameter
            "input: [4, 8, 8]\nblocks:\n  B:\n    params: {t: true}\n    layers:\n"
            "      - {type: Conv2d, out_channels: 4, kernel_size: 1, trainable: $t}\nlayers: [B]\n",
            (6, 68),
            "trainable: is written true or false, not an expression ('$t'); write trainable: false on the "
            "block's use instead",
        ),
    ],
)
def test_misused_keys_say_what_to_write(text: str, at: tuple[int, int], words: str):
    with pytest.raises(CnnInspectError) as caught:
        parse(text)
    assert caught.value.location is not None
    assert (caught.value.location.line, caught.value.location.col) == at
    assert words in caught.value.message


def test_a_merge_left_one_input_by_no_copies_names_the_use_and_what_it_reads():
    text = """\
input: [8, 16, 16]
blocks:
  B:
    params: {n: 1}
    layers:
      - {type: Conv2d, name: cv, out_channels: 4, kernel_size: 1}
      - {type: Conv2d, name: m, out_channels: 4, kernel_size: 3, padding: 1, repeat: $n}
      - {type: Concat, name: cat, from: [cv, m.*]}
layers:
  - {type: B, name: a, n: 2}
  - {type: B, name: c, n: 0}
"""
    with pytest.raises(GraphError) as caught:
        parse(text)
    assert caught.value.location is not None and caught.value.location.line == 8  # the Concat in the block
    assert caught.value.message == (
        "c.cat: Concat needs at least two inputs: from: [a, b]; here from: [cv, m.*] reads 1"
    )


def test_block_parameters_named_as_reserved_keys_fail_the_schema_too():
    import jsonschema

    from cnninspect.spec.schema import spec_schema

    spec = {"input": [4], "blocks": {"B": {"params": {"called": True}, "layers": ["ReLU"]}}, "layers": ["B"]}
    assert list(jsonschema.Draft7Validator(spec_schema()).iter_errors(spec))


def test_every_copy_of_an_item_whose_name_has_a_dot():
    # dotted names are allowed (configs/alexnet.yaml names its layers features.0 as torchvision does)
    text = """\
input: [4, 8, 8]
layers:
  - {type: Conv2d, name: features.1, out_channels: 4, kernel_size: 1, repeat: 2}
  - {type: Concat, name: cat, from: [input, features.1.*]}
"""
    spec = parse(text)
    assert next(x for x in spec.layers if x.name == "cat").inputs == ("input", "features.1.0", "features.1.1")
    assert shapes(text)["cat"] == (4 + 4 + 4, 8, 8)
