"""What-if options (``--input``, ``--batch``, ``--kernel``, ``--stride``, ``--padding``,
``--set``) applied to any spec, validated like the spec itself."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from cnninspect.errors import CnnInspectError, Location, SpecError, UsageError
from cnninspect.spec.items import FLAGS, RESERVED
from cnninspect.spec.literal import literal_value
from cnninspect.spec.model import LayerSpec, ModelSpec
from cnninspect.spec.validate import CONV_FAMILIES, parse_input, set_arg
from cnninspect.text import did_you_mean

YAML_WORDS = {"true": True, "false": False, "null": None}
"""``--set`` values may be written as in YAML as well as in Python."""


@dataclass(frozen=True)
class Overrides:
    """What-if changes from the command line, applied to any spec."""

    input: str | None = None
    """``--input`` as typed, e.g. ``3x64x64``."""
    batch: int | None = None
    """``--batch``."""
    kernel: int | None = None
    """``--kernel``: kernel_size of every conv layer."""
    stride: int | None = None
    """``--stride``: stride of every conv layer."""
    padding: str | None = None
    """``--padding``: an integer, ``same`` or ``valid`` for every conv layer."""
    sets: tuple[str, ...] = ()
    """``--set LAYER.ARG=VALUE`` as typed, in order."""


def apply_overrides(spec: ModelSpec, overrides: Overrides) -> ModelSpec:
    """A new spec with the command line's what-if changes, validated like the spec itself."""
    applied: list[str] = []
    input_shape = spec.input
    if overrides.input is not None:
        input_shape = parse_input(overrides.input, Location("--input", 1, 1))
        applied.append(f"--input {overrides.input}")
    if not input_shape:
        raise SpecError(
            f"the spec gives no input shape; add {spec.input_hint} or pass --input 3x32x32",
            spec.input_location or Location(spec.source, 1, 1),
        )
    batch = spec.batch
    if overrides.batch is not None:
        if overrides.batch < 1:
            raise UsageError("--batch must be at least 1")
        batch = overrides.batch
        applied.append(f"--batch {batch}")
    layers = list(spec.layers)
    for option, arg, value in (
        ("--kernel", "kernel_size", overrides.kernel),
        ("--stride", "stride", overrides.stride),
        ("--padding", "padding", _padding_value(overrides.padding)),
    ):
        if value is None:
            continue
        targets = [i for i, layer in enumerate(layers) if layer.kind and layer.kind.family in CONV_FAMILIES]
        if not targets:
            raise UsageError(f"{option}: the spec has no Conv or ConvTranspose layer to change")
        for i in targets:
            layers[i] = _override_arg(layers[i], arg, value, option)
        applied.append(f"{option} {value}")
    for text in overrides.sets:
        target, arg, value = _parse_set(text, layers)
        layers[target] = _override_arg(layers[target], arg, value, f"--set {text}")
        applied.append(f"--set {text}")
    return replace(
        spec, input=input_shape, batch=batch, layers=tuple(layers), overridden=spec.overridden + tuple(applied)
    )


def _padding_value(text: str | None) -> int | str | None:
    if text is None:
        return None
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    if text in ("same", "valid"):
        return text
    raise UsageError(f"--padding {text!r}: expected an integer ≥ 0, same or valid")


def _override_arg(layer: LayerSpec, arg: str, value: Any, option: str) -> LayerSpec:
    try:
        changed = set_arg(layer, arg, value)
        if layer.half_padding and arg == "kernel_size":  # darknet's pad=1: the padding follows
            changed = set_arg(
                changed, "padding", value // 2 if isinstance(value, int) else tuple(k // 2 for k in value)
            )
        elif arg == "padding":
            changed = replace(changed, half_padding=False)
        return changed
    except CnnInspectError as error:
        raise UsageError(f"{option}: {error.message}") from None


def _parse_set(text: str, layers: Sequence[LayerSpec]) -> tuple[int, str, Any]:
    match = re.fullmatch(r"\s*([^=]+)\.(\w+)\s*=(.*)", text)
    if not match:
        raise UsageError(f"--set {text!r}: write LAYER.ARG=VALUE, e.g. --set fc.in_features=1568")
    layer_name, arg, raw = match.groups()
    layer_name = layer_name.strip()
    by_name = {layer.name: position for position, layer in enumerate(layers)}
    if layer_name not in by_name:
        raise UsageError(
            f"--set {text}: no layer named {layer_name!r}{did_you_mean(layer_name, list(by_name))} "
            f"(layers: {', '.join(by_name)})"
        )
    if arg in RESERVED:
        where = f"; write {arg}: false on the layer in the spec" if arg in FLAGS else ""
        raise UsageError(f"--set {text}: only arguments can be set, not the layer's {arg}{where}")
    raw = raw.strip()
    try:
        value = YAML_WORDS[raw] if raw in YAML_WORDS else literal_value(ast.parse(raw, mode="eval").body, 0)
    except (SyntaxError, UsageError):
        value = raw  # a bare word such as same
    except (RecursionError, ValueError):  # nested too deeply, or a number of thousands of digits
        raise UsageError(f"--set {text[:40]}…: the value is too large or nested too deeply to read") from None
    return by_name[layer_name], arg, value
