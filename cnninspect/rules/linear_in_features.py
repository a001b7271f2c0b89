"""CNN201 linear-in-features: the classic crash, a Linear that does not take the features it receives."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import SizeMismatch
from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import CONV, at, size_message, spec_text
from cnninspect.spec.catalog import Family


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """A Linear's written in_features that is not the size arriving."""
    record = scan.trace.records[index]
    for m in record.mismatches:
        if isinstance(m, SizeMismatch) and m.arg == "in_features":
            yield at(LINEAR_IN_FEATURES, record.layer, *size_message(scan.trace, index, m))


LINEAR_IN_FEATURES = Rule(
    code="CNN201",
    name="linear-in-features",
    severity=Severity.ERROR,
    summary="Linear in_features differs from the features it receives.",
    explanation="""The classic crash: change a kernel size and the first Linear fails with "mat1 and
    mat2 shapes cannot be multiplied". Set in_features to what arrives (cnninspect fix-fc
    does it), or leave it out to have it inferred.""",
    failing=Example(spec_text(f"{CONV}\nFlatten\n{{type: Linear, in_features: 2048, out_features: 10}}")),
    passing=Example(spec_text(f"{CONV}\nFlatten\n{{type: Linear, in_features: 4096, out_features: 10}}")),
    fixable=True,
    check=check,
    families=(Family.LINEAR,),
)
