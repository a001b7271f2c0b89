"""CNN301 linear-on-feature-map: a Linear applied to a feature map that was not flattened."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import CONV, at, spec_text
from cnninspect.spec.catalog import Family
from cnninspect.text import shape_text


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """A Linear that gets a feature map (its last dimension is a row of pixels, not the features)."""
    record = scan.trace.records[index]
    family = record.layer.kind.family if record.layer.kind else None
    source = scan.trace.producers[index]
    if family is not Family.LINEAR or record.mismatches or len(record.input_shape) < 3:
        return
    if source is not None and scan.maps[source]:
        shape = record.input_shape
        yield at(
            LINEAR_ON_FEATURE_MAP,
            record.layer,
            f"{record.layer.title}: Linear gets the {len(shape)}-d feature map {shape_text(shape)} and mixes only "
            f"its last dimension ({shape[-1]} values); add Flatten before it",
        )


LINEAR_ON_FEATURE_MAP = Rule(
    code="CNN301",
    name="linear-on-feature-map",
    severity=Severity.WARNING,
    summary="A Linear layer gets a feature map that was not flattened.",
    explanation="""PyTorch applies Linear to the last dimension only, so after a conv or pool it mixes
    one row of pixels and keeps the rest: the model runs, but not as meant. Put a Flatten
    before the first Linear.""",
    failing=Example(spec_text(f"{CONV}\n{{type: Linear, in_features: 16, out_features: 10}}")),
    passing=Example(spec_text(f"{CONV}\nFlatten\n{{type: Linear, in_features: 4096, out_features: 10}}")),
    check=check,
    families=(Family.LINEAR,),
)
