"""The rule registry: every finding code, its name, severity, explanation and examples.

Rules are objects, referenced by identity everywhere else (``rules.LINEAR_IN_FEATURES``),
never by their code string. Each one carries a spec that breaks it and the same spec fixed;
a test lints both for every rule. checks.py runs them over a trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cnninspect.errors import (
    ArgumentError,
    CnnInspectError,
    GraphError,
    LayerFailure,
    LayerTypeError,
    Location,
    ModelError,
    UsageError,
    YamlError,
)


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
    suffix: str = ".yaml"
    """The file name's ending: ``.cfg`` for a darknet example."""


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One finding code, documented with a spec that breaks it and one that passes."""

    code: str
    """``CNN`` and three digits, grouped by hundreds: 1xx spec errors, 2xx size errors, 3xx warnings."""
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
    fixable: bool = False
    """``fix-fc --write`` repairs it (the size has exactly one right value)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "explanation", " ".join(self.explanation.split()))


@dataclass(frozen=True)
class Finding:
    """One problem at one place, with the numbers and the remedy."""

    rule: Rule
    """Which rule."""
    location: Location
    """Where the offending layer is written."""
    layer: str
    """The layer's name ("" for a problem with the whole file)."""
    message: str
    """What is wrong and what to do, e.g. ``fc: in_features is 2048 but it receives 1568 …``."""
    fix: tuple[str, Any] | None = None
    """(argument, value) that makes the layer fit, when there is one right answer."""

    @property
    def line(self) -> str:
        """``path:line:col: CODE message``, the format every editor parses."""
        return f"{self.location}: {self.rule.code} {self.message}"


def _spec(layers: str, input: str = "[3, 32, 32]") -> str:
    return f"input: {input}\nlayers:\n" + "".join(f"  - {line.strip()}\n" for line in layers.strip().splitlines())


def _graph(layers: str, input: str = "[3, 32, 32]") -> str:
    return f"input: {input}\nlayers:\n" + "".join(f"  {line}\n" for line in layers.splitlines())


_RESIDUAL = """input: [16, 32, 32]
layers:
  - {{type: Conv2d, name: conv, out_channels: {out}, kernel_size: 3, stride: {stride}, padding: 1}}
  - {{type: Add, name: add, from: [conv, input]}}
"""
_SKIP_CONCAT = """input: [3, {size}, {size}]
layers:
  - {{type: Conv2d, name: enc, out_channels: 8, kernel_size: 3, padding: 1}}
  - {{type: MaxPool2d, name: pool, kernel_size: 2, ceil_mode: true}}
  - {{type: ConvTranspose2d, name: up, out_channels: 8, kernel_size: 2, stride: 2}}
  - {{type: Concat, name: cat, from: [enc, up]}}
"""
_GATE = """input: [16, 8, 8]
layers:
  - {{type: Conv2d, name: conv, out_channels: 16, kernel_size: 3, padding: 1}}
  - {{type: AdaptiveAvgPool2d, name: squeeze, output_size: 1}}
  - {{type: Conv2d, name: excite, out_channels: {gate}, kernel_size: 1}}
  - {{type: Sigmoid, name: gate}}
  - {{type: Mul, name: scale, from: [conv, gate]}}
"""
_HALVES = """input: [16, 32, 32]
layers:
  - {{type: Conv2d, name: cv1, out_channels: {out}, kernel_size: 1}}
  - {{type: Split, name: half, chunks: 2, index: 1}}
  - {{type: Conv2d, name: m, out_channels: 8, kernel_size: 3, padding: 1}}
"""
_YOLO = """[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky

[convolutional]
filters={filters}
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58
classes=2
num=3
"""
_CONV = "{type: Conv2d, name: conv1, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}"
_CONV_NO_BIAS = "{type: Conv2d, name: conv1, out_channels: 16, kernel_size: 3, bias: false}"

