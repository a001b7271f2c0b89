"""The JSON Schema of the spec format, built from the layer catalog (draft-07, so that
yaml-language-server and other editors can read it).

``spec_schema()`` describes every spec. ``spec_schema(document)`` describes one spec's own
graph on top of that: each ``from:`` may name only the layers above it in its list (so an
unknown name, a reference to itself or forward, and so any cycle, fail), each block is used
with exactly its parameters, and no block can use itself. A generic schema cannot say that:
it does not know the names a file defines.
"""

from __future__ import annotations

import re
from typing import TypeAlias

from cnninspect import __version__
from cnninspect.spec.catalog import LAYER_TYPES, NO_DEFAULT, OWN_FAMILIES, Family, LayerType
from cnninspect.spec.items import RESERVED as ITEM_KEYS
from cnninspect.spec.yamldoc import Document, Node
from cnninspect.text import Json, JsonObject

DRAFT = "http://json-schema.org/draft-07/schema#"
CLASS_NAME = r"^((torch\.)?nn\.)?[A-Za-z_][A-Za-z0-9_]*$"
EXPRESSION: JsonObject = {
    "type": "string",
    "pattern": r"\$[A-Za-z_]",
    "description": "A $parameter expression (in a block).",
}
NAME: JsonObject = {"type": ["string", "integer"]}
RESERVED: JsonObject = {
    "type": {"type": "string", "description": "A torch.nn class (case-insensitive, nn. optional) or a block."},
    "name": {**NAME, "description": "The layer's name (default: its position)."},
    "from": {
        "description": "The layer(s) it reads: a name, input, or a list for a merge (Add, Concat, Mul).",
        "anyOf": [NAME, {"type": "array", "items": NAME, "minItems": 1}],
    },
    "repeat": {"description": "Copies in a row (0: none); named: a group of copies 0, 1, …, read all by from: name.*",
               "anyOf": [{"type": "integer", "minimum": 0}, EXPRESSION]},
    "if": {"description": "Switched off (an identity) when false.", "anyOf": [{"type": "boolean"}, EXPRESSION]},
    "layers": {"$ref": "#/definitions/layers", "description": "A group's layers."},
    "trainable": {"type": "boolean", "description": "false: its parameters are frozen (requires_grad_(False))."},
    "called": {"type": "boolean", "description": (
        "false: it holds parameters that forward never calls; nothing reads it, input sizes written.")},
}  # fmt: skip
ALWAYS_CALLED = (*OWN_FAMILIES, Family.LOCAL)
"""Layers the loader refuses with ``called: false``: cnninspect's own, which hold no parameters, and
LocallyConnected2d, whose weights are counted by the places of an input that never arrives."""
Blocks: TypeAlias = dict[str, tuple[dict[str, object], Node]]
"""Block name → (parameter defaults, the node of its layers)."""


def spec_schema(document: Document | None = None) -> JsonObject:
    """The schema of every spec, or of the spec ``document`` holds (its own names and blocks)."""
    properties: JsonObject = {
        "name": {"type": "string", "description": "The model's name."},
        "input": {
            "description": 'One sample, channels first: [3, 32, 32] or "3x32x32".',
            "oneOf": [
                {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "maxItems": 4},
                {"type": "string", "pattern": r"^\s*\d+(\s*[x×,]\s*\d+){0,3}\s*$"},
            ],
        },
        "blocks": {
            "description": "Templates used as a layer type, with $parameters.",
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["layers"],
                "properties": {
                    "params": {
                        "type": "object",
                        "description": "Parameter: default (null: required).",
                        "propertyNames": {"not": {"enum": list(ITEM_KEYS)}},
                    },
                    "layers": {"$ref": "#/definitions/layers"},
                },
            },
        },
        "layers": {"$ref": "#/definitions/layers"},
    }
    if document is not None:
        _specialise(properties, document)
    return {
        "$schema": DRAFT,
        "title": f"cnninspect model spec (cnninspect {__version__})",
        "description": "A CNN as torch.nn layers, with from:, merges, blocks and repeats, traced by cnninspect.",
        "type": "object",
        "additionalProperties": False,
        "patternProperties": {"^x-": {"description": "Ignored: a place for YAML anchors."}},
        "required": ["layers"],
        "properties": properties,
        "definitions": {
            "layers": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/item"}},
            "item": {
                "anyOf": [
                    {"type": "string", "pattern": CLASS_NAME, "description": "A layer without arguments: ReLU."},
                    {
                        "type": "object",
                        "properties": dict(RESERVED),
                        "anyOf": [{"required": ["type"]}, {"required": ["layers"]}],
                        "allOf": [_layer_rule(kind) for kind in LAYER_TYPES.values()],
                    },
                ]
            },
        },
    }


