"""A spec as PyTorch source, in the style of the tutorial's Example 1 and torchvision's models.

One ``nn.Module`` class per block (its parameters become constructor arguments, ``$``
expressions become Python over them, and the channels each layer receives are worked out
through the template as an expression of ``in_channels``), then the model class. Groups become
``nn.Sequential``, merges ``+``, ``*`` and ``torch.cat``, a Split ``torch.chunk`` or
``torch.split``, an Attend a small ``Attend`` module written once (its matrix products and
softmax), an ``if:`` a module that may be ``None``. Inferred sizes are written out.
Everything a spec contributes to the source is a Python literal or a checked identifier, never
pasted text; the layout is ruff format's.
"""

from __future__ import annotations

import ast
import json
import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cnninspect import __version__
from cnninspect.engines.records import LayerRecord, MergeMismatch, Trace
from cnninspect.errors import UsageError
from cnninspect.inputs import format_named
from cnninspect.spec.catalog import MERGE_FAMILIES, NO_DEFAULT, Family, LayerType, lookup
from cnninspect.spec.expr import ExpressionError, is_expression, parse_expression
from cnninspect.spec.model import INPUT, BlockSpec, GroupSpec, ItemSpec, ModelSpec
from cnninspect.text import dims_text, safe

INDENT = " " * 4
WIDTH = 88
"""ruff's (and black's) default line length: the code is for the user's project."""
MODULE_ATTRIBUTES = {
    "forward", "training", "eval", "train", "to", "cuda", "cpu", "parameters", "modules", "children", "apply",
    "add_module", "register_module", "register_buffer", "register_parameter", "buffers", "named_buffers",
    "named_children", "named_modules", "named_parameters", "state_dict", "load_state_dict", "zero_grad",
    "requires_grad_", "half", "float", "double", "bfloat16", "type", "to_empty", "extra_repr", "get_submodule",
    "get_parameter", "get_buffer", "compile", "share_memory",
}  # fmt: skip
"""Names a layer attribute must not take: nn.Module already uses them (so does every ``_`` name)."""
CLASS_NAMES_TAKEN = {"nn", "torch", "super", "self", "x", "out", "range", "float", "in_channels", "Attend",
                     "LocallyConnected2d"}
"""Names the generated code uses itself: no class may take one."""
RESERVED_NAMES = {"self", "in_channels", "nn", "torch", "super"}
"""Names a block parameter cannot keep in generated code (``__init__`` uses them)."""
VARIABLES = {"self", "x", "out", "nn", "torch"}
"""Names a forward variable cannot take."""
KEEPS_CHANNELS = (
    Family.MAX_POOL, Family.AVG_POOL, Family.ADAPTIVE_POOL, Family.BATCH_NORM, Family.INSTANCE_NORM,
    Family.GROUP_NORM, Family.LAYER_NORM, Family.ELEMENTWISE, Family.SOFTMAX, Family.ZERO_PAD, Family.UPSAMPLE,
)  # fmt: skip

ATTEND_CLASS = '''\
class Attend(nn.Module):
    """Attention of a qkv map: per head, key_dim query, key_dim key and head_dim value
    channels in that order (key_dim None: head_dim); the places, flattened, are cut into
    area equal runs, and in each run every place weighs every place's value by the softmax
    of its query * key / sqrt(key_dim). Gives heads * head_dim channels."""

    def __init__(self, heads, head_dim, key_dim=None, area=1):
        super().__init__()
        self.heads, self.head_dim, self.area = heads, head_dim, area
        self.key_dim = head_dim if key_dim is None else key_dim

    def forward(self, x):
        batch, spatial = x.shape[0], x.shape[2:]
        keys, run = self.key_dim, x[0, 0].numel() // self.area
        parts = x.reshape(batch, self.heads, 2 * keys + self.head_dim, self.area, run)
        parts = parts.permute(0, 3, 1, 2, 4)  # batch, area, heads, channels, run
        query, key, value = parts.split([keys, keys, self.head_dim], dim=3)
        weights = ((query * keys**-0.5).transpose(-2, -1) @ key).softmax(dim=-1)
        out = (value @ weights.transpose(-2, -1)).permute(0, 2, 3, 1, 4)
        return out.reshape(batch, self.heads * self.head_dim, *spatial)
'''
"""The module an Attend is exported as, written once in a file that uses one."""

