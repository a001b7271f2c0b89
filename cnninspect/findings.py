"""The rule registry and the size rules: trace records in, findings out. Never prints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cnninspect.catalog import Family
from cnninspect.errors import Location
from cnninspect.records import LayerRecord, Mismatch, Problem, Trace
from cnninspect.spec import expand, show_value


class Severity(StrEnum):
    """How bad a finding is; errors make the exit code 1."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Example:
    """A whole spec (and the options it is run with) that shows a rule."""

    spec: str
    """YAML text of a complete spec."""
    options: tuple[str, ...] = ()
    """Command-line options, for rules about options."""


@dataclass(frozen=True)
class Rule:
    """One finding code, documented with a spec that breaks it and one that passes."""

    code: str
    """``CNN`` and three digits, grouped by hundreds."""
    name: str
    """kebab-case name, usable wherever the code is."""
    severity: Severity
    """Default severity."""
    summary: str
    """One line: what the rule flags."""
    explanation: str
    """Why it matters and what to do."""
    failing: Example
    """A spec that gets this finding."""
    passing: Example
    """The same spec, fixed."""


@dataclass(frozen=True)
class Finding:
    """One problem at one place, with the numbers and the remedy."""

    rule: Rule
    """Which rule."""
    location: Location
    """Where the offending layer is written."""
    layer: str
    """The layer's name."""
    message: str
    """What is wrong and what to do, e.g. ``fc: in_features is 2048 but it receives 1568 …``."""
    fix: tuple[str, Any] | None = None
    """(argument, value) that makes the layer fit, when there is one right answer."""

    @property
    def line(self) -> str:
        """``path:line:col: CODE message``, the format every editor parses."""
        return f"{self.location}: {self.rule.code} {self.message}"


def _rule(
    code: str, name: str, severity: Severity, summary: str, explanation: str, failing: Example, passing: Example
) -> Rule:
    return Rule(code, name, severity, summary, " ".join(explanation.split()), failing, passing)


def _spec(layers: str, input: str = "[3, 32, 32]") -> str:
    return f"input: {input}\nlayers:\n" + "".join(f"  - {line.strip()}\n" for line in layers.strip().splitlines())


_CONV = "{type: Conv2d, name: conv1, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}"
_CONV_NO_BIAS = "{type: Conv2d, name: conv1, out_channels: 16, kernel_size: 3, bias: false}"

