"""Graph specs: from:, merges, groups, blocks, repeats and if:, the reference configs against the
same networks written by hand in plain PyTorch, references checked at load time, merge findings,
fix-fc in blocks, sizes, schema and --depth."""

from __future__ import annotations

import json
import math
import shutil

import jsonschema
import pytest
import reference_models
import torch
from conftest import CONFIGS, cli, cli_error, load, parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnninspect import rules
from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.torch import build_module, trace_spec
from cnninspect.errors import GraphError, SpecError
from cnninspect.export import export_pytorch
from cnninspect.inputs import format_for
from cnninspect.metrics import receptive_fields
from cnninspect.rules import find_problems
from cnninspect.spec.expr import ExpressionError, parse_expression
from cnninspect.spec.schema import spec_schema
from cnninspect.spec.yamldoc import read_document

PUBLISHED = {
    "resnet18.yaml": (reference_models.resnet18, 11_689_512),
    "resnet50.yaml": (reference_models.resnet50, 25_557_032),
    "mobilenet_v2.yaml": (reference_models.mobilenet_v2, 3_504_872),
    "squeezenet1_0.yaml": (reference_models.squeezenet1_0, 1_248_424),
    "googlenet.yaml": (reference_models.googlenet, 6_624_904),
    "unet.yaml": (reference_models.unet, 31_030_658),
    "unet_2015.yaml": (reference_models.unet_2015, 31_030_658),
}
WITH_PARAMETERS = ("Conv2d", "ConvTranspose2d", "BatchNorm2d", "Linear")


def reference_outputs(build, sample: tuple[int, ...]):
    """Output shape of every leaf module of the hand-written model (by name and in call order), of
    the model, and its parameter total, from a forward pass on the meta device."""
    with torch.device("meta"):
        model = build().eval()
    by_name: dict[str, tuple[int, ...]] = {}
    in_order: list[tuple[str, tuple[int, ...]]] = []

    def hook(name):
        def record(module, inputs, output):
            by_name[name] = tuple(output.shape)
            in_order.append((type(module).__name__, tuple(output.shape)))

        return record

    hooks = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if not list(m.children())]
    with torch.no_grad():
        output = model(torch.empty(1, *sample, device="meta"))
    for handle in hooks:
        handle.remove()
    return by_name, in_order, tuple(output.shape), sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("engine", ["analytic", "torch"])
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_reference_config_equals_the_hand_written_network_layer_by_layer(name, engine):
    build, published = PUBLISHED[name]
    spec = load(CONFIGS / name)
    trace = infer_shapes(spec) if engine == "analytic" else trace_spec(spec, "meta")
    by_name, in_order, output, total = reference_outputs(build, spec.input)
    layers = [r for r in trace.records if r.layer.type in WITH_PARAMETERS]
    if name.startswith("unet"):  # the hand-written U-Net keeps its convs in ModuleLists: compare in call order
        assert [(r.layer.type, r.output_shape) for r in layers] == [e for e in in_order if e[0] in WITH_PARAMETERS]
    else:  # the same names as torchvision's modules
        assert {r.layer.name: r.output_shape for r in layers} == {n: by_name[n] for n in (r.layer.name for r in layers)}
    assert trace.output_shape == output
    assert trace.total_params == total == published
    errors = [f for f in find_problems(trace) if f.rule.severity is rules.Severity.ERROR]
    assert errors == []


def test_resnet18_parameter_names_are_torchvisions_state_dict_keys():
    spec = load(CONFIGS / "resnet18.yaml")
    trace = infer_shapes(spec)
    keys = {
        f"{record.layer.name}.{key}"
        for record in trace.records
        if not record.layer.is_merge
        for key in build_module(record.layer, record.in_size, "meta").state_dict()
    }
    with torch.device("meta"):
        expected = set(reference_models.resnet18().state_dict())
    assert keys == expected and len(keys) == 122


def test_resnet152_has_its_published_count():
    assert infer_shapes(load(CONFIGS / "resnet152.yaml")).total_params == 60_192_808


