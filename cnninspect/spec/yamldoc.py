"""YAML text → nodes that keep their exact place in the text, read safely in one pass.

ruamel.yaml's parser (its C parser when ruamel.yaml.clib is installed) gives the events;
this module composes them itself, so that every node knows its span (for messages and for
edits that splice the original text), aliases stay visible, and nothing is ever constructed:
tags are refused, aliases are counted and their expanded size is bounded, duplicate keys are
refused, and plain scalars are resolved by the YAML 1.2 core schema (``no`` and ``on`` stay
strings).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias

from cnninspect.errors import Location, YamlError
from cnninspect.text import line_starts

if TYPE_CHECKING:
    from ruamel.yaml.error import MarkedYAMLError
    from ruamel.yaml.events import Event

MAX_ALIASES = 64
"""More aliases than this is treated as an alias flood ("billion laughs")."""
MAX_EXPANDED_NODES = 100_000
"""Nodes a document may expand to once every alias is followed."""
MERGE_KEY = "<<"

_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_WORDS: dict[str, bool | None] = {"null": None, "Null": None, "NULL": None, **_BOOL}
"""The plain scalars starting with a letter that are not strings."""
_NUMBER_STARTS = frozenset("~-+.0123456789")
"""What a plain scalar that is null, a number, ``.inf`` or ``.nan`` (not a word) starts with."""
_INT = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"([-+]?)\.(inf|Inf|INF)")
_NAN = re.compile(r"\.(nan|NaN|NAN)")
_ANCHOR = re.compile(r"&[^\s,\[\]{}]+\s*")

Scalar: TypeAlias = bool | int | float | str | None
"""What a YAML scalar resolves to under the core schema."""


@dataclass(eq=False, slots=True)
class Node:
    """One YAML node and where it is written."""

    kind: str
    """``scalar``, ``seq``, ``map`` or ``alias``."""
    start: int
    """Index in the text where the value starts (after any anchor)."""
    end: int
    """Index where it ends; block collections end where the next token starts."""
    value: str | None = None
    """A scalar's text (unquoted), an alias's anchor name."""
    style: str | None = None
    """A scalar's quote or block indicator; None when plain."""
    flow: bool = False
    """A flow collection (``[…]``, ``{…}``)."""
    children: list[Node] = field(default_factory=list)
    """Sequence items, or mapping keys and values alternating."""
    target: Node | None = None
    """The anchored node an alias stands for."""

    def resolved(self) -> Node:
        """The node itself, or the one an alias stands for."""
        return self.target if self.target is not None else self

    def pairs(self) -> Iterator[tuple[Node, Node]]:
        """A mapping's own (key, value) nodes, as written."""
        return zip(self.children[::2], self.children[1::2])

    def own(self, key: str) -> Node | None:
        """The value written for ``key`` in this mapping itself (not through a merge key)."""
        for k, v in self.pairs():
            if k.kind == "scalar" and k.value == key:
                return v
        return None

    def items(self) -> dict[str, tuple[Node, Node]]:
        """Key → (key node, value node), merge keys (``<<: *base``) applied: own keys win."""
        merged: dict[str, tuple[Node, Node]] = {}
        own: dict[str, tuple[Node, Node]] = {}
        for k, v in self.pairs():
            if k.kind == "scalar" and k.value == MERGE_KEY and k.style is None:
                sources = v.resolved().children if v.resolved().kind == "seq" else [v]
                for source in sources:
                    for key, pair in source.resolved().items().items():
                        merged.setdefault(key, pair)
            else:
                own[str(k.value)] = (k, v)
        return {**merged, **own}

    def leaf_end(self) -> int:
        """Where the last written character of the node ends."""
        if self.kind in ("seq", "map") and not self.flow and self.children:
            return self.children[-1].leaf_end()
        return self.end