INVALID_YAML = Rule(
    code="CNN101",
    name="invalid-yaml",
    severity=Severity.ERROR,
    summary="The file is not readable, well-formed, safe YAML.",
    explanation="""Unreadable files, syntax errors, duplicate keys, YAML tags, alias floods and files over
    the size limit are refused before anything is built.""",
    failing=Example(_spec("{type: Conv2d, out_channels: 16, kernel_size: 3")),
    passing=Example(_spec("{type: Conv2d, out_channels: 16, kernel_size: 3}")),
)
INVALID_SPEC = Rule(
    code="CNN102",
    name="invalid-spec",
    severity=Severity.ERROR,
    summary="The spec's structure is wrong: unknown keys, bad input shape, no layers.",
    explanation="""A spec is a mapping with name, input ([C, H, W] or "CxHxW") and a non-empty layers
    list; layer names are unique.""",
    failing=Example(_spec("ReLU", input="32x32x3x1x1")),
    passing=Example(_spec("ReLU", input="3x32x32")),
)
UNKNOWN_LAYER = Rule(
    code="CNN103",
    name="unknown-layer",
    severity=Severity.ERROR,
    summary="A layer's type is not a torch.nn class.",
    explanation="""type is a torch.nn class name, matched case-insensitively; nn. is optional.""",
    failing=Example(_spec("{type: Conv2D3, out_channels: 16, kernel_size: 3}")),
    passing=Example(_spec("{type: conv2d, out_channels: 16, kernel_size: 3}")),
)
INVALID_ARGUMENT = Rule(
    code="CNN104",
    name="invalid-argument",
    severity=Severity.ERROR,
    summary="A layer argument is unknown, of the wrong type or out of range.",
    explanation="""Arguments are the class's constructor arguments, same names, same meaning, checked
    strictly: kernel_size: true is not 1, and "16" is not 16. Arguments PyTorch refuses
    together (padding='same' with a stride) are refused too.""",
    failing=Example(_spec("{type: Conv2d, out_channels: 16, kernel_size: true}")),
    passing=Example(_spec("{type: Conv2d, out_channels: 16, kernel_size: 3}")),
)
INVALID_OPTION = Rule(
    code="CNN105",
    name="invalid-option",
    severity=Severity.ERROR,
    summary="A command-line option or override is malformed.",
    explanation="""Overrides are validated like the spec: --kernel 0, or --set for a layer the spec
    does not have, is refused.""",
    failing=Example(_spec(_CONV), ("--set", "conv9.kernel_size=5")),
    passing=Example(_spec(_CONV), ("--set", "conv1.kernel_size=5")),
)
LAYER_FAILURE = Rule(
    code="CNN106",
    name="layer-failure",
    severity=Severity.ERROR,
    summary="PyTorch refused to build or run a layer for a reason other than size.",
    explanation="""For layers only the torch engine knows, the real module is built and run; an error
    it raises is reported with the layer's place.""",
    failing=Example(_spec(f"{_CONV}\n{{type: PixelShuffle, upscale_factor: 3}}")),
    passing=Example(_spec(f"{_CONV}\n{{type: PixelShuffle, upscale_factor: 2}}")),
)
INVALID_REFERENCE = Rule(
    code="CNN107",
    name="invalid-reference",
    severity=Severity.ERROR,
    summary="A from:, block or parameter reference does not resolve.",
    explanation="""from: names an earlier layer of the same list (or input, the list's input); a block is
    used with the parameters it declares, each required one given; $parameters exist only inside a
    block; a block cannot use itself. Every reference points backwards, so a spec has no cycles.""",
    failing=Example(
        _graph("- {type: Conv2d, name: a, out_channels: 8, kernel_size: 3, from: b}\n- {type: ReLU, name: b}")
    ),
    passing=Example(
        _graph("- {type: ReLU, name: b}\n- {type: Conv2d, name: a, out_channels: 8, kernel_size: 3, from: b}")
    ),
)
LINEAR_IN_FEATURES = Rule(
    code="CNN201",
    name="linear-in-features",
    severity=Severity.ERROR,
    summary="Linear in_features differs from the features it receives.",
    explanation="""The classic crash: change a kernel size and the first Linear fails with "mat1 and
    mat2 shapes cannot be multiplied". Set in_features to what arrives (cnninspect fix-fc
    does it), or leave it out to have it inferred.""",
    failing=Example(_spec(f"{_CONV}\nFlatten\n{{type: Linear, in_features: 2048, out_features: 10}}")),
    passing=Example(_spec(f"{_CONV}\nFlatten\n{{type: Linear, in_features: 4096, out_features: 10}}")),
    fixable=True,
)
CONV_IN_CHANNELS = Rule(
    code="CNN202",
    name="conv-in-channels",
    severity=Severity.ERROR,
    summary="Conv in_channels differs from the channels it receives.",
    explanation="""A convolution's filters are stacks of in_channels/groups kernels; they must match the
    channels of the incoming feature map, and groups must divide them.""",
    failing=Example(_spec(f"{_CONV}\n{{type: Conv2d, in_channels: 8, out_channels: 32, kernel_size: 3}}")),
    passing=Example(_spec(f"{_CONV}\n{{type: Conv2d, in_channels: 16, out_channels: 32, kernel_size: 3}}")),
    fixable=True,
)
NORM_NUM_FEATURES = Rule(
    code="CNN203",
    name="norm-num-features",
    severity=Severity.ERROR,
    summary="A norm layer's size does not fit what it receives.",
    explanation="""BatchNorm/InstanceNorm num_features and GroupNorm num_channels must equal the incoming
    channels (and num_groups must divide them); LayerNorm normalized_shape must equal the
    trailing dimensions of the input.""",
    failing=Example(_spec(f"{_CONV_NO_BIAS}\n{{type: BatchNorm2d, num_features: 32}}")),
    passing=Example(_spec(f"{_CONV_NO_BIAS}\n{{type: BatchNorm2d, num_features: 16}}")),
    fixable=True,
)
SPATIAL_COLLAPSE = Rule(
    code="CNN204",
    name="spatial-collapse",
    severity=Severity.ERROR,
    summary="A kernel is larger than its padded input: an output size below 1.",
    explanation="""H_out = ⌊(H_in + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1 must stay ≥ 1.
    The trace carries on as if the smallest workable input had arrived.""",
    failing=Example(_spec("{type: Conv2d, out_channels: 8, kernel_size: 5}", input="[1, 4, 4]")),
    passing=Example(_spec("{type: Conv2d, out_channels: 8, kernel_size: 5, padding: 1}", input="[1, 4, 4]")),
)
INPUT_RANK = Rule(
    code="CNN205",
    name="input-rank",
    severity=Severity.ERROR,
    summary="A layer receives a tensor with the wrong number of dimensions.",
    explanation="""Conv2d needs (N, C, H, W), Linear needs features last, Flatten's dims must exist. The
    trace cannot guess a shape, so it stops at this layer.""",
    failing=Example(_spec("Flatten\n{type: Conv2d, out_channels: 8, kernel_size: 3}")),
    passing=Example(_spec("{type: Conv2d, out_channels: 8, kernel_size: 3}\nFlatten")),
)
BATCH_SIZE_CHANGED = Rule(
    code="CNN206",
    name="batch-size-changed",
    severity=Severity.ERROR,
    summary="The model returns another batch size than it was given.",
    explanation="""A reshape that does not keep the batch dimension apart (x.view(-1, 3, 32, 32) on a
    larger image, Flatten(start_dim=0)) silently turns one sample into several, or several
    into one: the model runs and its outputs no longer belong to its inputs.""",
    failing=Example(_spec("{type: Flatten, start_dim: 0, end_dim: 1}", input="[3, 8, 8]")),
    passing=Example(_spec("{type: Flatten, start_dim: 1, end_dim: 2}", input="[3, 8, 8]")),
)
ADD_SHAPE_MISMATCH = Rule(
    code="CNN207",
    name="add-shape-mismatch",
    severity=Severity.ERROR,
    summary="The inputs of an Add differ in shape.",
    explanation="""A residual Add needs both sides equal: the same channels and the same height and width.
    The classic mistake is a block that changes channels or stride while its skip does not: give the
    skip a 1×1 projection with the same stride and out_channels (ResNet's downsample), or make the
    main path keep the shape. Add, Concat and Mul are cnninspect's merge layers, not torch.nn classes.""",
    failing=Example(_RESIDUAL.format(out=32, stride=2)),
    passing=Example(_RESIDUAL.format(out=16, stride=1)),
)
CONCAT_SHAPE_MISMATCH = Rule(
    code="CNN208",
    name="concat-shape-mismatch",
    severity=Severity.ERROR,
    summary="The inputs of a Concat differ on a dimension other than the one joined.",
    explanation="""Concat joins its inputs along dim (default 1, the channels); every other dimension must
    be equal. A U-Net breaks here on an input size that its poolings do not divide: one side is a row
    shorter than the other. The finding names input sizes that work; cnninspect sizes lists them all.""",
    failing=Example(_SKIP_CONCAT.format(size=15)),
    passing=Example(_SKIP_CONCAT.format(size=16)),
)
MUL_BROADCAST = Rule(
    code="CNN209",
    name="mul-broadcast",
    severity=Severity.ERROR,
    summary="The inputs of a Mul cannot broadcast.",
    explanation="""Mul multiplies element-wise with PyTorch's broadcasting: each dimension must be equal
    or 1 on one side. A squeeze-and-excitation gate is (N, C, 1, 1) and scales a (N, C, H, W)
    feature map; a gate with another channel count cannot.""",
    failing=Example(_GATE.format(gate=8)),
    passing=Example(_GATE.format(gate=16)),
)
DETECTION_HEAD_FILTERS = Rule(
    code="CNN210",
    name="detection-head-filters",
    severity=Severity.ERROR,
    summary="The convolution before a darknet [yolo] or [region] head has the wrong number of filters.",
    explanation="""A [yolo] head reads (classes + 5) values per anchor in its mask: x, y, w, h, objectness
    and a score per class, so the convolution before it needs filters = (classes + 5) × len(mask)
    (255 for COCO's 80 classes and 3 anchors). A [region] head needs (classes + coords + 1) × num.
    Change the classes and darknet aborts with an assertion that names neither number; fix-fc
    writes the right filters= value.""",
    failing=Example(_YOLO.format(filters=24), suffix=".cfg"),
    passing=Example(_YOLO.format(filters=21), suffix=".cfg"),
    fixable=True,
)
SPLIT_CHANNELS = Rule(
    code="CNN211",
    name="split-channels",
    severity=Severity.ERROR,
    summary="A Split's chunks do not divide the channels it receives, or its sizes do not add up to them.",
    explanation="""Split takes one piece of a tensor cut along dim (default 1, the channels): chunks: n cuts it
    in n equal pieces, as torch.chunk does, and sizes: [a, b, ...] in pieces of those sizes, as torch.split
    does; index picks one. On channels that n does not divide, torch.chunk gives unequal pieces or fewer
    than n (5 channels in 4 chunks are 2, 2 and 1), and torch.split refuses sizes that do not add up. Make
    the layer before it give a multiple of n (a C2f's first conv gives 2·c), or write sizes that add up.
    Split is cnninspect's layer, not a torch.nn class; a darknet [route] with groups= and group_id= is
    one (chunks = groups, index = group_id).""",
    failing=Example(_HALVES.format(out=15)),
    passing=Example(_HALVES.format(out=16)),
)
LINEAR_ON_FEATURE_MAP = Rule(
    code="CNN301",
    name="linear-on-feature-map",
    severity=Severity.WARNING,
    summary="A Linear layer gets a feature map that was not flattened.",
    explanation="""PyTorch applies Linear to the last dimension only, so after a conv or pool it mixes
    one row of pixels and keeps the rest: the model runs, but not as meant. Put a Flatten
    before the first Linear.""",
    failing=Example(_spec(f"{_CONV}\n{{type: Linear, in_features: 16, out_features: 10}}")),
    passing=Example(_spec(f"{_CONV}\nFlatten\n{{type: Linear, in_features: 4096, out_features: 10}}")),
)
FLOOR_TRUNCATION = Rule(
    code="CNN302",
    name="floor-truncation",
    severity=Severity.WARNING,
    summary="A conv or pool never reads the last rows or columns of its input.",
    explanation="""The output size is floored: when (H + 2·padding − dilation·(kernel − 1) − 1) mod
    stride is larger than the padding, real input rows (not just padding) fall off the end
    and are silently dropped. Pick sizes that divide evenly, more padding, or ceil_mode for
    pools. Windows narrower than the stride (a 1×1 stride-2 projection) skip rows by design and
    are not flagged.""",
    failing=Example(_spec("{type: MaxPool2d, name: pool, kernel_size: 2}", input="[3, 31, 31]")),
    passing=Example(_spec("{type: MaxPool2d, name: pool, kernel_size: 2, ceil_mode: true}", input="[3, 31, 31]")),
)
CONV_BIAS_BEFORE_NORM = Rule(
    code="CNN303",
    name="conv-bias-before-norm",
    severity=Severity.WARNING,
    summary="A conv bias is cancelled by the BatchNorm or InstanceNorm right after it.",
    explanation="""A norm layer subtracts each channel's mean, so a bias added just before it has no
    effect: it only costs parameters and memory. Set bias: false on the conv.""",
    failing=Example(_spec("{type: Conv2d, out_channels: 16, kernel_size: 3}\n{type: BatchNorm2d, num_features: 16}")),
    passing=Example(_spec(f"{_CONV_NO_BIAS}\n{{type: BatchNorm2d, num_features: 16}}")),
)