# --- the format --------------------------------------------------------------------------------

BLOCK = """\
input: [4, 8, 8]
blocks:
  Res:
    params: {c: null, project: false}
    layers:
      - {type: Conv2d, name: conv, out_channels: $c, kernel_size: 3, padding: 1}
      - name: skip
        if: $project
        from: input
        layers:
          - {type: Conv2d, out_channels: $c, kernel_size: 1}
      - {type: Add, name: add, from: [conv, skip]}
layers:
  - {type: Res, name: stage1, c: 4, repeat: 2}
  - name: stage2
    layers:
      - {type: Res, c: 6, project: true}
      - {type: Res, c: 6, repeat: 2}
  - {type: ReLU, repeat: 2}
"""


def test_names_follow_pytorchs_nesting_and_groups_hold_their_layers():
    spec = parse(BLOCK)
    assert [layer.name for layer in spec.layers] == [
        "stage1.0.conv", "stage1.0.add", "stage1.1.conv", "stage1.1.add",
        "stage2.0.conv", "stage2.0.skip.0", "stage2.0.add",
        "stage2.1.conv", "stage2.1.add", "stage2.2.conv", "stage2.2.add",
        "2", "3",
    ]  # fmt: skip
    groups = {g.name: (g.type, g.depth, g.layers[0], g.layers[-1]) for g in spec.groups}
    assert groups["stage1"] == ("Res × 2", 0, "stage1.0.conv", "stage1.1.add")
    assert groups["stage2.0"] == ("Res", 1, "stage2.0.conv", "stage2.0.add")
    assert groups["stage2.0.skip"] == ("Sequential", 2, "stage2.0.skip.0", "stage2.0.skip.0")
    by_name = {layer.name: layer for layer in spec.layers}
    # switched off, `skip` passes the block's input on: stage1.0.add reads conv and the model's input
    assert by_name["stage1.0.add"].inputs == ("stage1.0.conv", "input")
    assert by_name["stage1.1.add"].inputs == ("stage1.1.conv", "stage1.0.add")
    assert by_name["stage2.0.add"].inputs == ("stage2.0.conv", "stage2.0.skip.0")
    assert by_name["stage2.0.skip.0"].inputs == ("stage1.1.add",)


def test_both_engines_trace_a_graph_and_the_skip_projection_fits():
    spec = parse(BLOCK)
    shapes = {r.layer.name: r.output_shape for r in infer_shapes(spec).records}
    assert shapes == {r.layer.name: r.output_shape for r in trace_spec(spec, "cpu").records}
    assert shapes["stage2.0.add"] == (1, 6, 8, 8)
    # conv 3×3: c·(3·3·c_in) + c; the projection 1×1: 6·4 + 6
    params = {r.layer.name: r.params for r in infer_shapes(spec).records if r.params}
    assert params["stage1.0.conv"] == 4 * 3 * 3 * 4 + 4
    assert params["stage2.0.conv"] == 6 * 3 * 3 * 4 + 6
    assert params["stage2.0.skip.0"] == 6 * 4 + 6
    assert find_problems(infer_shapes(spec)) == []


