"""Every shipped config equals the same model written in plain PyTorch, layer by layer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import CONFIGS, builtin, load
from torch import nn

from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.torch import trace_spec
from cnninspect.rules import find_problems


def vgg16() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(inplace=True)]
            channels = v
    return nn.Sequential(
        *layers,
        nn.AdaptiveAvgPool2d(7),
        nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(4096, 4096),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(4096, 1000),
    )


REFERENCE = {
    "tutorial.yaml": (
        (3, 32, 32),
        lambda: nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32 * 8 * 8, 10),
        ),
    ),
    "lenet5.yaml": (
        (1, 32, 32),
        lambda: nn.Sequential(
            nn.Conv2d(1, 6, 5),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.Tanh(),
            nn.Linear(120, 84),
            nn.Tanh(),
            nn.Linear(84, 10),
        ),
    ),
    "cifar10_tutorial.yaml": (
        (3, 32, 32),
        lambda: nn.Sequential(
            nn.Conv2d(3, 6, 5),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, 10),
        ),
    ),
    "alexnet.yaml": (
        (3, 224, 224),
        lambda: nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2),
            nn.ReLU(True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(True),
            nn.MaxPool2d(3, 2),
            nn.AdaptiveAvgPool2d((6, 6)),
            nn.Flatten(),
            nn.Dropout(),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Linear(4096, 1000),
        ),
    ),
    "vgg16.yaml": ((3, 224, 224), vgg16),
}


def plain_pytorch(name: str) -> tuple[list[tuple[int, ...]], int]:
    """Per-layer output shapes and the parameter total of the hand-written model, on meta."""
    sample, build = REFERENCE[name]
    with torch.device("meta"):
        model = build()
    x = torch.empty(1, *sample, device="meta")
    shapes = []
    for layer in model:
        x = layer(x)
        shapes.append(tuple(x.shape))
    return shapes, sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("engine", ["analytic", "torch"])
def test_config_equals_plain_pytorch(name, engine):
    spec = load(CONFIGS / name)
    trace = infer_shapes(spec) if engine == "analytic" else trace_spec(spec)
    shapes, total = plain_pytorch(name)
    assert [r.output_shape for r in trace.records] == shapes
    assert trace.total_params == total
    assert find_problems(trace) == []


def test_vgg16_has_torchvisions_published_count():
    assert infer_shapes(load(CONFIGS / "vgg16.yaml")).total_params == 138_357_544


def test_alexnet_has_torchvisions_published_count():
    assert infer_shapes(load(CONFIGS / "alexnet.yaml")).total_params == 61_100_840


def test_builtin_model_is_configs_tutorial():
    shipped_text = (Path(__file__).parent.parent / "cnninspect" / "spec" / "tutorial.yaml").read_bytes()
    assert (CONFIGS / "tutorial.yaml").read_bytes() == shipped_text
    shipped = [(layer.name, layer.type, layer.args) for layer in load(CONFIGS / "tutorial.yaml").layers]
    assert [(layer.name, layer.type, layer.args) for layer in builtin().layers] == shipped


def test_broken_kernel_5_config_reports_fc():
    path = CONFIGS / "broken" / "tutorial_k5.yaml"
    (finding,) = find_problems(infer_shapes(load(path)))
    assert finding.rule.code == "CNN201"
    assert finding.location.line == 11 and finding.layer == "fc"
