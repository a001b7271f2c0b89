"""Flag specs: layers in PyTorch's call syntax, parsed with ``ast``, never evaluated.

--layers "Conv2d(3,16,3,stride=2,padding=1) ReLU() Flatten() fc=Linear(32*8*8,10)"
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import replace

from cnninspect.errors import Location, UsageError
from cnninspect.inputs.base import InputFormat, ReadOptions
from cnninspect.inputs.splice import Edit
from cnninspect.spec.literal import literal_value
from cnninspect.spec.model import FLAG_LABEL, INPUT, LayerSpec, ModelSpec, changed_args
from cnninspect.spec.validate import check_unique_names, make_layer

DEFAULT_INPUT = (3, 32, 32)
"""The tutorial's CIFAR-sized input, used by a flag spec without ``--input``."""
_NAME_PREFIX = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*(?=[A-Za-z_])")


def parse_layers(text: str, input_shape: tuple[int, ...] | None = None) -> ModelSpec:
    """``"Conv2d(3,16,3,stride=2) ReLU() ..."`` → ModelSpec; ``name=Layer(...)`` names a layer."""
    try:
        layers = [
            _flag_layer(index, name, piece, offset) for index, (offset, name, piece) in enumerate(flag_calls(text))
        ]
    except RecursionError:
        raise UsageError("--layers is nested too deeply to read; write the numbers out") from None
    if not layers:
        raise UsageError('--layers is empty; give layers such as "Conv2d(3,16,3) ReLU() Flatten()"')
    check_unique_names(layers)
    chained = [
        replace(layer, inputs=(INPUT if i == 0 else layers[i - 1].name,), node_path=(i,))
        for i, layer in enumerate(layers)
    ]
    return ModelSpec("layers", input_shape or DEFAULT_INPUT, tuple(chained), FLAG_LABEL, format=FlagsFormat.name)


def flag_calls(text: str) -> Iterator[tuple[int, str | None, str]]:
    """Each layer call of a flag spec: (offset of the call in ``text``, name or None, call text)."""
    for offset, piece in _split_calls(text):
        name = None
        prefix = _NAME_PREFIX.match(piece)
        if prefix and "(" not in piece[: prefix.end()]:
            name = prefix.group(1)
            offset += prefix.end()
            piece = piece[prefix.end() :]
        yield offset, name, piece


def _split_calls(text: str) -> Iterator[tuple[int, str]]:
    """Cut at whitespace, commas or ``->`` outside brackets and quotes."""
    depth, quote, start = 0, "", None
    for i, ch in enumerate(text + " "):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if depth <= 0 and not quote and (ch.isspace() or ch in ",;" or text.startswith("->", i)):
            if start is not None:
                yield start, text[start:i]
                start = None
            continue
        if start is None and not (ch == ">" and text[i - 1 : i] == "-"):
            start = i
    if start is not None:  # an unclosed bracket or quote: let the parser say where
        yield start, text[start:]


def _location(offset: int, col: int = 0) -> Location:
    return Location(FLAG_LABEL, 1, offset + col + 1)


def _flag_layer(index: int, name: str | None, piece: str, offset: int) -> LayerSpec:
    where = _location(offset)
    try:
        node = ast.parse(piece.strip(), mode="eval").body
    except SyntaxError as error:
        raise UsageError(
            f"cannot read {piece.strip()!r}: {error.msg}; write layers as Conv2d(3, 16, 3, stride=2)",
            _location(offset, (error.offset or 1) - 1),
        ) from None
    call_args: list[ast.expr] = []
    keywords: list[ast.keyword] = []
    if isinstance(node, ast.Call):
        func, call_args, keywords = node.func, node.args, node.keywords
    else:
        func = node
    type_name = _dotted(func)
    if type_name is None:
        raise UsageError(f"{piece.strip()!r} is not a layer call such as ReLU() or nn.Conv2d(3, 16, 3)", where)
    positional = tuple(literal_value(arg, offset) for arg in call_args)
    args: dict[str, object] = {}
    arg_locations = {}
    for keyword in keywords:
        if keyword.arg is None:
            raise UsageError("**kwargs cannot be read without running code; write the arguments out", where)
        args[keyword.arg] = literal_value(keyword.value, offset)
        arg_locations[keyword.arg] = _location(offset, keyword.value.col_offset)
    return make_layer(index, name, type_name, args, where, arg_locations, where, positional)


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class FlagsFormat(InputFormat):
    """``--layers``: PyTorch's own call syntax on the command line."""

    name = "flags"
    title = "--layers string"
    states_input = False

    def recognises(self, text: str, label: str) -> bool:
        return label == FLAG_LABEL

    def read(self, text: str, label: str, options: ReadOptions) -> ModelSpec:
        return parse_layers(text)

    def edits(self, text: str, original: ModelSpec, intended: ModelSpec) -> list[Edit]:
        return flag_edits(text, original, intended)


def flag_edits(text: str, original: ModelSpec, intended: ModelSpec) -> list[Edit]:
    edits = []
    calls = list(flag_calls(text))
    for before, after in zip(original.layers, intended.layers):
        changes = changed_args(before, after)
        if not changes:
            continue
        offset, _, piece = calls[before.index]
        node = ast.parse(piece, mode="eval").body
        if not isinstance(node, ast.Call):  # a bare name such as ReLU
            entries = ", ".join(f"{k}={_python_text(v)}" for k, v in changes.items())
            edits.append(Edit(offset + len(piece), offset + len(piece), f"({entries})"))
            continue
        kind = before.kind
        slots = [p.name for p in kind.params if not p.keyword_only] if kind else []
        written = dict(zip(slots, node.args)) | {k.arg: k.value for k in node.keywords if k.arg}
        new = []
        for arg, value in changes.items():
            if arg in written:
                target = written[arg]
                assert target.end_col_offset is not None
                edits.append(Edit(offset + target.col_offset, offset + target.end_col_offset, _python_text(value)))
            else:
                new.append(f"{arg}={_python_text(value)}")
        if new:
            args = [*node.args, *(k.value for k in node.keywords)]
            assert node.end_col_offset is not None
            at = offset + (max(a.end_col_offset or 0 for a in args) if args else node.end_col_offset - 1)
            edits.append(Edit(at, at, (", " if args else "") + ", ".join(new)))
    return edits


def _python_text(value: object) -> str:
    return repr(value).replace(" ", "")
