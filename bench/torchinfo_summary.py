"""Baseline: torchinfo.summary with real CPU weights and a real forward pass, on the model a spec
describes, as plain PyTorch (the class `cnninspect export` writes), or on a model of your own.

    python bench/torchinfo_summary.py SPEC BATCH
    python bench/torchinfo_summary.py FILE.py:NAME BATCH CxHxW   (NAME: a class or factory, no arguments)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch
from torchinfo import summary

from cnninspect.engines.analytic import infer_shapes
from cnninspect.export import export_pytorch
from cnninspect.inputs import load_source


def spec_model(path: str) -> tuple[Any, tuple[int, ...]]:
    """The exported class of a spec, built, and the spec's input shape."""
    spec = load_source(Path(path)).spec
    namespace: dict[str, object] = {}
    exec(export_pytorch(infer_shapes(spec)), namespace)  # the exported source of a spec from this repository
    model_class = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, torch.nn.Module)][-1]
    return model_class(), spec.input


def own_model(target: str, sample: str) -> tuple[Any, tuple[int, ...]]:
    """``FILE.py:NAME`` called with no arguments, and the shape of one sample (``3x224x224``)."""
    path, name = target.rsplit(":", 1)
    found = importlib.util.spec_from_file_location(Path(path).stem, path)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return getattr(module, name)(), tuple(int(n) for n in sample.split("x"))


def main(source: str, batch: int, sample: str | None = None) -> None:
    model, shape = spec_model(source) if sample is None else own_model(source, sample)
    summary(model, input_size=(batch, *shape), verbose=0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
