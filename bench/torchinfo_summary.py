"""Baseline: torchinfo.summary on the same model a spec describes (real CPU weights and forward pass)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torchinfo import summary

from cnninspect.engines.torch import build_module
from cnninspect.spec.load import load_source
from cnninspect.spec.overrides import Overrides, apply_overrides


def main(path: str, batch: int) -> None:
    spec = apply_overrides(load_source(Path(path)).spec, Overrides(batch=batch))
    x = torch.zeros(spec.batched_input)
    layers = []
    with torch.no_grad():
        for layer in spec.layers:  # infer input sizes the way a user's hand-written model states them
            module = build_module(layer, x.shape[1] if x.dim() > 2 else x.shape[-1], "cpu")
            x = module(x)
            layers.append(module)
    summary(torch.nn.Sequential(*layers), input_size=spec.batched_input, verbose=0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
