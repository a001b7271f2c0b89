"""Block parameter expressions: ``$planes * 4``, ``$stride != 1 or $inp != $oup``.

An expression is parsed with ``ast`` and evaluated by walking the tree: integers, true/false,
``$name`` parameters, ``+ - * // %``, comparisons, ``and or not``, ``a if c else b`` and
``max(…)``/``min(…)`` of two or more integers (``max(1, $c // 4)``, as torchvision writes).
Nothing is ever run as Python; anything else is refused with what is allowed.
"""

from __future__ import annotations

import ast
import functools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cnninspect.text import is_int

PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")
MAX_MAGNITUDE = 2**62
"""Larger intermediate values are refused: no real layer size comes near."""
MAX_LENGTH = 500
_BINARY: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
FUNCTIONS: dict[str, Callable[..., int]] = {"max": max, "min": min}
"""The only calls an expression may make, on two or more integers."""
ALLOWED = (
    "integers, true/false, $parameters, + - * // %, comparisons, and/or/not, `a if c else b`, "
    "and max(a, b, ...) / min(a, b, ...)"
)


class ExpressionError(ValueError):
    """The expression is not in the grammar, or names a parameter that does not exist."""


@dataclass(frozen=True)
class Expression:
    """A parsed ``$`` expression, ready to evaluate with parameter values."""

    text: str
    """As written."""
    tree: ast.expr
    """The parsed tree, parameters as plain names."""
    names: frozenset[str]
    """The parameters it uses."""

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The value for these parameter values."""
        missing = sorted(self.names - set(values))
        if missing:
            raise ExpressionError(f"{self.text}: no parameter {missing[0]!r}")
        return _evaluate(self.tree, values, self.text)

    def python(self) -> str:
        """The expression as Python source over the parameter names (for export)."""
        return ast.unparse(self.tree)


def is_expression(value: object) -> bool:
    """True for a string holding a ``$parameter``."""
    return isinstance(value, str) and "$" in value


@functools.lru_cache(maxsize=1024)
def parse_expression(text: str) -> Expression:
    """Parse ``text``; every name in it must be written ``$name``."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"an expression of {len(text)} characters is too long (at most {MAX_LENGTH})")
    names = frozenset(PARAMETER.findall(text))
    source = PARAMETER.sub(r"\1", text).strip()
    source = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", source))
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError:
        raise ExpressionError(f"{text!r} is not an expression; use {ALLOWED}") from None
    functions = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call) and _check_call(node, text)}
    for node in ast.walk(tree):
        if id(node) in functions:
            continue
        if isinstance(node, ast.Name) and node.id not in names:
            raise ExpressionError(f"{text!r}: {node.id!r} is not a parameter; write parameters as ${node.id}")
        if not isinstance(node, _NODES):
            raise ExpressionError(f"{text!r}: {type(node).__name__} is not allowed; use {ALLOWED}")
    return Expression(text, tree, names)


def _check_call(node: ast.Call, text: str) -> bool:
    """Only ``max`` and ``min``, written as such (not a ``$`` parameter), on two or more plain arguments."""
    func = node.func
    name = func.id if isinstance(func, ast.Name) else None
    if name in FUNCTIONS and re.search(rf"\${name}\s*\(", text):
        raise ExpressionError(f"{text!r}: ${name} is a parameter and cannot be called; write {name}(a, b) without $")
    if name not in FUNCTIONS:
        called = f"{name!r}" if name else "this"
        raise ExpressionError(f"{text!r}: calling {called} is not allowed; only max(a, b, ...) and min(a, b, ...)")
    if node.keywords or len(node.args) < 2 or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise ExpressionError(f"{text!r}: {name}() takes two or more values, as in {name}(1, $c // 4)")
    return True


_NODES = (
    ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, *_BINARY, *_COMPARE,
)  # fmt: skip


def _evaluate(node: ast.expr, values: Mapping[str, Any], text: str) -> Any:
    def check(value: int) -> int:
        if is_int(value) and abs(value) > MAX_MAGNITUDE:
            raise ExpressionError(f"{text}: the value is too large")
        return value

    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, bool)):
            raise ExpressionError(f"{text}: only integers and true/false are allowed, not {node.value!r}")
        return node.value
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values, text)
        if isinstance(node.op, ast.Not):
            return not operand
        _need_int(operand, text)
        return check(-operand if isinstance(node.op, ast.USub) else operand)
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, values, text), _evaluate(node.right, values, text)
        _need_int(left, text)
        _need_int(right, text)
        if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and right == 0:
            raise ExpressionError(f"{text}: division by zero")
        return check(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.BoolOp):
        results = [_evaluate(v, values, text) for v in node.values]
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, values, text)
        for op, comparator in zip(node.ops, node.comparators):
            right = _evaluate(comparator, values, text)
            if not isinstance(op, (ast.Eq, ast.NotEq)) and not (is_int(left) and is_int(right)):
                raise ExpressionError(
                    f"{text}: <, <=, > and >= compare integers, not {_short(left)} and {_short(right)}"
                )
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        branch = node.body if _evaluate(node.test, values, text) else node.orelse
        return _evaluate(branch, values, text)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        arguments = [_evaluate(arg, values, text) for arg in node.args]
        for argument in arguments:
            _need_int(argument, text)
        return FUNCTIONS[node.func.id](arguments)
    raise ExpressionError(f"{text}: {type(node).__name__} is not allowed; use {ALLOWED}")


def _need_int(value: object, text: str) -> None:
    if not is_int(value):
        raise ExpressionError(f"{text}: arithmetic needs integers, got {value!r}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
