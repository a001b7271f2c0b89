"""Ultralytics YOLO model YAMLs (YOLOv3 to YOLO26) in the format registry: recognised by their
top-level ``backbone:`` and ``head:`` keys, read by read.py (rows by parse_model's rules), with
each module's block template in modules.yaml (blocks.py and families.py give their parameters)
and the heads composed by heads.py. The reader loads only when such a file is read, so that lint
of other specs never imports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from typing import ClassVar

from cnninspect.inputs.base import InputFormat, ReadOptions
from cnninspect.spec.model import INPUT, LayerSpec, ModelSpec

ULTRALYTICS_FORMAT = "ultralytics"
ROWS = re.compile(r"^(backbone|head)\s*:", re.MULTILINE)
ROW_NAME = re.compile(r"model\.(\d+)")


class UltralyticsFormat(InputFormat):
    """Ultralytics YOLO model YAMLs: ``backbone`` and ``head`` lists of ``[from, repeats, module, args]``."""

    name = ULTRALYTICS_FORMAT
    title = "Ultralytics model YAML"
    suffixes: ClassVar[tuple[str, ...]] = (".yaml", ".yml")
    input_hint = "--input 3x640x640 (the training imgsz is not in the file)"
    states_input = False

    def recognises(self, text: str, label: str) -> bool:
        return looks_like_ultralytics(text)

    def read(self, text: str, label: str, options: ReadOptions) -> ModelSpec:
        from cnninspect.inputs.ultralytics.read import read_ultralytics

        return read_ultralytics(text, label, options.scale)

    def merge_remedy(
        self,
        spec: ModelSpec,
        layer: LayerSpec,
        shapes: tuple[tuple[int, ...], ...],
        outputs: Mapping[str, tuple[int, ...]],
    ) -> str | None:
        """A row joining maps of different sizes reads a wrong scale: the usual cause is a ``from``
        index left pointing at the old row after a row was inserted above, not a size to crop."""
        match = ROW_NAME.fullmatch(layer.name)
        if match is None or len(spec.input) < 2 or any(len(shape) != len(spec.input) + 1 for shape in shapes):
            return None
        row = int(match.group(1))
        names = [source if source != INPUT else "the input" for source in layer.sources]
        if len(names) != len(shapes):
            return None
        strides = [_span(spec.input[1:], shape[2:]) for shape in shapes]
        listing = " and ".join(f"{name} at stride {stride}" for name, stride in zip(names, strides, strict=True))
        text = f"check the from: indices of row {row}: it reads {listing} (a row inserted above shifts them)"
        groups = {group.name: group.output for group in spec.groups}
        alike = [
            r
            for r in range(row)
            if f"row {r}" not in names
            and (shape := outputs.get(groups.get(f"model.{r}", f"model.{r}"))) is not None
            and shape[2:] == shapes[0][2:]
        ]
        if alike:
            rows = f"row {alike[0]} is" if len(alike) == 1 else f"rows {', '.join(map(str, alike))} are"
            text += f"; {rows} at stride {strides[0]} as {names[0]}"
        return text


def _span(size: tuple[int, ...], shape: tuple[int, ...]) -> str:
    """How many input pixels one place of a map spans, ``16``; per dimension when they differ (``16×8``)."""
    ratios = [Fraction(i, o) for i, o in zip(size, shape, strict=True)]
    shown = [str(r.numerator) if r.denominator == 1 else str(r) for r in dict.fromkeys(ratios)]
    return "×".join(shown)


def looks_like_ultralytics(text: str) -> bool:
    """Top-level ``backbone:`` and ``head:`` keys: an Ultralytics model YAML (even a broken one)."""
    return {match.group(1) for match in ROWS.finditer(text)} == {"backbone", "head"}
