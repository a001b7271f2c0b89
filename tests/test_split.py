"""Split: one piece of a tensor cut by torch.chunk (chunks) or torch.split (sizes), traced by both
engines, checked at load time, reported (CNN211) when the pieces do not fit, explained and exported."""

from __future__ import annotations

import jsonschema
import pytest
import torch
from conftest import cli, parse
from torch import nn

from cnninspect import rules
from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.torch import trace_spec
from cnninspect.errors import ArgumentError
from cnninspect.export import export_pytorch
from cnninspect.metrics import explain
from cnninspect.rules import find_problems
from cnninspect.spec.schema import spec_schema
from cnninspect.spec.yamldoc import read_document

C2F = """name: c2f
input: [16, 32, 32]
blocks:
  Bottleneck:
    params: {{c: null}}
    layers:
      - {{type: Conv2d, name: cv1, out_channels: $c, kernel_size: 3, padding: 1, bias: false}}
      - {{type: BatchNorm2d, name: bn1}}
      - {{type: SiLU, name: act1}}
      - {{type: Conv2d, name: cv2, out_channels: $c, kernel_size: 3, padding: 1, bias: false}}
      - {{type: BatchNorm2d, name: bn2}}
      - {{type: SiLU, name: act2}}
      - {{type: Add, name: add, from: [act2, input]}}
  C2f:
    params: {{c2: null, hidden: null}}
    layers:
      - {{type: Conv2d, name: cv1, out_channels: $hidden, kernel_size: 1, bias: false}}
      - {{type: Split, name: y0, from: cv1, chunks: 2, index: 0}}
      - {{type: Split, name: y1, from: cv1, chunks: 2, index: -1}}
      - {{type: Bottleneck, name: m0, c: $hidden // 2}}
      - {{type: Concat, name: cat, from: [y0, y1, m0]}}
      - {{type: Conv2d, name: cv2, out_channels: $c2, kernel_size: 1, bias: false}}
layers:
  - {{type: C2f, name: c2f, c2: 32, hidden: {hidden}}}
"""