LOCAL_CLASS = '''\
class LocallyConnected2d(nn.Module):
    """A convolution whose every output place has its own weights and bias (darknet's
    [local]); out_size is the output's (height, width), which the weights are made for."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, *, out_size):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.out_size = kernel_size, stride, padding, out_size
        size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        depth = in_channels * size[0] * size[1]
        bound = depth**-0.5
        places = out_size[0] * out_size[1]
        self.weight = nn.Parameter(torch.empty(places, out_channels, depth).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels, *out_size).uniform_(-bound, bound)) if bias else None

    def forward(self, x):
        windows = nn.functional.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)
        out = torch.einsum("bkp,pok->bop", windows, self.weight)
        out = out.reshape(x.shape[0], self.weight.shape[1], *self.out_size)
        return out if self.bias is None else out + self.bias
'''
"""The module a LocallyConnected2d is exported as, written once in a file that uses one."""


def export_pytorch(trace: Trace) -> str:
    """Python source of nn.Module classes equal to the traced spec (inferred sizes written out)."""
    return _Exporter(trace).module()


@dataclass(frozen=True)
class _Call:
    """A constructor call, laid out as ruff would: on one line, else its arguments on one line
    of their own, else one argument per line (a sole argument split in its turn)."""

    func: str
    args: tuple[str | _Call | _When, ...]
    suffix: str = ""
    """Written after the closing parenthesis: ``.requires_grad_(False)`` for a frozen module."""

    def flat(self) -> str:
        return f"{self.func}({', '.join(_flat(a) for a in self.args)}){self.suffix}"


@dataclass(frozen=True)
class _When:
    """An entry of an nn.Sequential that exists only when ``condition`` holds."""

    call: str | _Call
    condition: str


def _flat(value: str | _Call | _When) -> str:
    if isinstance(value, _When):
        raise AssertionError("a conditional entry is built with statements")
    return value if isinstance(value, str) else value.flat()


def _lines(value: str | _Call | _When, depth: int, prefix: str = "", suffix: str = "") -> list[str]:
    """``prefix + value + suffix`` as source lines at indentation ``depth``."""
    pad = INDENT * depth
    if isinstance(value, str) or len(pad + prefix + _flat(value) + suffix) <= WIDTH:
        return [pad + prefix + _flat(value) + suffix]
    assert isinstance(value, _Call)
    inner = ", ".join(_flat(a) for a in value.args)
    if len(pad + INDENT + inner) <= WIDTH:
        return [f"{pad}{prefix}{value.func}(", pad + INDENT + inner, f"{pad}){value.suffix}{suffix}"]
    lines = [f"{pad}{prefix}{value.func}("]
    for arg in value.args:
        lines += _lines(arg, depth + 1, suffix="," if len(value.args) > 1 else "")
    return [*lines, f"{pad}){value.suffix}{suffix}"]


def _assign(target: str, value: _Call, depth: int) -> list[str]:
    """``target = value``; an nn.Sequential with conditional entries is built as a list first."""
    if not any(isinstance(a, _When) for a in value.args):
        return _lines(value, depth, f"{target} = ")
    pad = INDENT * depth
    entries = f"{target.removeprefix('self.')}_layers"
    lines = [f"{pad}{entries} = []"]
    for arg in value.args:
        if isinstance(arg, _When):
            lines += [f"{pad}if {arg.condition}:", *_lines(_Call(f"{entries}.append", (arg.call,)), depth + 1)]
        else:
            lines += _lines(_Call(f"{entries}.append", (arg,)), depth)
    return [*lines, f"{pad}{target} = {value.func}(*{entries})"]


@dataclass
class _Class:
    """The statements of one class being written."""

    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)


