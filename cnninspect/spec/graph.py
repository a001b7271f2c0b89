"""Graph specs, expanded at load time: ``from:``, merges, ``layers:`` groups, ``blocks:`` templates
with ``$`` parameters, ``repeat:`` and ``if:``; ``from: m.*`` reads every copy of a repeated item,
and items sharing a name, each with an ``if:``, are alternatives of which at most one is on.

The result is one flat list of layers in the order they are written (every reference points
backwards, so this order is already a valid execution order), each naming the layers it reads,
and the groups they sit in. Names follow PyTorch's nesting: a block used as ``layer1`` with
``repeat: 2`` holds ``layer1.0.conv1`` and ``layer1.1.conv1``, as ``state_dict()`` names them.
Every reference is checked here, with the place it is written.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cnninspect.errors import GraphError, Location, SpecError
from cnninspect.spec.catalog import MERGE_FAMILIES, OWN_FAMILIES, lookup
from cnninspect.spec.expr import ExpressionError, is_expression, parse_expression
from cnninspect.spec.items import Block, Item, first_expression, has_expression, read_item
from cnninspect.spec.items import read_blocks as read_blocks  # where the readers of specs find it
from cnninspect.spec.model import INPUT, GroupSpec, ItemSpec, LayerSpec
from cnninspect.spec.validate import make_layer
from cnninspect.spec.yamldoc import Document, Node, plain
from cnninspect.text import did_you_mean, is_int

MERGE_SYNONYMS = {"sum": "Add", "plus": "Add", "cat": "Concat", "concatenate": "Concat", "multiply": "Mul"}
"""Other libraries' words for the merges, for "did you mean"."""
EVERY_COPY = ".*"
"""``from: m.*``: every copy of the repeated item ``m``, in order."""
MAX_LAYERS = 200_000
"""A spec expanding to more layers than this is refused (repeats multiply quickly)."""
MAX_REPEAT = 10_000
MAX_VISITS = 500_000
"""Items expanded in all, switched-off ones and groups included: the work done, not only what is kept."""
MAX_NESTING = 64
"""Groups and block uses inside one another: deeper is refused (no real network nests this far)."""


@dataclass
class _Scope:
    """Where names are looked up: one ``layers:`` list being expanded."""

    prefix: str
    """Prepended to local names: ``layer1.0.``."""
    input: str
    """What ``input`` means here."""
    params: dict[str, object]
    """Block parameter values, when inside a block."""
    path: tuple[str, ...]
    """Qualified names of the groups it sits in."""
    node_path: tuple[str | int, ...]
    """Where its list is in the YAML document."""
    blocks: tuple[str, ...]
    """The block uses it sits in (to refuse a block that uses itself)."""
    names: dict[str, str] = field(default_factory=dict)
    """Local name → the qualified name of the layer whose output it stands for."""
    inner: dict[str, _Scope] = field(default_factory=dict)
    """Local name of a group → its scope, for dotted references (``down1.conv2``)."""
    off: set[str] = field(default_factory=set)
    """Local names an ``if:`` switched off (or ``repeat: 0`` left without copies)."""
    copies: int | None = None
    """For the group of a named ``repeat:``: how many copies it holds (``m.*`` reads them all)."""
    frozen: bool = False
    """Inside a group or block use written with ``trainable: false``: every parameter is frozen."""
    uncalled: bool = False
    """Inside a group or block use written with ``called: false``: forward calls nothing here."""
    never: set[str] = field(default_factory=set)
    """Local names of items forward never calls: no ``from:`` may read them."""

    def runs(self, item: Item) -> bool:
        """Forward calls ``item`` here: neither it nor a group around it says ``called: false``."""
        return not self.uncalled and item.called


