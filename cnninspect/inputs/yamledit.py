"""Edits of a YAML file's own text (cnninspect specs, Hydra configs): new values spliced in where
the parser says they are written, so comments, quoting, flow or block style and line endings stay
as they were. Each YAML format says how it writes the input."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from cnninspect.errors import EditError
from cnninspect.inputs.splice import Edit
from cnninspect.spec.model import LayerSpec, ModelSpec, changed_args
from cnninspect.spec.yamldoc import Node, read_document
from cnninspect.text import show_value

PLAIN_YAML = re.compile(r"[A-Za-z_][\w.-]*")
YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


InputEdits = Callable[[str, Node, ModelSpec, ModelSpec, str], list[Edit]]
"""How a format writes a new input shape: (text, root node, original, intended, newline) → edits."""


def yaml_edits(
    text: str, original: ModelSpec, intended: ModelSpec, input_edits: InputEdits, templated: str
) -> list[Edit]:
    """Edits that make ``text`` read as ``intended``: each changed argument where it is written
    (once for every use of a block template or repeat), the input as the format writes it.
    ``templated`` says how a computed value is written and what to do instead of an edit."""
    root = read_document(text, original.source).root.resolved()
    newline = "\r\n" if "\r\n" in text else "\n"
    edits: list[Edit] = []
    if intended.input != original.input:
        edits += input_edits(text, root, original, intended, newline)
    changes_at: dict[tuple[str | int, ...], tuple[LayerSpec, dict[str, object]]] = {}
    for before, after in zip(original.layers, intended.layers):
        changes = changed_args(before, after)
        if not changes:
            continue
        for arg in changes:
            if arg in before.templated:
                raise EditError(f"{before.title}: {arg} is written as {templated} (nothing was written)")
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
                edits += value_edits(target, before.args[arg], value)
        if new_keys:
            edits.append(_insert_keys(text, node, new_keys, newline))
    return edits


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


def value_edits(node: Node, old: object, new: object, shape: bool = False) -> list[Edit]:
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
        return [e for c, o, n in zip(node.children, old, new) if o != n for e in value_edits(c, o, n)]
    return [Edit(node.start, node.leaf_end(), show_value(new))]


def _insert_keys(text: str, mapping: Node, entries: dict[str, object], newline: str) -> Edit:
    last = mapping.children[-1].leaf_end()
    if mapping.flow:
        return Edit(last, last, "".join(f", {k}: {show_value(v)}" for k, v in entries.items()))
    indent = " " * column(text, mapping.children[0].start)
    line_end = len(text) if (found := text.find("\n", last)) < 0 else found - (text[found - 1 : found] == "\r")
    return Edit(line_end, line_end, "".join(f"{newline}{indent}{k}: {show_value(v)}" for k, v in entries.items()))


def column(text: str, index: int) -> int:
    return index - (text.rfind("\n", 0, index) + 1)


def _yaml_text(value: object, style: str | None = None) -> str:
    """A value as YAML flow text; strings keep the quotes they had."""
    if isinstance(value, str):
        if style == "'":
            return "'" + value.replace("'", "''") + "'"
        if style == '"' or not PLAIN_YAML.fullmatch(value) or value.lower() in YAML_WORDS:
            return json.dumps(value, ensure_ascii=False)
        return value
    return show_value(value)
