"""--model on the constructs of the classic model zoos (tests/fixtures/models/constructs.py): no
crash, true mult-adds for every call and op, no false finding, and user code that cannot take the
process down. Expected numbers are worked out by hand or taken from PyTorch itself."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from conftest import ROOT, assert_user_error, cli, cli_error, load, parse
from torch.utils.flop_counter import FlopCounterMode

from cnninspect.engines import Engine, trace_with
from cnninspect.engines.model import device as engine
from cnninspect.engines.model import inspect_model, parse_target
from cnninspect.formats.summary import summary_rows, title_text, totals
from cnninspect.rules import find_problems

MODELS = Path(__file__).parent / "fixtures" / "models"
CONSTRUCTS = MODELS / "constructs.py"
TUTORIAL = MODELS / "tutorial_cnn.py"


def trace(name, *inputs, args=None, **options):
    return inspect_model(parse_target(f"{CONSTRUCTS}:{name}"), args or {}, inputs, **options)


def summary(name, *options, columns=100):
    return cli("summary", "--model", f"{CONSTRUCTS}:{name}", *options, columns=columns)


def constructs():
    """The fixture module imported the ordinary way, to build models with PyTorch itself."""
    sys.path.insert(0, str(MODELS))
    try:
        import constructs as module

        return module
    finally:
        sys.path.remove(str(MODELS))


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def rows(model):
    return {row.name: row for row in summary_rows(model, find_problems(model))}


def codes(model):
    return [f.rule.code for f in find_problems(model)]


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


# --- crashes ---------------------------------------------------------------------------------


def test_a_constructor_that_reads_tensor_values_is_built_on_the_cpu():
    model = trace("ComputedWidths", "3x16x16")
    assert [r.layer.name for r in model.records] == ["stem", "stage", "head"]
    assert model.total_params == sum(p.numel() for p in constructs().ComputedWidths().parameters())
    assert model.device == "cpu"
    result = summary("ComputedWidths", "--input", "3x16x16")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ComputedWidths · input 1×3×16×16 · torch engine on cpu\n")
    assert (
        "Built on the CPU: on the meta device ComputedWidths() fails (NotImplementedError: Cannot copy out of meta "
        "tensor; no data!)." in result.stdout
    )


@pytest.fixture
def limit_64_mib(monkeypatch):
    """The CPU limit these fixtures were sized for (64 MiB, below the Detector's parameters): what
    is tested is what happens above the limit, not its value."""
    monkeypatch.setattr(engine, "MODEL_CPU_LIMIT", 64 * 2**20)


@pytest.mark.usefixtures("limit_64_mib")
def test_a_large_model_built_on_the_cpu_draws_no_weights(monkeypatch):
    drawn = []
    kaiming = torch.nn.init.kaiming_uniform_

    def spy(tensor, *args, **kwargs):
        drawn.append(tuple(tensor.shape))
        return kaiming(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.nn.init, "kaiming_uniform_", spy)
    classes = 1_100_000  # a head of 16 × 1,100,000 weights: 70 MB, traced on meta
    weights = [(8, 3, 3, 3), (16, 8, 3, 3), (classes, 16)]
    model = trace("ComputedWidths", "3x16x16", args={"classes": classes})
    assert model.device == "meta" and not set(weights) & set(drawn)  # the import draws its instances' only
    assert model.total_params == (8 * 27 + 8) + (16 * 72 + 16) + (16 * classes + classes)
    small = trace("ComputedWidths", "3x16x16")  # traced on the CPU: built again, its weights drawn
    assert small.device == "cpu" and (10, 16) in drawn


@pytest.mark.usefixtures("limit_64_mib")
def test_a_data_dependent_forward_pass_is_traced_again_on_the_cpu():
    model = trace("Detector", "3x8x8")
    assert model.device == "cpu" and model.complete
    assert model.total_params == (8 * 27 + 8) + (8 * 4096 + 4096) + (4096 * 4200 + 4200)
    assert model.notes[0].startswith(
        "traced on the CPU: on the meta device the forward pass fails (NotImplementedError: The register_meta "
        "function for torch.nonzero() raises unimplemented by default"
    )
    # a real size mistake is still a finding, on the CPU too
    wrong = trace("Detector", "3x8x8", args={"features": 6})
    assert wrong.device == "cpu"
    assert codes(wrong) == ["CNN201"]


LIGHT_NET = """import torch.nn as nn


def net():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.Conv2d(8, 4, 3, stride=2, bias=False),
        nn.Flatten(),
        nn.Linear(4 * 7 * 7, 10, bias=False),
    )
