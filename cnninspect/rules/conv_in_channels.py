"""CNN202 conv-in-channels: a convolution whose filters do not fit the channels arriving."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import GroupsMismatch, SizeMismatch
from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import CONV, at, groups_message, size_message, spec_text
from cnninspect.spec.catalog import Family


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """A conv's written in_channels that is not what arrives, or channels its groups cannot split."""
    record = scan.trace.records[index]
    for m in record.mismatches:
        if isinstance(m, SizeMismatch) and m.arg == "in_channels":
            yield at(CONV_IN_CHANNELS, record.layer, *size_message(scan.trace, index, m))
        elif isinstance(m, GroupsMismatch) and m.arg == "in_channels":
            yield at(CONV_IN_CHANNELS, record.layer, groups_message(scan.trace, index, m))


CONV_IN_CHANNELS = Rule(
    code="CNN202",
    name="conv-in-channels",
    severity=Severity.ERROR,
    summary="Conv in_channels differs from the channels it receives.",
    explanation="""A convolution's filters are stacks of in_channels/groups kernels; they must match the
    channels of the incoming feature map, and groups must divide them.""",
    failing=Example(spec_text(f"{CONV}\n{{type: Conv2d, in_channels: 8, out_channels: 32, kernel_size: 3}}")),
    passing=Example(spec_text(f"{CONV}\n{{type: Conv2d, in_channels: 16, out_channels: 32, kernel_size: 3}}")),
    fixable=True,
    check=check,
    families=(Family.CONV, Family.CONV_TRANSPOSE, Family.LOCAL),
)
