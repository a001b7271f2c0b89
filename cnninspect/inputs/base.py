"""The interface every input format implements: recognise a file, read it, write a fix back.

A format is one subclass of ``InputFormat`` and one instance in the registry
(``inputs/__init__.py``). Nothing outside its module compares format names: the loader, lint's
discovery, fix-fc and the CLI ask the registry, and the registry asks the format.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from cnninspect.errors import EditError
from cnninspect.inputs.splice import Edit
from cnninspect.spec.model import LayerSpec, ModelSpec
from cnninspect.text import article


@dataclass(frozen=True)
class ReadOptions:
    """Command-line options that change how a file is read (not what-if overrides of the model)."""

    scale: str | None = None
    """A model scale to build (Ultralytics' ``n``, ``s``, …): the file name's scale otherwise."""


class InputFormat(ABC):
    """One way of writing a model down: how it is recognised, read, located and written back."""

    name: ClassVar[str]
    """Short identifier, stored in ``ModelSpec.format``."""
    title: ClassVar[str]
    """How messages and help name it: ``darknet .cfg``."""
    suffixes: ClassVar[tuple[str, ...]] = ()
    """File endings lint's folder walk collects for it (lower case)."""
    input_hint: ClassVar[str] = "input: [3, 32, 32]"
    """How a file of this format states its input, for the error when it gives none."""
    templated_as: ClassVar[str] = "a $ expression"
    """How a value computed from others is written in this format (a fix never replaces it)."""
    has_schema: ClassVar[bool] = False
    """``cnninspect schema`` describes this format (only cnninspect's own YAML)."""
    states_input: ClassVar[bool] = True
    """The text states the model's input (a ``--layers`` string does not: ``--input`` does)."""
    any_torch_layer: ClassVar[bool] = True
    """A layer may be any torch.nn class, so a remedy may add one (a ZeroPad2d that crops); a
    darknet file has its own sections only."""

    @abstractmethod
    def recognises(self, text: str, label: str) -> bool:
        """True when ``text`` (read from ``label``) is written in this format. Judged on the text, cheaply:
        a broken file of this format is still recognised, so it is reported rather than skipped."""

    @abstractmethod
    def read(self, text: str, label: str, options: ReadOptions) -> ModelSpec:
        """The model the text describes, validated, every layer at its place in ``label``."""

    def edits(self, text: str, original: ModelSpec, intended: ModelSpec) -> list[Edit]:
        """The text edits that make ``text`` (the source of ``original``) read as ``intended``."""
        raise EditError(
            f"{original.source}: fix-fc cannot write into {article(self.title)} {self.title}; change it by hand"
        )

    def tolerated_merge(self, layer: LayerSpec, shapes: tuple[tuple[int, ...], ...]) -> str | None:
        """Why a merge whose inputs PyTorch refuses to join is legal in this format (darknet's
        [shortcut] adds the first channels of unequal layers), in a warning's words; None when it is
        not."""
        return None

    def merge_remedy(
        self,
        spec: ModelSpec,
        layer: LayerSpec,
        shapes: tuple[tuple[int, ...], ...],
        outputs: Mapping[str, tuple[int, ...]],
    ) -> str | None:
        """What to do about a merge (``layer``) whose inputs (``shapes``, in ``from:`` order) differ in
        spatial size, in this format's words, when the usual cause is not a size to crop or pad; None:
        the ZeroPad that crops or pads, and input sizes that work. ``outputs``: every traced layer's
        output shape, by name."""
        return None

    def templated_remedy(self, arg: str, value: str) -> str:
        """What a person can do about ``arg`` written as ``templated_as`` when it must become ``value``."""
        return f"correct the expression, or leave {arg} out so it is inferred"
