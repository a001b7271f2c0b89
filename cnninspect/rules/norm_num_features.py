"""CNN203 norm-num-features: a norm layer sized for other channels or another trailing shape."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import GroupsMismatch, SizeMismatch, TailMismatch
from cnninspect.rules.base import ArgFix, Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import CONV_NO_BIAS, at, groups_message, size_message, spec_text
from cnninspect.spec.catalog import NORM_FAMILIES
from cnninspect.text import show_value

NORM_ARGS = ("num_features", "num_channels")
"""The written sizes of BatchNorm/InstanceNorm and GroupNorm."""


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """A norm layer's written size that is not what arrives, channels its num_groups cannot split, or
    a LayerNorm's normalized_shape that is not the input's trailing shape."""
    record = scan.trace.records[index]
    for m in record.mismatches:
        if isinstance(m, SizeMismatch) and m.arg in NORM_ARGS:
            yield at(NORM_NUM_FEATURES, record.layer, *size_message(scan.trace, index, m))
        elif isinstance(m, GroupsMismatch) and m.arg in NORM_ARGS:
            yield at(NORM_NUM_FEATURES, record.layer, groups_message(scan.trace, index, m))
        elif isinstance(m, TailMismatch):
            message = (
                f"{record.layer.title}: normalized_shape is {show_value(m.declared)} but the input ends in "
                f"{show_value(m.received)}; set normalized_shape: {show_value(m.received)}"
            )
            yield at(NORM_NUM_FEATURES, record.layer, message, ArgFix(m.arg, m.received))


NORM_NUM_FEATURES = Rule(
    code="CNN203",
    name="norm-num-features",
    severity=Severity.ERROR,
    summary="A norm layer's size does not fit what it receives.",
    explanation="""BatchNorm/InstanceNorm num_features and GroupNorm num_channels must equal the incoming
    channels (and num_groups must divide them); LayerNorm normalized_shape must equal the
    trailing dimensions of the input.""",
    failing=Example(spec_text(f"{CONV_NO_BIAS}\n{{type: BatchNorm2d, num_features: 32}}")),
    passing=Example(spec_text(f"{CONV_NO_BIAS}\n{{type: BatchNorm2d, num_features: 16}}")),
    fixable=True,
    check=check,
    families=NORM_FAMILIES,
)
