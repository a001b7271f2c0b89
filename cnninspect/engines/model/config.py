"""``--model FILE.yaml:NODE``: a node of a Hydra config, composed and instantiated by hydra-core itself.

The file is first read by cnninspect's safe YAML reader (size, tags, aliases, duplicate keys). A
root config with a ``defaults:`` list is composed by Hydra's compose API with the file's folder as
the config dir, ``--override KEY=VALUE`` applied. Before anything is instantiated, every string of
the composed config is checked as interpolation.py checks a spec's: a ``${name:…}`` resolver, however
built, is refused, so no resolver ever runs. The node is then built by ``hydra.utils.instantiate``
(``_target_``, ``_args_``, ``_partial_``, ``_recursive_``, ``_convert_`` as Hydra reads them), with
the project root on the import path, inside the --model sandbox (build.py calls it).

``locate`` finds the YAML line a composed key comes from, following ``${…}`` references to the line
that defines the value, so a fix can be written where the value lives (fixes/config.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnninspect.errors import CnnInspectError, Location, UsageError
from cnninspect.inputs.interpolation import refuse_resolvers, refused
from cnninspect.inputs.source import decode_source, read_source
from cnninspect.spec.yamldoc import Document, Node, read_document
from cnninspect.text import did_you_mean, first_line

ROOT_MARKERS = (".project-root", "pyproject.toml", "setup.py", "setup.cfg", ".git")
"""A folder holding one of these is the project root (put on the import path)."""
REFERENCE = re.compile(r"\$\{\s*(\.*)([\w.\-\[\]]+)\s*\}")
"""A value that is one ``${key}`` reference and nothing else."""
MAX_HOPS = 20
"""References followed from one value, at most."""
MAX_DEFAULTS_DEPTH = 8

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Origin:
    """A config file merged into the composed config, and where its root lands in it."""

    path: Path
    """The file."""
    package: KeyPath
    """The key path its content is merged at (``("model",)`` for ``model/mnist.yaml``)."""


@dataclass(frozen=True)
class Written:
    """Where a composed value is written in a file."""

    path: Path
    """The file."""
    document: Document
    """Its parsed text."""
    node: Node
    """The scalar that holds the value."""
    key: KeyPath
    """The composed key path of the value."""
    local: KeyPath
    """The key path inside the file."""

    @property
    def location(self) -> Location:
        """``file:line:col`` of the value."""
        return self.document.where(self.node)


@dataclass
class ComposedConfig:
    """A composed Hydra config: its data (``${…}`` kept as written), the files it came from in the
    order Hydra merges them, and the overrides."""

    data: Any
    """The composed config as plain data, interpolations unresolved."""
    origins: list[Origin]
    """The files merged, lowest precedence first."""
    overrides: tuple[str, ...]
    """``--override KEY=VALUE``, as given."""
    project: Path
    """The project root, on the import path while the node is instantiated."""

    def value(self, key: KeyPath) -> Any:
        """The composed value at ``key`` (KeyError when absent)."""
        value = self.data
        for step in key:
            value = value[step]
        return value

    def locate(self, key: KeyPath) -> tuple[Written | None, list[Written], str]:
        """Where the value at ``key`` is defined, after following ``${…}`` references; the lines that
        refer to it on the way; and, when it cannot be found, why."""
        hops: list[Written] = []
        for _ in range(MAX_HOPS):
            written = self.written_at(key)
            if written is None:
                return None, hops, self._why_not(key)
            value = self.value(key)
            if not isinstance(value, str) or "${" not in value:
                return written, hops, ""
            match = REFERENCE.fullmatch(value.strip())
            if match is None or refused(value) is not None:
                return None, [*hops, written], f"{value} is not a single ${{key}} reference, so it cannot be followed"
            hops.append(written)
            key = _target_key(key, match.group(1), match.group(2))
        return None, hops, "the references go round in a circle"

    def written_at(self, key: KeyPath) -> Written | None:
        """The highest-precedence file that writes this key with the composed value."""
        try:
            value = self.value(key)
        except (KeyError, IndexError, TypeError):
            return None
        for origin in reversed(self.origins):
            if key[: len(origin.package)] != origin.package:
                continue
            document = _document(origin.path)
            local = key[len(origin.package) :]
            node = node_at(document.root, local)
            if node is not None and node.kind == "scalar" and document.data(node) == value:
                return Written(origin.path, document, node, key, local)
        return None

    def _why_not(self, key: KeyPath) -> str:
        dotted = ".".join(map(str, key))
        if any(o.split("=", 1)[0].lstrip("+~") == dotted for o in self.overrides):
            return f"{dotted} is set by --override"
        return f"{dotted} is not written in any file the config is composed of"


def project_root(path: Path) -> Path:
    """The nearest folder above ``path`` with a project marker, else the current folder."""
    for folder in path.resolve().parents:
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return Path.cwd()


def compose_config(path: Path, overrides: tuple[str, ...], text: str) -> ComposedConfig:
    """The config composed as Hydra composes it (config dir = the file's folder), every string checked
    for resolvers before anything is built."""
    try:
        from hydra import compose, initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra
        from omegaconf import OmegaConf
    except ImportError:
        raise UsageError(f"--model {path}:NODE needs hydra-core: pip install 'cnninspect[hydra]'") from None
    document = read_document(text, str(path))  # the safe reader first: tags, aliases, duplicate keys
    root = document.root.resolved()
    if root.kind == "map" and ("layers" in root.items() or "blocks" in root.items()):
        raise UsageError(f"{path} is a cnninspect spec, not a Hydra config: give it as SPEC, without --model")
    # Hydra resolves some values while it composes (the defaults list): every file and override is
    # checked first, so that no resolver can run there either.
    origins = _origins(path, document, overrides)
    for origin in origins:
        refuse_resolvers(_document(origin.path))
    for override in overrides:
        refusal = refused(override)
        if refusal is not None:
            raise UsageError(f"--override {override}: {refusal}")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(path.parent.resolve()), version_base=None, job_name="cnninspect"):
            cfg = compose(config_name=path.stem, overrides=list(overrides))
        data = OmegaConf.to_container(cfg, resolve=False)
    except CnnInspectError:
        raise
    except Exception as error:  # Hydra's and OmegaConf's own errors: a missing group option, a bad override
        given = " with --override" if overrides else ""
        raise UsageError(f"{path}: composing the config{given} failed: {first_line(error)}") from error
    finally:
        GlobalHydra.instance().clear()
    config = ComposedConfig(data, origins, overrides, project_root(path))
    for key, value in _strings(data, ()):
        refusal = refused(value)
        if refusal is not None:
            written = config.written_at(key)
            where = written.location if written is not None else Location(str(path), 0, 0)
            raise UsageError(f"{where}: {'.'.join(map(str, key))}: {refusal}")
    return config


def input_comment(path: Path, overrides: tuple[str, ...]) -> str | None:
    """The input shape a ``# cnninspect: input 1x28x28`` comment gives, in the file or in one of the
    files its ``defaults:`` compose it of (the first found)."""
    from cnninspect.inputs.hydra import INPUT_COMMENT

    for origin in reversed(_origins(path, _document(path), overrides)):
        found = INPUT_COMMENT.search(decode_source(read_source(origin.path), str(origin.path)))
        if found is not None:
            return found.group(1)
    return None


def node_factory(config: ComposedConfig, node: str) -> Callable[..., object]:
    """A function that instantiates the node with ``hydra.utils.instantiate`` (keyword arguments
    override the node's own, as Hydra's do)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    key = node_key(node)
    parent: object = config.data
    for depth, step in enumerate(key):
        children = parent if isinstance(parent, dict) else dict(enumerate(parent)) if isinstance(parent, list) else {}
        if step not in children:
            names = [str(k) for k in children]
            here = ".".join(map(str, key[:depth])) or "the config"
            raise UsageError(f"--model …:{node}: {here} has no {str(step)!r}{did_you_mean(str(step), names)}")
        parent = children[step]
    if not isinstance(parent, dict) or "_target_" not in parent:
        raise UsageError(f"--model …:{node}: the node has no _target_, so Hydra cannot instantiate it")
    full = OmegaConf.create(config.data)

    def build(**kwargs: object) -> object:
        selected = OmegaConf.select(full, node) if node else full
        return instantiate(selected, **kwargs)

    return build


def node_key(node: str) -> KeyPath:
    """``model.net`` → ("model", "net"); digits index lists; "" is the root."""
    return tuple(int(part) if part.isdigit() else part for part in node.split(".")) if node else ()


def _target_key(holder: KeyPath, dots: str, dotted: str) -> KeyPath:
    """The key a reference at ``holder`` points to: OmegaConf's ``${a.b}`` from the root, ``${.b}``
    beside the holder, each further dot one level up."""
    steps = node_key(dotted.replace("[", ".").replace("]", ""))
    if not dots:
        return steps
    base = holder[: len(holder) - len(dots)]
    return (*base, *steps)


def _strings(value: object, key: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, (*key, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, (*key, i))
    elif isinstance(value, str) and "${" in value:
        yield key, value


def _document(path: Path) -> Document:
    return read_document(decode_source(read_source(path), str(path)), str(path))


def node_at(root: Node, key: KeyPath) -> Node | None:
    """The node at a key path inside one file, if it is written there."""
    node = root.resolved()
    for step in key:
        if isinstance(step, int) and node.kind == "seq" and step < len(node.children):
            node = node.children[step].resolved()
        elif node.kind == "map" and str(step) in node.items():
            node = node.items()[str(step)][1].resolved()
        else:
            return None
    return node


def _origins(
    path: Path, document: Document, overrides: tuple[str, ...], package: KeyPath = (), depth: int = 0
) -> list[Origin]:
    """The files a config is composed of, lowest precedence first, as Hydra orders them: its
    ``defaults:`` in order, each group option's file merged at the group's package, and the file
    itself where ``_self_`` stands (at the end when it is not listed)."""
    data = document.data(document.root)
    defaults = data.get("defaults") if isinstance(data, dict) else None
    this = Origin(path, package)
    if not isinstance(defaults, list) or depth > MAX_DEFAULTS_DEPTH:
        return [this]
    chosen = dict(o.split("=", 1) for o in overrides if "=" in o and not o.startswith(("+", "~")))
    config_dir = path.parent  # a group inside a group file is relative to that file's folder
    found: list[Origin] = []
    has_self = False
    for entry in defaults:
        if entry == "_self_":
            found.append(this)
            has_self = True
            continue
        if isinstance(entry, str):
            group, option, target = "", entry, package
        elif isinstance(entry, dict) and len(entry) == 1:
            ((group_text, option),) = entry.items()
            group_text = str(group_text).removeprefix("override ").removeprefix("optional ").strip()
            group, _, at = group_text.partition("@")
            option = chosen.get(group, option)  # type: ignore[assignment]
            placed = node_key(at) if at and at != "_global_" else () if at else node_key(group.replace("/", "."))
            target = package + placed
        else:
            continue
        if not isinstance(option, str):
            continue
        file = config_dir / group / f"{option}.yaml"
        if not file.is_file():
            continue
        try:
            found += _origins(file, _document(file), (), target, depth + 1)
        except CnnInspectError:
            found.append(Origin(file, target))
    if not has_self:
        found.append(this)
    return found
