"""Spec sources and their errors: every mistake is one located message, never a crash."""

from __future__ import annotations

import re

import pytest
from conftest import builtin, load, parse

from cnninspect.errors import ArgumentError, LayerTypeError, SpecError, UsageError, YamlError
from cnninspect.inputs.flags import parse_layers
from cnninspect.inputs.source import MAX_SPEC_BYTES, read_source
from cnninspect.spec.overrides import Overrides, apply_overrides
from cnninspect.spec.yamldoc import MAX_ALIASES

GOOD = """\
name: m
input: [3, 32, 32]
layers:
  - {type: Conv2d, out_channels: 16, kernel_size: 3}
  - ReLU
"""


def error_of(text: str) -> Exception:
    with pytest.raises(Exception) as caught:
        parse(text, "s.yaml")
    return caught.value


def test_yaml_spec_with_bare_strings_names_and_string_input():
    spec = parse(
        "input: 3x28x28\nlayers:\n  - {type: conv2d, name: c, out_channels: 4, kernel_size: [3, 5]}\n"
        "  - relu\n  - nn.Flatten\n",
        "s.yaml",
    )
    assert spec.input == (3, 28, 28)
    assert [layer.type for layer in spec.layers] == ["Conv2d", "ReLU", "Flatten"]  # case-insensitive
    assert [layer.name for layer in spec.layers] == ["c", "1", "2"]  # index by default, as nn.Sequential
    assert spec.layers[0].args == {"out_channels": 4, "kernel_size": (3, 5)}
    assert spec.name == "s"  # the file stem when no name is given


@pytest.mark.parametrize(
    ("text", "kind", "where", "words"),
    [
        ("layers: [{type: Conv2d, out_channels: 16\n", YamlError, (2, 1), "the '{' it is in opened at line 1, col 10"),
        (  # an unclosed { is found at the end of the file: the message says where it opened
            "layers:\n  - {type: ReLU\n  - Flatten\n",
            YamlError,
            (4, 1),
            "did not find expected ',' or '}'; the '{' it is in opened at line 2, col 5",
        ),
        ('name: "abc\n\nlayers: [ReLU]\n', YamlError, (4, 1), "stream; the quote it is in opened at line 1, col 7"),
        ("layers: [ReLU, Flatten\n", YamlError, (2, 1), "or ']'; the '[' it is in opened at line 1, col 9"),
        ("a: 1\na: 2\n", YamlError, (2, 1), "duplicate key"),
        ("input: !!python/object:os.system [3]\nlayers: [ReLU]\n", YamlError, (1, 8), "tags"),
        ("input: [3, 32]\nlayers: [ReLU]\nextra: 1\n", SpecError, (3, 1), "unknown key 'extra'"),
        ("input: 32x32x3x1x1\nlayers: [ReLU]\n", SpecError, (1, 8), "1 to 4 sizes"),
        ("input: [3, -1]\nlayers: [ReLU]\n", SpecError, (1, 8), "each from 1 to 2,147,483,647"),
        ("input: [3, 8]\n", SpecError, (1, 1), "no layers"),
        (
            "input: [3, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: true}\n",
            ArgumentError,
            (3, 50),
            "kernel_size: expected an integer ≥ 1",
        ),
        (
            "input: [3, 8]\nlayers:\n  - {type: Conv2d, out_channels: '16', kernel_size: 3}\n",
            ArgumentError,
            (3, 34),
            "out_channels",
        ),
        (
            "input: [3, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernal_size: 3}\n",
            ArgumentError,
            (3, 50),
            "did you mean 'kernel_size'",
        ),
        ("input: [3, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4}\n", ArgumentError, (3, 5), "needs kernel_size"),
        (
            "input: [3, 8]\nlayers:\n  - {type: MaxPool2d, kernel_size: 3, padding: 2}\n",
            ArgumentError,
            (3, 48),
            "more than half the kernel",
        ),
        (
            "input: [3, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: same}\n",
            ArgumentError,
            (3, 73),
            "padding='same' needs stride 1",
        ),
        (
            "input: [3, 8]\nlayers:\n  - {type: ReLU, name: a}\n  - {type: ReLU, name: a}\n",
            SpecError,
            (4, 5),
            "two layers are named 'a'",
        ),
        ("input: [3, 8]\nlayers:\n  - 7\n", SpecError, (3, 5), "a layer is a type name"),
    ],
)
def test_invalid_specs_name_the_place_and_the_remedy(text, kind, where, words):
    error = error_of(text)
    assert isinstance(error, kind)
    assert (error.location.line, error.location.col) == where
    assert words in error.message


def test_alias_flood_is_refused_before_expanding(tmp_path):
    lines = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    error = error_of("\n".join(lines) + "\n")
    assert isinstance(error, YamlError) and f"more than {MAX_ALIASES} aliases" in error.message


def test_oversized_file_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * MAX_SPEC_BYTES + "\n")
    with pytest.raises(YamlError, match="limit"):
        load(path)


