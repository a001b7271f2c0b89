"""Text surgery: replace spans of a text, keeping every other byte."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnninspect.errors import EditError


@dataclass(frozen=True, order=True)
class Edit:
    """Replace ``text[start:end]`` with ``new``."""

    start: int
    end: int
    new: str


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """Splice every edit into ``text``; edits must not overlap."""
    out, position = [], 0
    for edit in sorted(edits):
        if edit.start < position:
            raise EditError("two edits overlap; nothing was written")
        out += [text[position : edit.start], edit.new]
        position = edit.end
    out.append(text[position:])
    return "".join(out)
