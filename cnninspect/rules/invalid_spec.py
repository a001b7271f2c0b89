"""CNN102 invalid-spec: the spec's structure is wrong (and any spec error no other rule reports)."""

from __future__ import annotations

from cnninspect.errors import SpecError
from cnninspect.rules.base import Example, Rule, Severity
from cnninspect.rules.shared import spec_text

INVALID_SPEC = Rule(
    code="CNN102",
    name="invalid-spec",
    severity=Severity.ERROR,
    summary="The spec's structure is wrong: unknown keys, bad input shape, no layers.",
    explanation="""A spec is a mapping with name, input ([C, H, W] or "CxHxW") and a non-empty layers
    list; layer names are unique.""",
    failing=Example(spec_text("ReLU", input="32x32x3x1x1")),
    passing=Example(spec_text("ReLU", input="3x32x32")),
    reports=(SpecError,),
)