def test_a_file_of_exactly_the_limit_is_read_whole_and_one_byte_more_is_refused(tmp_path):
    path = tmp_path / "long.yaml"
    data = b"# " + b"x" * (MAX_SPEC_BYTES - 3) + b"\n"  # 2 + (limit - 3) + 1 bytes: many read blocks
    path.write_bytes(data)
    assert len(data) == MAX_SPEC_BYTES and read_source(path) == data
    path.write_bytes(data + b"\n")
    with pytest.raises(YamlError, match="limit"):
        read_source(path)


@pytest.mark.parametrize("name", ["resnet18.yaml", "unet.yaml", "broken/tutorial_k5.yaml", "darknet/yolov3.cfg"])
def test_linting_a_spec_leaves_no_reference_cycle(name):
    """Each file's parser and tree are freed when it is done, not when the cycle collector next runs
    (which lint, reading thousands of files, would otherwise pay for, holding them all until then)."""
    import gc

    from conftest import ROOT

    from cnninspect.config import Settings
    from cnninspect.linter import lint_file

    gc.collect()
    gc.disable()
    try:
        assert lint_file(ROOT / "configs" / name, Settings(), Overrides()).is_spec
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_missing_file_and_folder_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        load(tmp_path / "nope.yaml")
    with pytest.raises(UsageError, match="is a folder"):
        load(tmp_path)


def test_flag_spec_matches_the_yaml_tutorial():
    text = (
        "Conv2d(3,16,3,stride=2,padding=1) ReLU() conv2=nn.Conv2d(16, 32, 3, stride=2, padding=1) ReLU() "
        "Flatten() fc=Linear(32*8*8, 10)"
    )
    spec = parse_layers(text)
    assert [(layer.type, layer.args) for layer in spec.layers] == [
        (layer.type, layer.args) for layer in builtin().layers
    ]
    assert [layer.name for layer in spec.layers] == ["0", "1", "conv2", "3", "4", "fc"]


@pytest.mark.parametrize(
    ("text", "col", "words"),
    [
        ("Conv2d(3, 16, 3) ReLU(", 22, "never closed"),
        ("ReLU() Linear(__import__('os').system('x'), 10)", 15, "not a plain value"),
        ("Conv2d(3, 16, kernel_size=True)", 27, "kernel_size: expected"),
        ("Linear(1, 2, True, 4)", 1, "at most 3 positional"),
    ],
)
def test_flag_spec_errors_point_at_the_column(text, col, words):
    with pytest.raises((UsageError, ArgumentError)) as caught:
        parse_layers(text)
    assert caught.value.location is not None and caught.value.location.col == col
    assert words in caught.value.message


def test_overrides_apply_to_every_conv_and_are_validated():
    spec = apply_overrides(builtin(), Overrides(input="3x64x64", batch=4, kernel=5, stride=1, padding="same"))
    assert spec.batched_input == (4, 3, 64, 64)
    convs = [layer for layer in spec.layers if layer.type == "Conv2d"]
    assert all(layer.args["kernel_size"] == 5 and layer.args["padding"] == "same" for layer in convs)
    with pytest.raises(UsageError, match=re.escape("--set conv9.kernel_size=5: no layer named 'conv9'")):
        apply_overrides(builtin(), Overrides(sets=("conv9.kernel_size=5",)))
    with pytest.raises(UsageError, match="expected an integer ≥ 1"):
        apply_overrides(builtin(), Overrides(sets=("conv1.kernel_size=0",)))
    with pytest.raises(UsageError, match="needs stride 1"):
        apply_overrides(builtin(), Overrides(padding="same"))
    with pytest.raises(SpecError, match="input '3x0' needs 1 to 4 sizes"):
        apply_overrides(builtin(), Overrides(input="3x0"))


def test_unknown_layer_type_is_reported_by_the_torch_engine():
    from cnninspect.engines.torch import trace_spec

    spec = parse("input: [3, 8, 8]\nlayers:\n  - {type: Conv2dd, out_channels: 4}\n", "s.yaml")
    with pytest.raises(
        LayerTypeError, match=re.escape("torch.nn has no layer 'Conv2dd'; did you mean 'Conv2d'")
    ) as caught:
        trace_spec(spec)
    assert caught.value.location is not None and caught.value.location.line == 3


def test_upsample_takes_one_scale_factor_per_spatial_dimension():
    # PyTorch's nn.Upsample(scale_factor=(2, 3)) on 6×6 gives 12×18: one factor per dimension
    import torch

    from cnninspect.engines.analytic import infer_shapes
    from cnninspect.engines.torch import trace_spec

    spec = parse_layers("Conv2d(3,8,3) Upsample(scale_factor=(2,3))", (3, 8, 8))
    expected = tuple(torch.nn.Upsample(scale_factor=(2, 3))(torch.zeros(1, 8, 6, 6)).shape)
    assert expected == (1, 8, 12, 18)
    for trace in (infer_shapes(spec), trace_spec(spec)):
        assert trace.records[1].output_shape == expected
    with pytest.raises(ArgumentError, match="a list of 1 to 3 of them"):
        parse_layers("Upsample(scale_factor=(2,2,2,2))")
