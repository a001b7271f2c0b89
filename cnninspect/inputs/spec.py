"""YAML files and the built-in model → a validated ModelSpec with source positions.

YAML is read safely (yamldoc.py): no tags, no object construction, duplicate keys refused,
bounded size and aliases. Every error names ``file:line:col``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cnninspect.errors import Location, SpecError, UsageError, YamlError
from cnninspect.spec.darknet import looks_like_darknet, parse_darknet
from cnninspect.spec.flags import parse_layers
from cnninspect.spec.graph import Expander, read_blocks
from cnninspect.spec.hydra import has_targets, is_hydra, parse_hydra
from cnninspect.spec.model import BUILTIN_LABEL, BlockSpec, ModelSpec
from cnninspect.spec.validate import check_unique_names, parse_input
from cnninspect.spec.yamldoc import Document, plain, read_document
from cnninspect.text import did_you_mean

MAX_SPEC_BYTES = 1_000_000
"""Larger files are refused before parsing: no real model spec comes near this."""
TOP_LEVEL_KEYS = ("name", "input", "blocks", "layers")
EXTENSION_PREFIX = "x-"
"""Top-level keys starting with this are ignored: a place for YAML anchors, as in Compose files."""


@dataclass(frozen=True)
class SpecSource:
    """A spec and the text it was read from, for commands that edit it."""

    spec: ModelSpec
    """As written, before overrides."""
    text: str
    """The YAML or ``--layers`` text."""
    path: Path | None = None
    """The file, when there is one to write."""
    raw: bytes = b""
    """The file's bytes as read (to keep a byte-order mark and detect changes)."""


def load_source(path: Path | None = None, layers: str | None = None) -> SpecSource:
    """The spec a command names: a file, a ``--layers`` string, or the built-in model."""
    if path is not None and layers is not None:
        raise UsageError("give a SPEC file or --layers, not both")
    if layers is not None:
        return SpecSource(parse_layers(layers), layers)
    if path is not None:
        raw = read_source(path)
        text = decode_source(raw, str(path))
        return SpecSource(parse_text(text, str(path)), text, path, raw)
    text = resources.files("cnninspect.spec").joinpath("tutorial.yaml").read_text(encoding="utf-8")
    return SpecSource(parse_yaml(text, BUILTIN_LABEL), text)


def read_source(path: str | Path) -> bytes:
    """A spec file's bytes. Only a regular file is read (a FIFO, socket or device is refused at once,
    never waited on), and a file over the size limit is refused before a byte is read."""
    label = str(path)
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UsageError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{label}: is a folder; give a spec file") from None
    except OSError as error:
        raise YamlError(f"cannot read the file: {error.strerror}", Location(label, 1, 1)) from None
    try:
        info = os.fstat(handle)
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{label}: is a folder; give a spec file")
        if not stat.S_ISREG(info.st_mode):
            raise YamlError("is not a regular file (a FIFO, socket or device); give a spec file", Location(label, 1, 1))
        if info.st_size > MAX_SPEC_BYTES:
            raise YamlError(_too_large(info.st_size), Location(label, 1, 1))
        with os.fdopen(os.dup(handle), "rb") as stream:
            raw = stream.read(MAX_SPEC_BYTES + 1)
    except OSError as error:
        raise YamlError(f"cannot read the file: {error.strerror}", Location(label, 1, 1)) from None
    finally:
        os.close(handle)
    if len(raw) > MAX_SPEC_BYTES:  # it grew while being read
        raise YamlError(_too_large(len(raw)), Location(label, 1, 1))
    return raw


def _too_large(size: int) -> str:
    return f"file is {size:,} bytes or more, over the {MAX_SPEC_BYTES:,}-byte limit for a spec"


def decode_source(raw: bytes, label: str) -> str:
    """UTF-8 text without a byte-order mark; line endings untouched."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise YamlError("file is not UTF-8 text", Location(label, line, 1)) from None


def parse_text(text: str, label: str) -> ModelSpec:
    """A spec file's text in whichever format it is: a darknet ``.cfg`` (by its extension or its
    ``[net]`` section), a Hydra config (YAML whose model has ``_target_: torch.nn.…``), or a
    cnninspect spec."""
    if looks_like_darknet(text, label):
        return parse_darknet(text, label)
    document = read_document(text, label)
    if is_hydra(document):
        return parse_hydra(document)
    root = document.root.resolved()
    if root.kind == "map" and not {"layers", "blocks"} & set(root.items()) and has_targets(document):
        raise SpecError(
            "a Hydra config without a torch.nn model: cnninspect reads the mapping whose _target_ is "
            "torch.nn.Sequential or a torch.nn layer",
            Location(label, 1, 1),
        )
    return spec_from_document(document)


def parse_yaml(text: str, label: str) -> ModelSpec:
    """Validate YAML text as a spec; ``label`` names it in locations."""
    return spec_from_document(read_document(text, label))


def spec_from_document(document: Document) -> ModelSpec:
    """Validate a parsed YAML document as a spec, graphs expanded (graph.py)."""
    label, root = document.label, document.root.resolved()
    if root.kind != "map":
        raise SpecError("a spec is a mapping with name, input and layers", Location(label, 1, 1))
    entries = root.items()
    for key, (key_node, _) in entries.items():
        if key not in TOP_LEVEL_KEYS and not key.startswith(EXTENSION_PREFIX):
            raise SpecError(
                f"unknown key {key!r}{did_you_mean(key, TOP_LEVEL_KEYS)}; a spec has {', '.join(TOP_LEVEL_KEYS)} "
                f"(and {EXTENSION_PREFIX}… keys for YAML anchors)",
                document.where(key_node),
            )
    name = Path(label).stem
    if "name" in entries:
        name = document.data(entries["name"][1])
        if not isinstance(name, str):
            raise SpecError("name must be a string", document.where(entries["name"][1]))
    input_shape: tuple[int, ...] = ()
    input_location = None
    if "input" in entries:
        input_location = document.where(entries["input"][1])
        input_shape = parse_input(plain(document.data(entries["input"][1])), input_location)
    if "layers" not in entries:
        raise SpecError("the spec has no layers; add a layers: list", Location(label, 1, 1))
    blocks = read_blocks(document, entries["blocks"][1]) if "blocks" in entries else {}
    expander = Expander(document, blocks)
    expander.expand(entries["layers"][1])
    check_unique_names([*expander.layers, *expander.groups])
    return ModelSpec(
        name,
        input_shape,
        tuple(expander.layers),
        label,
        input_location=input_location,
        groups=tuple(expander.groups),
        structure=expander.written(entries["layers"][1], ("layers",)),
        templates={
            block.name: BlockSpec(
                block.name, block.params, expander.written(block.items, ("blocks", block.name, "layers"))
            )
            for block in blocks.values()
        },
    )
