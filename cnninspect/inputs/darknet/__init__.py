"""darknet ``.cfg`` files (YOLOv2/v3/v4 and their tiny variants), read as darknet's own parser
reads them (read.py) and edited in place (edit.py)."""

from __future__ import annotations

from typing import ClassVar

from cnninspect.inputs.base import InputFormat, ReadOptions
from cnninspect.inputs.darknet.edit import darknet_edits
from cnninspect.inputs.darknet.read import DARKNET_FORMAT, parse_darknet, starts_with_net
from cnninspect.inputs.splice import Edit
from cnninspect.spec.model import ModelSpec


class DarknetFormat(InputFormat):
    """A darknet ``.cfg``: ``[net]`` and its layer sections."""

    name = DARKNET_FORMAT
    title = "darknet .cfg"
    suffixes: ClassVar[tuple[str, ...]] = (".cfg",)
    input_hint = "width=, height= and channels= in [net]"
    any_torch_layer = False

    def recognises(self, text: str, label: str) -> bool:
        return starts_with_net(text)

    def read(self, text: str, label: str, options: ReadOptions) -> ModelSpec:
        return parse_darknet(text, label)

    def edits(self, text: str, original: ModelSpec, intended: ModelSpec) -> list[Edit]:
        return darknet_edits(text, original, intended)