NOT_REFERENCES = ("only Add, Concat and Mul take several", "Add needs at least two inputs")


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("layers:\n  - {type: ReLU, name: a}\n  - {type: Add, from: [a, nope]}\n", (3, 27), "no layer named 'nope'"),
        ("layers:\n  - {type: ReLU, name: a, from: b}\n  - {type: ReLU, name: b}\n", (2, 33), "'b' comes later"),
        ("layers:\n  - {type: ReLU, name: a, from: a}\n", (2, 33), "a reads itself"),
        ("layers:\n  - {type: ReLU, name: a, from: b}\n  - {type: ReLU, name: b, from: a}\n", (2, 33), "no cycle"),
        ("blocks:\n  B:\n    layers: [{type: B}]\nlayers:\n  - B\n", (3, 21), "block B uses itself (B → B)"),
        (
            "blocks:\n  A:\n    layers: [{type: B}]\n  B:\n    layers: [{type: A}]\nlayers:\n  - A\n",
            (5, 21),
            "block A uses itself (A → B → A)",
        ),
        ("blocks:\n  B:\n    params: {c: null}\n    layers: [ReLU]\nlayers:\n  - B\n", (6, 5), "block B needs c"),
        (
            "blocks:\n  B:\n    params: {c: 1}\n    layers: [ReLU]\nlayers:\n  - {type: B, d: 2}\n",
            (6, 15),
            "block B has no parameter 'd' (it has c)",
        ),
        ("layers:\n  - {type: Conv2d, out_channels: $c, kernel_size: 3}\n", (2, 34), "only a block's layers"),
        (
            "blocks:\n  B:\n    params: {c: 1}\n    layers: [{type: Conv2d, out_channels: $d, kernel_size: 1}]\n"
            "layers:\n  - B\n",
            (4, 43),
            "no parameter 'd' (block B has c)",
        ),
        ("layers:\n  - {type: ReLU, from: [input, input]}\n", (2, 12), "only Add, Concat and Mul take several"),
        ("layers:\n  - {type: Add, name: a}\n", (2, 5), "Add needs at least two inputs"),
    ],
)
def test_every_broken_reference_is_one_located_line(tmp_path, text, where, words):
    """Each one line with file:line:col, CNN107 in lint; the schema of the spec's own names rejects the
    broken references (the last two are about how many inputs a layer takes, which only the loader
    knows)."""
    path = tmp_path / "broken.yaml"
    path.write_text("input: [3, 8, 8]\n" + text)
    with pytest.raises(GraphError) as caught:
        load(path)
    error = caught.value
    assert (error.location.line - 1, error.location.col) == where and words in error.message
    result = cli("lint", str(path), "--format", "concise")
    assert result.stdout.startswith(f"{path}:{where[0] + 1}:{where[1]}: CNN107 ") and result.exit_code == 1
    summary = cli_error("summary", str(path))
    assert len(summary.stderr.splitlines()) == 1
    document = read_document(path.read_text(), str(path))  # the spec's own schema rejects a reference
    rejected = list(jsonschema.Draft7Validator(spec_schema(document)).iter_errors(document.data(document.root)))
    assert bool(rejected) == (words not in NOT_REFERENCES)


@pytest.mark.parametrize(
    ("written", "meant"),
    [("Addd", "Add"), ("Sum", "Add"), ("Cat", "Concat"), ("Concatenate", "Concat"), ("mull", "Mul")],
)
def test_a_misspelt_merge_quotes_what_was_written_and_names_the_merge_meant(written, meant):
    text = f"input: [3, 8, 8]\nlayers:\n  - {{type: ReLU, name: a}}\n  - {{type: {written}, from: [a, input]}}\n"
    with pytest.raises(GraphError) as caught:
        parse(text)
    error = caught.value
    assert (error.location.line, error.location.col) == (4, 12)  # the type, where the fix goes
    assert error.message == (
        f"{written!r} reads one input; only Add, Concat and Mul take several (from: [a, input]); "
        f"did you mean {meant!r}?"
    )


def test_an_unknown_type_far_from_any_merge_gets_no_guess():
    with pytest.raises(GraphError) as caught:
        parse("input: [3, 8, 8]\nlayers:\n  - {type: Zebra, from: [input, input]}\n")
    assert caught.value.message.endswith("(from: [input, input])")


INDEXED = (
    "input: [3, 8, 8]\n"
    "layers:\n"
    "  - name: enc1\n"
    "    layers:\n"
    "      - {type: Conv2d, name: c1, out_channels: 4, kernel_size: 3, padding: 1}\n"
    "      - ReLU\n"  # enc1.1
    "  - {type: Conv2d, out_channels: 4, kernel_size: 1}\n"  # 1
    "  - ReLU\n"  # 2
    "  - {type: Add, from: [enc1.c1, '2']}\n"  # 3
    "  - {type: Concat, from: [enc1.1, 1]}\n"  # 4
)


