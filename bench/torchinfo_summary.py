"""Baseline: torchinfo.summary on the model a spec describes, as plain PyTorch (the class
`cnninspect export` writes), with real CPU weights and a real forward pass."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torchinfo import summary

from cnninspect.engines.analytic import infer_shapes
from cnninspect.export import export_pytorch
from cnninspect.inputs import load_source


def main(path: str, batch: int) -> None:
    spec = load_source(Path(path)).spec
    namespace: dict[str, object] = {}
    exec(export_pytorch(infer_shapes(spec)), namespace)  # the exported source of a spec from this repository
    model_class = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, torch.nn.Module)][-1]
    summary(model_class(), input_size=(batch, *spec.input), verbose=0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