class Bottleneck(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.cv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.cv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + nn.functional.silu(self.bn2(self.cv2(nn.functional.silu(self.bn1(self.cv1(x))))))


class C2f(nn.Module):
    """The same block written by hand: 1×1 conv to 2c, chunk in two, a bottleneck on the last half."""

    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        self.cv1 = nn.Conv2d(c1, c2, 1, bias=False)
        self.m0 = Bottleneck(c2 // 2)
        self.cv2 = nn.Conv2d(3 * (c2 // 2), c2, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        y.append(self.m0(y[-1]))
        return self.cv2(torch.cat(y, 1))


def test_a_c2f_block_traces_as_plain_pytorch_builds_it():
    spec = parse(C2F.format(hidden=32))
    model = C2f(16, 32).eval()
    with torch.no_grad():
        expected = tuple(model(torch.zeros(1, 16, 32, 32)).shape)
    # by hand: cv1 32·16 + bottleneck 2·(16·16·9) + 2·(16 + 16) + cv2 32·48
    assert sum(p.numel() for p in model.parameters()) == 32 * 16 + 2 * (16 * 16 * 9) + 2 * (16 + 16) + 32 * 48 == 6720
    for trace in (infer_shapes(spec), trace_spec(spec, "cpu"), trace_spec(spec, "meta")):
        shapes = {r.layer.name: r.output_shape for r in trace.records}
        assert shapes["c2f.y0"] == shapes["c2f.y1"] == (1, 16, 32, 32)
        assert shapes["c2f.cat"] == (1, 48, 32, 32)
        assert trace.output_shape == expected == (1, 32, 32, 32)
        assert trace.total_params == 6720
        assert find_problems(trace) == []


def test_split_sizes_as_torch_split():
    spec = parse(
        "input: [3, 8, 8]\nlayers:\n"
        "  - {type: Conv2d, name: conv, out_channels: 24, kernel_size: 1}\n"
        "  - {type: Split, name: last, sizes: [4, 8, 12], index: 2}\n"
        "  - {type: Split, name: rows, sizes: [3, 5], index: 0, dim: 2}\n"
    )
    piece = torch.split(torch.zeros(1, 24, 8, 8), [4, 8, 12], 1)[2]
    rows = torch.split(piece, [3, 5], 2)[0]
    for trace in (infer_shapes(spec), trace_spec(spec, "cpu")):
        assert [r.output_shape for r in trace.records[1:]] == [tuple(piece.shape), tuple(rows.shape)]


def test_chunks_that_do_not_divide_are_cnn211_with_what_torch_would_cut():
    spec = parse(rules.SPLIT_CHANNELS.failing.spec)  # cv1 gives 15 channels, Split takes chunks: 2
    pieces = [t.shape[1] for t in torch.chunk(torch.zeros(1, 15, 1, 1), 2, 1)]
    assert pieces == [8, 7]
    for trace in (infer_shapes(spec), trace_spec(spec, "cpu"), trace_spec(spec, "meta")):
        findings = find_problems(trace)
        assert [f.rule for f in findings] == [rules.SPLIT_CHANNELS]
        assert findings[0].line == (
            "t.yaml:4:5: CNN211 half: chunks: 2 does not divide 15 channels (from cv1): torch.chunk would give "
            "pieces of 8 and 7; make them a multiple of 2 (14 or 16)"
        )
        # the trace carries on with the piece torch.chunk gives first: ⌈15 / 2⌉ = 8
        assert trace.records[1].output_shape == (1, 8, 32, 32)


def test_fewer_pieces_than_chunks_and_sizes_that_do_not_add_up():
    spec = parse(
        "input: [5, 4, 4]\nlayers:\n"
        "  - {type: Split, name: a, chunks: 4, index: 3}\n"
        "  - {type: Split, name: b, from: input, sizes: [2, 2], index: 0}\n"
    )
    assert [t.shape[1] for t in torch.chunk(torch.zeros(1, 5, 1, 1), 4, 1)] == [2, 2, 1]
    with pytest.raises(RuntimeError):
        torch.split(torch.zeros(1, 5, 1, 1), [2, 2], 1)
    for trace in (infer_shapes(spec), trace_spec(spec, "cpu")):
        assert [f.message for f in find_problems(trace)] == [
            "a: chunks: 4 does not divide 5 channels (from the input): torch.chunk would give pieces of 2, 2 and 1 "
            "(3 pieces, not 4); make them a multiple of 4 (4 or 8)",
            "b: sizes [2, 2] add up to 4 but it receives 5 channels (from the input); make them add up to 5",
        ]


@pytest.mark.parametrize(
    ("args", "at", "message"),
    [
        ("chunks: 2, sizes: [1, 1], index: 0", "chunks", "give exactly one of chunks"),
        ("index: 0", "{", "give exactly one of chunks"),
        ("chunks: 2, index: 2", "index", "index 2 picks none of the 2 pieces; use 0 to 1 (or -1 for the last)"),
        ("sizes: [1, 2, 3], index: -4", "index", "index -4 picks none of the 3 pieces"),
        ("chunks: 0, index: 0", "chunks", "chunks: expected an integer ≥ 1, or null"),
        ("sizes: [], index: 0", "sizes", "sizes: expected a list of integers ≥ 1"),
        ("chunks: 2", "{", "Split needs index"),
    ],
)
def test_split_arguments_are_checked_where_they_are_written(args, at, message):
    line = f"  - {{type: Split, name: s, {args}}}"
    with pytest.raises(ArgumentError) as caught:
        parse(f"input: [4, 8, 8]\nlayers:\n{line}\n")
    assert message in caught.value.message
    column = line.index(at) + 1 + (len(at) + 2 if at != "{" else 0)  # the value, after "key: "
    assert (caught.value.location.line, caught.value.location.col) == (3, column)


def test_explain_shows_the_cut():
    spec = parse(C2F.format(hidden=32))
    records = {r.layer.name: r for r in infer_shapes(spec).records}
    assert explain(records["c2f.y1"]) == ["C: 32 in 2 chunks (torch.chunk), piece -1 = 32 / 2 = 16"]
    sizes = parse("input: [24, 4, 4]\nlayers:\n  - {type: Split, sizes: [4, 20], index: 1}\n")
    assert explain(infer_shapes(sizes).records[0]) == ["C: 24 split into 4, 20 (torch.split), piece 1 = 20"]


def test_flag_spec_and_schema_know_split():
    result = cli("summary", "--layers", "Conv2d(3,8,1) Split(2, 1) Conv2d(4,4,3)", "--engine", "analytic")
    assert result.exit_code == 0, result.stderr
    assert "30×30×4" in result.stdout
    assert "Split   chunk(0, 2)[1]" in result.stdout  # what it cuts and takes, as torch writes it
    schema = spec_schema()
    good = read_document("input: [4, 8, 8]\nlayers:\n  - {type: Split, chunks: 2, index: 1}\n", "t.yaml")
    jsonschema.validate(good.data(good.root), schema)
    bad = read_document("input: [4, 8, 8]\nlayers:\n  - {type: Split, chunks: 2, part: 1}\n", "t.yaml")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad.data(bad.root), schema)


def test_export_writes_torch_chunk_and_split(tmp_path):
    spec = parse(
        C2F.format(hidden=32).replace(
            "layers:\n  - {type: C2f",
            "layers:\n  - {type: Split, name: head, sizes: [4, 12], index: 1}\n  - {type: C2f",
        )
    )
    trace = infer_shapes(spec)
    code = export_pytorch(trace)
    assert "y0 = torch.chunk(cv1, 2, 1)[0]" in code and "y1 = torch.chunk(cv1, 2, 1)[-1]" in code
    assert "x = torch.split(x, (4, 12), 1)[1]" in code
    assert "self.m0 = Bottleneck(hidden // 2, c=hidden // 2)" in code
    namespace: dict = {}
    exec(compile(code, "exported.py", "exec"), namespace)  # the test runs the generated classes
    model = namespace["c2f"]().eval()
    with torch.no_grad():
        output = model(torch.zeros(1, 16, 32, 32))
    assert tuple(output.shape) == trace.output_shape == (1, 32, 32, 32)
    assert sum(p.numel() for p in model.parameters()) == trace.total_params == 12 * 32 + 6720 - 16 * 32


def test_export_keeps_block_parameters_of_splits_and_concats_for_forward():
    """A $ value that forward needs (chunks, index, a Concat's dim) is kept in an attribute, and the
    channels after a split are worked out over the parameters at each use."""
    spec = parse(
        "input: [12, 8, 8]\nblocks:\n  Part:\n    params: {n: 2, take: true, d: 1}\n    layers:\n"
        "      - {type: Split, name: piece, chunks: $n, index: -1, if: $take}\n"
        "      - {type: Conv2d, name: conv, out_channels: 6, kernel_size: 1}\n"
        "      - {type: Split, name: rest, sizes: [2, 4], index: $n - 2}\n"
        "      - {type: Concat, name: cat, from: [rest, rest], dim: $d}\n"
        "layers:\n  - {type: Part, name: a, n: 3}\n  - {type: Part, name: b, take: false, d: 2}\n"
        "  - {type: Split, name: c, chunks: 2, index: 0}\n  - {type: Conv2d, out_channels: 5, kernel_size: 1}\n"
    )
    trace = infer_shapes(spec)
    # a: 12 / 3 = 4 channels, conv 6, rest [2, 4][1] = 4, cat 8; b (no piece): conv 6, rest [2, 4][0] = 2,
    # joined on the height: 2 channels at 16×8; c: 1 channel; the last conv 1 → 5
    assert trace.output_shape == (1, 5, 16, 8)
    assert trace.total_params == (4 * 6 + 6) + (8 * 6 + 6) + (1 * 5 + 5)
    code = export_pytorch(trace)
    assert "self.piece_chunks = n" in code and "torch.chunk(x, self.piece_chunks, 1)[-1]" in code
    assert "self.rest_index = n - 2" in code and "self.cat_dim = d" in code
    namespace: dict = {}
    exec(compile(code, "exported.py", "exec"), namespace)  # the test runs the generated classes
    model = namespace["t"]().eval()
    with torch.no_grad():
        assert tuple(model(torch.zeros(1, 12, 8, 8)).shape) == trace.output_shape
    assert sum(p.numel() for p in model.parameters()) == trace.total_params


def test_a_huge_chunks_value_is_a_finding_not_a_huge_tensor():
    spec = parse("input: [4, 8, 8]\nlayers:\n  - {type: Split, name: s, chunks: 2147483647, index: 0}\n")
    for trace in (infer_shapes(spec), trace_spec(spec, "cpu")):
        assert trace.records[0].output_shape == (1, 1, 8, 8)  # ⌈4 / (2³¹ − 1)⌉ = 1, carried on
        assert [f.rule for f in find_problems(trace)] == [rules.SPLIT_CHANNELS]


def test_exported_attributes_for_forward_never_take_a_layers_name():
    spec = parse(
        "input: [12, 8, 8]\nblocks:\n  Part:\n    params: {n: 2, on: true}\n    layers:\n"
        "      - {type: Conv2d, name: use_piece, out_channels: 12, kernel_size: 1}\n"
        "      - {type: Split, name: piece, chunks: $n, index: -1, if: $on}\n"
        "      - {type: Conv2d, name: piece_chunks, out_channels: 6, kernel_size: 1}\n"
        "layers:\n  - {type: Part, name: a, n: 3}\n  - {type: Part, name: b, on: false}\n"
    )
    trace = infer_shapes(spec)
    code = export_pytorch(trace)
    assert "self.piece_chunks = n" in code and "self.use_piece_2 = bool(on)" in code
    assert "self.piece_chunks_2 = nn.Conv2d((12 // n if on else 12), 6, kernel_size=1)" in code
    namespace: dict = {}
    exec(compile(code, "exported.py", "exec"), namespace)  # the test runs the generated classes
    model = namespace["t"]().eval()
    with torch.no_grad():
        assert tuple(model(torch.zeros(1, 12, 8, 8)).shape) == trace.output_shape == (1, 6, 8, 8)
    # a: conv 12·12 + 12, piece 12 / 3 = 4, conv 4·6 + 6; b: conv 6·12 + 12, no piece, conv 12·6 + 6
    assert sum(p.numel() for p in model.parameters()) == trace.total_params == 156 + 30 + 84 + 78


@pytest.mark.parametrize(
    ("layers", "marks"),
    [
        ("Conv2d(3,7,1) Split(2,1)", ("✗ CNN211", "expects a multiple of 2", "receives 7")),
        ("Conv2d(3,7,1) Split(sizes=[2,4],index=0)", ("✗ CNN211", "expects 6", "receives 7")),  # 2 + 4
    ],
)
def test_draw_marks_a_split_that_does_not_fit(layers, marks):
    from cnninspect.draw.source import parts_of
    from cnninspect.inputs.flags import parse_layers

    trace = infer_shapes(parse_layers(layers, (3, 8, 8)))
    parts = parts_of(trace, find_problems(trace))
    assert [part.marks for part in parts if part.marks] == [marks]


def test_export_refuses_a_split_in_a_group_nn_sequential_cannot_hold(tmp_path):
    # nn.Sequential holds modules; torch.chunk is a function, and torch.nn has no Split
    path = tmp_path / "grouped.yaml"
    path.write_text(
        "input: [16, 8, 8]\nlayers:\n  - name: g\n    layers:\n"
        "      - {type: Conv2d, out_channels: 4, kernel_size: 1}\n"
        "      - {type: Split, chunks: 2, index: 0}\n"
        "  - {type: Conv2d, out_channels: 8, kernel_size: 1}\n"
    )
    result = cli("export", str(path))
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "nn.Split" not in result.stderr
    assert "in group g: nn.Sequential cannot hold a Split (torch.chunk" in result.stderr
    assert "make that part a block" in result.stderr
