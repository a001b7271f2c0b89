"""Small text and value helpers every layer of the package shares. No imports of our own."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import TypeAlias, TypeGuard

_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ud800-\udfff]"
)
"""Characters that can forge or hide text: controls, line separators, bidirectional overrides and
isolates (``\\u202e`` makes ``fc\\u202eexe.txt`` read as ``fctxt.exe``), zero-width characters, lone surrogates."""

Json: TypeAlias = bool | int | float | str | Sequence["Json"] | Mapping[str, "Json"] | None
"""A value ``json.dumps`` writes: scalars, and lists (or tuples) and string-keyed mappings of them."""
JsonObject: TypeAlias = dict[str, Json]
"""A JSON object being built: a JSON Schema, one row of a JSON report."""


def is_int(value: object) -> TypeGuard[int]:
    """A real integer: bool is an int subclass, and ``kernel_size: true`` must not become 1."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """An int or a float, never a bool."""
    return is_int(value) or isinstance(value, float)


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its class name when it has none."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def shape_text(shape: Sequence[int]) -> str:
    """A tensor shape in PyTorch order: ``(1, 3, 32, 32)``."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


def dims_text(shape: Sequence[object]) -> str:
    """Sizes joined the way people write them: ``32×7×7``."""
    return "×".join(str(d) for d in shape)


def feature_map(shape: Sequence[int]) -> str:
    """A batched shape as the tutorial writes it, batch dropped and channels last: (1, 32, 7, 7) → ``7×7×32``."""
    dims = list(shape[1:])
    if len(dims) >= 2:
        dims = dims[1:] + dims[:1]
    return dims_text(dims)


def line_starts(text: str) -> list[int]:
    """The index where each line of ``text`` starts (line 1 first)."""
    return [0] + [match.end() for match in re.finditer("\n", text)]


def did_you_mean(word: str, options: Sequence[str]) -> str:
    """``"; did you mean 'Conv2d'?"`` when a close match exists, else ``""``; when none is close as
    written, case aside (``Rleu`` is close to ``ReLU``)."""
    close = difflib.get_close_matches(word, list(options), n=1)
    if not close:
        by_lower = {option.lower(): option for option in options}
        close = [by_lower[match] for match in difflib.get_close_matches(word.lower(), list(by_lower), n=1)]
    return f"; did you mean {close[0]!r}?" if close else ""


def show_value(value: object) -> str:
    """A value as it would be written in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def article(word: str) -> str:
    """``a`` or ``an`` before ``word``, as it is spelt (``an Ultralytics model YAML``, ``a darknet .cfg``)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 error``, ``3 errors``, ``2 fixes``."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def safe(text: str) -> str:
    """A name from a spec or a model, safe to print on one line: control characters (newlines,
    ESC, OSC), right-to-left overrides and zero-width characters are shown escaped as ``\\n``,
    ``\\x1b`` or ``\\u202e``, so they can neither forge lines, reach the terminal nor make a
    name read as another; a byte of a file name that is not UTF-8 shows as ``\\xff``."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: _escaped(m.group()), text)


def _escaped(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode
        return f"\\x{code - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")


def utf8(text: str) -> str:
    """Text that can be written as UTF-8 whatever it holds: lone surrogates (from file names that
    are not UTF-8) become the escapes JSON reads back (``\\udcff``)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
