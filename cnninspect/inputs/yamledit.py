"""Edits of a YAML spec's own text: new values spliced in where the parser says they are
written, so comments, quoting, flow or block style and line endings stay as they were."""

from __future__ import annotations

import json
import re
from typing import Any

from cnninspect.errors import EditError
from cnninspect.fixes.splice import Edit
from cnninspect.spec.hydra import INPUT_COMMENT
from cnninspect.spec.model import LayerSpec, ModelSpec, changed_args
from cnninspect.spec.yamldoc import Node, read_document
from cnninspect.text import show_value

PLAIN_YAML = re.compile(r"[A-Za-z_][\w.-]*")
YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def yaml_edits(text: str, original: ModelSpec, intended: ModelSpec) -> list[Edit]:
    """Edits that make ``text`` read as ``intended``: each changed argument where it is written
    (once for every use of a block template or repeat)."""
    root = read_document(text, original.source).root.resolved()
    newline = "\r\n" if "\r\n" in text else "\n"
    edits: list[Edit] = []
    if intended.input != original.input and original.format == "hydra":
        edits.append(_input_comment(text, intended.input, newline))
    elif intended.input != original.input:
        node = root.own("input")
        if node is not None:
            edits += _value_edits(node, original.input, intended.input, shape=True)
        else:
            layers_key = next(k for k, _ in root.pairs() if k.value == "layers")
            entry = f"input: {show_value(intended.input)}"
            gap = ", " if root.flow else newline + " " * _column(text, layers_key.start)
            edits.append(Edit(layers_key.start, layers_key.start, entry + gap))
    changes_at: dict[tuple[str | int, ...], tuple[LayerSpec, dict[str, Any]]] = {}
    for before, after in zip(original.layers, intended.layers):
        changes = changed_args(before, after)
        if not changes:
            continue
        for arg in changes:
            if arg in before.templated and original.format == "hydra":
                raise EditError(
                    f"{before.title}: {arg} is written as a ${{…}} interpolation; change the value it refers to "
                    "(nothing was written)"
                )
            if arg in before.templated:
                raise EditError(
                    f"{before.title}: {arg} is written as a $ expression; change it in the block by hand "
                    "(nothing was written)"
                )
        first, known = changes_at.setdefault(before.node_path, (before, {}))
        for arg, value in changes.items():
            if arg in known and known[arg] != value:
                raise EditError(
                    f"{before.title} and {first.title} share {arg} (written once) but need different values; "
                    "nothing was written"
                )
            known[arg] = value
    for path, (before, changes) in changes_at.items():
        node = _at_path(root, path)
        if node.kind == "scalar":  # a bare type name: becomes a flow mapping
            entries = ", ".join(f"{k}: {show_value(v)}" for k, v in changes.items())
            edits.append(Edit(node.start, node.end, f"{{type: {_yaml_text(node.value, node.style)}, {entries}}}"))
            continue
        new_keys = {}
        for arg, value in changes.items():
            target = node.own(arg) or _positional(node, before, arg)
            if target is None:  # not written, or inherited through a merge key: the layer gets its own
                new_keys[arg] = value
            else:
                edits += _value_edits(target, before.args[arg], value)
        if new_keys:
            edits.append(_insert_keys(text, node, new_keys, newline))
    return edits


def _input_comment(text: str, shape: tuple[int, ...], newline: str) -> Edit:
    """A Hydra config's input is its ``# cnninspect: input`` comment: changed, or added on top."""
    written = "x".join(map(str, shape))
    match = INPUT_COMMENT.search(text)
    if match is None:
        return Edit(0, 0, f"# cnninspect: input {written}{newline}")
    return Edit(match.start(1), match.end(1), written)


def _positional(node: Node, layer: LayerSpec, arg: str) -> Node | None:
    """The item of a Hydra layer's ``_args_`` list that gives ``arg`` by position, if one does."""
    written = node.own("_args_")
    kind = layer.kind
    if written is None or kind is None or written.resolved().kind != "seq":
        return None
    slots = [p.name for p in kind.params if not p.keyword_only]
    items = written.resolved().children
    return items[slots.index(arg)] if arg in slots and slots.index(arg) < len(items) else None


def _at_path(root: Node, path: tuple[str | int, ...]) -> Node:
    """The node a layer's ``node_path`` leads to: mapping keys and list positions from the root."""
    node = root.resolved()
    for step in path:
        node = (node.children[step] if isinstance(step, int) else node.items()[step][1]).resolved()
    return node


def _value_edits(node: Node, old: Any, new: Any, shape: bool = False) -> list[Edit]:
    """Edits that turn the written value ``old`` at ``node`` into ``new``, item by item where
    the layout allows (an alias is replaced by the value, so its anchor stays as it is)."""
    if node.kind == "scalar" and shape and isinstance(new, tuple):
        separator = next((s for s in ("×", "x", ",") if s in (node.value or "")), "x")
        return [Edit(node.start, node.end, _yaml_text(separator.join(map(str, new)), node.style))]
    if node.kind == "scalar":
        return [Edit(node.start, node.end, _yaml_text(new, node.style))]
    if (
        node.kind == "seq"
        and isinstance(old, tuple)
        and isinstance(new, tuple)
        and len(old) == len(new) == len(node.children)
    ):
        return [e for c, o, n in zip(node.children, old, new) if o != n for e in _value_edits(c, o, n)]
    return [Edit(node.start, node.leaf_end(), show_value(new))]


def _insert_keys(text: str, mapping: Node, entries: dict[str, Any], newline: str) -> Edit:
    last = mapping.children[-1].leaf_end()
    if mapping.flow:
        return Edit(last, last, "".join(f", {k}: {show_value(v)}" for k, v in entries.items()))
    indent = " " * _column(text, mapping.children[0].start)
    line_end = len(text) if (found := text.find("\n", last)) < 0 else found - (text[found - 1 : found] == "\r")
    return Edit(line_end, line_end, "".join(f"{newline}{indent}{k}: {show_value(v)}" for k, v in entries.items()))


def _column(text: str, index: int) -> int:
    return index - (text.rfind("\n", 0, index) + 1)


def _yaml_text(value: Any, style: str | None = None) -> str:
    """A value as YAML flow text; strings keep the quotes they had."""
    if isinstance(value, str):
        if style == "'":
            return "'" + value.replace("'", "''") + "'"
        if style == '"' or not PLAIN_YAML.fullmatch(value) or value.lower() in YAML_WORDS:
            return json.dumps(value, ensure_ascii=False)
        return value
    return show_value(value)
