"""CNN210 detection-head-filters: a darknet head's conv with filters its classes and anchors do not need."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.rules.base import ArgFix, Example, Finding, Rule, Scan, Severity

_YOLO = """[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky

[convolutional]
filters={filters}
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58
classes=2
num=3
"""


def check_trace(scan: Scan) -> Iterator[Finding]:
    """A value the file's format demands of a layer (a YOLO head's filters), at the value."""
    for need, layer in scan.trace.spec.unmet_requirements():
        yield Finding(
            DETECTION_HEAD_FILTERS,
            layer.arg_locations.get(need.arg, layer.location),
            layer.name,
            f"{layer.title}: {need.written_as} is {layer.get(need.arg)} but {need.because}; "
            f"set {need.written_as}={need.value}",
            ArgFix(need.arg, need.value),
        )


DETECTION_HEAD_FILTERS = Rule(
    code="CNN210",
    name="detection-head-filters",
    severity=Severity.ERROR,
    summary="The convolution before a darknet [yolo] or [region] head has the wrong number of filters.",
    explanation="""A [yolo] head reads (classes + 5) values per anchor in its mask: x, y, w, h, objectness
    and a score per class, so the convolution before it needs filters = (classes + 5) × len(mask)
    (255 for COCO's 80 classes and 3 anchors). A [region] head needs (classes + coords + 1) × num.
    Change the classes and darknet aborts with an assertion that names neither number; fix-fc
    writes the right filters= value.""",
    failing=Example(_YOLO.format(filters=24), suffix=".cfg"),
    passing=Example(_YOLO.format(filters=21), suffix=".cfg"),
    fixable=True,
    check_trace=check_trace,
)