class _Exporter:
    def __init__(self, trace: Trace) -> None:
        self.spec: ModelSpec = trace.spec
        self.records: dict[tuple[str | int, ...], list[LayerRecord]] = {}
        for record in trace.records:
            self.records.setdefault(record.layer.node_path, []).append(record)
        self.by_name = {record.layer.name: record for record in trace.records}
        self.group_by_name = {group.name: group for group in self.spec.groups}
        self.groups: dict[tuple[str | int, ...], list[GroupSpec]] = {}
        for group in self.spec.groups:
            self.groups.setdefault(group.node_path, []).append(group)
        self.classes: list[list[str]] = []
        self.outputs: dict[str, str | None] = {}
        """Each block class's output channels, as Python over ``in_channels`` and its parameters."""
        self.uses_torch = False
        self.uses_attend = False
        self.uses_local = False
        self.taken: set[str] = set()
        """The attribute names of the class being written."""
        self.class_names: dict[str, str] = {}
        """Each block's class name in the generated code."""
        fmt = format_named(self.spec.format)
        for record in trace.records:
            layer = record.layer
            if layer.shares:
                raise UsageError(
                    f"export: {layer.title} uses {layer.shares}'s parameters (darknet's share_index=), "
                    "which export cannot write yet"
                )
            merge = next((m for m in record.mismatches if isinstance(m, MergeMismatch)), None)
            if merge is not None and fmt.tolerated_merge(layer, merge.shapes):
                raise UsageError(
                    f"export: {layer.title} adds layers of unequal shapes as darknet does, which PyTorch's + "
                    "refuses; export cannot write it yet"
                )

    # -- the module ------------------------------------------------------------------------

    def module(self) -> str:
        spec = self.spec
        structure = spec.structure or tuple(
            ItemSpec(
                name=layer.name if layer.named else None,
                type=layer.type,
                args=layer.args,
                positional=layer.positional,
                node_path=layer.node_path,
                trainable=layer.trainable,
                called=layer.called,
            )
            for layer in spec.layers
        )
        used = _used_blocks(structure, spec.templates)
        taken = set(CLASS_NAMES_TAKEN)
        for name in used:  # each block a class of its own name, unless Python or the code needs it
            self.class_names[name] = _unique(_class_name(name), taken)
        model_class = _unique(_class_name(spec.name), taken)
        for name in used:
            block = spec.templates[name]
            params = {_safe_name(p): default for p, default in block.params.items()}
            self.classes.append(self._class(block.name, params, block.items, "in_channels", top=False))
        model = self._class(model_class, {}, structure, str(spec.input[0]), top=True)
        about = f"{spec.name}, exported by cnninspect {__version__} from {spec.source}; input {dims_text(spec.input)}"
        lines = [_docstring(f"{about} (one sample)."), ""]
        lines += ["import torch", "from torch import nn"] if self.uses_torch else ["from torch import nn"]
        if self.uses_attend:
            lines += ["", "", *ATTEND_CLASS.splitlines()]
        if self.uses_local:
            lines += ["", "", *LOCAL_CLASS.splitlines()]
        for code in [*self.classes, model]:
            lines += ["", "", *code]
        return "\n".join(lines) + "\n"

    def _class(
        self, name: str, params: dict[str, object], items: Sequence[ItemSpec], channels: str, top: bool
    ) -> list[str]:
        arguments = [] if top else ["in_channels"]
        arguments += [p for p, d in params.items() if d is None]
        arguments += [f"{p}={_python(d)}" for p, d in params.items() if d is not None]
        body = _Class()
        out, output = self._items(body, items, channels, set(params), self.spec.outputs if top else ())
        if not top:
            self.outputs[name] = out
        return [
            f"class {self.class_names.get(name, name) if not top else name}(nn.Module):",
            *_lines(_Call("def __init__", ("self", *arguments)), 1, suffix=":"),
            f"{INDENT * 2}super().__init__()",
            *body.init,
            "",
            f"{INDENT}def forward(self, x):",
            *body.forward,
            f"{INDENT * 2}return {output}",
        ]

    # -- a list of items, the body of a class ---------------------------------------------------

    def _items(
        self, body: _Class, items: Sequence[ItemSpec], channels: str, params: set[str], returns: tuple[str, ...] = ()
    ) -> tuple[str | None, str]:
        """Attributes and forward lines for a class's list; returns (output channels, output
        expression: the last item's variable, or a tuple of the ``returns`` items' outputs)."""
        read_later = {ref for item in items for ref in item.sources} | set(returns)
        _check_writable(items)
        chain = "out" if INPUT in read_later else "x"
        variables = {INPUT: "x"}
        channels_of: dict[str, str | None] = {"x": channels}
        current = "x"
        taken = self.taken = set()  # the class's attribute names
        for position, item in enumerate(items):
            on = self._condition(item, params)
            inputs = [variables[ref] for ref in item.sources] if item.sources else [current]
            if on is False:
                if item.name is not None:
                    variables[item.name] = inputs[0]
                continue
            kind = lookup(item.type) if item.type else None
            target = chain
            if item.name is not None and item.name in read_later:
                target = _identifier(item.name)
                target = f"{target}_" if target in VARIABLES else target
            arriving = channels_of.get(inputs[0])
            if not item.called:  # built, so its parameters exist, and never called in forward
                attribute = _attribute(item, position, taken)
                constructor, _ = self._constructor(item, arriving, params)
                if on is True:
                    body.init += _assign(f"self.{attribute}", constructor, 2)
                else:
                    body.init += [f"{INDENT * 2}self.{attribute} = None", f"{INDENT * 2}if {on}:"]
                    body.init += _assign(f"self.{attribute}", constructor, 3)
                continue
            if kind is not None and kind.family in MERGE_FAMILIES:
                out = self._merge(body, item, kind, inputs, target, on, position, channels_of, params)
            elif kind is not None and kind.family is Family.SPLIT:
                out = self._split(body, item, inputs[0], target, on, position, arriving, params)
            elif kind is not None and kind.family is Family.FLATTEN and item.repeat is None and on is True:
                start, end = item.args.get("start_dim", 1), item.args.get("end_dim", -1)
                self.uses_torch = True
                dims = f"{start}" if end == -1 else f"{start}, {end}"
                body.forward.append(f"{INDENT * 2}{target} = torch.flatten({inputs[0]}, {dims})")
                out = None
            else:
                attribute = _attribute(item, position, taken)
                constructor, out = self._constructor(item, arriving, params)
                call = f"self.{attribute}({inputs[0]})"
                if on is True:
                    body.init += _assign(f"self.{attribute}", constructor, 2)
                    body.forward.append(f"{INDENT * 2}{target} = {call}")
                else:
                    body.init += [f"{INDENT * 2}self.{attribute} = None", f"{INDENT * 2}if {on}:"]
                    body.init += _assign(f"self.{attribute}", constructor, 3)
                    if target != inputs[0]:
                        body.forward.append(f"{INDENT * 2}{target} = {inputs[0]}")
                    body.forward += [f"{INDENT * 2}if self.{attribute} is not None:", f"{INDENT * 3}{target} = {call}"]
                    out = None if out is None or arriving is None else f"({out} if {on} else {arriving})"
            if item.name is not None:
                variables[item.name] = target
            channels_of[target] = out if out is not None else self._numeric_channels(item)
            current = target
        if returns:
            return None, f"({', '.join(variables[name] for name in returns)})"
        return channels_of.get(current), current

    def _merge(
        self,
        body: _Class,
        item: ItemSpec,
        kind: LayerType,
        inputs: list[str],
        target: str,
        on: bool | str,
        position: int,
        channels_of: dict[str, str | None],
        params: set[str],
    ) -> str | None:
        """A merge in forward; returns its output channels."""
        if kind.family is Family.CONCAT:
            self.uses_torch = True
            dim = self._forward_args(body, item, params, f"merge{position}").get("dim", "1")
            value = f"torch.cat([{', '.join(inputs)}], {dim})"
            parts = [channels_of.get(name) for name in inputs]
            joined = dim in ("1", "-3") and None not in parts
            out: str | None = " + ".join(p if p and (p.isidentifier() or p.isdigit()) else f"({p})" for p in parts)
            out = out if joined else None
        else:
            value = (" + " if kind.family is Family.ADD else " * ").join(inputs)
            out = channels_of.get(inputs[0])
        return self._statement(body, item, value, inputs[0], target, on, f"merge{position}", out, None)

    def _split(
        self,
        body: _Class,
        item: ItemSpec,
        source: str,
        target: str,
        on: bool | str,
        position: int,
        arriving: str | None,
        params: set[str],
    ) -> str | None:
        """A Split in forward, ``torch.chunk(x, 2, 1)[1]`` or ``torch.split(x, (64, 128), 1)[1]``;
        returns its output channels."""
        if item.repeat is not None:
            raise UsageError(f"export: Split {item.name or position} has repeat:; write the copies out")
        self.uses_torch = True
        args = self._forward_args(body, item, params, f"split{position}")
        dim, index = args.get("dim", "1"), args["index"]
        out: str | None = None
        if "sizes" in args:
            value = f"torch.split({source}, {args['sizes']}, {dim})[{index}]"
            sizes, written = item.args["sizes"], item.args["index"]
            if dim in ("1", "-3") and not _has_expression(sizes) and isinstance(written, int):
                out = str(sizes[written])
        else:
            chunks = args["chunks"]
            value = f"torch.chunk({source}, {chunks}, {dim})[{index}]"
            if dim in ("1", "-3") and arriving is not None:  # over the parameters, not attributes: a
                # block's output channels are worked out at each use
                over = self._value(item, "chunks", item.args["chunks"], params)
                out = f"{_operand(arriving)} // {_operand(over)}"
        return self._statement(body, item, value, source, target, on, f"split{position}", out, arriving)

    def _forward_args(self, body: _Class, item: ItemSpec, params: set[str], unnamed: str) -> dict[str, str]:
        """An item's arguments as forward uses them: a literal as such, an expression of the block's
        parameters kept in an attribute that ``__init__`` sets (``self.piece_chunks = n``)."""
        args = {}
        for arg, written in item.args.items():
            value = self._value(item, arg, written, params)
            if _has_expression(written):
                attribute = f"self.{_unique(f'{_identifier(item.name or unnamed)}_{arg}', self.taken)}"
                body.init.append(f"{INDENT * 2}{attribute} = {value}")
                value = attribute
            args[arg] = value
        return args

    def _statement(
        self,
        body: _Class,
        item: ItemSpec,
        value: str,
        source: str,
        target: str,
        on: bool | str,
        unnamed: str,
        out: str | None,
        arriving: str | None,
    ) -> str | None:
        """``target = value`` in forward, under a flag set in ``__init__`` when an ``if:`` depends on
        parameters (off, ``target`` is ``source``; ``unnamed`` names the flag of an item without a
        name); returns the channels after it: ``out`` on, ``arriving`` (the source's, when given) off."""
        if on is True:
            body.forward.append(f"{INDENT * 2}{target} = {value}")
            return out
        flag = _unique(f"use_{_identifier(item.name or unnamed)}", self.taken)
        body.init.append(f"{INDENT * 2}self.{flag} = bool({on})")
        if target != source:
            body.forward.append(f"{INDENT * 2}{target} = {source}")
        body.forward += [f"{INDENT * 2}if self.{flag}:", f"{INDENT * 3}{target} = {value}"]
        return None if out is None or arriving is None else f"({out} if {on} else {arriving})"

    # -- constructors ----------------------------------------------------------------------

    def _constructor(self, item: ItemSpec, channels: str | None, params: set[str]) -> tuple[_Call, str | None]:
        """The module for one item, all its repeats included."""
        count = item.repeat
        if count is None:
            return self._one(item, channels, params)
        copies: list[_Call] = []
        current = channels
        literal = isinstance(count, int)
        for _ in range(count if literal else 2):
            copy, current = self._one(item, current, params)
            copies.append(copy)
        if literal:
            return _Call("nn.Sequential", tuple(copies)), current
        rest = f"*[{copies[1].flat()} for _ in range({self._py(count, params)} - 1)]"
        return _Call("nn.Sequential", (copies[0], rest)), current

    def _one(self, item: ItemSpec, channels: str | None, params: set[str]) -> tuple[_Call, str | None]:
        call, out = self._built(item, channels, params)
        return (call if item.trainable else replace(call, suffix=".requires_grad_(False)")), out

    def _built(self, item: ItemSpec, channels: str | None, params: set[str]) -> tuple[_Call, str | None]:
        if item.type is None:
            return self._group(item, channels, params)
        if item.type in self.spec.templates:
            block = self.spec.templates[item.type]
            arguments: list[str | _Call] = [channels if channels is not None else self._arriving(item)]
            values = {"in_channels": str(arguments[0])}
            for name, default in block.params.items():
                if name in item.args:
                    values[_safe_name(name)] = self._value(item, name, item.args[name], params)
                    arguments.append(f"{_safe_name(name)}={values[_safe_name(name)]}")
                else:
                    values[_safe_name(name)] = _python(default)
            out = self.outputs.get(block.name)
            call = _Call(self.class_names[block.name], tuple(arguments))
            return call, None if out is None else _substitute(out, values)
        return self._layer(item, channels, params)

    def _layer(self, item: ItemSpec, channels: str | None, params: set[str]) -> tuple[_Call, str | None]:
        assert item.type is not None
        kind = lookup(item.type)
        if kind is None:
            parts = [_python(v) for v in item.positional]
            parts += [f"{k}={self._value(item, k, v, params)}" for k, v in item.args.items()]
            return _Call(f"nn.{_identifier(item.type)}", tuple(parts)), None
        args = {k: self._value(item, k, v, params) for k, v in item.args.items()}
        if kind.inferred and kind.inferred not in args:
            args[kind.inferred] = self._inferred(item, kind, channels)
        positional: list[str] = []
        keywords: list[str] = []
        for param in kind.params:
            if param.name not in args:
                continue
            if param.default is NO_DEFAULT and param.name != "kernel_size" and not keywords:
                positional.append(args[param.name])
            else:
                keywords.append(f"{param.name}={args[param.name]}")
        out = channels if kind.family in KEEPS_CHANNELS else None
        if kind.family is Family.ATTEND:
            self.uses_attend = True
            out = f"{_operand(args['heads'])} * {_operand(args['head_dim'])}"
            return _Call(kind.name, tuple(positional + keywords)), out
        if kind.family is Family.LOCAL:
            self.uses_local = self.uses_torch = True
            keywords.append(f"out_size={self._places(item)}")
            return _Call(kind.name, tuple(positional + keywords)), args["out_channels"]
        if kind.family in (Family.CONV, Family.CONV_TRANSPOSE):
            out = args["out_channels"]
        elif kind.family is Family.LINEAR:
            out = args["out_features"] if self._rank(item) == 2 else channels
        return _Call(f"nn.{kind.name}", tuple(positional + keywords)), out

    def _places(self, item: ItemSpec) -> str:
        """A LocallyConnected2d's output (height, width), which its weights are made for: one size
        wherever the item is used, or export cannot write it."""
        sizes = {r.output_shape[2:] for r in self.records.get(item.node_path, []) if r.output_shape is not None}
        if len(sizes) != 1:
            raise UsageError(
                f"export: a LocallyConnected2d{f' ({safe(item.name)})' if item.name else ''} has no one output "
                "size to make its weights for (a block uses it at several sizes; it holds weights per output place); "
                "export cannot write it"
            )
        height, width = sizes.pop()
        return f"({height}, {width})"

    def _group(self, item: ItemSpec, channels: str | None, params: set[str]) -> tuple[_Call, str | None]:
        """A group: nn.Sequential of its items (a group runs its layers in a chain)."""
        entries: list[str | _Call | _When] = []
        current = channels
        for child in item.items:
            if item.called and not child.called:
                raise UsageError(
                    f"export: {child.name or child.type} in group {item.name} has called: false, but "
                    "nn.Sequential calls every module it holds; move it out of the group"
                )
            if child.sources:
                raise UsageError(
                    f"export: {child.name or child.type} in group {item.name} reads from: "
                    f"{', '.join(child.sources)}; a group runs in a chain, so make that part a block"
                )
            child_kind = lookup(child.type) if child.type else None
            if child_kind is not None and child_kind.family is Family.SPLIT:
                raise UsageError(
                    f"export: {child.name or child.type} in group {item.name}: nn.Sequential cannot hold a Split "
                    "(torch.chunk or torch.split in forward); make that part a block"
                )
            on = self._condition(child, params)
            if on is False:
                continue
            call, out = self._constructor(child, current, params)
            added = list(call.args) if child.repeat is not None and child.name is None else [call]
            if on is not True:
                if any(isinstance(a, _When) for a in added):
                    raise UsageError(f"export: group {item.name} nests conditions too deeply; make a block of it")
                entries += [_When(a, on) for a in added if not isinstance(a, _When)]
                out = None if out is None or current is None else f"({out} if {on} else {current})"
            else:
                entries += added
            current = out if out is not None else self._numeric_channels(child)
        return _Call("nn.Sequential", tuple(entries)), current

    # -- values ------------------------------------------------------------------------------

    def _value(self, item: ItemSpec, arg: str, written: object, params: set[str]) -> str:
        """An argument (or a block use's parameter) as Python: an expression as written, checked
        against what was traced (an override may have changed it); a literal as traced."""
        if item.type in self.spec.templates:
            seen = [g.params[arg] for g in self.groups.get(item.node_path, []) if arg in g.params]
        else:
            seen = [r.layer.args[arg] for r in self.records.get(item.node_path, []) if arg in r.layer.args]
        distinct = {repr(value) for value in seen}
        if _has_expression(written):
            self._check_expression(item, arg, written)
            return self._py(written, params)
        if len(distinct) > 1:
            raise UsageError(
                f"export: {arg} of {item.name or item.type} is written once but differs between its uses "
                f"({', '.join(sorted(distinct))}); make it a block parameter"
            )
        return _python(seen[0] if seen else written)

    def _check_expression(self, item: ItemSpec, arg: str, written: object) -> None:
        """An override (``--kernel``, ``--set``) may have changed what an expression gives; export
        cannot write that back into a template."""
        template = item.node_path[1] if len(item.node_path) > 1 and item.node_path[0] == "blocks" else None
        for record in self.records.get(item.node_path, []):
            use = next(
                (self.group_by_name[name] for name in reversed(record.layer.scope)
                 if name in self.group_by_name and self.group_by_name[name].type == template),
                None,
            )  # fmt: skip
            if use is None or arg not in record.layer.args:
                continue
            expected = _evaluate(written, use.params)
            if expected != record.layer.args[arg]:
                raise UsageError(
                    f"export: an override changed {arg} of {record.layer.name}, which block {template} writes as "
                    f"{written!r}; export the spec without the override, or write the value into the spec"
                )

    def _py(self, written: Any, params: set[str]) -> str:
        if isinstance(written, tuple):
            inner = ", ".join(self._py(v, params) for v in written)
            return f"({inner},)" if len(written) == 1 else f"({inner})"
        if not is_expression(written):
            return _python(written)
        try:
            expression = parse_expression(written)
        except ExpressionError as error:
            raise UsageError(f"export: {error}") from None
        names = {name: _safe_name(name) for name in expression.names}
        return ast.unparse(_Rename(names).visit(ast.parse(expression.python(), mode="eval")))

    def _condition(self, item: ItemSpec, params: set[str]) -> bool | str:
        """True, False, or the Python of an ``if:`` that depends on parameters."""
        if item.condition is None or isinstance(item.condition, bool):
            return item.condition is not False
        return self._py(item.condition, params)

    def _inferred(self, item: ItemSpec, kind: LayerType, channels: str | None) -> str:
        """An input size left out of the spec: the channels arriving, or the traced number."""
        if channels is not None and (kind.family is not Family.LINEAR or self._rank(item) == 2):
            return channels
        sizes = {r.in_size for r in self.records.get(item.node_path, [])}
        if len(sizes) == 1 and None not in sizes:
            return str(sizes.pop())
        raise UsageError(
            f"export: the {kind.inferred} of {item.name or item.type} differs between its uses and is not "
            "the channels it receives; write it as a block parameter"
        )

    def _numeric_channels(self, item: ItemSpec) -> str | None:
        """The channels after an item, when every use gives the same number."""
        shapes = [r.output_shape for r in self.records.get(item.node_path, [])]
        for group in self.groups.get(item.node_path, []):
            record = self.by_name.get(group.output)
            shapes.append(record.output_shape if record else None)
        sizes = {shape[1] for shape in shapes if shape is not None and len(shape) > 1}
        return str(sizes.pop()) if len(sizes) == 1 else None

    def _arriving(self, item: ItemSpec) -> str:
        """The channels a block use receives, from the trace, when they cannot be worked out."""
        uses = self.groups.get(item.node_path, [])
        sizes = {self.by_name[g.layers[0]].input_shape[1] for g in uses if g.layers and g.layers[0] in self.by_name}
        if len(sizes) == 1:
            return str(sizes.pop())
        raise UsageError(f"export: the channels {item.name or item.type} receives differ between its uses")

    def _rank(self, item: ItemSpec) -> int | None:
        ranks = {len(r.input_shape) for r in self.records.get(item.node_path, [])}
        return ranks.pop() if len(ranks) == 1 else None