"""
LIGHT_WORK = 8 * 27 * 16 * 16 + 4 * 72 * 7 * 7 + 4 * 7 * 7 * 10
"""LIGHT_NET's mult-adds at 3×16×16, by hand: two convolutions (16×16 and (16 - 3) // 2 + 1 = 7 a
side) and the Linear, no bias or norm."""


def test_a_forward_pass_over_the_budget_goes_to_meta_and_says_why(tmp_path, monkeypatch):
    path = tmp_path / "light.py"
    path.write_text(LIGHT_NET)
    target = f"{path}:net"
    monkeypatch.setattr(engine, "MODEL_CPU_MULT_ADDS", LIGHT_WORK)  # exactly the work: stays on the CPU
    light = inspect_model(parse_target(target), {}, ["3x16x16"])
    assert light.device == "cpu" and light.notes == () and totals(light).mult_adds == LIGHT_WORK
    on_cpu = cli("summary", "--model", target, "--input", "3x16x16")
    monkeypatch.setattr(engine, "MODEL_CPU_MULT_ADDS", LIGHT_WORK - 1)
    heavy = inspect_model(parse_target(target), {}, ["3x16x16"])
    assert heavy.device == "meta" and totals(heavy).mult_adds == LIGHT_WORK
    assert heavy.notes == (
        f"traced on the meta device: a CPU pass would compute over {(LIGHT_WORK - 1) / 10**9:g} billion "
        "mult-adds, which take longer than the meta device's first use",
    )
    on_meta = cli("summary", "--model", target, "--input", "3x16x16")
    assert on_cpu.exit_code == on_meta.exit_code == 0, on_meta.stderr
    # the same table: only the title's device and the line saying why differ
    cpu_lines, meta_lines = on_cpu.stdout.splitlines(), on_meta.stdout.splitlines()
    assert cpu_lines[0].endswith("torch engine on cpu") and meta_lines[0] == cpu_lines[0].replace("on cpu", "on meta")
    assert [line for line in meta_lines[1:] if "billion mult-adds" not in line] == cpu_lines[1:]
    assert len(meta_lines) == len(cpu_lines) + 1


def test_the_cpu_pass_stops_before_the_op_that_would_pass_the_budget(tmp_path, monkeypatch):
    path = tmp_path / "light.py"
    path.write_text(LIGHT_NET)
    ran = []
    monkeypatch.setattr(engine, "MODEL_CPU_MULT_ADDS", 8 * 27 * 16 * 16 + 4 * 72 * 7 * 7 - 1)
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: ran.append((type(m).__name__, o.device.type))
    )
    try:
        model = inspect_model(parse_target(f"{path}:net"), {}, ["3x16x16"])
    finally:
        hook.remove()
    assert model.device == "meta"
    # on the CPU the first convolution ran and the second never started; then all of it on meta
    assert ran[: ran.index(("Sequential", "meta")) + 1] == [
        ("Conv2d", "cpu"),
        ("Conv2d", "meta"),
        ("Conv2d", "meta"),
        ("Flatten", "meta"),
        ("Linear", "meta"),
        ("Sequential", "meta"),
    ]


def test_a_model_stopped_on_the_cpu_is_built_again_on_meta(tmp_path, monkeypatch):
    """Not moved there: a plain tensor attribute (no buffer) would stay on the CPU and fail the meta pass."""
    path = tmp_path / "scaled.py"
    path.write_text(
        "import torch\nimport torch.nn as nn\n\n\nclass Scaled(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.conv = nn.Conv2d(3, 4, 3, bias=False)\n"
        "        self.scale = torch.ones(4, 1, 1)\n\n    def forward(self, x):\n"
        "        return self.conv(x) * self.scale\n"
    )
    monkeypatch.setattr(engine, "MODEL_CPU_MULT_ADDS", 0)
    model = inspect_model(parse_target(f"{path}:Scaled"), {}, ["3x8x8"])
    assert model.device == "meta" and model.output_shape == (1, 4, 6, 6)
    assert len(model.notes) == 1 and model.notes[0].startswith("traced on the meta device")


@pytest.mark.parametrize(
    ("x", "w", "stride", "padding", "dilation", "transposed", "output_padding", "groups"),
    [
        ((2, 4, 17, 13), (6, 4, 3, 3), [1, 1], [1, 1], [1, 1], False, [0, 0], 1),
        ((1, 4, 17, 13), (6, 2, 5, 3), [2, 3], [2, 0], [1, 2], False, [0, 0], 2),
        ((1, 3, 31), (5, 3, 4), [3], [1], [2], False, [0], 1),
        ((1, 2, 5, 6, 7), (4, 2, 3, 3, 1), [2, 1, 1], [0, 1, 0], [1, 1, 1], False, [0, 0, 0], 1),
        ((1, 4, 9, 9), (4, 3, 3, 3), [2, 2], [1, 1], [1, 1], True, [1, 1], 1),
    ],
)
def test_a_convolutions_work_is_known_before_it_runs(
    x, w, stride, padding, dilation, transposed, output_padding, groups
):
    """The budget's estimate from the arguments alone equals FlopCounterMode's count of the run op."""
    from cnninspect.engines.model.counting import expected, op_formulas

    args = (torch.zeros(x), torch.zeros(w), None, stride, padding, dilation, transposed, output_padding, groups)
    convolution = torch.ops.aten.convolution
    with FlopCounterMode(display=False) as counter:
        convolution.default(*args)
    assert expected(op_formulas()[convolution], "convolution", args, {}) == counter.get_total_flops() // 2 > 0


@pytest.mark.usefixtures("limit_64_mib")
def test_a_forward_pass_too_large_for_the_cpu_says_why_it_failed(monkeypatch):
    monkeypatch.setattr(engine, "_memory_available", lambda: 2**20)
    result = summary("Detector", "--input", "3x8x8")
    assert_user_error(result)
    assert "forward pass failed" in result.stderr and "too large to retry on the CPU" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_a_torchscript_submodule_is_one_opaque_row():
    model = trace("Scripted", "3x8x8")
    body, head = model.records
    assert (body.layer.name, body.layer.type) == ("body", "Sequential (TorchScript)")
    assert body.params == 4 * 3 * 3 * 3 + 4 and body.output_shape == (1, 4, 6, 6)
    assert body.mult_adds == 6 * 6 * 4 * (3 * 3 * 3 + 1)  # the ops inside the script are seen
    assert head.input_shape == (1, 4 * 6 * 6)
    assert model.total_params == sum(p.numel() for p in constructs().Scripted().parameters())


def test_lazy_layers_are_materialised_and_their_sizes_noted_as_inferred():
    model = trace("Lazy", "3x8x8")
    conv, fc = model.records
    assert (conv.in_size, fc.in_size) == (3, 8 * 6 * 6)
    assert (conv.params, fc.params) == (8 * 3 * 3 * 3 + 8, 8 * 6 * 6 * 10 + 10)
    notes = {row.name: row.notes for row in rows(model).values()}
    assert notes == {"conv": "in_channels inferred", "fc": "in_features inferred"}
    assert codes(model) == []


def test_the_same_input_gives_the_same_table_every_run():
    outputs = {summary("PositiveScale", "--input", "4", "--format", "json").stdout for _ in range(5)}
    assert len(outputs) == 1 and json.loads(outputs.pop())["complete"]
    # the width the model built (a buffer of 3), not whatever uninitialised memory held
    assert {trace("ValueShaped", "8").output_shape for _ in range(5)} == {(1, 3)}


# --- mult-adds --------------------------------------------------------------------------------


def test_a_module_called_six_times_counts_six_times():
    model = trace("RecursiveNet", "64x28x28")
    per_call = 28 * 28 * (64 * 64 * 3 * 3 + 64)
    assert [r.mult_adds for r in model.records] == [per_call] * 6
    assert totals(model).mult_adds == 6 * per_call == 173_709_312  # torchinfo's count for its RecursiveNet


def test_a_siamese_encoder_counts_each_call_at_its_own_size():
    model = trace("TwoImages", "3x8x8", "3x6x6")
    assert [r.mult_adds for r in model.records] == [6 * 6 * 4 * (27 + 1), 4 * 4 * 4 * (27 + 1)]


# A ViT block with T = 16 tokens, d = 64, 4 heads of 16, an MLP of 4 × 64, counted by hand:
TOKENS, WIDTH, HEADS = 16, 64, 4
PRODUCTS = (
    TOKENS * WIDTH * 3 * WIDTH  # qkv
    + 2 * HEADS * TOKENS * TOKENS * (WIDTH // HEADS)  # q·kᵀ and weights·v
    + TOKENS * WIDTH * WIDTH  # proj
    + 2 * TOKENS * WIDTH * 4 * WIDTH  # the MLP
)
BIAS_ADDS = TOKENS * (3 * WIDTH + WIDTH + 4 * WIDTH + WIDTH)
SCALE_AND_SHIFT = 2 * TOKENS * WIDTH  # two LayerNorms


def test_the_vit_hand_count_is_what_pytorchs_flop_counter_counts():
    assert PRODUCTS == 819_200
    block = constructs().ViTBlock(bias=False, affine=False)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        block(torch.zeros(1, TOKENS, WIDTH))
    assert counter.get_total_flops() == 2 * PRODUCTS


@pytest.mark.parametrize("attention", ["written", "fused", "torch"])
def test_a_vit_block_counts_every_product_of_attention(attention):
    bare = trace("ViTBlock", f"{TOKENS}x{WIDTH}", args={"bias": False, "affine": False, "attention": attention})
    assert totals(bare).mult_adds == PRODUCTS
    full = trace("ViTBlock", f"{TOKENS}x{WIDTH}", args={"attention": attention})
    assert totals(full).mult_adds == PRODUCTS + BIAS_ADDS + SCALE_AND_SHIFT
    assert not any("never called" in r.note for r in full.records)  # nn.MultiheadAttention's out_proj


def test_depth_keeps_mult_adds_on_folded_rows_and_one_activation_total():
    flat = trace("ViTBlock", f"{TOKENS}x{WIDTH}")
    folded = trace("ViTBlock", f"{TOKENS}x{WIDTH}", depth=1)
    assert [r.layer.name for r in folded.records] == ["norm1", "attn", "norm2", "mlp"]
    attention = 3 * TOKENS * WIDTH * WIDTH + 2 * HEADS * TOKENS * TOKENS * 16 + TOKENS * WIDTH * WIDTH
    assert folded.records[1].mult_adds == attention + TOKENS * 4 * WIDTH  # qkv and proj biases
    for depth in (1, 2):
        tree = trace("ViTBlock", f"{TOKENS}x{WIDTH}", depth=depth)
        assert totals(tree).mult_adds == totals(flat).mult_adds
        assert tree.activation_bytes == flat.activation_bytes
    result = summary("ViTBlock", "--input", f"{TOKENS}x{WIDTH}", "--depth", "1")
    assert f"Mult-adds: {PRODUCTS + BIAS_ADDS + SCALE_AND_SHIFT:,} " in result.stdout


ATTENTION = 2 * HEADS * TOKENS * TOKENS * (WIDTH // HEADS)  # q·kᵀ and the weights times v
PROJECTIONS = TOKENS * WIDTH * 3 * WIDTH + TOKENS * WIDTH * WIDTH  # qkv and the output projection


def flop_counter_products(model, *shape):
    """Multiply-accumulates by PyTorch's FlopCounterMode, in eval mode: half its FLOPs."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(*shape))
    return counter.get_total_flops() // 2


