"""CNN103 unknown-layer: a layer type torch.nn does not have."""

from __future__ import annotations

from cnninspect.errors import LayerTypeError
from cnninspect.rules.base import Example, Rule, Severity
from cnninspect.rules.shared import spec_text

UNKNOWN_LAYER = Rule(
    code="CNN103",
    name="unknown-layer",
    severity=Severity.ERROR,
    summary="A layer's type is not a torch.nn class.",
    explanation="""type is a torch.nn class name, matched case-insensitively; nn. is optional.""",
    failing=Example(spec_text("{type: Conv2D3, out_channels: 16, kernel_size: 3}")),
    passing=Example(spec_text("{type: conv2d, out_channels: 16, kernel_size: 3}")),
    reports=(LayerTypeError,),
)