def test_from_reaches_unnamed_layers_by_their_index_as_the_docs_say():
    spec = parse(INDEXED)
    by_name = {layer.name: layer for layer in spec.layers}
    assert by_name["3"].inputs == ("enc1.c1", "2")
    assert by_name["4"].inputs == ("enc1.1", "1")
    shapes = {r.layer.name: r.output_shape for r in infer_shapes(spec).records}
    assert shapes["3"] == (1, 4, 8, 8) and shapes["4"] == (1, 4 + 4, 8, 8)
    document = read_document(INDEXED, "t.yaml")  # editors' schema of the file's own names agrees
    assert not list(jsonschema.Draft7Validator(spec_schema(document)).iter_errors(document.data(document.root)))


def test_every_config_meets_the_schema_and_its_own():
    configs = sorted(p for p in CONFIGS.rglob("*.yaml") if format_for(p.read_text(), str(p)).has_schema)
    base = spec_schema()
    jsonschema.Draft7Validator.check_schema(base)  # against the metaschema: slow, so once per kind of schema
    own_checked = False
    for path in configs:
        document = read_document(path.read_text(), str(path))
        data = document.data(document.root)
        own = spec_schema(document)
        if not own_checked and "blocks" in data:  # a file's own names and blocks
            jsonschema.Draft7Validator.check_schema(own)
            own_checked = True
        for schema in (base, own):
            assert list(jsonschema.Draft7Validator(schema).iter_errors(data)) == [], path
    assert own_checked
    assert (
        cli("schema", str(CONFIGS / "resnet18.yaml")).stdout
        == json.dumps(
            spec_schema(read_document((CONFIGS / "resnet18.yaml").read_text(), str(CONFIGS / "resnet18.yaml"))),
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("$planes * 4", {"planes": 64}, 256),
        ("$kernel // 2", {"kernel": 7}, 3),
        ("$stride == 1 and $inp == $oup", {"stride": 1, "inp": 32, "oup": 32}, True),
        ("$stride != 1 or $inp != $oup", {"stride": 1, "inp": 32, "oup": 32}, False),
        ("$a if $b else -1", {"a": 5, "b": False}, -1),
        ("not $flag", {"flag": False}, True),
        ("max(1, $c // 4)", {"c": 3}, 1),  # torchvision's EfficientNet squeeze: never below 1
        ("max(1, $c // 4)", {"c": 64}, 16),
        ("min($a, $b, 7) + max($a, $b)", {"a": 9, "b": 8}, 7 + 9),
        ("max(min($a, 4), 2) * 2", {"a": 3}, 6),
    ],
)
def test_parameter_expressions(text, values, expected):
    assert parse_expression(text).evaluate(values) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("__import__('os').system('true')", "is not a parameter"),
        ("$a.__class__", "Attribute is not allowed"),
        ("$a ** 2", "is not an expression"),
        ("$a(1)", "calling 'a' is not allowed; only max(a, b, ...) and min(a, b, ...)"),
        ("abs($a)", "calling 'abs' is not allowed"),
        ("$a.bit_length()", "calling this is not allowed"),
        ("max($a)", "max() takes two or more values"),
        ("min($a, key=2)", "min() takes two or more values"),
        ("max(*$a, 1)", "max() takes two or more values"),
        ("$max(1, 2)", "$max is a parameter and cannot be called"),
        ("max(1, 2)(3)", "calling this is not allowed"),
        ("max($a, true)", "arithmetic needs integers, got True"),
        ("$a / 2", "is not an expression"),
        ("planes * 4", "write parameters as $planes"),
        ("'text'", "is not a parameter"),
    ],
)
def test_expressions_outside_the_grammar_are_refused_without_running(text, words):
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text).evaluate({"a": 1})
    assert words in str(caught.value) or "not allowed" in str(caught.value) or "only integers" in str(caught.value)


