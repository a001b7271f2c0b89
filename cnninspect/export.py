"""A spec as a ready nn.Module class, in the style of the tutorial's Example 1: named layers in
``__init__``, ``forward`` calling them in order with the flatten written out."""

from __future__ import annotations

import json
import keyword
import re
from typing import Any

from cnninspect import __version__
from cnninspect.engines.records import Trace
from cnninspect.spec.catalog import NO_DEFAULT
from cnninspect.spec.model import LayerSpec

INDENT = " " * 4
MODULE_ATTRIBUTES = {"forward", "training", "eval", "train", "to", "cuda", "cpu", "parameters", "modules", "children"}
"""Names a layer attribute must not take: nn.Module already uses them."""


def export_pytorch(trace: Trace) -> str:
    """Python source of an nn.Module equal to the traced spec (inferred sizes written out)."""
    spec = trace.spec
    names = _attribute_names(spec.layers)
    init, forward = [], []
    uses_torch = False
    for record, name in zip(trace.records, names):
        layer = record.layer
        if layer.type == "Flatten":
            start, end = layer.args.get("start_dim", 1), layer.args.get("end_dim", -1)
            forward.append(f"x = torch.flatten(x, {start})" if end == -1 else f"x = torch.flatten(x, {start}, {end})")
            uses_torch = True
            continue
        init.append(f"self.{name} = nn.{layer.type}({_arguments(layer, record.in_size)})")
        forward.append(f"x = self.{name}(x)")
    shape = "×".join(map(str, spec.input))
    lines = [
        f'"""{spec.name}, exported by cnninspect {__version__} from {spec.source}; input {shape} (one sample)."""',
        "",
        *(["import torch"] if uses_torch else []),
        "from torch import nn",
        "",
        "",
        f"class {_class_name(spec.name)}(nn.Module):",
        f"{INDENT}def __init__(self):",
        f"{INDENT * 2}super().__init__()",
        *(f"{INDENT * 2}{line}" for line in init),
        "",
        f"{INDENT}def forward(self, x):",
        *(f"{INDENT * 2}{line}" for line in forward),
        f"{INDENT * 2}return x",
    ]
    return "\n".join(lines) + "\n"


def _arguments(layer: LayerSpec, in_size: int | None) -> str:
    """Required sizes positionally (``3, 16``), the rest by keyword, as the tutorial writes them."""
    kind = layer.kind
    if kind is None:
        parts = [_python(v) for v in layer.positional]
        return ", ".join(parts + [f"{k}={_python(v)}" for k, v in layer.args.items()])
    args = dict(layer.args)
    if kind.inferred and kind.inferred not in args and in_size is not None:
        args[kind.inferred] = in_size
    positional: list[str] = []
    keywords: list[str] = []
    for param in kind.params:
        if param.name not in args:
            continue
        if param.default is NO_DEFAULT and param.name != "kernel_size" and not keywords:
            positional.append(_python(args[param.name]))
        else:
            keywords.append(f"{param.name}={_python(args[param.name])}")
    return ", ".join(positional + keywords)


def _python(value: Any) -> str:
    """A literal as ruff format writes it."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        inner = ", ".join(_python(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def _attribute_names(layers: tuple[LayerSpec, ...]) -> list[str]:
    """Each layer's attribute: its name when that is a Python identifier, else type + index."""
    names: list[str] = []
    for layer in layers:
        base = layer.name if layer.name != str(layer.index) else f"{layer.type.lower()}{layer.index}"
        base = re.sub(r"\W", "_", base)
        if not base.isidentifier() or keyword.iskeyword(base) or base in MODULE_ATTRIBUTES:
            base = f"layer_{base}"
        name, n = base, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def _class_name(name: str) -> str:
    cleaned = re.sub(r"\W", "_", name).strip("_") or "Model"
    return cleaned if cleaned[0].isalpha() else f"Model_{cleaned}"
