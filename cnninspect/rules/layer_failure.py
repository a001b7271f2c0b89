"""CNN106 layer-failure: PyTorch or the user's code failed for a reason other than size."""

from __future__ import annotations

from cnninspect.errors import LayerFailure, ModelError
from cnninspect.rules.base import Example, Rule, Severity
from cnninspect.rules.shared import CONV, spec_text

LAYER_FAILURE = Rule(
    code="CNN106",
    name="layer-failure",
    severity=Severity.ERROR,
    summary="PyTorch refused to build or run a layer for a reason other than size.",
    explanation="""For layers only the torch engine knows, the real module is built and run; an error
    it raises is reported with the layer's place.""",
    failing=Example(spec_text(f"{CONV}\n{{type: PixelShuffle, upscale_factor: 3}}")),
    passing=Example(spec_text(f"{CONV}\n{{type: PixelShuffle, upscale_factor: 2}}")),
    reports=(LayerFailure, ModelError),
)