def test_a_call_other_than_max_or_min_is_refused_at_its_place():
    spec = "input: [8, 4, 4]\nblocks:\n  B:\n    params: {c: 8}\n    layers:\n"
    spec += "      - {type: Conv2d, out_channels: 'round($c / 4)', kernel_size: 1}\n"
    spec += "layers:\n  - {type: B}\n"
    value = spec.splitlines()[5].index("'round") + 1
    with pytest.raises(GraphError, match="calling 'round' is not allowed; only max") as caught:
        parse(spec)
    assert (caught.value.location.line, caught.value.location.col) == (6, value)
    with pytest.raises(GraphError, match="calling 'abs' is not allowed") as caught:
        parse(spec.replace("round($c / 4)", "abs($c)"))
    assert (caught.value.location.line, caught.value.location.col) == (6, value)
    with pytest.raises(SpecError, match="parameter name 'max' is the function expressions call"):
        parse(spec.replace("{c: 8}", "{max: 8}"))


def test_an_efficientnet_squeeze_with_max_traces_and_exports():
    """torchvision's EfficientNet: squeeze channels = max(1, input_channels // 4)."""
    spec = parse(
        "input: [6, 8, 8]\nblocks:\n  SE:\n    params: {c: null}\n    layers:\n"
        "      - {type: AdaptiveAvgPool2d, name: avgpool, output_size: 1}\n"
        "      - {type: Conv2d, name: fc1, out_channels: 'max(1, $c // 4)', kernel_size: 1}\n"
        "      - {type: SiLU, name: act}\n"
        "      - {type: Conv2d, name: fc2, out_channels: $c, kernel_size: 1}\n"
        "      - {type: Sigmoid, name: gate}\n"
        "      - {type: Mul, name: scale, from: [input, gate]}\n"
        "layers:\n  - {type: SE, name: se6, c: 6}\n  - {type: Conv2d, out_channels: 40, kernel_size: 1}\n"
        "  - {type: SE, name: se40, c: 40}\n"
    )
    trace = infer_shapes(spec)
    squeeze = {r.layer.name: r.output_shape[1] for r in trace.records if r.layer.name.endswith("fc1")}
    assert squeeze == {"se6.fc1": 1, "se40.fc1": 10}  # max(1, 6 // 4) = 1, max(1, 40 // 4) = 10
    # fc1 + fc2 of each SE: (6·1 + 1) + (1·6 + 6), conv 6·40 + 40, (40·10 + 10) + (10·40 + 40)
    assert trace.total_params == (6 + 1) + (6 + 6) + (240 + 40) + (400 + 10) + (400 + 40)
    code = export_pytorch(trace)
    assert "self.fc1 = nn.Conv2d(in_channels, max(1, c // 4), kernel_size=1)" in code
    assert "self.fc2 = nn.Conv2d(max(1, c // 4), c, kernel_size=1)" in code
    namespace: dict = {}
    exec(compile(code, "exported.py", "exec"), namespace)  # the test runs the generated classes
    model = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, torch.nn.Module)][-1]()
    assert sum(p.numel() for p in model.parameters()) == trace.total_params


def test_expression_errors_at_evaluation():
    with pytest.raises(ExpressionError, match="division by zero"):
        parse_expression("$a // 0").evaluate({"a": 1})
    with pytest.raises(ExpressionError, match="too large"):
        parse_expression("$a * $a * $a * $a * $a").evaluate({"a": 10**13})


# --- findings on merges --------------------------------------------------------------------------


def test_a_forgotten_downsample_is_found_with_the_projection_that_fixes_it():
    result = cli("lint", "configs/broken/resnet18_no_downsample.yaml", "--format", "json")
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["code"] == "CNN207" and finding["layer"] == "layer2.0.add"
    assert (finding["line"], finding["col"]) == (23, 9)  # the Add in the BasicBlock template
    # bn2: 56 → ⌊(56 + 2 − 3) / 2⌋ + 1 = 28 at 128 channels; the skip is the block's input, 56×56×64
    assert "bn2 gives 28×28×128 but downsample gives 56×56×64" in finding["message"]
    assert "1×1 projection with stride 2 and out_channels 128" in finding["message"]
    assert "Conv2d(64, 128, kernel_size=1, stride=2)" in finding["message"]
    assert finding["message"].endswith("(downsample, which would be that projection, is switched off here by its if:)")


