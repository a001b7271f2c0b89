"""CNN206 batch-size-changed: a model that returns another batch size than it was given."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import Trace
from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import spec_text
from cnninspect.text import shape_text


def check_trace(scan: Scan) -> Iterator[Finding]:
    """The batch size the model returns, when it is not the one it was given."""
    returned = scan.trace.output_shape
    if returned and _batch_changed(scan.trace, returned):
        yield _batch_finding(scan.trace, returned)


def _batch_changed(trace: Trace, returned: tuple[int, ...]) -> bool:
    """A spec's output is batch first. A --model's may not be (an LSTM without batch_first returns
    time first): there the engine checked that no output dimension follows the batch size."""
    return trace.batch_changed(returned)
    return returned[0] != trace.spec.batch


def _batch_finding(trace: Trace, returned: tuple[int, ...]) -> Finding:
    """The finding at the user's reshape that made the output's batch dimension when the engine found
    it, else at the first layer that receives another batch size (else the last)."""
    batch = trace.spec.batch
    record = next((r for r in trace.records if r.input_shape and r.input_shape[0] != batch), trace.records[-1])
    reshape = trace.batch_reshape
    if reshape is not None:
        where = f"this line reshapes {shape_text(reshape.before)} into {shape_text(reshape.after)}"
    else:
        where = f"{record.layer.title} receives {shape_text(record.input_shape)}"
    return Finding(
        BATCH_SIZE_CHANGED,
        record.layer.location if reshape is None else reshape.location,
        record.layer.name,
        f"the model takes a batch of {batch} but returns {returned[0]} {shape_text(returned)}: samples are mixed "
        f"up on the way ({where}); keep the batch dimension apart, e.g. x.view(x.size(0), -1), or give an "
        "--input of the size the code expects",
    )


BATCH_SIZE_CHANGED = Rule(
    code="CNN206",
    name="batch-size-changed",
    severity=Severity.ERROR,
    summary="The model returns another batch size than it was given.",
    explanation="""A reshape that does not keep the batch dimension apart (x.view(-1, 3, 32, 32) on a
    larger image, Flatten(start_dim=0)) silently turns one sample into several, or several
    into one: the model runs and its outputs no longer belong to its inputs.""",
    failing=Example(spec_text("{type: Flatten, start_dim: 0, end_dim: 1}", input="[3, 8, 8]")),
    passing=Example(spec_text("{type: Flatten, start_dim: 1, end_dim: 2}", input="[3, 8, 8]")),
    check_trace=check_trace,
)
