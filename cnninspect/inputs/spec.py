"""cnninspect's own YAML spec format (and the built-in model) → a validated ModelSpec.

YAML is read safely (spec/yamldoc.py): no tags, no object construction, duplicate keys refused,
bounded size and aliases. Every error names ``file:line:col``. Graphs (``from:``, ``blocks:``,
``repeat:``, ``if:``) are expanded at load time (spec/graph.py). Fixes are spliced into the text
where each value is written (inputs/yamledit.py).
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import ClassVar

from cnninspect.errors import Location, SpecError
from cnninspect.inputs.base import InputFormat, ReadOptions
from cnninspect.inputs.hydra import has_targets
from cnninspect.inputs.splice import Edit
from cnninspect.inputs.yamledit import column, value_edits, yaml_edits
from cnninspect.spec.graph import Expander, read_blocks
from cnninspect.spec.model import BUILTIN_LABEL, BlockSpec, ModelSpec
from cnninspect.spec.validate import check_unique_names, parse_input
from cnninspect.spec.yamldoc import Document, Node, plain, read_document
from cnninspect.text import did_you_mean, show_value

TOP_LEVEL_KEYS = ("name", "input", "blocks", "layers")
EXTENSION_PREFIX = "x-"
"""Top-level keys starting with this are ignored: a place for YAML anchors, as in Compose files."""
SPEC_KEY = re.compile(r"""^(?:["']?(?:layers|blocks)["']?\s*:|\{.*\blayers\s*:)""", re.MULTILINE)
"""A top-level ``layers:`` or ``blocks:`` key: what every spec has, found on the text (so a broken
spec is still recognised and reported)."""


class SpecFormat(InputFormat):
    """cnninspect's own YAML: name, input, blocks and layers."""

    name = "spec"
    title = "cnninspect YAML spec"
    suffixes: ClassVar[tuple[str, ...]] = (".yaml", ".yml")
    has_schema = True

    def recognises(self, text: str, label: str) -> bool:
        return SPEC_KEY.search(text) is not None

    def read(self, text: str, label: str, options: ReadOptions) -> ModelSpec:
        document = read_document(text, label)
        root = document.root.resolved()
        if root.kind == "map" and not {"layers", "blocks"} & set(root.items()) and has_targets(document):
            raise SpecError(
                "a Hydra config without a torch.nn model: cnninspect reads the mapping whose _target_ is "
                "torch.nn.Sequential or a torch.nn layer",
                Location(label, 1, 1),
            )
        return spec_from_document(document)

    def edits(self, text: str, original: ModelSpec, intended: ModelSpec) -> list[Edit]:
        return yaml_edits(text, original, intended, _input_edits, "a $ expression; change it in the block by hand")


def _input_edits(text: str, root: Node, original: ModelSpec, intended: ModelSpec, newline: str) -> list[Edit]:
    """``input:`` changed where it is written, or added before ``layers:``."""
    node = root.own("input")
    if node is not None:
        return value_edits(node, original.input, intended.input, shape=True)
    layers_key = next(k for k, _ in root.pairs() if k.value == "layers")
    entry = f"input: {show_value(intended.input)}"
    gap = ", " if root.flow else newline + " " * column(text, layers_key.start)
    return [Edit(layers_key.start, layers_key.start, entry + gap)]


def builtin_text() -> str:
    """The built-in tutorial model's YAML (Example 1)."""
    return resources.files("cnninspect.spec").joinpath("tutorial.yaml").read_text(encoding="utf-8")


def read_builtin() -> ModelSpec:
    """The built-in tutorial model."""
    return parse_yaml(builtin_text(), BUILTIN_LABEL)


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
