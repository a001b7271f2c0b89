"""What a rule is: its documentation, the check that finds it and the finding it reports.

Every rule is one module in this package that builds one ``Rule``; ``__init__`` lists them.
Rules are referenced by identity (``rules.LINEAR_IN_FEATURES``), never by their code string.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

from cnninspect.engines.records import Trace
from cnninspect.errors import CnnInspectError, Location, bounded
from cnninspect.severity import Severity as Severity
from cnninspect.spec.catalog import Family


@dataclass(frozen=True)
class Example:
    """A whole spec (and the options it is run with) that shows a rule."""

    spec: str
    """YAML text of a complete spec."""
    options: tuple[str, ...] = ()
    """Command-line options, for rules about options."""
    suffix: str = ".yaml"
    """The file name's ending: ``.cfg`` for a darknet example."""


@dataclass(frozen=True)
class ArgFix:
    """The one argument value that makes a layer fit: ``in_features: 1568``."""

    arg: str
    """The argument as torch.nn names it (``in_features``, ``bias``)."""
    value: int | tuple[int, ...]
    """The value that fits (``False`` for a bias, a shape for ``normalized_shape``)."""


@dataclass(frozen=True)
class Scan:
    """One trace being checked, with what several rules need computed once."""

    trace: Trace
    """The trace."""
    search: bool = True
    """Whether a Concat finding may trace the spec again to name input sizes that work (``sizes``,
    which tries every size itself, turns it off)."""

    @cached_property
    def maps(self) -> list[bool]:
        """Per record, whether its output is a feature map (spatial dimensions still apart)."""
        from cnninspect.metrics import feature_maps  # the statistics load only when a trace is checked

        return feature_maps(self.trace)


LayerCheck = Callable[[Scan, int], Iterable["Finding"]]
"""Finds a rule's problems at one record of a trace (by index)."""
TraceCheck = Callable[[Scan], Iterable["Finding"]]
"""Finds a rule's problems in a trace as a whole."""


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One finding code, documented with a spec that breaks it and one that passes, with the check
    that finds it."""

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
    check: LayerCheck | None = None
    """Its problems at one layer of a trace, for size errors and warnings."""
    families: tuple[Family, ...] | None = None
    """The layer families ``check`` can find a problem at: it is not asked about a catalog layer of any
    other family (None: about every layer). A layer outside the catalog is asked of every check."""
    check_trace: TraceCheck | None = None
    """Its problems in a whole trace (what the model returns, what the file's format demands)."""
    reports: tuple[type[CnnInspectError], ...] = ()
    """For a CNN1xx rule: the spec errors ``lint`` reports under it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "explanation", " ".join(self.explanation.split()))

    def __reduce__(self) -> tuple[Callable[[str], Rule], tuple[str]]:
        """Pickled as its code, so that a finding from a lint worker process comes back holding the
        very rule object (rules are compared by identity)."""
        from cnninspect.rules import rule_by_code

        return rule_by_code, (self.code,)


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
    fix: ArgFix | None = None
    """The argument value that makes the layer fit, when there is one right answer."""
    uses: tuple[str, ...] = ()
    """Every layer the finding stands for when its place is a block template or a repeat used
    many times (one finding per place, not per use); empty for a finding about one layer."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", bounded(self.message))  # one place for every rule and format

    @property
    def line(self) -> str:
        """``path:line:col: CODE message``, the format every editor parses."""
        return f"{self.location}: {self.rule.code} {self.message}"
