"""Edits of a darknet ``.cfg``'s own text: ``filters=255`` → ``filters=21``, every other byte kept.

A changed argument is written as the option darknet reads it from (``out_channels`` is
``filters``, ``kernel_size`` is ``size``); an option the section does not have yet is added as a
line after its last option. The input is ``width``, ``height`` and ``channels`` of ``[net]``.
"""

from __future__ import annotations

from cnninspect.errors import EditError
from cnninspect.inputs.darknet.cfg import Section, read_sections
from cnninspect.inputs.darknet.read import OPTION_OF
from cnninspect.inputs.splice import Edit
from cnninspect.spec.model import ModelSpec, changed_args
from cnninspect.text import line_starts, show_value


def darknet_edits(text: str, original: ModelSpec, intended: ModelSpec) -> list[Edit]:
    """Edits that make ``text`` read as ``intended``."""
    sections = read_sections(text, original.source)
    newline = "\r\n" if "\r\n" in text else "\n"
    changes: dict[int, dict[str, object]] = {}
    if intended.input != original.input:
        net = dict(zip(("channels", "height", "width"), _image(intended.input)))
        changes[0] = {key: value for key, value in net.items() if value != dict(zip(net, original.input))[key]}
    for before, after in zip(original.layers, intended.layers):
        changed = changed_args(before, after)
        if before.half_padding and after.half_padding and "padding" in changed:
            del changed["padding"]  # pad=1 already makes it kernel_size // 2
        elif before.half_padding and "padding" in changed:  # pad=1 would win over any padding=
            changes.setdefault(int(before.node_path[1]), {})["pad"] = 0
            if changed["padding"] == 0:
                del changed["padding"]  # pad=0 alone pads nothing
        for arg, value in changed.items():
            key = OPTION_OF.get(arg)
            if key is None or not isinstance(value, int) or isinstance(value, bool):
                raise EditError(
                    f"{before.title}: {arg} = {show_value(value)} has no darknet option to write it as; "
                    "change the .cfg by hand (nothing was written)"
                )
            if before.type == "ZeroPad2d" or (before.type == "MaxPool2d" and arg == "kernel_size"):
                raise EditError(
                    f"{before.title}: a [maxpool]'s padding follows its size; change size= and padding= in the "
                    ".cfg by hand (nothing was written)"
                )
            changes.setdefault(int(before.node_path[1]), {})[key] = value
    edits = []
    for index, options in changes.items():
        section = sections[index]
        missing = {key: value for key, value in options.items() if key not in section.options}
        for key, value in options.items():
            if key in section.options:
                written = section.options[key]
                edits.append(Edit(written.start, written.end, str(value)))
        if missing:
            edits.append(_append_options(text, section, missing, newline))
    return edits


def _image(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise EditError(f"a darknet [net] is channels × height × width, not {show_value(shape)}; nothing was written")
    return shape[0], shape[1], shape[2]


def _append_options(text: str, section: Section, options: dict[str, object], newline: str) -> Edit:
    """New ``key=value`` lines after the section's last option (or its header)."""
    last = max((option.end for option in section.options.values()), default=None)
    if last is None:  # right after the [header]
        last = text.index("]", line_starts(text)[section.where.line - 1] + section.where.col - 1) + 1
    lines = "".join(f"{newline}{key}={value}" for key, value in options.items())
    return Edit(last, last, lines)
