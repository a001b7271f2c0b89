"""darknet's [local] (a locally connected layer, read as cnninspect's LocallyConnected2d), its
activation=ramp (read as LeakyReLU(0.1), with a note) and pjreddie's [reorg] extra=: sizes and
parameters worked out by hand from darknet's rules, the torch side compared with plain torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import cli, cli_error, load

from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.torch import locally_connected, trace_spec
from cnninspect.metrics import mult_adds
from cnninspect.rules import find_problems

NET = "[net]\nwidth=5\nheight=4\nchannels=2\n"
LOCAL = NET + (
    "\n[local]\nsize=3\nstride=1\npad=1\nfilters=3\nactivation=ramp\n"  # lines 6-11
    "\n[local]\nsize=2\nstride=2\nfilters=4\nactivation=linear\n"  # lines 13-17
)


def by_loop(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, size: int, stride: int, pad: int):
    """A locally connected layer the slow way: each output place's window times that place's weights."""
    padded = F.pad(x, (pad, pad, pad, pad))
    out_h, out_w = bias.shape[1:]
    out = torch.empty(x.shape[0], bias.shape[0], out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * stride, j * stride
            window = padded[:, :, top : top + size, left : left + size].reshape(x.shape[0], -1)
            out[:, :, i, j] = window @ weight[i * out_w + j].T + bias[:, i, j]
    return out


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "local.cfg"
    path.write_text(LOCAL)
    return path


@pytest.mark.parametrize("engine", [infer_shapes, trace_spec])
def test_local_sizes_and_parameters_by_darknets_rules(cfg, engine):
    trace = engine(load(cfg))
    local = {r.layer.name: r for r in trace.records if r.layer.type == "LocallyConnected2d"}
    # pad=1, size 3: darknet's (h − 1)/stride + 1 keeps 4×5; 20 places × 3 filters × 3·3·2 weights, a bias per value
    assert local["0.local"].output_shape == (1, 3, 4, 5)
    assert (local["0.local"].weights, local["0.local"].biases) == (20 * 3 * 3 * 3 * 2, 20 * 3)
    # no pad, size 2 stride 2: (4 − 2)/2 + 1 = 2, (5 − 2)/2 + 1 = 2; 4 places × 4 × 2·2·3, 16 biases
    assert local["1.local"].output_shape == (1, 4, 2, 2)
    assert (local["1.local"].weights, local["1.local"].biases) == (4 * 4 * 2 * 2 * 3, 16)
    assert trace.total_params == 1140 + 208
    # every output value: its own 3·3·2 (or 2·2·3) products and a bias, so mult-adds = batch × params
    assert [mult_adds(local[name]) for name in ("0.local", "1.local")] == [1140, 208]
    assert [r.layer.type for r in trace.records if r.layer.name == "0.act"] == ["LeakyReLU"]


def test_the_torch_engines_local_layer_is_a_loop_over_places():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 6)
    for size, stride, pad in ((3, 1, 1), (2, 2, 0), (3, 2, 1)):
        out_h, out_w = (5 + 2 * pad - size) // stride + 1, (6 + 2 * pad - size) // stride + 1
        weight = torch.randn(out_h * out_w, 4, 3 * size * size)
        bias = torch.randn(4, out_h, out_w)
        fast = locally_connected(x, weight, bias, (size, size), stride, pad)
        assert torch.allclose(fast, by_loop(x, weight, bias, size, stride, pad), atol=1e-5)


def test_export_writes_a_local_layer_that_pytorch_runs_as_the_loop(cfg):
    namespace: dict = {}
    exec(compile(cli("export", str(cfg)).stdout, "exported.py", "exec"), namespace)
    model = namespace["local"]()
    assert sum(p.numel() for p in model.parameters()) == 1140 + 208
    first = model.layer_0[0]
    x = torch.randn(1, 2, 4, 5)
    with torch.no_grad():
        assert torch.allclose(first(x), by_loop(x, first.weight, first.bias, 3, 1, 1), atol=1e-5)
        assert model(x).shape == (1, 4, 2, 2)


def test_yolov1_exports_with_darknets_parameter_count():
    from test_darknet_corpus import CORPUS, REFERENCE

    key = "pjreddie/yolov1.cfg"
    namespace: dict = {}
    exec(compile(cli("export", str(CORPUS / key)).stdout, "exported.py", "exec"), namespace)
    model_class = [value for value in namespace.values() if isinstance(value, type)][-1]
    with torch.device("meta"):  # 197 million parameters: no memory on meta
        model = model_class()
        out = model(torch.empty(1, 3, 448, 448))
    assert sum(p.numel() for p in model.parameters()) == REFERENCE[key]["params"] == 197_301_875
    assert tuple(out.shape) == (1, 1715)  # [detection]: 7² × ((1 + 4) × 3 + 20)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("[local]\nsize=5\npad=1\n", 7, "pad=1 with size=5: darknet's [local] counts (h − 1)/stride + 1 places"),
        ("[local]\nsize=2\npad=1\n", 7, "pad=1 with an even size=2"),
    ],
)
def test_a_local_whose_pad_darknet_counts_otherwise_is_refused(tmp_path, body, line, message):
    path = tmp_path / "bad.cfg"
    path.write_text(NET + body)
    result = cli_error("summary", str(path))
    assert f"{path}:{line}:5: " in result.stderr and message in result.stderr


def test_ramp_is_one_note_at_its_first_layer(cfg, tmp_path):
    findings = find_problems(infer_shapes(load(cfg)))
    assert [(f.rule.code, f.location.line, f.location.col) for f in findings] == [("CNN304", 11, 12)]
    assert "x·(x>0) + 0.1·x" in findings[0].message and "more layer" not in findings[0].message
    two = tmp_path / "two.cfg"
    two.write_text(LOCAL.replace("activation=linear", "activation=ramp"))
    (finding,) = find_problems(infer_shapes(load(two)))
    assert finding.location.line == 11 and finding.message.startswith("activation=ramp (here and in 1 more layer): ")


def test_reorg_extra_is_its_input_flat_and_zeros_after_it(tmp_path):
    # pjreddie's reorg_layer: extra=n gives outputs = inputs + n, no width, height or channels
    path = tmp_path / "extra.cfg"
    path.write_text("[net]\nwidth=3\nheight=3\nchannels=2\n\n[reorg]\nextra=2\nstride=1\n")
    spec = load(path)
    assert spec.needs_torch  # ConstantPad1d on a flat (batch, values) tensor: the torch engine sizes it
    trace = trace_spec(spec)
    assert trace.records[-1].output_shape == (1, 2 * 3 * 3 + 2) and trace.total_params == 0
    namespace: dict = {}
    exec(compile(cli("export", str(path)).stdout, "exported.py", "exec"), namespace)
    x = torch.randn(1, 2, 3, 3)
    assert torch.equal(namespace["extra"]()(x), torch.cat([x.flatten(1), torch.zeros(1, 2)], dim=1))


def test_a_spec_writes_locally_connected2d_and_cannot_leave_it_uncalled(tmp_path):
    path = tmp_path / "local.yaml"
    path.write_text(
        "input: [2, 4, 5]\nlayers:\n  - {type: LocallyConnected2d, name: local, out_channels: 3, kernel_size: 3, "
        "stride: 2}\n"
    )
    for engine in (infer_shapes, trace_spec):
        (record,) = engine(load(path)).records
        # ⌊(4 − 3)/2⌋ + 1 = 1, ⌊(5 − 3)/2⌋ + 1 = 2: 2 places × 3 filters × 3·3·2, a bias per output value
        assert record.output_shape == (1, 3, 1, 2) and (record.weights, record.biases) == (2 * 3 * 18, 6)
    path.write_text(
        "input: [2, 4, 5]\nlayers:\n  - {type: LocallyConnected2d, name: held, in_channels: 2, out_channels: 3, "
        "kernel_size: 1, called: false}\n"
    )
    result = cli_error("summary", str(path))
    assert f"{path}:3:5: held: called: false, so no output places" in result.stderr
    path.write_text(
        "input: [2, 4, 5]\nlayers:\n  - name: g\n    called: false\n    layers:\n"
        "      - {type: LocallyConnected2d, name: held, in_channels: 2, out_channels: 3, kernel_size: 1}\n"
    )
    assert "g.held: called: false, so no output places" in cli_error("summary", str(path)).stderr


def test_export_refuses_a_local_layer_a_block_uses_at_two_sizes(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(
        "input: [2, 4, 4]\nblocks:\n  L:\n    params: {}\n    layers:\n"
        "      - {type: LocallyConnected2d, name: local, out_channels: 2, kernel_size: 1}\n"
        "layers:\n  - {type: L, name: a}\n  - {type: MaxPool2d, kernel_size: 2}\n  - {type: L, name: b}\n"
    )
    result = cli_error("export", str(path))
    assert "LocallyConnected2d (local) has no one output size" in result.stderr and result.stdout == ""
