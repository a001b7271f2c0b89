"""Reading a spec file: only a regular file, never more than the size limit, UTF-8 text."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cnninspect.errors import Location, UsageError, YamlError

MAX_SPEC_BYTES = 1_000_000
"""Larger files are refused before parsing: no real model spec comes near this."""
READ_BLOCK = 1 << 16
"""Bytes asked of the file at a time."""


def read_source(path: str | Path) -> bytes:
    """A spec file's bytes. Only a regular file is read (a FIFO, socket or device is refused at once,
    never waited on), and a file over the size limit is refused before a byte is read."""
    label = str(path)
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UsageError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{label}: is a folder; give a spec file") from None
    except OSError as error:
        raise YamlError(f"cannot read the file: {error.strerror}", Location(label, 1, 1)) from None
    try:
        info = os.fstat(handle)
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{label}: is a folder; give a spec file")
        if not stat.S_ISREG(info.st_mode):
            raise YamlError("is not a regular file (a FIFO, socket or device); give a spec file", Location(label, 1, 1))
        if info.st_size > MAX_SPEC_BYTES:
            raise YamlError(_too_large(info.st_size), Location(label, 1, 1))
        raw = _read_bounded(handle)
    except OSError as error:
        raise YamlError(f"cannot read the file: {error.strerror}", Location(label, 1, 1)) from None
    finally:
        os.close(handle)
    if len(raw) > MAX_SPEC_BYTES:  # it grew while being read
        raise YamlError(_too_large(len(raw)), Location(label, 1, 1))
    return raw


def _read_bounded(handle: int) -> bytes:
    """The bytes of an open file, up to one past the size limit, read from its descriptor in blocks (a
    file object, or one read of the limit's size, costs more than the small file it reads)."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_SPEC_BYTES:
        chunk = os.read(handle, min(READ_BLOCK, MAX_SPEC_BYTES + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _too_large(size: int) -> str:
    return f"file is {size:,} bytes or more, over the {MAX_SPEC_BYTES:,}-byte limit for a spec"


def decode_source(raw: bytes, label: str) -> str:
    """UTF-8 text without a byte-order mark; line endings untouched."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise YamlError("file is not UTF-8 text", Location(label, line, 1)) from None
