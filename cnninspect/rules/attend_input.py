"""CNN212 attend-input: an Attend whose qkv map has the wrong channels, or places its area cannot cut evenly."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import AttendMismatch
from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import at, origin_text
from cnninspect.spec.catalog import Family
from cnninspect.spec.model import attend_dims

_QKV = """input: [8, 4, 4]
layers:
  - {{type: Conv2d, name: qkv, out_channels: {out}, kernel_size: 1}}
  - {{type: Attend, name: attend, heads: 2, key_dim: 2, head_dim: 4}}
"""


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """An Attend whose input does not fit its heads, key_dim, head_dim or area."""
    record = scan.trace.records[index]
    for m in record.mismatches:
        if isinstance(m, AttendMismatch):
            yield at(ATTEND_INPUT, record.layer, _message(scan, index, m))


def _message(scan: Scan, index: int, m: AttendMismatch) -> str:
    """The channels the heads need and what would fit, or the runs the area cannot make."""
    record = scan.trace.records[index]
    title, origin = record.layer.title, origin_text(scan.trace, index)
    if m.arg == "area":
        area, places = m.declared, m.received
        spatial = "×".join(map(str, record.input_shape[2:]))
        lower, upper = places - places % area, places + (-places) % area
        multiples = f"{lower} or {upper}" if lower else f"{upper}"
        return (
            f"{title}: area: {area} does not divide the {spatial} = {places} places it receives{origin}, "
            f"so they cannot be cut into {area} equal runs; make the places a multiple of {area} ({multiples}) "
            f"or pick an area that divides {places}"
        )
    heads, key_dim, head_dim = attend_dims(record.layer)
    need, received = m.declared, m.received
    remedy = f"make what it reads give {need} channels"
    if received % heads == 0 and received // heads - 2 * key_dim >= 1:
        remedy += f", or set head_dim: {received // heads - 2 * key_dim}"
    return (
        f"{title}: reads heads × (2·key_dim + head_dim) = {heads} × (2·{key_dim} + {head_dim}) = {need} "
        f"channels (query, key and value of each head) but it receives {received}{origin}; {remedy}"
    )


ATTEND_INPUT = Rule(
    code="CNN212",
    name="attend-input",
    severity=Severity.ERROR,
    summary="An Attend's qkv map has not heads × (2·key_dim + head_dim) channels, or area does not divide its places.",
    explanation="""Attend is the attention of a qkv map: each of its heads reads key_dim query, key_dim key
    and head_dim value channels, in that order, so the map must have heads × (2·key_dim + head_dim)
    channels (key_dim left out is head_dim). Its places (H·W) are cut into area equal runs that each
    attend within themselves, as Ultralytics' area attention does, so area must divide them. Make the
    conv before it give the channels the heads need (or change head_dim), and pick an input size or an
    area that divides the places. Attend is cnninspect's layer, not a torch.nn class.""",
    failing=Example(_QKV.format(out=15)),
    passing=Example(_QKV.format(out=16)),
    check=check,
    families=(Family.ATTEND,),
)