def test_the_cpu_flash_attention_kernel_is_counted_where_the_flop_counter_has_no_formula():
    fused = constructs().FusedAttention(WIDTH, HEADS, bias=False)
    assert flop_counter_products(fused, 1, TOKENS, WIDTH) == PROJECTIONS  # 0 for the attention kernel
    model = trace("FusedAttention", f"{TOKENS}x{WIDTH}", args={"bias": False})
    assert totals(model).mult_adds == PROJECTIONS + ATTENTION


def test_the_fused_attention_path_of_eval_mode_is_counted_op_by_op():
    mha = constructs().TorchAttention(WIDTH, HEADS)
    assert flop_counter_products(mha, 1, TOKENS, WIDTH) == 0  # one fused op in eval mode, no formula
    model = trace("TorchAttention", f"{TOKENS}x{WIDTH}")  # in eval mode, as inference runs
    assert totals(model).mult_adds == PROJECTIONS + ATTENTION + TOKENS * (3 * WIDTH + WIDTH)  # and bias adds
    assert torch.backends.mha.get_fastpath_enabled()  # switched on again


def test_the_fused_encoder_layer_of_eval_mode_is_counted_op_by_op():
    assert flop_counter_products(constructs().EncoderLayer(), 1, TOKENS, WIDTH) == 0  # one fused op
    model = trace("EncoderLayer", f"{TOKENS}x{WIDTH}")
    assert totals(model).mult_adds == PRODUCTS + BIAS_ADDS + SCALE_AND_SHIFT


