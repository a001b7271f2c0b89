"""The torch engine traces on one intra-op thread and gives the caller's setting back."""

from __future__ import annotations

import pytest
import torch
from conftest import parse

from cnninspect.engines.torch import trace_spec
from cnninspect.errors import LayerFailure

SPEC = "input: [3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 3}\n  - ReLU\n"


@pytest.fixture
def threads_seen():
    """torch's intra-op thread count at every module call, and the caller's count set to 2 around the test."""
    seen: list[int] = []
    handle = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: seen.append(torch.get_num_threads())
    )
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield seen
    finally:
        handle.remove()
        torch.set_num_threads(before)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_the_trace_runs_on_one_thread_and_restores_the_setting(threads_seen, device):
    trace = trace_spec(parse(SPEC), device)
    assert [record.output_shape for record in trace.records] == [(1, 4, 6, 6), (1, 4, 6, 6)]  # 8 − 3 + 1
    assert threads_seen == [1, 1]
    assert torch.get_num_threads() == 2


def test_the_setting_is_restored_when_a_layer_fails(threads_seen):
    # PixelShuffle(2) needs channels divisible by 2 × 2 = 4: PyTorch refuses one channel.
    spec = parse("input: [1, 1, 1]\nlayers:\n  - {type: PixelShuffle, upscale_factor: 2}\n")
    with pytest.raises(LayerFailure):
        trace_spec(spec, "cpu")
    assert threads_seen == [1]
    assert torch.get_num_threads() == 2
