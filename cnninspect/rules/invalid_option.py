"""CNN105 invalid-option: a malformed command-line option or override."""

from __future__ import annotations

from cnninspect.errors import UsageError
from cnninspect.rules.base import Example, Rule, Severity
from cnninspect.rules.shared import CONV, spec_text

INVALID_OPTION = Rule(
    code="CNN105",
    name="invalid-option",
    severity=Severity.ERROR,
    summary="A command-line option or override is malformed.",
    explanation="""Overrides are validated like the spec: --kernel 0, or --set for a layer the spec
    does not have, is refused.""",
    failing=Example(spec_text(CONV), ("--set", "conv9.kernel_size=5")),
    passing=Example(spec_text(CONV), ("--set", "conv1.kernel_size=5")),
    reports=(UsageError,),
)
