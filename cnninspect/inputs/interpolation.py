"""OmegaConf's ``${…}`` references resolved without OmegaConf, so that nothing in a config can run.

Only references to other keys are resolved: ``${width}``, ``${model.width}``, ``${.sibling}``,
``${..uncle}``, ``${layers[0]}`` / ``${layers.0}``, alone (the value keeps its type) or inside a
string (``conv_${width}``), with ``\\${`` for a literal ``${``. A resolver (``${oc.env:HOME}``,
any ``name:``) and a reference whose key is itself built by a reference (``${${r}.env:X}``) are
refused before anything is looked up, whatever their name: no resolver exists here to be
reached. Each key is resolved once; a value over ``MAX_CHARS`` characters or more than
``MAX_STEPS`` references in all is refused, so a small file cannot expand into a huge one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from cnninspect.errors import GraphError, SpecError
from cnninspect.spec.yamldoc import Document, Node

REFERENCE = re.compile(r"(\\?)\$\{([^{}]*)\}")
"""One ``${…}`` (with the backslash that may escape it); ``[^{}]`` leaves nested ones unmatched."""
KEY = re.compile(r"(\.*)([A-Za-z_][\w-]*|\d+)((?:\.(?:[A-Za-z_][\w-]*|\d+)|\[\d+\])*)")
"""A key path: leading dots (relative), then names or indices."""
STEP = re.compile(r"\.([A-Za-z_][\w-]*|\d+)|\[(\d+)\]")
MAX_CHARS = 10_000
"""The longest value a reference may build: a layer argument is never near this."""
MAX_STEPS = 100_000
"""References resolved in one file, at most."""

Path = tuple[str | int, ...]
Value = object
"""A YAML value: a mapping, list or scalar, as the document's data gives it."""


def resolve(document: Document, root: Node) -> Value:
    """The document's data with every ``${…}`` resolved; an error is placed at the value holding
    the reference that cannot be resolved."""
    written = dict(_holders(root, ()))
    data = document.data(root)
    if not written:
        return data
    for node in written.values():  # refused on sight, before any lookup
        refusal = refused(str(node.value))
        if refusal is not None:
            raise SpecError(refusal, document.where(node))
    return _Resolver(document, data, written).tree(data, ())


def refuse_resolvers(document: Document) -> None:
    """Refuse, at its ``file:line:col``, the first value of the document whose ``${…}`` may not be
    resolved (see ``refused``); nothing is resolved."""
    for _, node in _holders(document.root, ()):
        refusal = refused(str(node.value))
        if refusal is not None:
            raise SpecError(refusal, document.where(node))


def refused(text: str) -> str | None:
    """Why a string's ``${…}`` may not be resolved (it calls a resolver, or its key is not a plain
    key path, or is built by another ``${…}``), else None."""
    for escaped, inside in REFERENCE.findall(text):
        if not escaped and (":" in inside or KEY.fullmatch(inside.strip()) is None):
            return _refusal(inside)
    if "${" in REFERENCE.sub("", text).replace("\\${", ""):
        return (
            "a ${…} whose key is built by another ${…} is not resolved, since it could reach a "
            "resolver; write the key out"
        )
    return None


def _refusal(inside: str) -> str:
    if ":" in inside:
        return f"${{{inside}}} calls a resolver, which cnninspect never runs; write the value out"
    return f"${{{inside}}} is not a key such as ${{width}} or ${{model.width}}; write the value out"


class _Resolver:
    def __init__(self, document: Document, data: Value, written: dict[Path, Node]) -> None:
        self.document = document
        self.data = data
        self.written = written
        self.done: dict[Path, Value] = {}
        self.active: list[Path] = []
        self.steps = 0

    def tree(self, value: Value, path: Path) -> Value:
        if isinstance(value, dict):
            return {key: self.tree(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.tree(item, (*path, index)) for index, item in enumerate(value)]
        if path in self.written:
            return self.value(path)
        return value

    def value(self, path: Path) -> Value:
        """The resolved value of the string at ``path`` (which holds a reference)."""
        if path in self.done:
            return self.done[path]
        if path in self.active:
            raise self._error(self.active[0], "the references form a cycle: " + " → ".join(map(_name, self.active)))
        self.active.append(path)
        text = str(self.written[path].value)
        pieces: list[Value] = []
        position = 0
        for match in REFERENCE.finditer(text):
            pieces.append(text[position : match.start()])
            position = match.end()
            if match.group(1):  # \${…}: the text itself
                pieces.append(match.group(0)[1:])
                continue
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise self._error(path, f"more than {MAX_STEPS:,} ${{…}} references in one file")
            pieces.append(self.lookup(path, match.group(2).strip()))
        pieces.append(text[position:])
        kept = [piece for piece in pieces if piece != ""]
        if len(kept) == 1 and REFERENCE.fullmatch(text.strip()):
            result = kept[0]  # a lone reference keeps the referenced value's type
        else:
            result = "".join(_text(piece) for piece in kept)
            if len(result) > MAX_CHARS:
                raise self._error(path, f"its ${{…}} references make a value of over {MAX_CHARS:,} characters")
        self.active.pop()
        self.done[path] = result
        return result

    def lookup(self, path: Path, key: str) -> Value:
        match = KEY.fullmatch(key)
        assert match is not None  # checked on sight
        dots, first, rest = match.groups()
        steps: list[str | int] = [_step(first)]
        steps += [_step(name) if name else int(index) for name, index in STEP.findall(rest)]
        base: Path = ()
        if dots:  # relative: one dot is the node's own container, each more one level up
            container = path[:-1]
            up = len(dots) - 1
            if up > len(container):
                raise self._error(path, f"${{{key}}} climbs above the top of the file")
            base = container[: len(container) - up]
        target: Path = (*base, *steps)
        value = self.data
        for depth, step in enumerate(target):
            value = _child(value, step)
            if value is _MISSING:
                where = _name(target[: depth + 1])
                raise self._error(path, f"${{{key}}} names {where!r}, which the file does not have")
        if target in self.written:
            return self.value(target)
        return self.tree(value, target)

    def _error(self, path: Path, message: str) -> GraphError:
        return GraphError(f"cannot resolve {_name(path)}: {message}", self.document.where(self.written[path]))


_MISSING = object()


def _child(value: Value, step: str | int) -> Value:
    if isinstance(value, dict):
        return value.get(step if step in value else str(step), _MISSING)
    if isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
        return value[step]
    return _MISSING


def _step(name: str) -> str | int:
    return int(name) if name.isdigit() else name


def _name(path: Path) -> str:
    """A key path as OmegaConf prints it: ``model._args_[0].out_channels``."""
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path).lstrip(".")


def _text(value: Value) -> str:
    return str(value)  # as OmegaConf joins them: True, None, 3


def _holders(node: Node, path: Path) -> Iterator[tuple[Path, Node]]:
    """Each scalar holding ``${``, by its key path."""
    node = node.resolved()
    if node.kind == "map":
        for key, (_, value) in node.items().items():
            yield from _holders(value, (*path, key))
    elif node.kind == "seq":
        for index, child in enumerate(node.children):
            yield from _holders(child, (*path, index))
    elif "${" in str(node.value or ""):
        yield path, node
