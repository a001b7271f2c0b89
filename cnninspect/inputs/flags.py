"""Flag specs: layers in PyTorch's call syntax, parsed with ``ast``, never evaluated.

--layers "Conv2d(3,16,3,stride=2,padding=1) ReLU() Flatten() fc=Linear(32*8*8,10)"
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from cnninspect.errors import Location, UsageError
from cnninspect.spec.model import FLAG_LABEL, INPUT, LayerSpec, ModelSpec
from cnninspect.spec.validate import check_unique_names, make_layer
from cnninspect.text import is_int, is_number

DEFAULT_INPUT = (3, 32, 32)
"""The tutorial's CIFAR-sized input, used by a flag spec without ``--input``."""
_NAME_PREFIX = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*(?=[A-Za-z_])")
_ARITHMETIC: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Mult: operator.mul,
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.FloorDiv: operator.floordiv,
}


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
    return ModelSpec("layers", input_shape or DEFAULT_INPUT, tuple(chained), FLAG_LABEL, format="flags")


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
    args: dict[str, Any] = {}
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


def literal_value(node: ast.expr, offset: int = 0) -> Any:
    """A constant, tuple or list, or integer arithmetic such as ``32*8*8``; nothing is run."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(literal_value(item, offset) for item in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = literal_value(node.operand, offset)
        if is_number(value):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = literal_value(node.left, offset), literal_value(node.right, offset)
        if is_int(left) and is_int(right) and not (isinstance(node.op, ast.FloorDiv) and right == 0):
            return _ARITHMETIC[type(node.op)](left, right)
    raise UsageError(
        f"{ast.unparse(node)!r} is not a plain value; use numbers, strings, True/False/None, "
        "tuples and integer arithmetic",
        _location(offset, node.col_offset),
    )
