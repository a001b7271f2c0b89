"""Edits of a ``--layers`` string: only the numbers that change are replaced."""

from __future__ import annotations

import ast
from typing import Any

from cnninspect.fixes.splice import Edit
from cnninspect.spec.flags import flag_calls
from cnninspect.spec.model import ModelSpec, changed_args


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


def _python_text(value: Any) -> str:
    return repr(value).replace(" ", "")
