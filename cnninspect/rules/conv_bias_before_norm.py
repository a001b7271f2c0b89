"""CNN303 conv-bias-before-norm: a conv bias that the norm layer right after it cancels."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import LayerRecord
from cnninspect.rules.base import ArgFix, Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import CONV_NO_BIAS, at, spec_text
from cnninspect.spec.catalog import Family


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """A conv with a bias whose every reader is a BatchNorm or InstanceNorm."""
    records = scan.trace.records
    record = records[index]
    readers = [records[i] for i in scan.trace.consumers[index]]
    if readers and all(_bias_before_norm(record, reader) for reader in readers):
        following = readers[0]
        yield at(
            CONV_BIAS_BEFORE_NORM,
            record.layer,
            f"{record.layer.title}: its {record.biases} bias values are cancelled by {following.layer.title} "
            f"({following.layer.type} subtracts each channel's mean); set bias: false",
            ArgFix("bias", False),
        )


def _bias_before_norm(record: LayerRecord, following: LayerRecord) -> bool:
    kind, after = record.layer.kind, following.layer.kind
    return (
        kind is not None
        and after is not None
        and kind.family in (Family.CONV, Family.CONV_TRANSPOSE)
        and after.family in (Family.BATCH_NORM, Family.INSTANCE_NORM)
        and bool(record.layer.get("bias"))
        and record.output_shape is not None
    )


CONV_BIAS_BEFORE_NORM = Rule(
    code="CNN303",
    name="conv-bias-before-norm",
    severity=Severity.WARNING,
    summary="A conv bias is cancelled by the BatchNorm or InstanceNorm right after it.",
    explanation="""A norm layer subtracts each channel's mean, so a bias added just before it has no
    effect: it only costs parameters and memory. Set bias: false on the conv.""",
    failing=Example(
        spec_text("{type: Conv2d, out_channels: 16, kernel_size: 3}\n{type: BatchNorm2d, num_features: 16}")
    ),
    passing=Example(spec_text(f"{CONV_NO_BIAS}\n{{type: BatchNorm2d, num_features: 16}}")),
    check=check,
    families=(Family.CONV, Family.CONV_TRANSPOSE),
)