def test_the_papers_unet_crops_each_skip_with_a_negative_zeropad():
    trace = infer_shapes(load(CONFIGS / "unet_2015.yaml"))
    shapes = {r.layer.name: r.output_shape[2:] for r in trace.records}
    # 572 → 568 → pool 284 → 280 → 140 → 136 → 68 → 64 → 32 → 28; up ×2 and the crop to match:
    # 56 = 64 − 2·4, 104 = 136 − 2·16, 200 = 280 − 2·40, 392 = 568 − 2·88; the last level ends at 392 − 4
    assert [shapes[f"crop{level}"] for level in (4, 3, 2, 1)] == [(56, 56), (104, 104), (200, 200), (392, 392)]
    assert [shapes[f"up{level}"] for level in (4, 3, 2, 1)] == [(56, 56), (104, 104), (200, 200), (392, 392)]
    assert trace.output_shape == (1, 2, 388, 388)


def test_unet_at_an_odd_size_names_the_sizes_that_work():
    result = cli("lint", "configs/broken/unet_odd_size.yaml", "--format", "json", "--select", "CNN208")
    findings = json.loads(result.stdout)["findings"]
    # 572 → 286 → 143 → 71: the decoder's 35·2 = 70 no longer meets 71, nor 71·2 = 142 meets 143
    assert [f["layer"] for f in findings] == ["cat4", "cat3"]
    assert "enc4 gives 71×71×512 and up4 gives 70×70×512" in findings[0]["message"]
    assert "inputs of 560×560 or 576×576 work" in findings[0]["message"]  # 35·16 and 36·16
    # or crop the skip's extra row and column at the end (ZeroPad2d's order: left, right, top, bottom),
    # or pad the upsampled side by one
    assert findings[0]["message"].endswith(
        ", or crop enc4 to 70×70 with ZeroPad2d((0, -1, 0, -1)) before cat4, or pad up4 to 71×71 with "
        "ZeroPad2d((0, 1, 0, 1))"
    )
    sizes = json.loads(cli("sizes", "configs/unet.yaml", "--format", "json", "--range", "16:200").stdout)
    assert sizes["merges_fit"] == list(range(16, 201, 16))
    table = cli("sizes", "configs/unet.yaml").stdout
    assert "Every merge fits (N×N)             16, 32, …, 512 (every 16)" in table


def test_fix_fc_gives_the_head_of_resnet18_its_512_features(tmp_path):
    path = tmp_path / "head.yaml"
    shutil.copy(CONFIGS / "broken" / "resnet18_resnet50_head.yaml", path)
    result = cli("fix-fc", str(path), "--write")
    assert "fc: in_features 2048 → 512 (512 × 1 × 1 from avgpool → Flatten)" in result.stdout
    assert result.exit_code == 0
    assert cli("lint", str(path)).exit_code == 0
    assert path.read_text() == (CONFIGS / "broken" / "resnet18_resnet50_head.yaml").read_text().replace(
        "in_features: 2048", "in_features: 512"
    )


TEMPLATE = """\
input: [8, 16, 16]
blocks:
  Pair:
    params: {{c: 8}}
    layers:
      - {{type: Conv2d, name: a, out_channels: $c, kernel_size: 3, padding: 1}}
      - {{type: Conv2d, name: b, in_channels: {written}, out_channels: $c, kernel_size: 3, padding: 1}}
layers:
  - {{type: Pair, name: p1}}
  - {{type: Pair, name: p2, c: {second}}}
"""


def test_fix_fc_edits_a_template_once_when_every_use_needs_the_same(tmp_path):
    path = tmp_path / "pair.yaml"
    path.write_text(TEMPLATE.format(written=4, second=8).replace("{{", "{").replace("}}", "}"))
    result = cli("fix-fc", str(path), "--write")
    assert result.exit_code == 0
    assert "b: in_channels 4 → 8 (from p1.a); written once for 2 layers: p1.b, p2.b" in result.stdout
    assert "in_channels: 8, out_channels: $c" in path.read_text()
    assert cli("lint", str(path)).exit_code == 0


