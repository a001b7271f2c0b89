"""The rule registry and the size rules: trace records in, findings out. Never prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cnninspect.errors import Location
from cnninspect.records import LayerRecord, Mismatch, Problem, Trace
from cnninspect.spec import show_value


class Severity(str, Enum):
    """How bad a finding is; errors make the exit code 1."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    """One finding code."""

    code: str
    """``CNN`` and three digits, grouped by hundreds."""
    name: str
    """kebab-case name, usable wherever the code is."""
    severity: Severity
    """Default severity."""
    summary: str
    """One line: what the rule flags."""
    explanation: str
    """Why it matters, with a failing and a passing example."""


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


def _rule(code: str, name: str, severity: Severity, summary: str, explanation: str) -> Rule:
    return Rule(code, name, severity, summary, explanation.strip())


RULES: tuple[Rule, ...] = (
    _rule(
        "CNN101",
        "invalid-yaml",
        Severity.ERROR,
        "The file is not readable, well-formed, safe YAML.",
        """
Unreadable files, syntax errors, duplicate keys, YAML tags, alias floods and files over the
size limit are refused before anything is built.

Failing:   layers: [{type: Conv2d, out_channels: 16   # unclosed flow mapping
Passing:   layers: [{type: Conv2d, out_channels: 16, kernel_size: 3}]
""",
    ),
    _rule(
        "CNN102",
        "invalid-spec",
        Severity.ERROR,
        "The spec's structure is wrong: unknown keys, bad input shape, no layers.",
        """
A spec is a mapping with name, input ([C, H, W] or "CxHxW") and a non-empty layers list.

Failing:   input: 32x32x3x1x1
Passing:   input: 3x32x32
""",
    ),
    _rule(
        "CNN103",
        "unknown-layer",
        Severity.ERROR,
        "A layer's type is not a torch.nn class.",
        """
type is a torch.nn class name, matched case-insensitively.

Failing:   - {type: Conv2D3, out_channels: 16, kernel_size: 3}
Passing:   - {type: conv2d, out_channels: 16, kernel_size: 3}
""",
    ),
    _rule(
        "CNN104",
        "invalid-argument",
        Severity.ERROR,
        "A layer argument is unknown, of the wrong type or out of range.",
        """
Arguments are the class's constructor arguments, same names, same meaning, checked strictly:
kernel_size: true is not 1, and "16" is not 16.

Failing:   - {type: Conv2d, out_channels: 16, kernel_size: true}
Passing:   - {type: Conv2d, out_channels: 16, kernel_size: 3}
""",
    ),
    _rule(
        "CNN105",
        "invalid-option",
        Severity.ERROR,
        "A command-line option or override is malformed.",
        """
Overrides are validated like the spec: --kernel 0 or --set nosuch.kernel_size=3 is refused.

Failing:   cnninspect summary --set conv9.kernel_size=5
Passing:   cnninspect summary --set conv2.kernel_size=5
""",
    ),
    _rule(
        "CNN106",
        "layer-failure",
        Severity.ERROR,
        "PyTorch refused to build or run a layer for a reason other than size.",
        """
Raised for torch-only layers whose constructor or forward pass fails on the traced input.

Failing:   - {type: PixelShuffle, upscale_factor: 3}    # after 16 channels: 16 is not divisible by 9
Passing:   - {type: PixelShuffle, upscale_factor: 2}
""",
    ),
    _rule(
        "CNN201",
        "linear-in-features",
        Severity.ERROR,
        "Linear in_features differs from the features it receives.",
        """
The classic crash: change a kernel size and the first Linear fails with
"mat1 and mat2 shapes cannot be multiplied". Leave in_features out to have it inferred.

Failing:   (kernel 5 conv stack giving 32×7×7) → Flatten → {type: Linear, in_features: 2048, out_features: 10}
Passing:   (kernel 5 conv stack giving 32×7×7) → Flatten → {type: Linear, in_features: 1568, out_features: 10}
""",
    ),
    _rule(
        "CNN202",
        "conv-in-channels",
        Severity.ERROR,
        "Conv in_channels differs from the channels it receives.",
        """
A convolution's filters are stacks of in_channels/groups kernels; they must match the
channels of the incoming feature map, and groups must divide them.

Failing:   {type: Conv2d, out_channels: 16, ...} → {type: Conv2d, in_channels: 8, out_channels: 32, kernel_size: 3}
Passing:   {type: Conv2d, out_channels: 16, ...} → {type: Conv2d, in_channels: 16, out_channels: 32, kernel_size: 3}
""",
    ),
    _rule(
        "CNN203",
        "norm-num-features",
        Severity.ERROR,
        "A norm layer's size does not fit what it receives.",
        """
BatchNorm/InstanceNorm num_features and GroupNorm num_channels must equal the incoming
channels (and num_groups must divide them); LayerNorm normalized_shape must equal the
trailing dimensions of the input.

Failing:   {type: Conv2d, out_channels: 16, ...} → {type: BatchNorm2d, num_features: 32}
Passing:   {type: Conv2d, out_channels: 16, ...} → {type: BatchNorm2d, num_features: 16}
""",
    ),
    _rule(
        "CNN204",
        "spatial-collapse",
        Severity.ERROR,
        "A kernel is larger than its padded input: an output size below 1.",
        """
H_out = ⌊(H_in + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1 must stay ≥ 1. The
trace carries on as if the smallest workable input had arrived.

Failing:   input: [1, 4, 4] → {type: Conv2d, out_channels: 8, kernel_size: 5}
Passing:   input: [1, 4, 4] → {type: Conv2d, out_channels: 8, kernel_size: 5, padding: 1}
""",
    ),
    _rule(
        "CNN205",
        "input-rank",
        Severity.ERROR,
        "A layer receives a tensor with the wrong number of dimensions.",
        """
Conv2d needs (N, C, H, W), Linear needs features last, Flatten's dims must exist. The trace
cannot guess a shape, so it stops at this layer.

Failing:   Flatten → {type: Conv2d, out_channels: 8, kernel_size: 3}
Passing:   {type: Conv2d, out_channels: 8, kernel_size: 3} → Flatten
""",
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


def find_problems(trace: Trace) -> list[Finding]:
    """Every finding in a trace, in layer order."""
    findings = []
    for index, record in enumerate(trace.records):
        collapsed: dict[tuple[int, int], list[int]] = {}
        for mismatch in record.mismatches:
            if mismatch.problem is Problem.COLLAPSE:
                assert mismatch.dim is not None
                collapsed.setdefault((mismatch.received, mismatch.fits), []).append(mismatch.dim)
                continue
            message, fix = _describe(trace.records, index, mismatch)
            findings.append(
                Finding(PROBLEM_RULES[mismatch.problem], record.layer.location, record.layer.name, message, fix)
            )
        for (size, fits), dims in collapsed.items():
            message = _collapse_message(record, size, fits, dims)
            findings.append(Finding(PROBLEM_RULES[Problem.COLLAPSE], record.layer.location, record.layer.name, message))
    return findings


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
    source, merged = origin(records, index)
    if merged is not None:
        return f" ({'×'.join(str(d) for d in merged)} from {source})"
    return f" (from {source})"


def origin(records: Sequence[LayerRecord], index: int) -> tuple[str, tuple[int, ...] | None]:
    """The last layer before ``index`` that changed the shape (or ``the input``), and the
    dimensions a Flatten merged on the way when the layer is a Linear (else None)."""
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
    if flatten is not None and len(flatten.input_shape) > 2 and record.layer.type == "Linear":
        return source, tuple(flatten.input_shape[1:])
    return source, None


def _ranks(ranks: Any) -> str:
    options = [f"{r}-d" for r in ranks]
    return " or ".join(options) if len(options) <= 3 else f"{options[0]} to {options[-1]}"


def shape_text(shape: Sequence[int]) -> str:
    """``(1, 3, 32, 32)``."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


def has_errors(findings: Sequence[Finding]) -> bool:
    """True when any finding is an error (exit code 1)."""
    return any(f.rule.severity is Severity.ERROR for f in findings)
