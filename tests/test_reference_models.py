"""The hand-written reference models match their published parameter totals, output shapes and (ResNet-18) keys."""

from __future__ import annotations

import pytest
import torch
from reference_models import googlenet, mobilenet_v2, resnet18, resnet50, resnet152, squeezenet1_0, unet

# name: (factory, published parameter total, input shape, output shape)
MODELS = {
    "resnet18": (resnet18, 11_689_512, (1, 3, 224, 224), (1, 1000)),
    "resnet50": (resnet50, 25_557_032, (1, 3, 224, 224), (1, 1000)),
    "resnet152": (resnet152, 60_192_808, (1, 3, 224, 224), (1, 1000)),
    "mobilenet_v2": (mobilenet_v2, 3_504_872, (1, 3, 224, 224), (1, 1000)),
    "squeezenet1_0": (squeezenet1_0, 1_248_424, (1, 3, 224, 224), (1, 1000)),
    "googlenet": (googlenet, 6_624_904, (1, 3, 224, 224), (1, 1000)),
    # Sum of the convs, written out in UNet's docstring:
    #   37,568 + 221,440 + 885,248 + 3,539,968       (encoder)
    # + 14,157,824                                   (bottleneck)
    # + 9,176,576 + 2,294,528 + 573,824 + 143,552    (decoder: up-conv + double conv)
    # + 130                                          (1x1 head 64→2)
    # = 31,030,658
    "unet": (unet, 31_030_658, (1, 1, 256, 256), (1, 2, 256, 256)),
}


def build(name: str) -> torch.nn.Module:
    with torch.device("meta"):
        model = MODELS[name][0]()
    return model.eval()


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_total_matches_published(name: str) -> None:
    model = build(name)
    assert sum(p.numel() for p in model.parameters()) == MODELS[name][1]


@pytest.mark.parametrize("name", list(MODELS))
def test_output_shape(name: str) -> None:
    _, _, in_shape, out_shape = MODELS[name]
    model = build(name)
    with torch.no_grad():
        out = model(torch.empty(in_shape, device="meta"))
    assert tuple(out.shape) == out_shape


def test_unet_arithmetic() -> None:
    """The docstring's per-conv sum, recomputed from the layer sizes alone."""

    def conv(k: int, cin: int, cout: int) -> int:
        return k * k * cin * cout + cout

    def double(cin: int, cout: int) -> int:
        return conv(3, cin, cout) + conv(3, cout, cout)

    widths = [64, 128, 256, 512]
    encoder = sum(double(cin, cout) for cin, cout in zip([1, *widths[:-1]], widths))
    bottleneck = double(512, 1024)
    decoder = sum(conv(2, 2 * w, w) + double(2 * w, w) for w in widths)
    head = conv(1, 64, 2)
    assert (encoder, bottleneck, decoder, head) == (4_684_224, 14_157_824, 12_188_480, 130)
    assert encoder + bottleneck + decoder + head == 31_030_658


def torchvision_resnet18_keys() -> list[str]:
    """torchvision's resnet18 ``state_dict()`` keys, in order, enumerated from its naming (not from our model)."""

    def bn(prefix: str) -> list[str]:
        return [f"{prefix}.{s}" for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]

    keys = ["conv1.weight", *bn("bn1")]
    for layer in (1, 2, 3, 4):
        for block in (0, 1):
            p = f"layer{layer}.{block}"
            keys += [f"{p}.conv1.weight", *bn(f"{p}.bn1"), f"{p}.conv2.weight", *bn(f"{p}.bn2")]
            if layer > 1 and block == 0:  # stride 2 and a channel change: 1x1 conv + BN shortcut
                keys += [f"{p}.downsample.0.weight", *bn(f"{p}.downsample.1")]
    return [*keys, "fc.weight", "fc.bias"]


def test_resnet18_state_dict_keys_match_torchvision() -> None:
    keys = list(build("resnet18").state_dict())
    # 1 + 5 (stem) + 8 blocks x 12 + 3 downsamples x 6 + 2 (fc) = 122
    assert len(keys) == 122
    representative = {
        "conv1.weight",
        "bn1.running_mean",
        "bn1.num_batches_tracked",
        "layer1.0.conv1.weight",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.running_var",
        "layer4.1.bn2.bias",
        "fc.weight",
        "fc.bias",
    }
    assert representative <= set(keys)
    assert not any(k.startswith("layer1.0.downsample") for k in keys)  # layer1 keeps 64 channels at stride 1
    expected = torchvision_resnet18_keys()
    assert len(expected) == 122
    assert keys == expected


def test_resnet18_state_dict_shapes() -> None:
    sd = build("resnet18").state_dict()
    assert sd["conv1.weight"].shape == (64, 3, 7, 7)
    assert sd["layer2.0.conv1.weight"].shape == (128, 64, 3, 3)
    assert sd["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert sd["fc.weight"].shape == (1000, 512)


def test_resnet50_stride_on_3x3() -> None:
    """v1.5: the Bottleneck's 3x3 conv carries the stride, the 1x1 reduce does not."""
    block = build("resnet50").layer2[0]
    assert block.conv1.stride == (1, 1)
    assert block.conv2.stride == (2, 2)
    assert block.downsample[0].stride == (2, 2)


def test_resnet18_runs_on_cpu() -> None:
    """A real (non-meta) forward pass, small input, to show the models are not meta-only."""
    torch.manual_seed(0)
    model = resnet18().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 1000)
    assert torch.isfinite(out).all()