def test_a_decoder_tied_to_the_embedding_counts_all_its_products():
    model = trace("TiedDecoder", "12", dtypes=["int64"])
    embed, decoder = model.records
    assert decoder.params == 50 and "shares weight with embed" in decoder.note  # its bias alone is its own
    assert decoder.mult_adds == 12 * 8 * 50 + 12 * 50
    assert embed.mult_adds == 0  # a lookup multiplies nothing


def test_a_matrix_vector_product_in_the_models_own_forward_counts():
    model = trace("AttentionPool", "5x8")
    assert [(r.layer.name, r.mult_adds) for r in model.records] == [("AttentionPool", 5 * 8), ("fc", 8 * 3 + 3)]


def test_an_op_without_a_cost_rule_is_marked_never_zero():
    model = trace("Uncounted", "4")
    fc, pair = model.records
    assert fc.mult_adds == 4 * 6 + 6
    assert (pair.mult_adds, pair.uncounted) == (None, ("aten._trilinear",))
    result = summary("Uncounted", "--input", "4")
    assert "Mult-adds: at least 30 (30); no count for 1 layer (Bilinear: aten._trilinear), shown as ?" in (
        result.stdout
    )


def test_an_lstm_counts_its_gates_on_the_cpu_as_on_meta():
    lstm = trace("Tokens", "12", dtypes=["int64"]).records[1]
    gates = 4 * 16
    # each of 12 steps: input and hidden products for 4 gates, and both gate biases
    assert lstm.mult_adds == 12 * (gates * 8 + gates * 16 + 2 * gates)


# --- shapes, titles and notes -------------------------------------------------------------------


def test_only_feature_maps_read_as_h_w_c():
    vit = rows(trace("ViTBlock", f"{TOKENS}x{WIDTH}"))
    assert vit["norm1"].output == "[1, 16, 64]" and vit["mlp.0"].output == "[1, 16, 256]"
    tokens = rows(trace("Tokens", "12", dtypes=["int64"]))
    assert (tokens["embed"].output, tokens["lstm"].output) == ("[1, 12, 8]", "[1, 12, 16]")
    assert rows(trace("SequenceFirst", "5x4"))["lstm"].output == "[5, 1, 16]"
    convnext = rows(trace("ConvNeXtish", "8x4x4"))
    assert convnext["dwconv"].output == "4×4×8" and convnext["last"].output == "[1, 4, 4, 8]"
    tutorial = rows(inspect_model(parse_target(f"{TUTORIAL}:myCNN"), {}, ["3x32x32"]))
    assert (tutorial["conv1"].output, tutorial["fc"].output) == ("16×16×16", "10")
    legend = summary("Tokens", "--input", "12", "--dtype", "int64").stdout
    assert "Output: H×W×C, batch left out; [other tensors] in PyTorch's order" in legend