_TWICE = """[net]
width=32
height=32
channels=3

[convolutional]
filters=16{twice}
size=3
pad=1
activation=leaky
"""
FORMAT_SEMANTICS = Rule(
    code="CNN304",
    name="format-semantics",
    severity=Severity.WARNING,
    summary="The file's format reads a line differently from how it looks, or than PyTorch would.",
    explanation="""The model is traced as the file's own tool reads it, and this says where that
    differs from what the text or PyTorch suggests. darknet takes the first of two equal keys in a
    section and ignores the second; its [shortcut] adds layers of different channel counts (the first
    min(c) channels; the output keeps the previous layer's shape), where PyTorch's x + y refuses, and
    AlexeyAB's darknet refuses one across widths and heights that pjreddie's darknet samples; a
    [yolo] mask that names anchors past num= reads values that are not anchors. Delete the line darknet
    ignores, or make the layers match if the difference is a mistake.""",
    failing=Example(_TWICE.format(twice="\nfilters=32"), suffix=".cfg"),
    passing=Example(_TWICE.format(twice=""), suffix=".cfg"),
)

RULES: tuple[Rule, ...] = (
    INVALID_YAML,
    INVALID_SPEC,
    UNKNOWN_LAYER,
    INVALID_ARGUMENT,
    INVALID_OPTION,
    LAYER_FAILURE,
    INVALID_REFERENCE,
    LINEAR_IN_FEATURES,
    CONV_IN_CHANNELS,
    NORM_NUM_FEATURES,
    SPATIAL_COLLAPSE,
    INPUT_RANK,
    BATCH_SIZE_CHANGED,
    ADD_SHAPE_MISMATCH,
    CONCAT_SHAPE_MISMATCH,
    MUL_BROADCAST,
    DETECTION_HEAD_FILTERS,
    SPLIT_CHANNELS,
    LINEAR_ON_FEATURE_MAP,
    FLOOR_TRUNCATION,
    CONV_BIAS_BEFORE_NORM,
    FORMAT_SEMANTICS,
)
"""Every rule, in code order."""

