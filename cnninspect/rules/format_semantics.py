"""CNN304 format-semantics: where the file's own tool reads it differently from how it looks, or
than PyTorch would (darknet: the first of two equal keys; a key it never reads; a [shortcut] of
unequal layers; ramp)."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import MergeMismatch
from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import at

_TWICE = """[net]
width=32
height=32
channels=3

[convolutional]
filters=16{twice}
size=3
pad=1
activation=leaky
"""


def tolerated(scan: Scan, index: int) -> str | None:
    """What the file's format does with a merge PyTorch refuses (its warning), or None."""
    record = scan.trace.records[index]
    merge = next((m for m in record.mismatches if isinstance(m, MergeMismatch)), None)
    if merge is None:
        return None
    from cnninspect.inputs import format_named  # the formats load only when a merge is checked
    return format_named(scan.trace.spec.format).tolerated_merge(record.layer, merge.shapes)


def check_trace(scan: Scan) -> Iterator[Finding]:
    """What the reader noted (a key given twice or never read, a mask past num=) at its line, then
    each merge the format allows though PyTorch refuses it, with what the format does."""
    for note in scan.trace.spec.notes:
        yield Finding(FORMAT_SEMANTICS, note.location, "", note.message)
    for index, record in enumerate(scan.trace.records):
        message = tolerated(scan, index)
        if message is not None:
            yield at(FORMAT_SEMANTICS, record.layer, message)


FORMAT_SEMANTICS = Rule(
    code="CNN304",
    name="format-semantics",
    severity=Severity.WARNING,
    summary="The file's format reads a line differently from how it looks, or than PyTorch would.",
    explanation="""The model is traced as the file's own tool reads it, and this says where that
    differs from what the text or PyTorch suggests. darknet takes the first of two equal keys in a
    section and ignores the second; it skips a key its parser does not read in the section, so a
    typo such as filter=32 for filters= leaves filters at its default with no more than an "Unused
    field" line (a key that pjreddie's or AlexeyAB's darknet reads is no finding); its [shortcut]
    adds layers of different channel counts (the first min(c) channels; the output keeps the
    previous layer's shape), where PyTorch's x + y refuses, and AlexeyAB's darknet refuses one
    across widths and heights that pjreddie's darknet samples; a [yolo] mask that names anchors
    past num= reads values that are not anchors; its activation=ramp, x·(x>0) + 0.1·x, is no
    torch.nn class and is read as LeakyReLU(0.1), of the same shape. Delete the line darknet
    ignores (or correct its key), or make the layers match if the difference is a mistake.""",
    failing=Example(_TWICE.format(twice="\nfilters=32"), suffix=".cfg"),
    passing=Example(_TWICE.format(twice=""), suffix=".cfg"),
    check_trace=check_trace,
)