def test_every_input_is_in_the_title_and_the_json():
    model = trace("TwoImages", "3x8x8", "3x6x6")
    assert title_text(model) == "TwoImages · input 1×3×8×8, 1×3×6×6 · torch engine on cpu"
    document = json.loads(summary("TwoImages", "--input", "3x8x8", "--input", "3x6x6", "--format", "json").stdout)
    assert (document["input"], document["inputs"], document["device"]) == (
        [1, 3, 8, 8],
        [[1, 3, 8, 8], [1, 3, 6, 6]],
        "cpu",
    )


def test_notes_say_only_what_is_news():
    model = trace("Shared", "3x8x8")
    assert [(r.layer.name, r.note) for r in model.records] == [
        ("act", ""),
        ("conv", ""),
        ("act", ""),  # a module without parameters may be called as often as it likes
        ("spare", "never called in forward: parameters only"),
    ]
    assert rows(model)["spare"].notes == "never called in forward: parameters only"  # in_features is written


def test_the_models_own_parameters_are_its_own_row():
    zoo = constructs()
    model = trace("ClassToken", "3x16x16")
    assert [r.layer.name for r in model.records] == ["ClassToken", "patches", "scaled", "scaled.fc"]
    root, _, scaled, _ = model.records
    assert (root.params, scaled.params) == (16 + 17 * 16, 16)
    assert not any("never called" in r.note for r in model.records)
    assert model.total_params == sum(p.numel() for p in zoo.ClassToken().parameters())


# --- findings that must not be reported, and those that must ---------------------------------------


def test_dropout2d_on_vectors_runs_as_in_pytorch():
    model = trace("DropoutOnVectors", "8")
    assert codes(model) == [] and model.complete
    assert [r.output_shape for r in model.records] == [(1, 16), (1, 16), (1, 2)]


def compiled_frames() -> int:
    """Frames torch's compiler has looked at in this process."""
    if "torch._dynamo" not in sys.modules:
        return 0
    from torch._dynamo.utils import counters

    return sum(counters["frames"].values())


def test_torch_compile_runs_the_code_as_it_is_and_torch_stays_quiet():
    compile_, level, frames = torch.compile, logging.getLogger("torch").level, compiled_frames()
    model = trace("Compiled", "3x8x8")
    assert compiled_frames() == frames  # torch's compiler never ran
    assert model.returned == (1, 4, 8, 5)
    conv = 4 * 8 * 8 * (3 * 3 * 3) + 4 * 8 * 8  # products and bias adds
    assert totals(model).mult_adds == conv + 4 * 8 * 8 * 5
    assert torch.compile is compile_ and logging.getLogger("torch").level == level
    result = summary("Compiled", "--input", "3x8x8")
    assert result.exit_code == 0 and result.stderr == ""


