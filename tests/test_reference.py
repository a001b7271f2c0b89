"""DESIGN.md's reference numbers for the tutorial model, worked out by hand, on both engines."""

from __future__ import annotations

import pytest
from conftest import builtin

from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.torch import trace_spec
from cnninspect.rules import ArgFix, find_problems
from cnninspect.spec.overrides import Overrides, apply_overrides


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """The tutorial's formula, written independently of the engine."""
    return (size + 2 * padding - kernel) // stride + 1


ENGINES = [infer_shapes, lambda spec: trace_spec(spec, "cpu"), lambda spec: trace_spec(spec, "meta")]
ENGINE_IDS = ["analytic", "torch-cpu", "torch-meta"]


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_kernel_3_matches_the_tutorial(engine):
    trace = engine(apply_overrides(builtin(), Overrides()))
    shapes = {r.layer.name: r.output_shape for r in trace.records}
    assert out_size(32, 3, 2, 1) == 16 and out_size(16, 3, 2, 1) == 8
    assert shapes["conv1"] == (1, 16, 16, 16)
    assert shapes["conv2"] == (1, 32, 8, 8)
    assert shapes["4"] == (1, 32 * 8 * 8)
    params = {r.layer.name: (r.weights, r.biases) for r in trace.records if r.params}
    assert params == {
        "conv1": (16 * 3 * 3 * 3, 16),  # 448
        "conv2": (32 * 3 * 3 * 16, 32),  # 4,640
        "fc": (2048 * 10, 10),  # 20,490
    }
    assert trace.total_params == 448 + 4640 + 20490 == 25578
    assert find_problems(trace) == []


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_kernel_5_flags_fc_and_carries_on(engine):
    trace = engine(apply_overrides(builtin(), Overrides(kernel=5)))
    assert out_size(32, 5, 2, 1) == 15 and out_size(15, 5, 2, 1) == 7
    shapes = {r.layer.name: r.output_shape for r in trace.records}
    assert shapes["conv1"] == (1, 16, 15, 15)
    assert shapes["conv2"] == (1, 32, 7, 7)
    assert shapes["fc"] == (1, 10)  # every row is still shown
    (finding,) = find_problems(trace)
    assert finding.rule.code == "CNN201"
    assert finding.message == (
        "fc: in_features is 2048 but it receives 1568 (32×7×7 from conv2); set in_features: 1568"
    )
    assert finding.fix == ArgFix("in_features", 32 * 7 * 7)
    assert (finding.location.line, finding.location.col) == (10, 5)


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_kernel_5_with_fixed_fc_counts_29738(engine):
    spec = apply_overrides(builtin(), Overrides(kernel=5, sets=("fc.in_features=1568",)))
    trace = engine(spec)
    conv1 = 16 * (5 * 5 * 3) + 16
    conv2 = 32 * (5 * 5 * 16) + 32
    fc = (32 * 7 * 7) * 10 + 10
    assert [r.params for r in trace.records if r.params] == [conv1, conv2, fc] == [1216, 12832, 15690]
    assert trace.total_params == 29738
    # The tutorial's 29,690 leaves out the conv biases: both figures are readable off the records.
    conv_bias = sum(r.biases for r in trace.records if r.layer.type == "Conv2d")
    assert trace.total_params - conv_bias == 29690
    assert find_problems(trace) == []


def test_activation_and_parameter_memory_are_float32_totals():
    trace = infer_shapes(apply_overrides(builtin(), Overrides(batch=2)))
    outputs = 2 * (16 * 16 * 16 * 2 + 32 * 8 * 8 * 2 + 2048 + 10)  # conv1, relu, conv2, relu, flatten, fc
    assert trace.activation_bytes == 4 * outputs
    assert trace.param_bytes == 4 * 25578
