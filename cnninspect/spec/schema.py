"""The JSON Schema of the spec format, built from the layer catalog (draft-07, so that
yaml-language-server and other editors can read it)."""

from __future__ import annotations

from typing import Any

from cnninspect import __version__
from cnninspect.spec.catalog import LAYER_TYPES, NO_DEFAULT, LayerType

DRAFT = "http://json-schema.org/draft-07/schema#"
CLASS_NAME = r"^((torch\.)?nn\.)?[A-Za-z_][A-Za-z0-9_]*$"


def spec_schema() -> dict[str, Any]:
    """The whole schema: top-level keys, the input shape, and every catalog layer's arguments."""
    layer_name = {"type": ["string", "integer"], "description": "The layer's name (default: its index)."}
    layer_type = {
        "type": "string",
        "description": "A torch.nn class name, case-insensitive; nn. optional.",
        "anyOf": [{"enum": sorted(LAYER_TYPES)}, {"pattern": CLASS_NAME}],
    }
    mapping = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": layer_type, "name": layer_name},
        "allOf": [_layer_rule(kind, layer_name) for kind in LAYER_TYPES.values()],
    }
    bare = {"type": "string", "pattern": CLASS_NAME, "description": "A layer without arguments, e.g. ReLU."}
    return {
        "$schema": DRAFT,
        "title": f"cnninspect model spec (cnninspect {__version__})",
        "description": "A CNN as a list of torch.nn layers, traced by cnninspect.",
        "type": "object",
        "additionalProperties": False,
        "required": ["layers"],
        "properties": {
            "name": {"type": "string", "description": "The model's name."},
            "input": {
                "description": 'One sample, channels first: [3, 32, 32] or "3x32x32".',
                "oneOf": [
                    {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "maxItems": 4},
                    {"type": "string", "pattern": r"^\s*\d+(\s*[x×,]\s*\d+){0,3}\s*$"},
                ],
            },
            "layers": {"type": "array", "minItems": 1, "items": {"anyOf": [bare, mapping]}},
        },
    }


def _layer_rule(kind: LayerType, layer_name: dict[str, Any]) -> dict[str, Any]:
    """``if type is this class then only its arguments, the required ones present``."""
    properties: dict[str, Any] = {"type": {}, "name": layer_name}
    for param in kind.params:
        default = "" if param.default is NO_DEFAULT else f" Default: {param.default!r}."
        properties[param.name] = {**param.check.schema, "description": f"{param.check.describe}.{default}"}
    required = [p.name for p in kind.params if p.default is NO_DEFAULT and p.name != kind.inferred]
    return {
        "if": {"properties": {"type": {"const": kind.name}}, "required": ["type"]},
        "then": {"properties": properties, "required": required, "additionalProperties": False},
    }
