"""CNN107 invalid-reference: a from:, block or parameter reference that does not resolve."""

from __future__ import annotations

from cnninspect.errors import GraphError
from cnninspect.rules.base import Example, Rule, Severity
from cnninspect.rules.shared import graph_text

INVALID_REFERENCE = Rule(
    code="CNN107",
    name="invalid-reference",
    severity=Severity.ERROR,
    summary="A from:, block or parameter reference does not resolve.",
    explanation="""from: names an earlier layer of the same list (or input, the list's input); a block is
    used with the parameters it declares, each required one given; $parameters exist only inside a
    block; a block cannot use itself. Every reference points backwards, so a spec has no cycles.""",
    failing=Example(
        graph_text("- {type: Conv2d, name: a, out_channels: 8, kernel_size: 3, from: b}\n- {type: ReLU, name: b}")
    ),
    passing=Example(
        graph_text("- {type: ReLU, name: b}\n- {type: Conv2d, name: a, out_channels: 8, kernel_size: 3, from: b}")
    ),
    reports=(GraphError,),
)
