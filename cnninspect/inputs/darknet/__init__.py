"""darknet ``.cfg`` files (YOLOv2/v3/v4 and their tiny variants), read as darknet's own parser
reads them (read.py) and edited in place (edit.py); both load only when a .cfg is read or edited."""

from __future__ import annotations

from typing import ClassVar

from cnninspect.inputs.base import InputFormat, ReadOptions
from cnninspect.inputs.darknet.cfg import DARKNET_FORMAT, INPUT_HINT, starts_with_net
from cnninspect.inputs.splice import Edit
from cnninspect.spec.model import LayerSpec, ModelSpec
from cnninspect.text import feature_map


class DarknetFormat(InputFormat):
    """A darknet ``.cfg``: ``[net]`` and its layer sections."""

    name = DARKNET_FORMAT
    title = "darknet .cfg"
    suffixes: ClassVar[tuple[str, ...]] = (".cfg",)
    input_hint = INPUT_HINT
    any_torch_layer = False

    def recognises(self, text: str, label: str) -> bool:
        return starts_with_net(text)

    def read(self, text: str, label: str, options: ReadOptions) -> ModelSpec:
        from cnninspect.inputs.darknet.read import parse_darknet  # loaded only when a .cfg is read

        return parse_darknet(text, label)

    def edits(self, text: str, original: ModelSpec, intended: ModelSpec) -> list[Edit]:
        from cnninspect.inputs.darknet.edit import darknet_edits

        return darknet_edits(text, original, intended)

    def tolerated_merge(self, layer: LayerSpec, shapes: tuple[tuple[int, ...], ...]) -> str | None:
        """A [shortcut] of layers with other channels, widths or heights: darknet adds the first
        min(c) channels into the previous layer's output, which it keeps; pjreddie's darknet samples
        the larger of two sizes with a stride (its widths and heights in one ratio), AlexeyAB's
        asserts equal sizes. None for anything else (a wrong route is still an error)."""
        if layer.type != "Add" or len(shapes) != 2 or any(len(shape) != 4 for shape in shapes):
            return None
        out, added = shapes
        (_, c2, h2, w2), (_, c1, h1, w1) = out, added
        if out[0] != added[0] or w1 // w2 != h1 // h2 or w2 // w1 != h2 // h1:
            return None  # darknet's own assertion fails
        index = layer.name.split(".")[0]
        previous, other = (name.split(".")[0] for name in layer.inputs)
        sampled = ""
        if (h1, w1) != (h2, w2):
            step = max(w1 // w2, w2 // w1)
            sampled = (
                f", one row and column in {step} of the larger; AlexeyAB's darknet refuses this one (it asserts "
                "equal widths and heights), pjreddie's reads it"
            )
        return (
            f"[shortcut] {index} adds layer {other}'s {feature_map(added)} to layer {previous}'s {feature_map(out)}: "
            f"darknet adds the first {min(c1, c2)} channels{sampled} and keeps {feature_map(out)} (PyTorch's x + y "
            "would refuse); if all of them should be added, make the two layers' outputs equal"
        )