class Document:
    """A parsed YAML text: its root node, and positions as ``file:line:col``."""

    def __init__(self, text: str, label: str) -> None:
        self.text = text
        self.label = label
        self._line_starts = line_starts(text)
        self.root = _compose(text, self)

    def location(self, index: int) -> Location:
        """The 1-based line and column of a text index."""
        line = bisect.bisect_right(self._line_starts, index) - 1
        return Location(self.label, line + 1, index - self._line_starts[line] + 1)

    def where(self, node: Node) -> Location:
        """Where a node is written."""
        return self.location(node.start)

    def data(self, node: Node) -> Any:
        """Plain Python data of a node: dicts, lists, str, int, float, bool, None."""
        node = node.resolved()
        if node.kind == "scalar":
            try:
                return resolve_scalar(node)
            except ValueError:  # Python refuses integers of more than 4,300 digits
                raise YamlError(
                    f"the number {(node.value or '')[:20]}… has too many digits", self.where(node)
                ) from None
        if node.kind == "seq":
            return [self.data(child) for child in node.children]
        return {key: self.data(value) for key, (_, value) in node.items().items()}


class Places(Mapping[str, Location]):
    """Where each of some nodes is written, by name (a layer's arguments): each place is worked out when
    it is asked for, since most are never needed (only a finding or a fix at that argument names it)."""

    def __init__(self, document: Document, nodes: dict[str, Node]) -> None:
        self._document = document
        self._nodes = nodes

    def __getitem__(self, key: str) -> Location:
        return self._document.where(self._nodes[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __repr__(self) -> str:
        return repr(dict(self))


def plain(value: Any) -> Any:
    """Document data with lists as tuples, so specs compare and hash like data."""
    if isinstance(value, list):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def resolve_scalar(node: Node) -> Scalar:
    """The YAML 1.2 core schema: quoted and block scalars are strings; plain ones may be
    null, a boolean, an integer or a float."""
    text = node.value or ""
    if node.style is not None:
        return text
    if text and text[0] not in _NUMBER_STARTS:  # most plain scalars: names, words
        return _WORDS.get(text, text)
    if text.isdigit() and text.isascii():
        return int(text)
    if _NULL.fullmatch(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.fullmatch(text):
        return int(text)
    if _OCT.fullmatch(text):
        return int(text[2:], 8)
    if _HEX.fullmatch(text):
        return int(text[2:], 16)
    if _FLOAT.fullmatch(text):
        return float(text)
    if match := _INF.fullmatch(text):
        return -math.inf if match.group(1) == "-" else math.inf
    if _NAN.fullmatch(text):
        return math.nan
    return text


def read_document(text: str, label: str) -> Document:
    """Parse YAML text safely; every problem is a YamlError naming ``label:line:col``."""
    return Document(text, label)


def _event_source(text: str) -> Callable[[], Event | None]:
    """A function giving the text's parser events one by one, then None: ruamel.yaml's C parser
    called directly when it is installed (no loader is built for it), else its pure-Python one."""
    try:
        from _ruamel_yaml import CParser  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - ruamel.yaml.clib is a dependency on CPython
        from ruamel.yaml import YAML

        return partial(next, iter(YAML(typ="safe", pure=True).parse(text)), None)
    return CParser(text).get_event  # type: ignore[no-any-return]


def _compose(text: str, document: Document) -> Node:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.events import NodeEvent

    composer = _Composer(text, document)
    try:
        roots = []
        while (event := composer.next_event()) is not None:
            if isinstance(event, NodeEvent):
                roots.append(composer.build(event))
                if len(roots) > 1:
                    raise composer.fail("a spec is one YAML document; remove the second ---", roots[1].start)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(str(error.problem or error.context or "invalid YAML").split()) + _opened_at(error)
        raise YamlError(
            f"invalid YAML: {problem}",
            Location(document.label, mark.line + 1, mark.column + 1) if mark else Location(document.label, 1, 1),
        ) from None
    except YAMLError as error:
        raise YamlError(f"invalid YAML: {error}", Location(document.label, 1, 1)) from None
    except RecursionError:
        raise YamlError("invalid YAML: nested too deeply", Location(document.label, 1, 1)) from None
    root = roots[0] if roots else Node("scalar", 0, 0, "")
    if composer.aliases and _expanded_size(root, {}) > MAX_EXPANDED_NODES:  # without aliases, the size limit is enough
        raise composer.fail(
            f"the aliases expand to more than {MAX_EXPANDED_NODES:,} nodes; write the layers out instead", 0
        )
    return root


class _Composer:
    """One text's parser events composed into nodes, anchors resolved and aliases counted. A class, not
    a function nested in ``_compose``: one that calls itself through its closure is a reference cycle,
    which kept every file's parser and whole tree alive until the cycle collector ran."""

    def __init__(self, text: str, document: Document) -> None:
        from ruamel.yaml import events

        self.text = text
        self.document = document
        self.events = events
        self.next_event = _event_source(text)
        self.anchors: dict[str, Node] = {}
        self.aliases = 0

    def fail(self, message: str, index: int) -> YamlError:
        return YamlError(message, self.document.location(index))

    def build(self, event: Any) -> Node:
        events, text, anchors = self.events, self.text, self.anchors
        ScalarEvent = events.ScalarEvent
        if type(event) is ScalarEvent and event.anchor is None and event.ctag is None:  # most nodes
            return Node("scalar", event.start_mark.index, event.end_mark.index, event.value, event.style or None)
        start = event.start_mark.index
        if type(event) is events.AliasEvent:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise self.fail(f"more than {MAX_ALIASES} aliases; write the layers out instead", start)
            if event.anchor not in anchors:
                raise self.fail(f"invalid YAML: found undefined alias {event.anchor!r}", start)
            return Node("alias", start, event.end_mark.index, event.anchor, target=anchors[event.anchor])
        if event.tag is not None:
            tag = event.tag.replace("tag:yaml.org,2002:", "!!", 1)
            raise self.fail(f"YAML tags such as {tag} are not allowed in a spec; remove the tag", start)
        if event.anchor:
            match = _ANCHOR.match(text, start)
            start = match.end() if match else start
        if type(event) is ScalarEvent:
            node = Node("scalar", start, event.end_mark.index, event.value, event.style or None)
        else:
            children = []
            next_event, build = self.next_event, self.build
            child: Any  # an event; its class is compared by identity, as ruamel.yaml makes it
            while True:
                child = next_event()
                if type(child) is ScalarEvent and child.anchor is None and child.ctag is None:  # most children
                    children.append(
                        Node("scalar", child.start_mark.index, child.end_mark.index, child.value, child.style or None)
                    )
                elif isinstance(child, events.NodeEvent):
                    children.append(build(child))
                elif child is None or isinstance(child, events.CollectionEndEvent):
                    break
            is_map = type(event) is events.MappingStartEvent
            end = child.end_mark.index if child is not None else len(text)
            node = Node("map" if is_map else "seq", start, end, flow=bool(event.flow_style), children=children)
            if is_map:
                _check_keys(node, self.document)
        if event.anchor:
            anchors[event.anchor] = node
        return node


OPENERS = {"flow mapping": "{", "flow sequence": "[", "quoted scalar": "quote"}
"""What ruamel.yaml's "while parsing a …" context was opened by, to say where it opened."""


def _opened_at(error: MarkedYAMLError) -> str:
    """``; the '{' it is in opened at line 3, col 5`` when the parser stopped inside a bracket or
    quote that opened on an earlier line (an unclosed one is otherwise reported at the end of the file)."""
    context, opened, stopped = str(error.context or ""), error.context_mark, error.problem_mark
    opener = next((sign for what, sign in OPENERS.items() if context.endswith(what)), None)
    if opener is None or opened is None or stopped is None or opened.line == stopped.line:
        return ""
    sign = "quote" if opener == "quote" else repr(opener)
    return f"; the {sign} it is in opened at line {opened.line + 1}, col {opened.column + 1}"


def _check_keys(mapping: Node, document: Document) -> None:
    seen: dict[Scalar, Node] = {}
    for key, _ in mapping.pairs():
        if key.resolved().kind != "scalar":
            raise YamlError("a mapping key must be a plain name, not a list or mapping", document.where(key))
        try:
            value = resolve_scalar(key.resolved())
        except ValueError:
            raise YamlError("a key with that many digits is not a name", document.where(key)) from None
        if value in seen and not (value == MERGE_KEY and key.style is None):
            first = document.where(seen[value])
            raise YamlError(
                f"invalid YAML: found duplicate key {value!r} (first at line {first.line}); keep one of them",
                document.where(key),
            )
        seen[value] = key


def _expanded_size(node: Node, sizes: dict[int, int]) -> int:
    """Nodes reached when every alias is followed, counted without following them twice."""
    node = node.resolved()
    known = sizes.get(id(node))
    if known is None:
        known = 1 + sum(_expanded_size(child, sizes) for child in node.children)
        sizes[id(node)] = known
    return known