def _layer_rule(kind: LayerType) -> JsonObject:
    """``if type is this class then only its arguments, the required ones present``; any argument
    may be a $ expression (inside a block)."""
    properties: JsonObject = dict(RESERVED)
    if kind.family in ALWAYS_CALLED:
        properties["called"] = {"const": True, "description": f"{kind.name} always runs (called: false is refused)."}
    for param in kind.params:
        default = "" if param.default is NO_DEFAULT else f" Default: {param.default!r}."
        described = {**param.check.schema, "description": f"{param.check.describe}.{default}"}
        properties[param.name] = {"anyOf": [described, EXPRESSION]}
    required = [p.name for p in kind.params if p.default is NO_DEFAULT and p.name != kind.inferred]
    then: JsonObject = {"properties": properties, "required": required, "additionalProperties": False}
    if kind.inferred:  # nothing flows into a layer forward never calls: its input size is written
        then["if"] = {"properties": {"called": {"const": False}}, "required": ["called"]}
        then["then"] = {"required": [kind.inferred]}
    return {"if": {"properties": {"type": {"const": kind.name}}, "required": ["type"]}, "then": then}


# ---------------------------------------------------------------------------------------
# One spec's own graph


def _specialise(properties: JsonObject, document: Document) -> None:
    """Narrow the top-level ``properties`` to this document's own names and blocks."""
    root = document.root.resolved()
    if root.kind != "map":
        return
    entries = root.items()
    blocks = _blocks(document, entries["blocks"][1]) if "blocks" in entries else {}
    users = _users(document, blocks)
    if blocks:
        properties["blocks"] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                name: {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["layers"],
                    "properties": {
                        "params": {"type": "object"},
                        "layers": _list(document, layers, blocks, users[name] | {name}, set(params)),
                    },
                }
                for name, (params, layers) in blocks.items()
            },
        }
    if "layers" in entries:
        properties["layers"] = _list(document, entries["layers"][1], blocks, set(), set())


def _blocks(document: Document, node: Node) -> Blocks:
    """Block name → (parameter defaults, the layers node), as far as the file is well-formed."""
    mapping = node.resolved()
    found: Blocks = {}
    if mapping.kind != "map":
        return found
    for name, (_, body) in mapping.items().items():
        body = body.resolved()
        if body.kind != "map" or "layers" not in body.items():
            continue
        params = body.items().get("params")
        defaults = document.data(params[1]) if params else {}
        found[name] = (defaults if isinstance(defaults, dict) else {}, body.items()["layers"][1])
    return found


def _users(document: Document, blocks: Blocks) -> dict[str, set[str]]:
    """For each block, the blocks that use it directly or through others (which it must not use)."""
    uses = {name: set(_types_in(document, layers)) & set(blocks) for name, (_, layers) in blocks.items()}
    users: dict[str, set[str]] = {name: set() for name in blocks}
    for name in blocks:
        stack = [name]
        while stack:
            current = stack.pop()
            for other, used in uses.items():
                if current in used and other not in users[name]:
                    users[name].add(other)
                    stack.append(other)
    return users