def test_the_forward_pass_runs_on_one_thread_and_the_count_is_restored():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert trace("Threads", "4").returned == (1, 1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_warnings_are_kept_off_the_terminal_unless_asked_for():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        trace("DropoutOnVectors", "8")
    assert seen == []
    with pytest.warns(UserWarning, match="dropout2d"):
        trace("DropoutOnVectors", "8", quiet=False)


@pytest.mark.parametrize("per_image", [True, False])
def test_a_detectors_data_dependent_boxes_are_no_mixed_batch(per_image):
    for batch in (1, 2):
        model = trace("PerImageDetector", "3x8x8", args={"per_image": per_image}, batch=batch)
        assert model.returned == (0, 4) and not model.batch_mixed
        assert codes(model) == []
        assert model.notes == (
            f"run again at batch {batch + 1} to see which output dimension follows the batch: the first is 0, "
            f"not {batch}",
        )
    result = summary("PerImageDetector", "--input", "3x8x8")
    assert result.exit_code == 0, result.stdout
    assert "Run again at batch 2 to see which output dimension follows the batch: the first is 0, not 1." in (
        result.stdout
    )


def test_subclasses_of_torch_nn_layers_are_shown_as_those_layers_when_they_size_as_them():
    model = trace("TimmLayers", "3x16x16")
    shown = rows(model)
    assert (shown["conv"].type, shown["conv"].filters, shown["conv"].stride, shown["conv"].padding) == (
        "StdConv2d",
        "8 × 3×3×3",
        "2",
        "1",
    )
    assert shown["conv"].output == shown["bn"].output == "8×8×8"
    assert shown["bn"].type == "BatchNormAct2d" and shown["bn"].notes == ""  # num_features read back
    # Conv2dSame pads in forward: 8 → 4 where its padding argument gives 3, so it is no Conv2d here
    assert (shown["down"].type, shown["down"].filters, shown["down"].stride) == ("Conv2dSame", "", "")
    assert shown["down"].output == "4×4×8"
    assert model.total_params == sum(p.numel() for p in constructs().TimmLayers().parameters())
    assert codes(model) == ["CNN303"]  # a conv bias right before a BatchNorm: seen through the subclasses


def test_folded_stages_write_their_feature_maps_as_every_other_row_does():
    folded = rows(trace("Stages", "3x16x16", depth=1))
    assert {name: row.output for name, row in folded.items()} == {
        "stem": "16×16×8",
        "stage1": "16×16×8",
        "stage2": "8×8×16",  # a convolution made it, though the stage changed the shape
        "head": "10",
    }
    assert rows(trace("ConvNeXtish", "8x6x5"))["last"].output == "[1, 6, 5, 8]"  # permuted: no longer NCHW
    assert rows(trace("SubPixelNet", "3x8x8", depth=1))["up"].output == "16×16×2"  # pixel_shuffle keeps NCHW


def test_weight_standardisation_counts_one_scale_and_shift_per_weight_value():
    conv = {r.layer.name: r for r in trace("TimmLayers", "3x16x16").records}["conv"]
    products, bias_adds, standardised = 8 * 8 * 8 * (3 * 3 * 3), 8 * 8 * 8, 8 * 3 * 3 * 3
    assert conv.mult_adds == products + bias_adds + standardised


@pytest.mark.parametrize(
    ("name", "shape", "adds"),
    [
        # bias adds, norms' scale and shift (one per output value), and weight standardisation
        ("TimmLayers", (3, 16, 16), 8 * 8 * 8 + 8 * 3 * 3 * 3 + 8 * 8 * 8 + 8 * 4 * 4 + 10),
        ("PerImageDetector", (3, 8, 8), 8 * 8 * 8 + 5 * 8 * 8),
        ("Stages", (3, 16, 16), 8 * 16 * 16 + 2 * 8 * 16 * 16 + 2 * 16 * 8 * 8 + 10),
        ("Downsample", (4, 9, 9), 8 * 5 * 5 + 8 * 5 * 5),
        ("ResNetStem", (3, 32, 32), 64 * 16 * 16 + 64 * 8 * 8 + 10),
    ],
)
def test_the_zoo_of_real_model_constructs(name, shape, adds):
    """Each model: parameters as PyTorch counts them, mult-adds as FlopCounterMode counts them plus
    the documented adds, and exit 0 at 80 columns."""
    model = trace(name, "x".join(map(str, shape)))
    built = getattr(constructs(), name)()
    assert model.total_params == sum(p.numel() for p in built.parameters())
    assert totals(model).mult_adds == flop_counter_products(built, 1, *shape) + adds
    result = summary(name, "--input", "x".join(map(str, shape)), columns=80)
    assert result.exit_code == 0, result.stdout


def test_bias_before_norm_follows_the_data():
    model = trace("MaxViTish", "4x16x16")
    findings = [(f.rule.code, f.layer) for f in find_problems(model)]
    assert findings == [("CNN303", "conv")]  # the blocks' norms normalise their input, not proj's output
    assert codes(inspect_model(parse_target(f"{MODELS / 'zoo.py'}:ThreeMistakes"), {}, ["3x32x32"])) == [
        "CNN202",
        "CNN303",
        "CNN203",
        "CNN201",
    ]


def test_a_channels_last_mlp_is_not_a_linear_on_a_feature_map():
    assert codes(trace("ConvNeXtish", "8x4x4")) == []
    assert codes(trace("ViTBlock", f"{TOKENS}x{WIDTH}")) == []
    forgot = find_problems(trace("ForgotFlatten", "3x8x8"))  # the real mistake, behind a functional ReLU
    assert [(f.rule.code, f.layer) for f in forgot] == [("CNN301", "fc")]


def test_truncation_advice_never_breaks_a_branch():
    patch = find_problems(trace("PatchResidual", "4x9x9"))
    assert [(f.rule.code, f.layer) for f in patch] == [("CNN302", "down"), ("CNN302", "skip")]
    assert all("pad 1 more" not in f.message and "set ceil_mode" not in f.message for f in patch)
    assert patch[0].message.endswith(
        "pick input sizes that divide evenly (more padding would change its output size, which another branch "
        "may have to match)"
    )
    assert codes(trace("Downsample", "4x9x9")) == []  # ResNet's 1×1 stride-2 projection skips rows by design


def test_truncation_advice_in_a_spec_graph_keeps_the_merge_fitting():
    spec = parse(
        """input: [4, 9, 9]
layers:
  - {type: Conv2d, name: down, out_channels: 4, kernel_size: 2, stride: 2}
  - {type: BatchNorm2d, name: bn, from: down}
  - {type: AvgPool2d, name: skip, kernel_size: 2, from: input}
  - {type: Add, name: add, from: [bn, skip]}
"""
    )
    found = {f.layer: f.message for f in find_problems(trace_with(spec, Engine.ANALYTIC)) if f.rule.code == "CNN302"}
    assert found["down"].endswith(
        "pick input sizes that divide evenly (more padding would change its output size, which add's other input "
        "must match)"
    )
    alone = parse("input: [4, 9, 9]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 2, stride: 2}\n")
    assert find_problems(trace_with(alone, Engine.ANALYTIC))[0].message.endswith(
        "pad 1 more, or pick input sizes that divide evenly"
    )


def test_a_sequence_first_model_keeps_its_batch():
    assert codes(trace("SequenceFirst", "5x4")) == []
    assert codes(trace("SequenceFirst", "5x4", batch=3)) == []


def test_a_reshape_that_mixes_samples_is_found_at_its_line():
    result = cli("summary", "--model", f"{TUTORIAL}:myCNN", "--input", "3x64x64")
    assert result.exit_code == 1
    line = line_of(TUTORIAL, "x = x.view(-1, 3, 32, 32)")
    assert (
        f"{TUTORIAL.relative_to(ROOT)}:{line}:9: CNN206 the model takes a batch of 1 but returns 4 (4, 10): samples "
        "are mixed up on the way (this line reshapes (1, 3, 64, 64) into (4, 3, 32, 32))" in result.stdout
    )


# --- where findings point ------------------------------------------------------------------------


def test_a_ready_instances_findings_point_at_its_source_line():
    model = trace("instance", "3x16x16")
    finding = find_problems(model)[0]
    assert (finding.rule.code, finding.layer) == ("CNN201", "fc")
    location = finding.location
    assert (location.path, location.line) == (
        str(CONSTRUCTS.relative_to(ROOT)),
        line_of(CONSTRUCTS, "nn.Linear(144, 2)"),
    )


@pytest.fixture
def installed_package():
    """A model package installed beside torch, its name starting with "torch" as torchvision's does."""
    site = Path(torch.__file__).parent.parent
    package = site / "torchzoo_cnninspect_test"
    try:
        package.mkdir()
    except OSError:
        pytest.skip(f"{site} is not writable")
    shutil.copy(CONSTRUCTS, package / "models.py")
    (package / "__init__.py").write_text("")
    yield package
    shutil.rmtree(package)
    sys.modules.pop("torchzoo_cnninspect_test.models", None)
    sys.modules.pop("torchzoo_cnninspect_test", None)


def test_findings_of_an_installed_models_point_at_its_own_source(installed_package):
    model = inspect_model(parse_target("torchzoo_cnninspect_test.models:Mistaken"), {}, ["3x16x16"])
    location = find_problems(model)[0].location
    assert (Path(location.path).resolve(), location.line) == (
        installed_package / "models.py",
        line_of(CONSTRUCTS, "nn.Linear(144, 2)"),
    )


def test_a_layer_built_by_no_line_of_the_models_code_points_at_no_line():
    result = cli(
        "summary", "--model", "torch.nn:Linear", "--arg", "in_features=4", "--arg", "out_features=2", "--input", "5"
    )
    assert result.exit_code == 1
    assert "torch.nn: CNN201 Linear: in_features is 4 but it receives 5" in result.stdout
    document = json.loads(
        cli(
            "summary",
            "--model",
            "torch.nn:Linear",
            *("--arg", "in_features=4", "--arg", "out_features=2", "--input", "5", "--format", "json"),
        ).stdout
    )
    assert [(f["path"], f["line"], f["col"]) for f in document["findings"]] == [("torch.nn", None, None)]


def test_fix_fc_never_writes_into_an_installed_package(installed_package):
    source = installed_package / "models.py"
    before = source.read_text()
    result = cli("fix-fc", "--model", "torchzoo_cnninspect_test.models:Mistaken", "--input", "3x16x16", "--write")
    # the fix is held (exit 1: the finding stays) and says where to make the change instead
    assert result.exit_code == 1 and "outside your project (an installed package" in result.stdout
    assert source.read_text() == before


# --- user code that would end the process, print, or never end ---------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Exits", "forward pass failed: called sys.exit(0)"),
        ("ClosesGenerator", "forward pass failed: GeneratorExit: closed"),
        ("RaisesBase", "forward pass failed: Interrupted: stop"),
        ("ExitsInInit", "ExitsInInit() failed: called sys.exit(3)"),
    ],
)
def test_user_code_that_exits_is_a_failure_of_the_users_code(name, message):
    result = summary(name, "--input", "4")
    assert_user_error(result)
    assert result.stderr.startswith("cnninspect: error: ") and len(result.stderr.splitlines()) == 1
    assert message in result.stderr and result.stdout == ""