class _Rename(ast.NodeTransformer):
    """Names in a Python expression renamed, or (``replace``) replaced by other expressions."""

    def __init__(self, mapping: dict[str, str], replace: bool = False) -> None:
        self.mapping = mapping
        self.replace = replace

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id not in self.mapping:
            return node
        if self.replace:
            return ast.parse(f"({self.mapping[node.id]})", mode="eval").body
        return ast.copy_location(ast.Name(self.mapping[node.id], node.ctx), node)


def _substitute(expression: str, values: dict[str, str]) -> str:
    """A block's output channels at one use: its parameters replaced by what the use gives."""
    return ast.unparse(_Rename(values, replace=True).visit(ast.parse(expression, mode="eval")))


def _evaluate(written: Any, params: dict[str, Any]) -> Any:
    if isinstance(written, tuple):
        return tuple(_evaluate(v, params) for v in written)
    return parse_expression(written).evaluate(params) if is_expression(written) else written


def _check_writable(items: Sequence[ItemSpec]) -> None:
    """What export cannot write yet: ``from: m.*`` (every copy of a repeat) and alternatives (items
    sharing a name, each with an ``if:``)."""
    names: set[str] = set()
    for position, item in enumerate(items):
        every = next((ref for ref in item.sources if ref.endswith(".*")), None)
        if every is not None:
            raise UsageError(
                f"export: {item.name or position} reads every copy of a repeat (from: {every}), which export "
                "cannot write yet"
            )
        if item.name is not None and item.name in names:
            raise UsageError(
                f"export: two items are named {item.name} (alternatives, each with an if:), which export cannot "
                "write yet"
            )
        if item.name is not None:
            names.add(item.name)


