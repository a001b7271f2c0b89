"""Input formats: every way of writing a model down, behind one interface and one registry.

base.py (InputFormat: recognise, read, write a fix back; ReadOptions), source.py (a file read
safely), splice.py (text surgery that keeps every other byte), yamledit.py (edits of YAML text),
and one module per format: spec.py (cnninspect's own YAML and the built-in model), flags.py
(``--layers``), darknet/ (``.cfg``), hydra.py (Hydra ``_target_`` configs, whose ``${…}``
interpolation.py resolves), ultralytics/ (Ultralytics model YAMLs: the format here, read.py
with parse_model's rules, loaded only when one is read; blocks.py and families.py turn each row
into the integer parameters of its template in modules.yaml, and heads.py composes the heads).
``FORMATS`` is the registry: adding a format is one module and one
line here. The user's own ``nn.Module`` (``--model``) is not a text format; engines/ reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cnninspect.errors import UsageError
from cnninspect.inputs.base import InputFormat, ReadOptions
from cnninspect.inputs.darknet import DarknetFormat
from cnninspect.inputs.flags import FlagsFormat
from cnninspect.inputs.hydra import HydraFormat, is_own_config
from cnninspect.inputs.source import decode_source, read_source
from cnninspect.inputs.spec import SpecFormat, builtin_text, read_builtin
from cnninspect.inputs.ultralytics import UltralyticsFormat
from cnninspect.spec.model import FLAG_LABEL, ModelSpec

HYDRA = HydraFormat()
"""Hydra ``_target_`` configs."""
FORMATS: tuple[InputFormat, ...] = (SpecFormat(), DarknetFormat(), HYDRA, UltralyticsFormat())
"""Every file format, in the order each is asked whether it recognises a file."""
FLAGS = FlagsFormat()
"""``--layers``, which is never a file."""
DEFAULT = FORMATS[0]
"""What a file no format recognises is read as: its errors say what a spec needs."""
FILE_SUFFIXES = tuple(dict.fromkeys(suffix for fmt in FORMATS for suffix in fmt.suffixes))
"""The file endings lint's folder walk collects."""


@dataclass(frozen=True)
class SpecSource:
    """A spec and the text it was read from, for commands that edit it."""

    spec: ModelSpec
    """As written, before overrides."""
    text: str
    """The file's text, or the ``--layers`` string."""
    path: Path | None = None
    """The file, when there is one to write."""
    raw: bytes = b""
    """The file's bytes as read (to keep a byte-order mark and detect changes)."""
    options: ReadOptions = field(default_factory=ReadOptions)
    """How it was read (read again with the same after an edit)."""


def format_of(text: str, label: str) -> InputFormat | None:
    """The format that recognises a file's text, or None when it is no model spec at all."""
    return next((fmt for fmt in FORMATS if fmt.recognises(text, label)), None)


def format_for(text: str, label: str) -> InputFormat:
    """The format a file named on the command line is read as: the one that recognises it, else the
    one its ending belongs to (a ``.cfg`` without ``[net]`` is a broken darknet file), else a spec.
    A Hydra config of the user's own classes is Hydra's (its model is built with --model FILE.yaml:NODE)."""
    suffix = Path(label).suffix.lower()
    found = format_of(text, label)
    if found is None and is_own_config(text, label):
        return HYDRA
    return found or next((f for f in FORMATS if suffix in f.suffixes), DEFAULT)


def format_named(name: str) -> InputFormat:
    """The format a ModelSpec was read from (``ModelSpec.format``)."""
    return next((fmt for fmt in (*FORMATS, FLAGS) if fmt.name == name), DEFAULT)


def read_text(text: str, label: str, options: ReadOptions | None = None) -> ModelSpec:
    """A spec file's text, in whichever format it is written."""
    return format_for(text, label).read(text, label, options or ReadOptions())


def load_source(path: Path | None = None, layers: str | None = None, options: ReadOptions | None = None) -> SpecSource:
    """The spec a command names: a file, a ``--layers`` string, or the built-in model."""
    options = options or ReadOptions()
    if path is not None and layers is not None:
        raise UsageError("give a SPEC file or --layers, not both")
    if layers is not None:
        return SpecSource(FLAGS.read(layers, FLAG_LABEL, options), layers, options=options)
    if path is not None:
        raw = read_source(path)
        text = decode_source(raw, str(path))
        return SpecSource(read_text(text, str(path), options), text, path, raw, options)
    return SpecSource(read_builtin(), builtin_text(), options=options)


__all__ = [
    "FILE_SUFFIXES",
    "FORMATS",
    "InputFormat",
    "ReadOptions",
    "SpecSource",
    "decode_source",
    "format_for",
    "format_named",
    "format_of",
    "load_source",
    "read_source",
    "read_text",
]