def test_a_module_that_exits_while_imported_is_a_failure_too():
    result = cli_error("summary", "--model", f"{MODELS / 'exits_on_import.py'}:Never", "--input", "4")
    assert result.stderr.startswith("cnninspect: error: importing ") and "called sys.exit(0)" in result.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [("HardExits", "forward pass failed: called os._exit(0)"), ("make_exit", "make_exit() failed: called os._exit(4)")],
)
def test_os_exit_in_user_code_cannot_end_the_process(name, message):
    result = subprocess.run(
        [sys.executable, "-m", "cnninspect", "summary", "--model", f"{CONSTRUCTS}:{name}", "--input", "4"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"NO_COLOR": "1", "COLUMNS": "100", "PATH": ""},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("cnninspect: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr


def test_the_timeout_ends_the_users_code_with_one_line():
    before = signal.getsignal(signal.SIGALRM)
    start = time.monotonic()
    result = summary("Sleeps", "--input", "4", "--timeout", "0.5")
    assert time.monotonic() - start < 30
    assert_user_error(result)
    assert result.stderr == (
        f"cnninspect: error: {CONSTRUCTS}:{line_of(CONSTRUCTS, 'time.sleep(60)')}: forward pass "
        "failed: stopped after 0.5 s (--timeout SECONDS allows longer)\n"
    )
    assert signal.getsignal(signal.SIGALRM) is before


def test_the_timeout_is_for_a_model_and_above_zero():
    assert "--timeout is for --model" in cli("summary", "--timeout", "3").stderr
    refused = summary("Prints", "--input", "4", "--timeout", "0")
    assert_user_error(refused)
    assert "--timeout 0: give a number of seconds above 0" in refused.stderr
    assert cli("fix-fc", "--model", f"{CONSTRUCTS}:Prints", "--input", "4", "--timeout", "30").exit_code == 0


def test_print_in_the_model_goes_to_stderr_not_into_the_json():
    result = summary("Prints", "--input", "4", "--format", "json")
    assert json.loads(result.stdout)["layers"][0]["name"] == "fc"
    assert "building Prints" in result.stderr and "input (1, 4)" in result.stderr


# --- where the forward pass runs ------------------------------------------------------------------


def test_large_activations_send_the_trace_to_meta():
    small = trace("ResNetStem", "3x32x32")
    assert small.device == "cpu"
    start = time.monotonic()
    huge = trace("ResNetStem", "3x8000x8000")  # a CPU forward pass at this size would take minutes
    assert time.monotonic() - start < 60
    assert huge.device == "meta" and huge.output_shape == (1, 10)
    assert huge.records[0].output_shape == (1, 64, 4000, 4000)
    assert huge.activation_bytes > 2**30


def test_an_instance_traced_on_meta_is_copied_without_its_tensors():
    zoo = constructs()
    weights = [p.clone() for p in zoo.stem.parameters()]
    model = inspect_model(parse_target("constructs:stem"), {}, ["3x8000x8000"])
    assert model.device == "meta" and model.total_params == sum(w.numel() for w in weights)
    assert all(p.device.type == "cpu" and torch.equal(p, w) for p, w in zip(zoo.stem.parameters(), weights))
    assert find_problems(model) == []


# --- real architectures ------------------------------------------------------------------------

REFERENCES = ["resnet18", "resnet50", "mobilenet_v2", "squeezenet1_0", "googlenet", "unet"]
"""Hand-written networks (tests/reference_models.py), each with its config in configs/."""


@pytest.mark.parametrize("name", REFERENCES)
def test_real_architectures_count_what_their_specs_count(name):
    """The op-by-op count of --model equals the spec engines' layer formulas (themselves checked
    against torchinfo) on every reference architecture, and no warning is false."""
    spec = trace_with(load(ROOT / "configs" / f"{name}.yaml"), Engine.ANALYTIC)
    size = "x".join(map(str, spec.spec.input))
    model = inspect_model(parse_target(f"{ROOT / 'tests' / 'reference_models.py'}:{name}"), {}, [size])
    assert model.complete and model.output_shape == spec.output_shape
    assert (model.total_params, totals(model).mult_adds) == (spec.total_params, totals(spec).mult_adds)
    assert codes(model) == codes(spec)
    # U-Net at 512×512 computes 192.5 G mult-adds: traced on meta, the CPU pass stopped at the budget
    heavy = totals(spec).mult_adds > engine.MODEL_CPU_MULT_ADDS
    assert heavy == (name == "unet")
    assert model.device == ("meta" if heavy else "cpu")
    assert (
        any(note.startswith("traced on the meta device: a CPU pass would compute over") for note in model.notes)
        == heavy
    )


def test_a_forward_pass_that_needs_more_memory_than_there_is_is_traced_on_meta(monkeypatch):
    # the weights are 8·3 + 8 values, so the CPU is chosen; the N×N product needs 2¹⁸ · 2¹⁸ · 4 bytes
    # (its 2¹⁸ · 2¹⁸ · 8 mult-adds would send it to meta first: the memory path is what is tested)
    monkeypatch.setattr(engine, "MODEL_CPU_MULT_ADDS", 10**18)
    model = trace("PixelAttention", "3x512x512")
    assert model.device == "meta" and model.complete
    assert model.output_shape == (1, 512 * 512, 512 * 512)
    assert model.notes[-1].startswith("traced on the meta device: on the CPU the forward pass fails (RuntimeError")


def test_a_cpu_trace_holds_no_more_memory_than_its_budget(monkeypatch):
    monkeypatch.setattr(engine, "CPU_TRACE_BUDGET", 128 * 2**20)  # Scratch fills 1 GiB in forward
    model = trace("Scratch", "4")
    assert model.device == "meta" and model.complete and model.output_shape == (1, 2)
    assert model.total_params == 4 * 2 + 2
