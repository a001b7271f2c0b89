"""Hydra / OmegaConf configs whose model is a tree of ``torch.nn`` ``_target_``s → a ModelSpec.

    model:
      _target_: torch.nn.Sequential
      _args_:
        - {_target_: torch.nn.Conv2d, in_channels: 3, out_channels: "${width}", kernel_size: 3}
        - {_target_: torch.nn.ReLU}

The model is the outermost mapping whose ``_target_`` is a ``torch.nn`` class; a
``torch.nn.Sequential`` is a group of its ``_args_``, any other class a layer with the keys
beside ``_target_`` as keyword arguments and ``_args_`` as positional ones. Layers are named
by their key paths (``model._args_.0``). ``${…}`` references to other keys are resolved as
OmegaConf resolves them, by cnninspect's own resolver-free code (interpolation.py): no resolver
(``${oc.env:…}``) can run, however its name is written. The file is read by cnninspect's safe
YAML reader; OmegaConf is never needed.
The input shape comes from ``--input`` or a comment ``# cnninspect: input 3x32x32``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from cnninspect.errors import CnnInspectError, Location, SpecError
from cnninspect.inputs.base import InputFormat, ReadOptions
from cnninspect.inputs.interpolation import resolve
from cnninspect.inputs.splice import Edit
from cnninspect.inputs.yamledit import yaml_edits
from cnninspect.spec.catalog import lookup
from cnninspect.spec.model import INPUT, GroupSpec, ItemSpec, LayerSpec, ModelSpec
from cnninspect.spec.validate import make_layer, parse_input
from cnninspect.spec.yamldoc import Document, Node, plain, read_document

TARGET, ARGS = "_target_", "_args_"
HYDRA_KEYS = (TARGET, ARGS, "_partial_", "_recursive_", "_convert_")
"""Keys Hydra reads itself: never a layer's argument."""
TORCH_CLASS = re.compile(r"(?:torch\.)?nn\.(?:modules\.[a-z_.]+\.)?([A-Za-z_]\w*)")
INPUT_COMMENT = re.compile(r"^[ \t]*#\s*cnninspect:\s*input\s+(\S+)", re.MULTILINE)
"""The input shape, on a comment line of its own."""
MAX_NESTING = 100
"""Sequentials inside Sequentials deeper than this are refused."""
HYDRA_MODEL = re.compile(r"""\b_target_["']?\s*:\s*["']?(?:torch\.)?nn\.""")
"""A ``_target_: torch.nn.…`` somewhere in the text: the cheap first test of a Hydra model config."""
MODEL_COMMENT = re.compile(r"^[ \t]*#\s*cnninspect:\s*model\s+(\S+)", re.MULTILINE)
"""Which tree is the model, when the file holds several and none is under ``model:``."""
INPUT_HINT = "a line # cnninspect: input 3x32x32"
MAX_SEARCH_DEPTH = 8


def is_hydra(document: Document) -> bool:
    """True when the YAML is not a cnninspect spec and holds a ``_target_: torch.nn.…`` model: a
    Sequential or a layer cnninspect knows (a loss's config is not a model)."""
    root = document.root.resolved()
    if root.kind == "map" and ("layers" in root.items() or "blocks" in root.items()):
        return False
    return bool(_candidates(root))


DEFAULTS_LIST = re.compile(r"^defaults\s*:", re.MULTILINE)
"""A top-level ``defaults:`` list: a Hydra root config that composes others."""


def is_own_config(text: str, label: str) -> bool:
    """A Hydra config that is no torch.nn model: it builds the user's own classes, or composes other
    configs with a ``defaults:`` list (its model is built with ``--model FILE.yaml:NODE``)."""
    return bool(DEFAULTS_LIST.search(text)) or bool(own_classes(text, label))


def own_classes(text: str, label: str) -> list[tuple[str, str]]:
    """In a Hydra config that is no torch.nn model: each ``_target_`` that names a class outside torch,
    as (key path, class), outermost first; [] for any other file. Nothing is imported."""
    if "_target_" not in text:
        return []
    try:
        root = read_document(text, label).root.resolved()
    except CnnInspectError:
        return []
    found: list[tuple[str, str]] = []

    def walk(node: Node, path: tuple[str, ...], depth: int) -> None:
        if node.kind != "map" or depth > MAX_SEARCH_DEPTH:
            return
        items = node.items()
        if TARGET in items:
            name = str(items[TARGET][1].resolved().value)
            if not name.startswith(("torch.", "nn.")):
                found.append((".".join(path), name))
        for key, (_, value) in items.items():
            if key != TARGET:
                walk(value.resolved(), (*path, key), depth + 1)

    walk(root, (), 0)
    return found


def _is_model(node: Node) -> bool:
    match = TORCH_CLASS.fullmatch(str(node.items()[TARGET][1].resolved().value))
    return match is not None and (match.group(1) == "Sequential" or lookup(match.group(1)) is not None)


