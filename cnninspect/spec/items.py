"""Reading a graph spec's parts before expansion: each entry of a ``layers:`` list (an ``Item``) and
the ``blocks:`` templates, each checked where it is written. spec/graph.py expands them."""

from __future__ import annotations

import keyword
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cnninspect.errors import Location, SpecError
from cnninspect.spec.catalog import lookup
from cnninspect.spec.expr import FUNCTIONS, is_expression
from cnninspect.spec.model import INPUT
from cnninspect.spec.yamldoc import Document, Node, Places, plain
from cnninspect.text import is_int, show_value

RESERVED = ("type", "name", "from", "repeat", "if", "layers", "trainable", "called")
"""Item keys that are not layer arguments or block parameters."""
FLAGS = ("trainable", "called")
"""Item keys that take true or false and hold for every layer inside a group or block use."""


@dataclass(frozen=True)
class Block:
    """A ``blocks:`` template."""

    name: str
    params: dict[str, object]
    """Parameter → default; ``None`` when a use must give it."""
    param_nodes: dict[str, Node]
    items: Node
    """The template's ``layers:`` list."""
    location: Location


@dataclass(frozen=True)
class Item:
    """One entry of a ``layers:`` list, read but not expanded."""

    node: Node
    where: Location
    type: str | None
    """A layer type or block name; None for a group."""
    type_where: Location
    name: str | None
    sources: tuple[tuple[str, Location], ...]
    """``from:`` references as written, with their places; empty: the previous item."""
    repeat: Node | None
    condition: Node | None
    entries: dict[str, tuple[Node, Node]]
    """Arguments (or block parameters), keys and values."""
    items: Node | None
    """A group's ``layers:`` list."""
    values: dict[str, Any] = field(default_factory=dict)
    """Each argument's value as written (``$`` expressions still text)."""
    locations: Mapping[str, Location] = field(default_factory=dict)
    """Where each argument's value is written."""
    flags: dict[str, bool] = field(default_factory=dict)
    """``trainable:`` and ``called:`` as written."""

    @property
    def trainable(self) -> bool:
        """``trainable:`` as written (true when left out)."""
        return self.flags.get("trainable", True)

    @property
    def called(self) -> bool:
        """``called:`` as written (true when left out)."""
        return self.flags.get("called", True)


def read_item(document: Document, node: Node) -> Item:
    """One entry of a ``layers:`` list, read (and checked) but not expanded."""
    where = document.where(node)
    item = node.resolved()
    if item.kind == "scalar":
        value = document.data(item)
        if isinstance(value, str):
            return Item(node, where, value, where, None, (), None, None, {}, None)
    if item.kind != "map":
        raise SpecError("a layer is a type name (ReLU) or a mapping with a type ({type: Conv2d, ...})", where)
    entries = item.items()
    items = entries["layers"][1] if "layers" in entries else None
    type_name: str | None = None
    type_where = where
    if "type" in entries:
        type_name = document.data(entries["type"][1])
        type_where = document.where(entries["type"][1])
        if not isinstance(type_name, str):
            raise SpecError("type must be a torch.nn class or block name such as Conv2d", type_where)
        if items is not None:
            if type_name.removeprefix("nn.") != "Sequential":
                raise SpecError("an item with layers: is a group; its type, if given, is Sequential", type_where)
            type_name = None
    elif items is None:
        raise SpecError("this layer has no type; add type: Conv2d (or another torch.nn class or a block)", where)
    name = None
    if "name" in entries:
        raw = document.data(entries["name"][1])
        if not (isinstance(raw, str) or is_int(raw)) or str(raw).strip() == "":
            raise SpecError("name must be a non-empty string", document.where(entries["name"][1]))
        name = str(raw)
    sources: list[tuple[str, Location]] = []
    if "from" in entries:
        sources = list(_sources(document, entries["from"][1]))
    args = {k: v for k, v in entries.items() if k not in RESERVED}
    flags = {key: _flag(document, key, entries[key][1]) for key in FLAGS if key in entries}
    repeat = entries["repeat"][1] if "repeat" in entries else None
    condition = entries["if"][1] if "if" in entries else None
    return Item(
        node,
        where,
        type_name,
        type_where,
        name,
        tuple(sources),
        repeat,
        condition,
        args,
        items,
        {k: plain(document.data(v)) for k, (_, v) in args.items()},
        Places(document, {k: v for k, (_, v) in args.items()}),
        flags,
    )


