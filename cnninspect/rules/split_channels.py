"""CNN211 split-channels: a Split whose chunks do not divide what it cuts, or whose sizes do not add up."""

from __future__ import annotations

from collections.abc import Iterator

from cnninspect.engines.records import SplitMismatch
from cnninspect.rules.base import Example, Finding, Rule, Scan, Severity
from cnninspect.rules.shared import at, origin_text
from cnninspect.spec.catalog import Family
from cnninspect.text import show_value

_HALVES = """input: [16, 32, 32]
layers:
  - {{type: Conv2d, name: cv1, out_channels: {out}, kernel_size: 1}}
  - {{type: Split, name: half, chunks: 2, index: 1}}
  - {{type: Conv2d, name: m, out_channels: 8, kernel_size: 3, padding: 1}}
"""


def check(scan: Scan, index: int) -> Iterator[Finding]:
    """A Split that cannot cut what arrives as written."""
    record = scan.trace.records[index]
    for m in record.mismatches:
        if isinstance(m, SplitMismatch):
            yield at(SPLIT_CHANNELS, record.layer, _message(scan, index, m))


def _message(scan: Scan, index: int, m: SplitMismatch) -> str:
    """What torch.chunk would really give, or what the sizes add up to, and the remedy."""
    title = scan.trace.records[index].layer.title
    size = m.received
    cut = f"{size} channels" if m.dim == 1 else f"dimension {m.dim} of size {size}"
    origin = origin_text(scan.trace, index)
    if isinstance(m.declared, tuple):
        return (
            f"{title}: sizes {show_value(m.declared)} add up to {sum(m.declared)} but it receives {cut}{origin}; "
            f"make them add up to {size}"
        )
    chunks, piece = m.declared, -(-size // m.declared)
    pieces = [piece] * (size // piece) + ([size % piece] if size % piece else [])
    fewer = f" ({len(pieces)} pieces, not {chunks})" if len(pieces) < chunks else ""
    lower = size - size % chunks
    multiples = f"{lower} or {m.fits}" if lower else f"{m.fits}"
    listed = ", ".join(map(str, pieces[:-1])) + f" and {pieces[-1]}"
    return (
        f"{title}: chunks: {chunks} does not divide {cut}{origin}: torch.chunk would give pieces of "
        f"{listed}{fewer}; make them a multiple of {chunks} ({multiples})"
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
    check=check,
    families=(Family.SPLIT,),
)