def _candidates(root: Node) -> list[tuple[tuple[str | int, ...], Node]]:
    """The trees that could be the model: the root itself, else the outermost torch.nn model under
    each top-level key."""
    if root.kind != "map" or TARGET in root.items():
        found = _find_model(root, ())
        return [found] if found is not None and _is_model(found[1]) else []
    candidates = []
    for key, (_, value) in root.items().items():
        found = _find_model(value, (key,))
        if found is not None and _is_model(found[1]):
            candidates.append(found)
    return candidates


def _choose_model(document: Document, root: Node) -> tuple[tuple[str | int, ...], Node]:
    """The model: the one tree there is; the one a ``# cnninspect: model KEY`` comment names; else
    the one under ``model:``. Several others are an error that lists them."""
    candidates = _candidates(root)
    named = list(MODEL_COMMENT.finditer(document.text))
    if named:
        wanted = named[0].group(1)
        for path, node in candidates:
            if ".".join(map(str, path)) == wanted or str(path[0]) == wanted:
                return path, node
        keys = ", ".join(".".join(map(str, path)) for path, _ in candidates) or "none"
        raise SpecError(
            f"the comment names {wanted!r}, which holds no torch.nn model (models here: {keys})",
            document.location(named[0].start(1)),
        )
    if not candidates:
        raise SpecError("no _target_: torch.nn.… here", Location(document.label, 1, 1))
    if len(candidates) == 1:
        return candidates[0]
    under_model = [found for found in candidates if found[0][0] == "model"]
    if under_model:
        return under_model[0]
    places = ", ".join(f"{'.'.join(map(str, path))} (line {document.where(node).line})" for path, node in candidates)
    raise SpecError(
        f"several torch.nn trees could be the model: {places}; put the model under model: or name it in a "
        f"comment such as # cnninspect: model {candidates[-1][0][0]}",
        document.where(candidates[1][1]),
    )


def parse_hydra(document: Document) -> ModelSpec:
    """The model of a Hydra config as a ModelSpec, interpolations resolved."""
    root = document.root.resolved()
    path, node = _choose_model(document, root)
    try:
        builder = _Builder(document, resolve(document, root))
        _, item = builder.module(node, path, (), INPUT)
    except RecursionError:
        raise SpecError("the config is nested too deeply to read", document.where(node)) from None
    sample, input_location = _input_comment(document)
    return ModelSpec(
        name=str(path[-1]) if path else _stem(document.label),
        input=sample,
        layers=tuple(builder.layers),
        source=document.label,
        input_location=input_location,
        groups=tuple(builder.groups),
        structure=(item,),
        format=HydraFormat.name,
        input_hint=INPUT_HINT,
    )


def _input_comment(document: Document) -> tuple[tuple[int, ...], Location | None]:
    """The input shape a ``# cnninspect: input CxHxW`` comment line gives, and where; one at most."""
    comments = list(INPUT_COMMENT.finditer(document.text))
    if len(comments) > 1:
        first = document.location(comments[0].start(1)).line
        raise SpecError(
            f"a second # cnninspect: input comment (the first is at line {first}); keep one",
            document.location(comments[1].start(1)),
        )
    if not comments:
        return (), None
    where = document.location(comments[0].start(1))
    return parse_input(comments[0].group(1), where), where


def has_targets(document: Document) -> bool:
    """True when some mapping of the YAML has a ``_target_`` (a Hydra config, model or not)."""
    return _find_model(document.root.resolved(), (), any_target=True) is not None


def _find_model(
    node: Node, path: tuple[str | int, ...], any_target: bool = False
) -> tuple[tuple[str | int, ...], Node] | None:
    """The outermost mapping (breadth first) whose ``_target_`` is a torch.nn class (any class)."""
    level: list[tuple[tuple[str | int, ...], Node]] = [(path, node)]
    for _ in range(MAX_SEARCH_DEPTH):
        following: list[tuple[tuple[str | int, ...], Node]] = []
        for here, current in level:
            current = current.resolved()
            if current.kind == "map":
                entries = current.items()
                target = entries.get(TARGET)
                value = str(target[1].resolved().value or "") if target is not None else None
                if value is not None and (any_target or TORCH_CLASS.fullmatch(value)):
                    return here, current
                following += [((*here, key), value) for key, (_, value) in entries.items()]
            elif current.kind == "seq":
                following += [((*here, i), child) for i, child in enumerate(current.children)]
        level = following
    return None