class Expander:
    """Expands a document's ``layers:`` (and the blocks it uses) into layers and groups."""

    def __init__(self, document: Document, blocks: dict[str, Block]) -> None:
        self.document = document
        self.blocks = blocks
        self.layers: list[LayerSpec] = []
        self.groups: list[GroupSpec] = []
        self._read: dict[int, list[Item]] = {}
        self._visits = 0

    def expand(self, items: Node) -> None:
        """The model's top-level list."""
        self._list(items, _Scope("", INPUT, {}, (), ("layers",), ()))
        if not self.layers:
            raise SpecError(
                "every layer is switched off by its if: or left without copies by repeat: 0; "
                "a model needs at least one",
                self.document.where(items),
            )
        if not any(layer.called for layer in self.layers):
            raise SpecError(
                "no layer runs: every one is switched off or never called (called: false); a model needs at least one",
                self.document.where(items),
            )

    def use(
        self,
        block_name: str,
        qualified: str,
        params: Mapping[str, object],
        source: str,
        path: tuple[str, ...],
        where: Location,
    ) -> str:
        """One use of the block ``block_name``, made by a reader rather than written in a list: named
        ``qualified``, inside the groups ``path``, reading the layer ``source``, its parameters given
        (the others take their defaults). Returns the name of the layer whose output is its output."""
        block = self.blocks[block_name]
        unknown = sorted(set(params) - set(block.params))
        missing = sorted(key for key, default in block.params.items() if default is None and key not in params)
        if unknown or missing:
            raise ValueError(f"block {block_name}: unknown parameters {unknown}, missing {missing}")
        values = {**block.params, **params}
        start, slot = len(self.layers), self._open()
        inner = _Scope(
            f"{qualified}.", source, values, (*path, qualified), ("blocks", block.name, "layers"), (block.name,)
        )
        output = self._list(block.items, inner)
        self._close(slot, qualified, block.name, where, path, start, output, True, (), values)
        return output

    def retype(self, block_name: str, layer: str, type_name: str, args: Mapping[str, object]) -> None:
        """Make the layer named ``layer`` in the block ``block_name`` a ``type_name`` with ``args`` (its
        ``if:`` and ``from:`` kept): a setting a reader takes from its own file, such as the
        activation of Ultralytics' Conv. Applies to every later use of the block."""
        seq = self.blocks[block_name].items.resolved()
        read = self._read.get(id(seq))
        if read is None:
            read = self._read[id(seq)] = [read_item(self.document, node) for node in seq.children]
        for position, item in enumerate(read):
            if item.name == layer:
                read[position] = dataclasses.replace(item, type=type_name, entries={}, values=dict(args), locations={})

    def _visit(self, item: Item) -> None:
        self._visits += 1
        if self._visits > MAX_VISITS:
            raise SpecError(
                f"the spec expands to more than {MAX_VISITS:,} items (switched-off layers and groups count too)",
                item.where,
            )

    # -- lists ---------------------------------------------------------------------------

    def _list(self, items: Node, scope: _Scope) -> str:
        """Expand a ``layers:`` list; returns the qualified name of its output."""
        seq = items.resolved()
        if seq.kind != "seq" or not seq.children:
            raise SpecError("layers must be a non-empty list", self.document.where(items))
        read = self._read.get(id(seq))
        if read is None:  # a block's template is read once, however often it is used
            read = self._read[id(seq)] = [read_item(self.document, node) for node in seq.children]
        written: dict[str, tuple[int, Item]] = {}
        for i, item in enumerate(read):
            if item.name is not None:
                written.setdefault(item.name, (i, item))
        current = scope.input
        position = 0
        for index, item in enumerate(read):
            sources = [
                found
                for ref, where in item.sources
                for found in self._resolve_all(ref, where, scope, item, index, written)
            ]
            if item.sources and not sources:
                written_from = ", ".join(ref for ref, _ in item.sources)
                raise GraphError(
                    f"from: [{written_from}] has nothing to read here: the repeats it names have no copies "
                    "(repeat: 0, or switched off by if:)",
                    item.where,
                )
            inputs = [name for name, _ in sources] or [current]
            if item.name == INPUT:
                raise SpecError(f"{INPUT!r} names the input of the model or block; pick another name", item.where)
            if item.name is not None and written[item.name][0] != index:
                first = written[item.name][1]
                if item.condition is None or first.condition is None:
                    raise SpecError(
                        f"two layers are named {item.name!r} (the first at line {first.where.line}); rename one, "
                        "or give each an if: to make them alternatives",
                        item.where,
                    )
            repeat = None
            on = item.condition is None or self._truth(item.condition, scope)
            if on:
                repeat = self._repeat(item.repeat, scope)
                on = repeat != 0
            if not on:
                self._visit(item)
                if item.name is not None and item.name not in scope.names:
                    scope.names[item.name] = inputs[0]  # switched off: passes its input on
                    scope.off.add(item.name)
                continue
            if item.name is not None and item.name in scope.names and item.name not in scope.off:
                first = written[item.name][1]
                raise GraphError(
                    f"two alternatives named {item.name!r} are both on (the first at line {first.where.line}); "
                    "their if: conditions must exclude each other",
                    item.where,
                )
            if item.name is not None:
                scope.off.discard(item.name)
            node_path = (*scope.node_path, index)
            runs = scope.runs(item)
            if not runs and not scope.uncalled and item.sources:
                raise GraphError(
                    "a layer that forward never calls (called: false) reads nothing; remove its from:",
                    item.sources[0][1],
                )
            opened = position
            if repeat is None:
                output = self._one(item, scope, self._local(item, position), inputs, sources, node_path)
                self._index_name(item, scope, position, output)
                position += 1
            elif item.name is not None:
                output = self._repeated_group(item, scope, repeat, inputs, sources, node_path)
                position += 1
            else:
                output = inputs[0]
                for copy in range(repeat):
                    output = self._one(
                        item, scope, str(position), inputs if copy == 0 else [output], sources, node_path
                    )
                    self._index_name(item, scope, position, output)
                    position += 1
            if runs:
                current = output
            elif not scope.uncalled:  # inside a part forward never calls, its layers may read each other
                scope.never.update(str(p) for p in range(opened, position) if str(p) not in written)
                if item.name is not None:
                    scope.never.add(item.name)
            if item.name is not None:
                scope.names[item.name] = output
        return current

    def _local(self, item: Item, position: int) -> str:
        return item.name if item.name is not None else str(position)

    @staticmethod
    def _index_name(item: Item, scope: _Scope, position: int, output: str) -> None:
        """An unnamed item is named by its position, as in ``nn.Sequential``; ``from:`` may use that
        name (a name written in the list wins)."""
        if item.name is None:
            scope.names.setdefault(str(position), output)

    def _repeated_group(
        self,
        item: Item,
        scope: _Scope,
        repeat: int,
        inputs: list[str],
        sources: list[tuple[str, str]],
        node_path: tuple[str | int, ...],
    ) -> str:
        """``repeat: N`` on a named item: a group of that name holding copies ``0`` … ``N − 1``."""
        assert item.name is not None
        qualified = scope.prefix + item.name
        inner = _Scope(
            f"{qualified}.",
            inputs[0],
            scope.params,
            (*scope.path, qualified),
            (),
            scope.blocks,
            copies=repeat,
            frozen=scope.frozen,
            uncalled=scope.uncalled,
        )
        start, slot = len(self.layers), self._open()
        current = inputs[0]
        for copy in range(repeat):
            current = self._one(item, inner, str(copy), inputs if copy == 0 else [current], sources, node_path)
            inner.names[str(copy)] = current
        kind = item.type if item.type is not None else "Sequential"
        self._close(slot, qualified, f"{kind} × {repeat}", item.where, scope.path, start, current, True, node_path)
        scope.inner[item.name] = inner
        return current

    def _one(
        self,
        item: Item,
        scope: _Scope,
        local: str,
        inputs: list[str],
        sources: list[tuple[str, str]],
        node_path: tuple[str | int, ...],
    ) -> str:
        """One layer, group or block use named ``local`` in ``scope``; ``sources``: its ``from:``
        references, each with the local name it was read as (``m.*`` gives ``m.0``, ``m.1``, …)."""
        self._visit(item)
        qualified = scope.prefix + local
        if item.items is not None or (item.type is not None and item.type in self.blocks):
            if len(inputs) > 1:
                raise GraphError("a group or block reads one input; merge several with Add or Concat first", item.where)
            return self._nested(item, scope, local, qualified, inputs[0], node_path)
        assert item.type is not None
        kind = lookup(item.type)
        merge = kind is not None and kind.family in MERGE_FAMILIES
        if not item.called and kind is not None and kind.family in OWN_FAMILIES:
            raise GraphError(
                f"{qualified}: called: false marks a layer that holds parameters but never runs; "
                f"{kind.name} holds none: remove called: false (or the layer)",
                item.where,
            )
        called = scope.runs(item)
        if merge and len(inputs) < 2:
            written = ", ".join(ref for ref, _ in item.sources)
            here = f"; here from: [{written}] reads {len(inputs)}" if item.sources else ""
            raise GraphError(
                f"{qualified}: {kind.name if kind else item.type} needs at least two inputs: from: [a, b]{here}",
                item.where,
            )
        if not merge and len(inputs) > 1:
            written = ", ".join(ref for ref, _ in item.sources)
            hint = "" if kind is not None else _merge_hint(item.type)
            raise GraphError(
                f"{item.type!r} reads one input; only Add, Concat and Mul take several (from: [{written}]){hint}",
                item.type_where,
            )
        if not called:
            inputs = []  # nothing flows into a layer forward never calls
        args, templated = self._values(item, scope)
        if len(self.layers) >= MAX_LAYERS:
            raise SpecError(f"the spec expands to more than {MAX_LAYERS:,} layers", item.where)
        named_sources = tuple(ref for _, ref in sources)
        layer = make_layer(
            len(self.layers),
            qualified,
            item.type,
            args,
            item.where,
            item.locations,
            item.type_where,
            named=item.name is not None,
            scope=scope.path,
            inputs=tuple(inputs),
            sources=named_sources,
            switched_off=tuple(ref for ref in named_sources if ref in scope.off),
            node_path=node_path,
            templated=templated,
            trainable=not scope.frozen and item.trainable,
            called=called,
        )
        self.layers.append(layer)
        return qualified

    def _nested(
        self, item: Item, scope: _Scope, local: str, qualified: str, source: str, node_path: tuple[str | int, ...]
    ) -> str:
        """A group (``layers:``) or a block use, expanded in a scope of its own."""
        if len(scope.path) >= MAX_NESTING:
            raise SpecError(f"groups and blocks are nested more than {MAX_NESTING} deep here", item.where)
        start, slot = len(self.layers), self._open()
        path = (*scope.path, qualified)
        frozen = scope.frozen or not item.trainable
        uncalled = not scope.runs(item)
        if item.items is not None:
            for key in item.entries:
                raise SpecError(f"a group has layers, and no arguments such as {key!r}", item.where)
            inner = _Scope(
                f"{qualified}.",
                source,
                scope.params,
                path,
                (*node_path, "layers"),
                scope.blocks,
                frozen=frozen,
                uncalled=uncalled,
            )
            output = self._list(item.items, inner)
            kind = "Sequential"
            values = {}
        else:
            assert item.type is not None
            block = self.blocks[item.type]
            if block.name in scope.blocks:
                chain = " → ".join((*scope.blocks[scope.blocks.index(block.name) :], block.name))
                raise GraphError(f"block {block.name} uses itself ({chain})", item.type_where)
            values = self._params(item, block, scope)
            inner = _Scope(
                f"{qualified}.",
                source,
                values,
                path,
                ("blocks", block.name, "layers"),
                (*scope.blocks, block.name),
                frozen=frozen,
                uncalled=uncalled,
            )
            output = self._list(block.items, inner)
            kind = block.name
        if uncalled and len(self.layers) > start:
            output = self.layers[-1].name  # forward never calls it: its rows say so, no output
        params = values if item.items is None else None
        self._close(
            slot, qualified, kind, item.where, scope.path, start, output, item.name is not None, node_path, params
        )
        scope.inner[local] = inner
        return output

    def _open(self) -> int:
        """Keep a group's place before its layers are expanded, so groups come outermost first."""
        self.groups.append(None)  # type: ignore[arg-type]
        return len(self.groups) - 1

    def _close(
        self,
        slot: int,
        name: str,
        kind: str,
        where: Location,
        path: tuple[str, ...],
        start: int,
        output: str,
        named: bool,
        node_path: tuple[str | int, ...] = (),
        params: dict[str, object] | None = None,
    ) -> None:
        layers = tuple(layer.name for layer in self.layers[start:])
        self.groups[slot] = GroupSpec(
            name=name,
            type=kind,
            location=where,
            scope=path,
            layers=layers,
            output=output,
            named=named,
            node_path=node_path,
            params=params or {},
        )

    def written(self, items: Node, path: tuple[str | int, ...]) -> tuple[ItemSpec, ...]:
        """A list as written (for export): items, groups and their places, nothing expanded."""
        seq = items.resolved()
        read = self._read.get(id(seq)) or [read_item(self.document, node) for node in seq.children]
        result = []
        for index, item in enumerate(read):
            here = (*path, index)
            result.append(
                ItemSpec(
                    name=item.name,
                    type=item.type,
                    args=item.values,
                    sources=tuple(ref for ref, _ in item.sources),
                    repeat=None if item.repeat is None else plain(self.document.data(item.repeat)),
                    condition=None if item.condition is None else plain(self.document.data(item.condition)),
                    items=() if item.items is None else self.written(item.items, (*here, "layers")),
                    node_path=here,
                    trainable=item.trainable,
                    called=item.called,
                )
            )
        return tuple(result)

    # -- references ------------------------------------------------------------------------

    def _resolve_all(
        self,
        ref: str,
        where: Location,
        scope: _Scope,
        item: Item,
        index: int,
        written: dict[str, tuple[int, Item]],
    ) -> list[tuple[str, str]]:
        """What one ``from:`` entry reads, each output with the name it is read as: one layer, or
        for ``m.*`` every copy of the repeated item ``m`` in order (none when it is switched off)."""
        if not ref.endswith(EVERY_COPY):
            return [(self._resolve(ref, where, scope, item, index, written), ref)]
        head = ref.removesuffix(EVERY_COPY)
        self._resolve(head, where, scope, item, index, written)  # unknown, later or itself: said as for a name
        if head in scope.off:
            return []
        inner = scope.inner.get(head)  # a name written with a dot (features.1) is one name first
        owner = scope
        for part in head.split(".") if inner is None else ():
            if part in owner.off:
                return []
            inner = owner.inner.get(part)
            if inner is None:
                break
            owner = inner
        if inner is None or inner.copies is None:
            raise GraphError(
                f"{ref}: {head} is not repeated; {EVERY_COPY} reads every copy of an item with repeat: "
                f"(write from: {head} to read it once)",
                where,
            )
        return [(inner.names[str(copy)], f"{head}.{copy}") for copy in range(inner.copies)]

    def _resolve(
        self,
        ref: str,
        where: Location,
        scope: _Scope,
        item: Item,
        index: int,
        written: dict[str, tuple[int, Item]],
    ) -> str:
        if ref == INPUT:
            return scope.input
        if ref in scope.never:
            raise _never_called(ref, where)
        if ref in scope.names:
            return scope.names[ref]
        if item.name is not None and ref == item.name:
            raise GraphError(f"{ref} reads itself; from: names an earlier layer or {INPUT}", where)
        if ref in written and written[ref][0] > index:
            line = written[ref][1].where.line
            raise GraphError(
                f"{ref!r} comes later (line {line}): a layer can only read layers above it, so the graph has no cycle",
                where,
            )
        parts = ref.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            head, rest = ".".join(parts[:cut]), ".".join(parts[cut:])
            if head in scope.inner:
                inner = scope.inner[head]
                if head in scope.never or rest in inner.never:
                    raise _never_called(ref, where)
                if rest in inner.names:
                    return inner.names[rest]
        known = [INPUT, *scope.names]
        raise GraphError(f"no layer named {ref!r} here{did_you_mean(ref, known)} (known: {', '.join(known)})", where)

    # -- values ----------------------------------------------------------------------------

    def _values(self, item: Item, scope: _Scope) -> tuple[dict[str, Any], frozenset[str]]:
        """The item's arguments with every ``$`` expression evaluated."""
        templated = frozenset(key for key, value in item.values.items() if has_expression(value))
        if not templated:
            return item.values, templated
        args = dict(item.values)
        for key in templated:
            args[key], _ = self._value(item.entries[key][1], scope)
        return args, templated

    def _value(self, node: Node, scope: _Scope) -> tuple[Any, bool]:
        data = plain(self.document.data(node))
        if not has_expression(data):
            return data, False
        if not scope.blocks:
            raise GraphError(
                f"{first_expression(data)!r} uses a parameter, but only a block's layers have parameters",
                self.document.where(node),
            )
        return self._evaluated(data, scope, node), True

    def _evaluated(self, data: Any, scope: _Scope, node: Node) -> Any:
        if isinstance(data, tuple):
            return tuple(self._evaluated(v, scope, node) for v in data)
        if not is_expression(data):
            return data
        try:
            return parse_expression(data).evaluate(scope.params)
        except ExpressionError as error:
            block = scope.blocks[-1]
            message = str(error)
            if "no parameter" in message:
                message += f" (block {block} has {', '.join(sorted(scope.params)) or 'no parameters'})"
            raise GraphError(message, self.document.where(node)) from error

    def _truth(self, node: Node, scope: _Scope) -> bool:
        value, _ = self._value(node, scope)
        if not isinstance(value, bool):
            raise GraphError(f"if: needs true or false, got {value!r}", self.document.where(node))
        return value

    def _repeat(self, node: Node | None, scope: _Scope) -> int | None:
        if node is None:
            return None
        value, _ = self._value(node, scope)
        if not is_int(value) or not 0 <= value <= MAX_REPEAT:
            raise SpecError(
                f"repeat: needs an integer from 0 to {MAX_REPEAT:,}, got {value!r}", self.document.where(node)
            )
        return int(value)

    def _params(self, item: Item, block: Block, scope: _Scope) -> dict[str, object]:
        """A block use's parameter values: given, else the default; unknown or missing ones refused."""
        values: dict[str, object] = {}
        for key, (key_node, value_node) in item.entries.items():
            if key not in block.params:
                raise GraphError(
                    f"block {block.name} has no parameter {key!r}{did_you_mean(key, list(block.params))} "
                    f"(it has {', '.join(block.params) or 'none'})",
                    self.document.where(key_node),
                )
            values[key], _ = self._value(value_node, scope)
        for key, default in block.params.items():
            if key not in values:
                if default is None:
                    raise GraphError(f"block {block.name} needs {key}: add {key}: … to this use", item.where)
                values[key] = default
        return values


def _never_called(ref: str, where: Location) -> GraphError:
    return GraphError(
        f"{ref} is never called in forward (called: false), so it gives no output to read; "
        "from: names a layer that runs",
        where,
    )


def _merge_hint(written: str) -> str:
    """``; did you mean 'Add'?`` for a misspelt merge type (``Addd``, ``Sum``, ``Cat``)."""
    names = {"add": "Add", "concat": "Concat", "mul": "Mul"}
    close = difflib.get_close_matches(written.lower(), list(names), n=1)
    guess = MERGE_SYNONYMS.get(written.lower()) or (names[close[0]] if close else None)
    return f"; did you mean {guess!r}?" if guess else ""