def _types_in(document: Document, layers: Node) -> list[str]:
    seq = layers.resolved()
    found: list[str] = []
    for item in seq.children if seq.kind == "seq" else []:
        item = item.resolved()
        if item.kind == "scalar":
            found.append(str(item.value))
        elif item.kind == "map":
            entries = item.items()
            if "type" in entries:
                found.append(str(document.data(entries["type"][1])))
            if "layers" in entries:
                found += _types_in(document, entries["layers"][1])
    return found


def _list(
    document: Document,
    layers: Node,
    blocks: Blocks,
    forbidden: set[str],
    params: set[str],
) -> JsonObject:
    """A ``layers:`` list, item by item: the names each ``from:`` may use are the ones above it, and
    ``$`` expressions may use only the parameters of the block the list is in."""
    seq = layers.resolved()
    if seq.kind != "seq":
        return {"$ref": "#/definitions/layers"}
    schemas = []
    earlier: list[str] = []
    unnamed = False
    for item in seq.children:
        item = item.resolved()
        schemas.append(_item(document, item, earlier, blocks, forbidden, params, unnamed))
        if item.kind == "map" and "name" in item.items():
            earlier.append(str(document.data(item.items()["name"][1])))
        else:
            unnamed = True
    return {"type": "array", "minItems": 1, "items": schemas, "additionalItems": False}


def _item(
    document: Document,
    item: Node,
    earlier: list[str],
    blocks: Blocks,
    forbidden: set[str],
    params: set[str],
    unnamed: bool = False,
) -> JsonObject:
    reference: JsonObject = {"enum": ["input", *earlier]}
    if earlier:  # a dotted name reaches into an earlier group: down1.conv2
        prefixes = "|".join(re.escape(name) for name in earlier)
        reference = {"anyOf": [reference, {"type": "string", "pattern": f"^({prefixes})\\."}]}
    if unnamed:  # an unnamed layer above is named by its position (which repeat: and if: shift)
        index: list[Json] = [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+$"}]
        reference = {"anyOf": [reference, *index]}
    needs_params = {name for name, (params, _) in blocks.items() if any(v is None for v in params.values())}
    properties: JsonObject = {
        "type": _none_of(forbidden),
        "from": {"anyOf": [reference, {"type": "array", "items": reference, "minItems": 1}]},
    }
    constraints: JsonObject = {"properties": properties}
    uses: list[Json] = [
        {
            "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
            "then": {
                "properties": {**RESERVED, **{param: {} for param in params}},
                "required": [param for param, default in params.items() if default is None],
                "additionalProperties": False,
            },
        }
        for name, (params, _) in blocks.items()
    ]
    if uses:
        constraints["allOf"] = uses
    constraints["additionalProperties"] = _only_parameters(params)
    if item.kind == "map" and "layers" in item.items():
        properties["layers"] = _list(document, item.items()["layers"][1], blocks, forbidden, params)
    bare = {"type": "string", "pattern": CLASS_NAME, **_none_of(forbidden | needs_params)}
    return {"anyOf": [bare, {"allOf": [{"$ref": "#/definitions/item"}, {"type": "object", **constraints}]}]}


def _none_of(names: set[str]) -> JsonObject:
    """A constraint that refuses these strings (none when the set is empty: JSON Schema has no empty enum)."""
    return {"not": {"enum": sorted(names)}} if names else {}


def _only_parameters(params: set[str]) -> JsonObject:
    """Values whose ``$`` expressions name only these parameters (none outside a block)."""
    names = "|".join(re.escape(p) for p in sorted(params))
    text: JsonObject = {"type": "string", "pattern": f"^(?:[^$]|\\$(?:{names})\\b)*$" if names else "^[^$]*$"}
    value: JsonObject = {"anyOf": [{"not": {"type": ["string", "array"]}}, text]}
    return {"anyOf": [value, {"type": "array", "items": value}]}