def test_fix_fc_explains_a_template_value_right_for_some_uses_and_writes_nothing(tmp_path):
    path = tmp_path / "pair.yaml"
    text = TEMPLATE.format(written=8, second=16).replace("{{", "{").replace("}}", "}")
    path.write_text(text)
    result = cli("fix-fc", str(path), "--write")
    assert result.exit_code == 1
    assert "p2.b: in_channels is 8 but it receives 16" in result.stdout
    assert (
        "in_channels: 8 is written once in block Pair at line 7 for 2 layers; it fits p1.b but not p2.b "
        "(they receive 16); leave in_channels out so each use infers it, or make it a block parameter"
    ) in result.stdout
    assert path.read_text() == text


def test_fix_fc_never_replaces_an_expression(tmp_path):
    path = tmp_path / "pair.yaml"
    text = TEMPLATE.format(written="$c * 2", second=8).replace("{{", "{").replace("}}", "}")
    path.write_text(text)
    result = cli("fix-fc", str(path), "--write")
    assert result.exit_code == 1 and path.read_text() == text
    assert "in_channels is written as a $ expression in block Pair at line 7" in result.stdout


# --- the table ---------------------------------------------------------------------------------


def test_the_table_shows_the_hierarchy_with_totals_and_depth_folds_it():
    result = cli("summary", "configs/resnet18.yaml", "--engine", "analytic", "--depth", "1", columns=120)
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    # one BasicBlock at 64 channels: two 3×3 convs (3·3·64·64 each) and two BatchNorms (2·64 each)
    block = 2 * (3 * 3 * 64 * 64) + 2 * (2 * 64)
    assert rows["layer1"].split()[1:5] == ["BasicBlock", "×", "2", "56×56×64"]
    assert f"{2 * block:,}" in rows["layer1"]
    assert "layer1.0" not in result.stdout and "conv2" not in result.stdout
    full = cli("summary", "configs/resnet18.yaml", "--engine", "analytic", columns=140).stdout
    merge = next(line for line in full.splitlines() if " add " in f" {line} ")
    assert "bn2 + downsample" in merge
    assert "      conv1" in full  # a block's layers sit two levels in: layer1 → 0 → conv1


def test_json_keeps_full_names_inputs_and_groups():
    document = json.loads(cli("summary", "configs/resnet18.yaml", "--engine", "analytic", "--format", "json").stdout)
    add = next(layer for layer in document["layers"] if layer["name"] == "layer2.0.add")
    assert add["inputs"] == ["layer2.0.bn2", "layer2.0.downsample.1"]
    group = next(g for g in document["groups"] if g["name"] == "layer2")
    assert group["params"] == sum(
        layer["params"] for layer in document["layers"] if layer["name"].startswith("layer2.")
    )


# --- engines agree on random graphs ------------------------------------------------------------