RULES: tuple[Rule, ...] = (
    _rule(
        "CNN101",
        "invalid-yaml",
        Severity.ERROR,
        "The file is not readable, well-formed, safe YAML.",
        """Unreadable files, syntax errors, duplicate keys, YAML tags, alias floods and files over
        the size limit are refused before anything is built.""",
        Example(_spec("{type: Conv2d, out_channels: 16, kernel_size: 3")),
        Example(_spec("{type: Conv2d, out_channels: 16, kernel_size: 3}")),
    ),
    _rule(
        "CNN102",
        "invalid-spec",
        Severity.ERROR,
        "The spec's structure is wrong: unknown keys, bad input shape, no layers.",
        """A spec is a mapping with name, input ([C, H, W] or "CxHxW") and a non-empty layers
        list; layer names are unique.""",
        Example(_spec("ReLU", input="32x32x3x1x1")),
        Example(_spec("ReLU", input="3x32x32")),
    ),
    _rule(
        "CNN103",
        "unknown-layer",
        Severity.ERROR,
        "A layer's type is not a torch.nn class.",
        """type is a torch.nn class name, matched case-insensitively; nn. is optional.""",
        Example(_spec("{type: Conv2D3, out_channels: 16, kernel_size: 3}")),
        Example(_spec("{type: conv2d, out_channels: 16, kernel_size: 3}")),
    ),
    _rule(
        "CNN104",
        "invalid-argument",
        Severity.ERROR,
        "A layer argument is unknown, of the wrong type or out of range.",
        """Arguments are the class's constructor arguments, same names, same meaning, checked
        strictly: kernel_size: true is not 1, and "16" is not 16. Arguments PyTorch refuses
        together (padding='same' with a stride) are refused too.""",
        Example(_spec("{type: Conv2d, out_channels: 16, kernel_size: true}")),
        Example(_spec("{type: Conv2d, out_channels: 16, kernel_size: 3}")),
    ),
    _rule(
        "CNN105",
        "invalid-option",
        Severity.ERROR,
        "A command-line option or override is malformed.",
        """Overrides are validated like the spec: --kernel 0, or --set for a layer the spec
        does not have, is refused.""",
        Example(_spec(_CONV), ("--set", "conv9.kernel_size=5")),
        Example(_spec(_CONV), ("--set", "conv1.kernel_size=5")),
    ),
    _rule(
        "CNN106",
        "layer-failure",
        Severity.ERROR,
        "PyTorch refused to build or run a layer for a reason other than size.",
        """For layers only the torch engine knows, the real module is built and run; an error
        it raises is reported with the layer's place.""",
        Example(_spec(f"{_CONV}\n{{type: PixelShuffle, upscale_factor: 3}}")),
        Example(_spec(f"{_CONV}\n{{type: PixelShuffle, upscale_factor: 2}}")),
    ),
    _rule(
        "CNN201",
        "linear-in-features",
        Severity.ERROR,
        "Linear in_features differs from the features it receives.",
        """The classic crash: change a kernel size and the first Linear fails with "mat1 and
        mat2 shapes cannot be multiplied". Set in_features to what arrives (cnninspect fix-fc
        does it), or leave it out to have it inferred.""",
        Example(_spec(f"{_CONV}\nFlatten\n{{type: Linear, in_features: 2048, out_features: 10}}")),
        Example(_spec(f"{_CONV}\nFlatten\n{{type: Linear, in_features: 4096, out_features: 10}}")),
    ),
    _rule(
        "CNN202",
        "conv-in-channels",
        Severity.ERROR,
        "Conv in_channels differs from the channels it receives.",
        """A convolution's filters are stacks of in_channels/groups kernels; they must match the
        channels of the incoming feature map, and groups must divide them.""",
        Example(_spec(f"{_CONV}\n{{type: Conv2d, in_channels: 8, out_channels: 32, kernel_size: 3}}")),
        Example(_spec(f"{_CONV}\n{{type: Conv2d, in_channels: 16, out_channels: 32, kernel_size: 3}}")),
    ),
    _rule(
        "CNN203",
        "norm-num-features",
        Severity.ERROR,
        "A norm layer's size does not fit what it receives.",
        """BatchNorm/InstanceNorm num_features and GroupNorm num_channels must equal the incoming
        channels (and num_groups must divide them); LayerNorm normalized_shape must equal the
        trailing dimensions of the input.""",
        Example(_spec(f"{_CONV_NO_BIAS}\n{{type: BatchNorm2d, num_features: 32}}")),
        Example(_spec(f"{_CONV_NO_BIAS}\n{{type: BatchNorm2d, num_features: 16}}")),
    ),
    _rule(
        "CNN204",
        "spatial-collapse",
        Severity.ERROR,
        "A kernel is larger than its padded input: an output size below 1.",
        """H_out = ⌊(H_in + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1 must stay ≥ 1.
        The trace carries on as if the smallest workable input had arrived.""",
        Example(_spec("{type: Conv2d, out_channels: 8, kernel_size: 5}", input="[1, 4, 4]")),
        Example(_spec("{type: Conv2d, out_channels: 8, kernel_size: 5, padding: 1}", input="[1, 4, 4]")),
    ),
    _rule(
        "CNN205",
        "input-rank",
        Severity.ERROR,
        "A layer receives a tensor with the wrong number of dimensions.",
        """Conv2d needs (N, C, H, W), Linear needs features last, Flatten's dims must exist. The
        trace cannot guess a shape, so it stops at this layer.""",
        Example(_spec("Flatten\n{type: Conv2d, out_channels: 8, kernel_size: 3}")),
        Example(_spec("{type: Conv2d, out_channels: 8, kernel_size: 3}\nFlatten")),
    ),
    _rule(
        "CNN206",
        "batch-size-changed",
        Severity.ERROR,
        "The model returns another batch size than it was given.",
        """A reshape that does not keep the batch dimension apart (x.view(-1, 3, 32, 32) on a
        larger image, Flatten(start_dim=0)) silently turns one sample into several, or several
        into one: the model runs and its outputs no longer belong to its inputs.""",
        Example(_spec("{type: Flatten, start_dim: 0, end_dim: 1}", input="[3, 8, 8]")),
        Example(_spec("{type: Flatten, start_dim: 1, end_dim: 2}", input="[3, 8, 8]")),
    ),
    _rule(
        "CNN301",
        "linear-on-feature-map",
        Severity.WARNING,
        "A Linear layer gets a feature map that was not flattened.",
        """PyTorch applies Linear to the last dimension only, so after a conv or pool it mixes
        one row of pixels and keeps the rest: the model runs, but not as meant. Put a Flatten
        before the first Linear.""",
        Example(_spec(f"{_CONV}\n{{type: Linear, in_features: 16, out_features: 10}}")),
        Example(_spec(f"{_CONV}\nFlatten\n{{type: Linear, in_features: 4096, out_features: 10}}")),
    ),
    _rule(
        "CNN302",
        "floor-truncation",
        Severity.WARNING,
        "A conv or pool never reads the last rows or columns of its input.",
        """The output size is floored: when (H + 2·padding − dilation·(kernel − 1) − 1) mod
        stride is larger than the padding, real input rows (not just padding) fall off the end
        and are silently dropped. Pick sizes that divide evenly, more padding, or ceil_mode for
        pools.""",
        Example(_spec("{type: MaxPool2d, name: pool, kernel_size: 2}", input="[3, 31, 31]")),
        Example(_spec("{type: MaxPool2d, name: pool, kernel_size: 2, ceil_mode: true}", input="[3, 31, 31]")),
    ),
    _rule(
        "CNN303",
        "conv-bias-before-norm",
        Severity.WARNING,
        "A conv bias is cancelled by the BatchNorm or InstanceNorm right after it.",
        """A norm layer subtracts each channel's mean, so a bias added just before it has no
        effect: it only costs parameters and memory. Set bias: false on the conv.""",
        Example(_spec("{type: Conv2d, out_channels: 16, kernel_size: 3}\n{type: BatchNorm2d, num_features: 16}")),
        Example(_spec(f"{_CONV_NO_BIAS}\n{{type: BatchNorm2d, num_features: 16}}")),
    ),
)

