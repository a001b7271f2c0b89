"""A darknet ``.cfg`` as text: its sections and ``key=value`` options at their places, and their
values read as darknet reads them (``option_find`` takes the first of two equal keys, ``atoi``
reads ``180 ###P6`` as 180); a key darknet does not read in its section is noted (keys.py)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from cnninspect.errors import ArgumentError, Location, SpecError
from cnninspect.inputs.darknet.keys import KEYS
from cnninspect.spec.catalog import MAX_INTEGER
from cnninspect.spec.model import Note
from cnninspect.text import did_you_mean

DARKNET_FORMAT = "darknet"
"""The format's name, and the first step of every layer's ``node_path``."""
INPUT_HINT = "width=, height= and channels= in [net]"
"""Where a .cfg gives its input (darknet refuses a file without all three)."""
SECTION = re.compile(r"\[\s*([A-Za-z_]\w*)\s*\]")
ALIASES = {"conv": "convolutional", "max": "maxpool", "avg": "avgpool", "conn": "connected", "soft": "softmax",
           "network": "net", "local_avg": "local_avgpool"}  # fmt: skip
"""The short section names darknet also reads (its names are case-sensitive, as here)."""
INTEGER = re.compile(r"([-+]?[0-9]+)\s*(?:[#;].*)?")
"""An integer as ``atoi`` reads it, with what a person writes after it: a comment (``180 ###P6``)."""
BLANKS = re.compile(r"[ \t]")
"""What darknet's ``strip`` takes out of a line, inside a key too (``batch _normalize`` is ``batch_normalize``)."""
NUMBER = re.compile(r"([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*(?:[#;].*)?")


@dataclass
class Option:
    """One ``key=value`` line."""

    value: str
    where: Location
    """Where the value starts."""
    start: int
    """The value's span in the text, for edits."""
    end: int


@dataclass
class Section:
    """One ``[name]`` and its options."""

    name: str
    where: Location
    index: int
    """Its position among the sections, ``[net]`` included (for edits)."""
    options: dict[str, Option] = field(default_factory=dict)
    """Each key's first value: the one darknet reads."""


def starts_with_net(text: str) -> bool:
    """Text whose first section (after comments) is darknet's ``[net]``."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            return SECTION.fullmatch(stripped) is not None and stripped.strip("[] ") in ("net", "network")
    return False


def read_sections(text: str, label: str, notes: list[Note] | None = None) -> list[Section]:
    """The file's sections, options at their places; a line darknet would not read is refused.
    A key given twice in a section keeps its first value, as darknet's ``option_find`` does, and
    the second is put in ``notes``, as is a key darknet does not read in its section."""
    sections: list[Section] = []
    offset = 0
    for number, line in enumerate(re.findall(r"[^\n]*\n|[^\n]+$", text), start=1):  # \n only, as darknet
        start = offset
        offset += len(line)
        body = line.rstrip("\r\n")
        stripped = body.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        indent = len(body) - len(body.lstrip())
        if stripped.startswith("["):
            match = SECTION.fullmatch(stripped)
            if match is None:
                raise SpecError(
                    f"{stripped!r} is not a section header such as [convolutional]", Location(label, number, indent + 1)
                )
            written = match.group(1)
            sections.append(Section(ALIASES.get(written, written), Location(label, number, indent + 1), len(sections)))
            continue
        if "=" not in stripped:
            raise SpecError(
                f"{stripped[:40]!r} is neither a [section] nor a key=value option", Location(label, number, indent + 1)
            )
        if not sections:
            raise SpecError("an option before the first [section]", Location(label, number, indent + 1))
        key, _, value = body.partition("=")
        key = BLANKS.sub("", key)
        value_start = len(body[: body.index("=")]) + 1
        value_start += len(value) - len(value.lstrip())
        value = value.strip()
        section = sections[-1]
        known = KEYS.get(section.name)  # None: a section cnninspect refuses when it reads it
        if key in section.options:
            first = section.options[key]
            if notes is not None and value != first.value and (known is None or key in known):
                notes.append(
                    Note(
                        Location(label, number, indent + 1),
                        f"{key[:40]} is given twice in this [{section.name}]: darknet reads the first, "
                        f"{key[:40]}={first.value[:40]} at line {first.where.line}, and ignores "
                        f"{key[:40]}={value[:40]} here; delete the line it ignores",
                    )
                )
            continue
        if notes is not None and known is not None and key not in known:
            notes.append(Note(Location(label, number, indent + 1), unread(section.name, key, known)))
        section.options[key] = Option(
            value, Location(label, number, value_start + 1), start + value_start, start + value_start + len(value)
        )
    if not sections or sections[0].name != "net":
        raise SpecError("a darknet .cfg starts with [net] (width, height, channels)", Location(label, 1, 1))
    return sections


def unread(section: str, key: str, known: frozenset[str]) -> str:
    """The note on a key darknet does not read in this section, with the key it may have meant."""
    said = "silently" if section == "net" else '("Unused field")'
    if not key:
        return f"[{section}] has a value with no key before its =: darknet ignores it {said}; write the key"
    shown = key[:40] + ("…" if len(key) > 40 else "")  # escaped where it is shown, as every message
    remedy = did_you_mean(key[:40], sorted(known)) or "; delete the line, or name a key darknet reads here"
    return f"[{section}] has no key {shown}: darknet ignores it {said}{remedy}"


def atoi(text: str, key: str, where: Location) -> int:
    """An integer as darknet reads it: digits with an optional sign; a comment after them is
    ignored as ``atoi`` ignores it. Anything else is refused (darknet would read it as 0)."""
    match = INTEGER.fullmatch(text.strip())
    if match is None:
        raise ArgumentError(f"{key}={text[:20]} is not an integer", where)
    digits = match.group(1)
    if len(digits.lstrip("+-")) > 10 or abs(int(digits)) > MAX_INTEGER:
        raise ArgumentError(f"{key}={text[:20]} is too large (at most {MAX_INTEGER:,})", where)
    return int(digits)


def int_option(section: Section, key: str, default: int, minimum: int | None = None) -> int:
    """``key``'s integer, or ``default`` when it is not given."""
    option = section.options.get(key)
    if option is None:
        return default
    value = atoi(option.value, key, option.where)
    if minimum is not None and value < minimum:
        raise ArgumentError(f"{key}={value} must be at least {minimum}", option.where)
    return value


def int_list(section: Section, key: str) -> list[int]:
    """``mask=3,4,5``: a list of integers, none negative."""
    option = section.options[key]
    parts = [part.strip() for part in option.value.split(",") if part.strip()]
    if not parts or not all(re.fullmatch(r"[0-9]{1,9}", part) for part in parts):
        raise ArgumentError(f"{key}={option.value[:20]} is not a list of integers", option.where)
    return [int(part) for part in parts]


def float_option(section: Section, key: str, default: float) -> float:
    """``key``'s number, or ``default`` when it is not given."""
    option = section.options.get(key)
    if option is None:
        return default
    match = NUMBER.fullmatch(option.value.strip())
    if match is None:
        named = option.value.strip().lower().lstrip("+-") in ("nan", "inf", "infinity")  # atof reads them
        raise ArgumentError(f"{key}={option.value[:20]} is not a {'finite ' if named else ''}number", option.where)
    value = float(match.group(1))
    if not math.isfinite(value):
        raise ArgumentError(f"{key}={option.value[:20]} is not a finite number", option.where)
    return value
