"""The rule registry: every finding code, in code order, and the loops that run them.

Each rule is one module here: its code, name, severity, documentation with a failing and a passing
example, the check that finds it in a trace and the words it says (see ``base.Rule``). Adding a rule
is that module, its line in ``RULES`` (and the import above it) and its tests. ``shared`` holds what
several rules say alike (where a size comes from, the words for dimensions, example builders).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cnninspect.engines.records import Trace
from cnninspect.errors import CnnInspectError, Location, UsageError
from cnninspect.rules.add_shape_mismatch import ADD_SHAPE_MISMATCH as ADD_SHAPE_MISMATCH
from cnninspect.rules.attend_input import ATTEND_INPUT as ATTEND_INPUT
from cnninspect.rules.base import ArgFix as ArgFix
from cnninspect.rules.base import Example as Example
from cnninspect.rules.base import Finding as Finding
from cnninspect.rules.base import LayerCheck, Scan
from cnninspect.rules.base import Rule as Rule
from cnninspect.rules.base import Severity as Severity
from cnninspect.rules.batch_size_changed import BATCH_SIZE_CHANGED as BATCH_SIZE_CHANGED
from cnninspect.rules.concat_shape_mismatch import CONCAT_SHAPE_MISMATCH as CONCAT_SHAPE_MISMATCH
from cnninspect.rules.conv_bias_before_norm import CONV_BIAS_BEFORE_NORM as CONV_BIAS_BEFORE_NORM
from cnninspect.rules.conv_in_channels import CONV_IN_CHANNELS as CONV_IN_CHANNELS
from cnninspect.rules.detection_head_filters import DETECTION_HEAD_FILTERS as DETECTION_HEAD_FILTERS
from cnninspect.rules.floor_truncation import FLOOR_TRUNCATION as FLOOR_TRUNCATION
from cnninspect.rules.format_semantics import FORMAT_SEMANTICS as FORMAT_SEMANTICS
from cnninspect.rules.input_rank import INPUT_RANK as INPUT_RANK
from cnninspect.rules.invalid_argument import INVALID_ARGUMENT as INVALID_ARGUMENT
from cnninspect.rules.invalid_option import INVALID_OPTION as INVALID_OPTION
from cnninspect.rules.invalid_reference import INVALID_REFERENCE as INVALID_REFERENCE
from cnninspect.rules.invalid_spec import INVALID_SPEC as INVALID_SPEC
from cnninspect.rules.invalid_yaml import INVALID_YAML as INVALID_YAML
from cnninspect.rules.layer_failure import LAYER_FAILURE as LAYER_FAILURE
from cnninspect.rules.linear_in_features import LINEAR_IN_FEATURES as LINEAR_IN_FEATURES
from cnninspect.rules.linear_on_feature_map import LINEAR_ON_FEATURE_MAP as LINEAR_ON_FEATURE_MAP
from cnninspect.rules.mul_broadcast import MUL_BROADCAST as MUL_BROADCAST
from cnninspect.rules.norm_num_features import NORM_NUM_FEATURES as NORM_NUM_FEATURES
from cnninspect.rules.shared import wrong_input
from cnninspect.rules.spatial_collapse import SPATIAL_COLLAPSE as SPATIAL_COLLAPSE
from cnninspect.rules.split_channels import SPLIT_CHANNELS as SPLIT_CHANNELS
from cnninspect.rules.unknown_layer import UNKNOWN_LAYER as UNKNOWN_LAYER
from cnninspect.spec.catalog import Family

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
    ATTEND_INPUT,
    LINEAR_ON_FEATURE_MAP,
    FLOOR_TRUNCATION,
    CONV_BIAS_BEFORE_NORM,
    FORMAT_SEMANTICS,
)
"""Every rule, in code order."""
LAYER_CHECKS: dict[Family | None, tuple[LayerCheck, ...]] = {
    family: tuple(
        rule.check
        for rule in RULES
        if rule.check is not None and (family is None or rule.families is None or family in rule.families)
    )
    for family in (*Family, None)
}
"""The checks a layer of each family is asked of, in code order (None: a layer outside the catalog, asked
of every check)."""


def find_problems(trace: Trace, search: bool = True) -> list[Finding]:
    """Every finding in a trace: layer by layer, each rule in code order (size errors before
    warnings), then the rules about the trace as a whole. ``search`` lets a Concat finding trace the
    spec again to name input sizes that work (sizes, which tries every size itself, turns it off)."""
    scan = Scan(trace, search)
    findings: list[Finding] = []
    for index, record in enumerate(trace.records):
        kind = record.layer.kind
        for check in LAYER_CHECKS[None if kind is None else kind.family]:
            findings += check(scan, index)
    for rule in RULES:
        if rule.check_trace is not None:
            findings += rule.check_trace(scan)
    wrong = wrong_input(trace)
    if wrong is not None:  # the input is the problem: said once, no fixes that build on it
        findings = [f for f in findings if f.layer == wrong]
    return per_place(trace, findings)


USES_NAMED = 3
"""How many of a template finding's uses its message names."""


def per_place(trace: Trace, findings: list[Finding]) -> list[Finding]:
    """One finding per place: the findings a block template or a repeat gets once per use (the same
    rule at the same file:line:col, saying the same thing but for the use's names) become one, which
    says how many uses it covers and names a few."""
    layers = {layer.name: layer for layer in trace.spec.layers}
    alike: dict[tuple[object, ...], list[Finding]] = {}
    for finding in findings:
        layer = layers.get(finding.layer)
        text = finding.message.replace(finding.layer, "{layer}") if finding.layer else finding.message
        if layer is not None and layer.scope:  # the use's other names: stage.0.bn as stage.1.bn
            text = text.replace(f"{layer.scope[-1]}.", "{use}.")
        alike.setdefault((finding.rule, finding.location, finding.fix, text), []).append(finding)
    merged = []
    for group in alike.values():
        first = group[0]
        if len(group) == 1 or not first.location.line:
            merged.extend(group)
            continue
        names = [f.layer for f in group]
        shown = ", ".join(names[:USES_NAMED]) + (", …" if len(names) > USES_NAMED else "")
        message = f"{first.message} (in {len(names):,} uses: {shown})"
        merged.append(Finding(first.rule, first.location, first.layer, message, first.fix, tuple(names)))
    return merged


def rule_by_code(code: str) -> Rule:
    """The rule with this code."""
    return next(rule for rule in RULES if rule.code == code)


def rule_for_error(error: CnnInspectError) -> Rule:
    """The CNN1xx rule ``lint`` reports a spec error under: the one that names its class, else
    invalid-spec."""
    return next((rule for rule in RULES if isinstance(error, rule.reports)), INVALID_SPEC)


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