class _Builder:
    def __init__(self, document: Document, values: Any) -> None:
        self.document = document
        self.values = values
        self.layers: list[LayerSpec] = []
        self.groups: list[GroupSpec] = []

    def module(
        self, node: Node, path: tuple[str | int, ...], scope: tuple[str, ...], source: str
    ) -> tuple[str, ItemSpec]:
        """One ``_target_`` mapping: the name of the layer giving its output, and the item export
        rebuilds it from (a Sequential's entries are unnamed, as nn.Sequential numbers them)."""
        entries = node.items()
        target = str(entries[TARGET][1].resolved().value)
        match = TORCH_CLASS.fullmatch(target)
        if match is None:
            raise SpecError(
                f"{target} is not a torch.nn class: cnninspect checks a config without running code, "
                "so only torch.nn targets can be traced",
                self.document.where(entries[TARGET][1]),
            )
        name = ".".join(str(step) for step in path) or "model"
        if len(scope) > MAX_NESTING:
            raise SpecError(f"Sequentials nested more than {MAX_NESTING} deep", self.document.where(node))
        if match.group(1) == "Sequential":
            return self._sequential(node, path, scope, source, name)
        value = self._value(path)
        written = {k: v for k, (_, v) in entries.items() if k not in HYDRA_KEYS}
        args = {k: plain(value[k]) for k in written}
        given = value.get(ARGS, [])
        if not isinstance(given, list):
            raise SpecError(
                f"_args_ is the list of {match.group(1)}'s positional arguments, e.g. _args_: [3, 16]",
                self.document.where(entries[ARGS][1]),
            )
        positional = tuple(plain(v) for v in given)
        templated = {k for k, v in written.items() if "${" in str(self.document.data(v))}
        kind = lookup(match.group(1))
        if ARGS in entries and kind is not None:  # an interpolated positional argument, by its name
            slots = [p.name for p in kind.params if not p.keyword_only]
            items = entries[ARGS][1].resolved().children
            templated |= {slot for slot, v in zip(slots, items) if "${" in str(self.document.data(v))}
        layer = make_layer(
            len(self.layers),
            name,
            match.group(1),
            args,
            self.document.where(node),
            {k: self.document.where(v) for k, v in written.items()},
            self.document.where(entries[TARGET][1]),
            positional,
            scope=scope,
            inputs=(source,),
            node_path=path,
            templated=frozenset(templated),
        )
        self.layers.append(layer)
        item = ItemSpec(
            name=None if scope else name, type=layer.type, args=layer.args, positional=positional, node_path=path
        )
        return name, item

    def _sequential(
        self, node: Node, path: tuple[str | int, ...], scope: tuple[str, ...], source: str, name: str
    ) -> tuple[str, ItemSpec]:
        """A ``torch.nn.Sequential``: a group of its ``_args_``, listed before the groups inside it."""
        extra = [key for key in node.items() if key not in HYDRA_KEYS]
        if extra:
            raise SpecError(
                f"a torch.nn.Sequential takes only _args_ (its modules), not {extra[0]}",
                self.document.where(node.items()[extra[0]][0]),
            )
        children = node.items().get(ARGS)
        items = children[1].resolved() if children else None
        if items is None or items.kind != "seq" or not items.children:
            raise SpecError("a torch.nn.Sequential needs _args_: a list of modules", self.document.where(node))
        start, slot = len(self.layers), len(self.groups)
        self.groups.append(None)  # type: ignore[arg-type]  # filled in below, once its layers are known
        current, entries = source, []
        for index, child in enumerate(items.children):
            child = child.resolved()
            if child.kind != "map" or TARGET not in child.items():
                raise SpecError("each entry of _args_ is a module with a _target_", self.document.where(child))
            current, entry = self.module(child, (*path, ARGS, index), (*scope, name), current)
            entries.append(entry)
        self.groups[slot] = GroupSpec(
            name=name,
            type="Sequential",
            location=self.document.where(node),
            scope=scope,
            layers=tuple(layer.name for layer in self.layers[start:]),
            output=current,
            node_path=path,
        )
        return current, ItemSpec(name=None if scope else name, type=None, args={}, items=tuple(entries), node_path=path)

    def _value(self, path: tuple[str | int, ...]) -> Any:
        value = self.values
        for step in path:
            value = value[step]
        return value


def _stem(label: str) -> str:
    return label.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0] or "model"


class HydraFormat(InputFormat):
    """Hydra / OmegaConf configs whose model is a tree of ``torch.nn`` ``_target_``s."""

    name = "hydra"
    title = "Hydra config"
    suffixes: ClassVar[tuple[str, ...]] = (".yaml", ".yml")
    input_hint = INPUT_HINT
    templated_as = "a ${…} interpolation"

    def recognises(self, text: str, label: str) -> bool:
        if HYDRA_MODEL.search(text) is None:
            return False
        try:  # a torch.nn loss or activation config is not a model
            return is_hydra(read_document(text, label))
        except CnnInspectError:
            return True  # broken: reported

    def read(self, text: str, label: str, options: ReadOptions) -> ModelSpec:
        return parse_hydra(read_document(text, label))

    def edits(self, text: str, original: ModelSpec, intended: ModelSpec) -> list[Edit]:
        return yaml_edits(
            text, original, intended, _input_comment_edits, "a ${…} interpolation; change the value it refers to"
        )

    def templated_remedy(self, arg: str, value: str) -> str:
        return f"change the value it refers to, or write {value} in its place"


def _input_comment_edits(text: str, root: Node, original: ModelSpec, intended: ModelSpec, newline: str) -> list[Edit]:
    """A Hydra config's input is its ``# cnninspect: input`` comment: changed, or added on top."""
    written = "x".join(map(str, intended.input))
    match = INPUT_COMMENT.search(text)
    if match is None:
        return [Edit(0, 0, f"# cnninspect: input {written}{newline}")]
    return [Edit(match.start(1), match.end(1), written)]
