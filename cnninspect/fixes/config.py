"""Fixes of a ``--model config.yaml:NODE`` written where the value lives: when the layer's argument
is a constructor parameter the config sets (``nn.Linear(fc_in, num_classes)`` with ``fc_in: 2048``),
the fix is that YAML value, followed through ``${…}`` references to the line that defines it, and
spliced in byte-exact; the Python source is left alone. Any other fix stays in the source
(fixes/python.py)."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cnninspect.engines.model.config import ComposedConfig, KeyPath, Written, node_at, node_key
from cnninspect.engines.model.target import ModelTarget
from cnninspect.engines.records import Trace
from cnninspect.errors import CnnInspectError, EditError
from cnninspect.fixes.files import FileChange
from cnninspect.fixes.plan import Fix, plan_from_trace
from cnninspect.inputs import decode_source, read_source
from cnninspect.inputs.splice import Edit, apply_edits
from cnninspect.inputs.yamledit import value_edits
from cnninspect.spec.yamldoc import read_document


@dataclass(frozen=True)
class ConfigFix:
    """A fix whose value is a constructor parameter set in the config."""

    fix: Fix
    """The fix."""
    key: KeyPath
    """The composed key the constructor parameter is read from (``model.net.fc_in``)."""
    written: Written | None
    """Where the value is defined (after following references), when it can be found."""
    why: str
    """Why it cannot be written, when ``written`` is None."""
    edits: tuple[Edit, ...] = ()
    """The splice that writes the new value."""

    @property
    def name(self) -> str:
        """The key's own name: ``fc_in``."""
        return str(self.key[-1])

    @property
    def suggestion(self) -> str:
        """``fc_in: 1568 in configs/model/mnist.yaml:9:10``, or why it cannot be written."""
        if self.written is None:
            return f"{'.'.join(map(str, self.key))} comes from the config, but {self.why}"
        return f"set {self.written.key[-1]}: {self.fix.new} in {self.written.location}"


def compose_target(target: ModelTarget) -> ComposedConfig:
    """The target's config, composed again (as the trace composed it) to locate values."""
    from cnninspect.engines.model.config import compose_config

    assert target.path is not None
    return compose_config(target.path, target.overrides, decode_source(read_source(target.path), str(target.path)))


def locate_config_fixes(fixes: Sequence[Fix], config: ComposedConfig, node: str) -> dict[tuple[str, str], ConfigFix]:
    """The fixes whose argument is a constructor parameter the config sets, by (layer, argument)."""
    from cnninspect.fixes.python import constructor_arg

    found = {}
    trees: dict[str, ast.AST | None] = {}
    for fix in fixes:
        where = fix.layer.location
        if where.path not in trees:
            try:
                trees[where.path] = ast.parse(decode_source(read_source(where.path), where.path))
            except (CnnInspectError, SyntaxError, ValueError):
                trees[where.path] = None
        tree = trees[where.path]
        call = None if tree is None else constructor_arg(tree, where.line, fix)
        if tree is None or call is None or not isinstance(call[1], ast.Name):
            continue
        name = call[1].id
        if not _is_parameter(tree, where.line, name):
            continue
        key = _config_key(config, node_key(node), fix.layer.name, name)
        if key is None:
            continue
        written, _, why = config.locate(key)
        edits: tuple[Edit, ...] = ()
        if written is not None:
            edits = tuple(value_edits(written.node, written.document.data(written.node), fix.new))
        found[(fix.layer.name, fix.arg)] = ConfigFix(fix, key, written, why, edits)
    return found


def _is_parameter(tree: ast.AST, line: int, name: str) -> bool:
    """``name`` is a parameter of the innermost function around ``line``."""
    around = [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= line <= (node.end_lineno or 0)
    ]
    if not around:
        return False
    args = max(around, key=lambda node: node.lineno).args
    return name in {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}


def _config_key(config: ComposedConfig, node: KeyPath, layer: str, name: str) -> KeyPath | None:
    """The config key that sets parameter ``name`` of the module that built ``layer``: the innermost
    node above the layer (the model's own node, or a nested ``_target_`` node) that has the key."""
    parts = layer.split(".")[:-1]
    for size in range(len(parts), -1, -1):
        key = (*node, *parts[:size])
        try:
            value = config.value(key)
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(value, dict) and "_target_" in value and name in value:
            return (*key, name)
    return None


def config_files(located: Sequence[ConfigFix]) -> list[FileChange]:
    """Each config file the fixes change, before and after; each edit read back as its new value."""
    files = []
    for path in dict.fromkeys(c.written.path for c in located if c.written is not None and c.edits):
        mine = [c for c in located if c.written is not None and c.written.path == path]
        raw = read_source(path)
        text = decode_source(raw, str(path))
        edited = apply_edits(text, [e for c in mine for e in c.edits])
        after = read_document(edited, str(path))
        for fix in mine:
            assert fix.written is not None
            node = node_at(after.root, fix.written.local)
            if node is None or after.data(node) != fix.fix.new:
                raise EditError(
                    f"{fix.written.location}: the edit does not read back as {fix.fix.new}; nothing was written"
                )
        files.append(FileChange(Path(path), str(path), raw, text, edited))
    return files


def config_fixes(trace: Trace, target: ModelTarget) -> dict[tuple[str, str], ConfigFix]:
    """For a ``--model config.yaml:NODE``, the fixes whose value the config sets; {} for other targets."""
    if not target.config:
        return {}
    return locate_config_fixes(plan_from_trace(trace).fixes, compose_target(target), target.attr)