RULES_BY_CODE = {rule.code: rule for rule in RULES}
"""Every rule by code."""
PROBLEM_RULES = {
    Problem.IN_FEATURES: RULES_BY_CODE["CNN201"],
    Problem.IN_CHANNELS: RULES_BY_CODE["CNN202"],
    Problem.NUM_FEATURES: RULES_BY_CODE["CNN203"],
    Problem.COLLAPSE: RULES_BY_CODE["CNN204"],
    Problem.RANK: RULES_BY_CODE["CNN205"],
}
DIM_WORDS = {3: ("length",), 4: ("height", "width"), 5: ("depth", "height", "width")}
AXIS_UNITS = {"length": "step", "height": "row", "width": "column", "depth": "slice", "size": "value"}
FEATURE_MAP_FAMILIES = (
    Family.CONV,
    Family.CONV_TRANSPOSE,
    Family.MAX_POOL,
    Family.AVG_POOL,
    Family.ADAPTIVE_POOL,
)


def find_problems(trace: Trace) -> list[Finding]:
    """Every finding in a trace, in layer order: size errors first at each layer, then warnings."""
    findings = []
    feature_map = False
    for index, record in enumerate(trace.records):
        findings += _size_problems(trace, index)
        family = record.layer.kind.family if record.layer.kind else None
        if family is Family.LINEAR and feature_map and len(record.input_shape) >= 3 and not record.mismatches:
            findings.append(_linear_on_feature_map(record))
        if family in FEATURE_MAP_FAMILIES:
            feature_map = True
        elif family is Family.FLATTEN:
            feature_map = False
        findings += _truncations(record)
        following = trace.records[index + 1] if index + 1 < len(trace.records) else None
        if following is not None and _bias_before_norm(record, following):
            findings.append(_bias_finding(record, following))
    returned = trace.output_shape
    if returned and returned[0] != trace.spec.batch:
        findings.append(_batch_finding(trace, returned))
    return findings


def _batch_finding(trace: Trace, returned: tuple[int, ...]) -> Finding:
    """CNN206, placed at the first layer that receives another batch size (else the last)."""
    batch = trace.spec.batch
    record = next((r for r in trace.records if r.input_shape and r.input_shape[0] != batch), trace.records[-1])
    return Finding(
        RULES_BY_CODE["CNN206"],
        record.layer.location,
        record.layer.name,
        f"the model takes a batch of {batch} but returns {returned[0]} {shape_text(returned)}: samples are mixed "
        f"up on the way ({record.layer.title} receives {shape_text(record.input_shape)}); keep the batch "
        "dimension apart, e.g. x.view(x.size(0), -1), or give an --input of the size the code expects",
    )


