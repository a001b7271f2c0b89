"""Python literals read without running anything: ``--layers`` arguments, ``--set`` values and
the arguments of a user's own source."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable

from cnninspect.errors import Location, UsageError
from cnninspect.spec.model import FLAG_LABEL
from cnninspect.text import is_int, is_number

_ARITHMETIC: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Mult: operator.mul,
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.FloorDiv: operator.floordiv,
}


def literal_value(node: ast.expr, offset: int = 0) -> object:
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
        Location(FLAG_LABEL, 1, offset + node.col_offset + 1),
    )
