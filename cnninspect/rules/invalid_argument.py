"""CNN104 invalid-argument: a layer argument PyTorch would refuse."""

from __future__ import annotations

from cnninspect.errors import ArgumentError
from cnninspect.rules.base import Example, Rule, Severity
from cnninspect.rules.shared import spec_text

INVALID_ARGUMENT = Rule(
    code="CNN104",
    name="invalid-argument",
    severity=Severity.ERROR,
    summary="A layer argument is unknown, of the wrong type or out of range.",
    explanation="""Arguments are the class's constructor arguments, same names, same meaning, checked
    strictly: kernel_size: true is not 1, and "16" is not 16. Arguments PyTorch refuses
    together (padding='same' with a stride) are refused too.""",
    failing=Example(spec_text("{type: Conv2d, out_channels: 16, kernel_size: true}")),
    passing=Example(spec_text("{type: Conv2d, out_channels: 16, kernel_size: 3}")),
    reports=(ArgumentError,),
)