def _flag(document: Document, key: str, node: Node) -> bool:
    """``trainable:`` or ``called:``: true or false as written (a fact of the model, not a parameter)."""
    value = document.data(node)
    if is_expression(value):
        raise SpecError(
            f"{key}: is written true or false, not an expression ({show_value(value)}); write {key}: false "
            "on the block's use instead",
            document.where(node),
        )
    if not isinstance(value, bool):
        raise SpecError(f"{key}: needs true or false, got {show_value(plain(value))}", document.where(node))
    return value


def _sources(document: Document, node: Node) -> Iterator[tuple[str, Location]]:
    value = node.resolved()
    nodes = value.children if value.kind == "seq" else [value]
    if value.kind == "seq" and not nodes:
        raise SpecError("from: needs a layer name or a list of them", document.where(node))
    for child in nodes:
        ref = document.data(child)
        if not isinstance(ref, (str, int)) or isinstance(ref, bool):
            raise SpecError(f"from: takes layer names (or {INPUT}), not {ref!r}", document.where(child))
        yield str(ref), document.where(child)


def read_blocks(document: Document, node: Node) -> dict[str, Block]:
    """The ``blocks:`` mapping: name → template, each checked on its own."""
    mapping = node.resolved()
    if mapping.kind != "map":
        raise SpecError("blocks: maps block names to {params: ..., layers: [...]}", document.where(node))
    blocks = {}
    for name, (key_node, value_node) in mapping.items().items():
        where = document.where(key_node)
        if not name.isidentifier() or keyword.iskeyword(name):
            raise SpecError(f"block name {name!r} must be a Python identifier", where)
        if lookup(name) is not None:
            raise SpecError(f"block name {name!r} is already a layer type; pick another name", where)
        body = value_node.resolved()
        if body.kind != "map" or "layers" not in body.items():
            raise SpecError(f"block {name} needs layers: [...] (and may have params: {{...}})", where)
        entries = body.items()
        for key, (other, _) in entries.items():
            if key not in ("params", "layers"):
                raise SpecError(f"block {name} has params and layers, not {key!r}", document.where(other))
        params: dict[str, object] = {}
        param_nodes: dict[str, Node] = {}
        if "params" in entries:
            table = entries["params"][1].resolved()
            if table.kind != "map":
                raise SpecError("params: maps each parameter to its default (null: required)", document.where(table))
            for param, (param_key, param_value) in table.items().items():
                if not param.isidentifier() or keyword.iskeyword(param):
                    raise SpecError(f"parameter name {param!r} must be a Python identifier", document.where(param_key))
                if param in RESERVED:
                    raise SpecError(
                        f"parameter name {param!r} is a key every use of a block has ({', '.join(RESERVED)}); "
                        "pick another name",
                        document.where(param_key),
                    )
                if param in FUNCTIONS:
                    raise SpecError(
                        f"parameter name {param!r} is the function expressions call ({param}(a, b)); pick another name",
                        document.where(param_key),
                    )
                default = plain(document.data(param_value))
                if has_expression(default):
                    raise SpecError("a parameter's default is a value, not an expression", document.where(param_value))
                params[param] = default
                param_nodes[param] = param_key
        blocks[name] = Block(name, params, param_nodes, entries["layers"][1], where)
    return blocks


def has_expression(value: object) -> bool:
    """A ``$`` expression, or a list holding one."""
    if isinstance(value, tuple):
        return any(has_expression(v) for v in value)
    return is_expression(value)


def first_expression(value: object) -> str:
    """The first ``$`` expression in a value (for messages)."""
    if isinstance(value, tuple):
        return next(first_expression(v) for v in value if has_expression(v))
    return str(value)