_ERROR_RULES: tuple[tuple[type[CnnInspectError], Rule], ...] = (
    (YamlError, INVALID_YAML),
    (LayerTypeError, UNKNOWN_LAYER),
    (ArgumentError, INVALID_ARGUMENT),
    (UsageError, INVALID_OPTION),
    (LayerFailure, LAYER_FAILURE),
    (ModelError, LAYER_FAILURE),
    (GraphError, INVALID_REFERENCE),
)


def rule_for_error(error: CnnInspectError) -> Rule:
    """The CNN1xx rule ``lint`` reports a spec error under."""
    return next((rule for kind, rule in _ERROR_RULES if isinstance(error, kind)), INVALID_SPEC)


def error_finding(error: CnnInspectError, label: str) -> Finding:
    """A spec error as a CNN1xx finding for the file ``label``."""
    return Finding(rule_for_error(error), error.location or Location(label, 1, 1), "", error.message)


def select_rules(keys: Iterable[str], option: str) -> list[Rule]:
    """The rules named by codes, code prefixes (``CNN2``), names or ``ALL``, in code order;
    ``option`` names where the keys came from in the error for one that names no rule."""
    chosen: set[Rule] = set()
    for key in keys:
        key = key.strip()
        found = {r for r in RULES if key == "ALL" or (key and r.code.startswith(key.upper())) or r.name == key}
        if not found:
            raise UsageError(f"{option}: no rule {key!r}; `cnninspect rules` lists the codes and names")
        chosen |= found
    return [rule for rule in RULES if rule in chosen]


def has_errors(findings: Sequence[Finding]) -> bool:
    """True when any finding is an error (exit code 1)."""
    return any(f.rule.severity is Severity.ERROR for f in findings)