def _size_problems(trace: Trace, index: int) -> list[Finding]:
    """CNN201–205 at one layer; collapsed dimensions of the same size are one finding."""
    findings = []
    record = trace.records[index]
    collapsed: dict[tuple[int, int], list[int]] = {}
    for mismatch in record.mismatches:
        if mismatch.problem is Problem.COLLAPSE:
            assert mismatch.dim is not None
            collapsed.setdefault((mismatch.received, mismatch.fits), []).append(mismatch.dim)
            continue
        message, fix = _describe(trace.records, index, mismatch)
        rule = PROBLEM_RULES[mismatch.problem]
        findings.append(Finding(rule, record.layer.location, record.layer.name, message, fix))
    for (size, fits), dims in collapsed.items():
        message = _collapse_message(record, size, fits, dims)
        findings.append(Finding(PROBLEM_RULES[Problem.COLLAPSE], record.layer.location, record.layer.name, message))
    return findings


def _linear_on_feature_map(record: LayerRecord) -> Finding:
    shape = record.input_shape
    return Finding(
        RULES_BY_CODE["CNN301"],
        record.layer.location,
        record.layer.name,
        f"{record.layer.title}: Linear gets the {len(shape)}-d feature map {shape_text(shape)} and mixes only its "
        f"last dimension ({shape[-1]} values); add Flatten before it",
    )


def _truncations(record: LayerRecord) -> list[Finding]:
    """CNN302: real input rows or columns that no window reaches."""
    layer, shape = record.layer, record.input_shape
    kind = layer.kind
    if kind is None or record.output_shape is None or record.mismatches or len(shape) < 3:
        return []
    if kind.family not in (Family.CONV, Family.MAX_POOL, Family.AVG_POOL) or layer.get("ceil_mode"):
        return []
    padding = layer.get("padding")
    if padding == "same":
        return []
    dims = len(shape) - 2
    kernel, dilation = expand(layer.get("kernel_size"), dims), expand(layer.get("dilation") or 1, dims)
    stride = kernel if layer.get("stride") is None else expand(layer.get("stride"), dims)
    pad = (0,) * dims if padding == "valid" else expand(padding, dims)
    dropped: dict[tuple[int, int], list[int]] = {}
    for i in range(dims):
        span = shape[2 + i] + 2 * pad[i] - dilation[i] * (kernel[i] - 1) - 1
        left = span % stride[i]
        if span >= 0 and left > pad[i]:
            dropped.setdefault((left - pad[i], left), []).append(i)
    findings = []
    words = DIM_WORDS.get(len(shape), ("size",) * dims)
    for (count, left), axes in dropped.items():
        units = " and ".join(AXIS_UNITS[words[i]] if count == 1 else AXIS_UNITS[words[i]] + "s" for i in axes)
        amount = "" if count == 1 else f"{count} "
        i = axes[0]
        reach = f"{kernel[i]}" if dilation[i] == 1 else f"{dilation[i]}·({kernel[i]} − 1) − 1"
        remedy = "set ceil_mode: true, or pick input sizes that divide evenly"
        if kind.family is Family.CONV:
            remedy = f"pad {count} more, or pick input sizes that divide evenly"
        findings.append(
            Finding(
                RULES_BY_CODE["CNN302"],
                layer.location,
                layer.name,
                f"{layer.title}: the last {amount}{units} of its {'×'.join(map(str, shape[2:]))} input "
                "never reach a window "
                f"(({shape[2 + i]} + 2·{pad[i]} − {reach}) mod {stride[i]} = {left} > padding {pad[i]}); {remedy}",
            )
        )
    return findings


def _bias_before_norm(record: LayerRecord, following: LayerRecord) -> bool:
    kind, after = record.layer.kind, following.layer.kind
    return (
        kind is not None
        and after is not None
        and kind.family in (Family.CONV, Family.CONV_TRANSPOSE)
        and after.family in (Family.BATCH_NORM, Family.INSTANCE_NORM)
        and bool(record.layer.get("bias"))
        and record.output_shape is not None
    )


def _bias_finding(record: LayerRecord, following: LayerRecord) -> Finding:
    count = record.biases
    return Finding(
        RULES_BY_CODE["CNN303"],
        record.layer.location,
        record.layer.name,
        f"{record.layer.title}: its {count} bias values are cancelled by {following.layer.title} "
        f"({following.layer.type} subtracts each channel's mean); set bias: false",
        ("bias", False),
    )