@st.composite
def graph_specs(draw):
    """Random graph specs: convs, pools, norms and activations, with Add, Concat and Mul reading
    earlier layers (valid or not), and a residual block used with repeat."""
    channels, size = draw(st.integers(1, 4)), draw(st.integers(4, 9))
    shapes = {"input": (channels, size, size)}
    lines, current = [], "input"
    blocks = ""
    for index in range(draw(st.integers(1, 7))):
        name = f"l{index}"
        c, h, _ = shapes[current]
        kind = draw(st.sampled_from(["conv", "relu", "bn", "pool", "add", "concat", "mul", "block"]))
        if kind == "conv":
            out, kernel = draw(st.integers(1, 5)), draw(st.sampled_from([1, 3]))
            stride = draw(st.sampled_from([1, 2])) if h >= 4 else 1
            lines.append(f"{{type: Conv2d, name: {name}, out_channels: {out}, kernel_size: {kernel}, "
                         f"padding: {kernel // 2}, stride: {stride}}}")  # fmt: skip
            shapes[name] = (out, (h - 1) // stride + 1, (h - 1) // stride + 1)
        elif kind == "pool" and h >= 2:
            lines.append(f"{{type: MaxPool2d, name: {name}, kernel_size: 2, ceil_mode: true}}")
            shapes[name] = (c, -(-h // 2), -(-h // 2))
        elif kind in ("add", "mul", "concat"):
            other = draw(st.sampled_from(sorted(shapes)))
            merge = {"add": "Add", "mul": "Mul", "concat": "Concat"}[kind]
            lines.append(f"{{type: {merge}, name: {name}, from: [{current}, {other}]}}")
            o = shapes[other]
            shapes[name] = (c + o[0], h, h) if kind == "concat" else (c, h, h)
        elif kind == "block":
            blocks = (
                "blocks:\n  Res:\n    params: {c: 1}\n    layers:\n"
                "      - {type: Conv2d, name: conv, out_channels: $c, kernel_size: 3, padding: 1}\n"
                "      - {type: Add, name: add, from: [conv, input]}\n"
            )
            lines.append(f"{{type: Res, name: {name}, c: {c}, repeat: {draw(st.integers(1, 3))}}}")
            shapes[name] = (c, h, h)
        else:
            lines.append(f"{{type: {'ReLU' if kind == 'relu' else 'BatchNorm2d'}, name: {name}}}")
            shapes[name] = (c, h, h)
        current = name
    return f"input: [{channels}, {size}, {size}]\n{blocks}layers:\n" + "".join(f"  - {line}\n" for line in lines)


@pytest.mark.parametrize("device", ["cpu", "meta"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=graph_specs())
def test_engines_agree_on_random_graphs(text, device):
    spec = parse(text)
    analytic, torch_trace = infer_shapes(spec), trace_spec(spec, device)
    assert [r.output_shape for r in torch_trace.records] == [r.output_shape for r in analytic.records]
    assert [(r.weights, r.biases) for r in torch_trace.records] == [(r.weights, r.biases) for r in analytic.records]
    assert [[type(m) for m in r.mismatches] for r in torch_trace.records] == [
        [type(m) for m in r.mismatches] for r in analytic.records
    ]
    for record in analytic.records:  # a merge that fits gives what PyTorch's broadcasting gives
        if record.layer.type in ("Add", "Mul") and not record.mismatches:
            assert record.output_shape == torch.broadcast_shapes(*record.input_shapes)
        if record.layer.type == "Concat" and not record.mismatches:
            assert record.output_shape[1] == sum(s[1] for s in record.input_shapes)
            assert math.prod(record.output_shape) == sum(math.prod(s) for s in record.input_shapes)


def test_a_spec_may_not_name_a_layer_input():
    with pytest.raises(SpecError, match="'input' names the input"):
        parse("input: [3, 8, 8]\nlayers:\n  - {type: ReLU, name: input}\n")


def test_receptive_field_follows_the_graph_and_a_merge_sees_as_far_as_its_farthest_input():
    spec = parse(
        "input: [1, 16, 16]\nlayers:\n"
        "  - {type: Conv2d, name: a, out_channels: 1, kernel_size: 3, padding: 1}\n"
        "  - {type: Conv2d, name: b, out_channels: 1, kernel_size: 3, padding: 1, stride: 2}\n"
        "  - {type: Conv2d, name: side, out_channels: 1, kernel_size: 1, stride: 2, from: input}\n"
        "  - {type: Add, name: add, from: [b, side]}\n"
        "  - {type: Conv2d, name: c, out_channels: 1, kernel_size: 3, padding: 1}\n"
    )
    reach = {
        r.layer.name: (x[0][0], x[1][0])
        for r, x in zip(infer_shapes(spec).records, receptive_fields(infer_shapes(spec)))
    }
    # a: 3, jump 1; b: 3 + 2·1 = 5, jump 2; side starts again from the input: 1, jump 2;
    # add: max(5, 1) = 5; c: 5 + 2·2 = 9, jump 2
    assert reach == {"a": (3, 1), "b": (5, 2), "side": (1, 2), "add": (5, 2), "c": (9, 2)}