def _used_blocks(items: Sequence[ItemSpec], templates: dict[str, BlockSpec]) -> list[str]:
    """Blocks the items use, the ones they use first (a class must exist before it is called)."""
    order: list[str] = []

    def visit(entries: Sequence[ItemSpec]) -> None:
        for item in entries:
            visit(item.items)
            if item.type in templates and item.type not in order:
                visit(templates[item.type].items)
                order.append(item.type)

    visit(items)
    return order


def _operand(python: str) -> str:
    """A Python expression as one operand of ``//``."""
    return python if python.isidentifier() or python.isdigit() else f"({python})"


def _has_expression(value: object) -> bool:
    return any(_has_expression(v) for v in value) if isinstance(value, tuple) else is_expression(value)


def _attribute(item: ItemSpec, position: int, taken: set[str]) -> str:
    """An item's attribute: its name when that is a Python identifier, else type + position."""
    base = item.name if item.name is not None else f"{(item.type or 'group').lower()}{position}"
    base = _identifier(base)
    if base in MODULE_ATTRIBUTES or base.startswith("_"):
        base = f"layer_{base}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _identifier(text: str) -> str:
    """``text`` made a valid, non-keyword Python identifier (ASCII letters, digits, underscores)."""
    cleaned = re.sub(r"\W", "_", text, flags=re.ASCII)
    if not cleaned.isidentifier() or keyword.iskeyword(cleaned):
        cleaned = f"layer_{cleaned}"
    return cleaned


def _safe_name(name: str) -> str:
    return f"{name}_" if name in RESERVED_NAMES else name


def _python(value: object) -> str:
    """A literal as ruff format writes it."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        inner = ", ".join(_python(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return f'float("{value}")'
    return repr(value)


def _docstring(text: str) -> str:
    """A docstring that is only ever a string: triple-quoted when plain, else an escaped literal."""
    plain = text.isprintable() and '"' not in text and "\\" not in text
    return f'"""{text}"""' if plain else json.dumps(text, ensure_ascii=False)


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``… when it is taken; then taken too."""
    chosen, n = name, 2
    while chosen in taken:
        chosen, n = f"{name}_{n}", n + 1
    taken.add(chosen)
    return chosen


def _class_name(name: str) -> str:
    cleaned = re.sub(r"\W", "_", name, flags=re.ASCII).strip("_") or "Model"
    if not cleaned[0].isalpha() or keyword.iskeyword(cleaned):
        cleaned = f"Model_{cleaned}"
    return cleaned