def _collapse_message(record: LayerRecord, size: int, fits: int, dims: list[int]) -> str:
    words = DIM_WORDS.get(len(record.input_shape), ("size",) * 8)
    named = " and ".join(words[d - 2] for d in dims)
    layer = record.layer
    settings = ", ".join(
        f"{arg.replace('_size', '')} {show_value(layer.get(arg))}"
        for arg in ("kernel_size", "stride", "padding", "dilation")
        if layer.kind and arg in layer.kind.param_by_name and layer.get(arg) is not None
    )
    return (
        f"{layer.title}: {named} {size} {'is' if len(dims) == 1 else 'are'} too small for this {layer.type} "
        f"({settings}): the output would be empty; it needs at least {fits} — use a smaller kernel, "
        "more padding or a larger --input"
    )


def _describe(records: Sequence[LayerRecord], index: int, m: Mismatch) -> tuple[str, tuple[str, Any] | None]:
    record = records[index]
    name = record.layer.title
    if m.problem is Problem.RANK:
        return (
            f"{name}: {record.layer.type} needs a {_ranks(m.declared)} input but receives "
            f"{len(m.received)}-d {shape_text(m.received)}; the trace stops here",
            None,
        )
    origin = origin_text(records, index)
    if m.declared is None:
        divisor = record.layer.get("groups") if m.problem is Problem.IN_CHANNELS else record.layer.get("num_groups")
        split = "groups" if m.problem is Problem.IN_CHANNELS else "num_groups"
        return (
            f"{name}: receives {m.received} channels{origin}, which {split}={divisor} cannot split; "
            f"make them a multiple of {divisor} (e.g. {m.fits})",
            None,
        )
    received = m.received
    if m.arg == "normalized_shape":
        return (
            f"{name}: normalized_shape is {show_value(m.declared)} but the input ends in {show_value(received)}; "
            f"set normalized_shape: {show_value(received)}",
            (m.arg, received),
        )
    return (
        f"{name}: {m.arg} is {m.declared} but it receives {received}{origin}; set {m.arg}: {received}",
        (m.arg, received),
    )


def origin_text(records: Sequence[LayerRecord], index: int) -> str:
    """Where a layer's input size comes from: `` (32×7×7 from conv2)`` or `` (from conv1)``."""
    source = origin(records, index)
    if source.merged is not None:
        return f" ({'×'.join(str(d) for d in source.merged)} from {source.layer})"
    return f" (from {source.layer})"


@dataclass(frozen=True)
class Origin:
    """Where a layer's input comes from."""

    layer: str
    """The last layer before it that changed the shape, or ``the input``."""
    merged: tuple[int, ...] | None = None
    """For a Linear: the dimensions flattened into its features on the way (else None)."""
    flatten: bool = False
    """True when a Flatten layer did the flattening (not the model's own code)."""


def origin(records: Sequence[LayerRecord], index: int) -> Origin:
    """The last layer before ``index`` that changed the shape, and for a Linear the dimensions
    flattened into its features (by a Flatten layer, or by a model's own ``x.view``)."""
    record = records[index]
    previous = index - 1
    flatten = None
    while previous >= 0 and records[previous].output_shape == records[previous].input_shape:
        previous -= 1
    if previous >= 0 and records[previous].layer.type == "Flatten":
        flatten = records[previous]
        previous -= 1
        while previous >= 0 and records[previous].output_shape == records[previous].input_shape:
            previous -= 1
    source = records[previous].layer.title if previous >= 0 else "the input"
    if record.layer.type != "Linear":
        return Origin(source)
    if flatten is not None and len(flatten.input_shape) > 2:
        return Origin(source, tuple(flatten.input_shape[1:]), True)
    before = records[previous].output_shape if previous >= 0 else None
    if before and len(before) > 2 and math.prod(before[1:]) == record.input_shape[-1]:
        return Origin(source, tuple(before[1:]))
    return Origin(source)


def _ranks(ranks: Any) -> str:
    options = [f"{r}-d" for r in ranks]
    return " or ".join(options) if len(options) <= 3 else f"{options[0]} to {options[-1]}"


def shape_text(shape: Sequence[int]) -> str:
    """``(1, 3, 32, 32)``."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


def has_errors(findings: Sequence[Finding]) -> bool:
    """True when any finding is an error (exit code 1)."""
    return any(f.rule.severity is Severity.ERROR for f in findings)
