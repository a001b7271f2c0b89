"""Long lines broken at word boundaries for a terminal, with a hanging indent.

Only for people: the CLI asks for it when the stream is a terminal. Piped output keeps one
finding per line, the format tools parse.
"""

from __future__ import annotations

import re

from cnninspect.rules import Finding
from cnninspect.text import safe

MIN_TEXT = 30
"""Fewest columns an indent may leave for the text; a longer indent falls back to FALLBACK_INDENT."""
FALLBACK_INDENT = 4
_BREAK = re.compile(r"(?<=\S) ")


def hang(line: str, width: int, indent: int, keep: int = 0) -> str:
    """``line`` broken at spaces into lines of at most ``width`` characters, each after the first
    indented by ``indent`` spaces; its first ``keep`` characters (a finding's head) and any word
    longer than a line stay whole (they run past the edge rather than break)."""
    if len(line) <= width:
        return line
    if width - indent < MIN_TEXT:
        indent = min(indent, FALLBACK_INDENT)
    words = _BREAK.split(line[keep:].lstrip(" ") if keep else line)
    if keep:
        words.insert(0, line[:keep].rstrip(" "))
    lines: list[str] = []
    current = ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = " " * indent + word.lstrip(" ")
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return "\n".join(lines)


def hang_lines(text: str, width: int, indent: int) -> str:
    """Every line of ``text`` broken as ``hang`` breaks one."""
    return "\n".join(hang(line, width, indent) for line in text.split("\n"))


def finding_text(finding: Finding, width: int | None) -> str:
    """A finding's line, escaped; at a ``width``, broken under its message so the
    ``file:line:col: CODE`` head stays whole on the first line."""
    line = safe(finding.line)
    if width is None:
        return line
    head = len(safe(f"{finding.location}: {finding.rule.code} "))
    return hang(line, width, head, keep=head)
