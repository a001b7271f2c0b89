"""What fix-fc changes in a file, and how it is written: diff, atomic replace, nothing lost."""

from __future__ import annotations

import codecs
import contextlib
import difflib
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cnninspect.errors import CnnInspectError, EditError
from cnninspect.inputs import ReadOptions, SpecSource, format_named
from cnninspect.inputs.source import MAX_SPEC_BYTES
from cnninspect.inputs.splice import apply_edits
from cnninspect.spec.model import ModelSpec, changed_args

LOCK_TIMEOUT = 10.0
"""Seconds a write waits for another writer in the same folder."""


@dataclass(frozen=True)
class FileChange:
    """One file (or ``--layers`` string) before and after the fixes."""

    path: Path | None
    """The file to write; None for ``--layers`` and the built-in model."""
    label: str
    """How it is named in diffs."""
    raw: bytes
    """The file's bytes as read."""
    before: str
    """The text as read."""
    after: str
    """The text with the fixes (and overrides) made."""


def spec_change(source: SpecSource, fixed: ModelSpec) -> FileChange:
    """A spec's text with the fixed spec's values spliced in (unchanged when nothing differs)."""
    original = source.spec
    differs = original.input != fixed.input or any(changed_args(a, b) for a, b in zip(original.layers, fixed.layers))
    after = edit_source(source.text, original, fixed, source.options) if differs else source.text
    return FileChange(source.path, original.source, source.raw, source.text, after)


def edit_source(text: str, original: ModelSpec, intended: ModelSpec, options: ReadOptions | None = None) -> str:
    """``text`` (the source of ``original``) changed so it reads as ``intended``, checked by
    reading it back in its own format; raises EditError rather than return anything else."""
    fmt = format_named(original.format)
    edited = apply_edits(text, fmt.edits(text, original, intended))
    try:
        again = fmt.read(edited, original.source, options or ReadOptions())
    except CnnInspectError as error:
        raise EditError(f"the edited spec does not read back ({error.message}); nothing was written") from None
    if _essence(again) != _essence(intended) or (fmt.states_input and again.input != intended.input):
        raise EditError(
            f"{original.source}: the edit would change more than intended (a shared anchor or merge key?); "
            "nothing was written — make the change by hand"
        )
    return edited


def _essence(spec: ModelSpec) -> list[tuple[str, str, dict[str, object], tuple[object, ...]]]:
    return [(layer.name, layer.type, layer.args, layer.positional) for layer in spec.layers]


def encode_like(original: bytes, text: str) -> bytes:
    """``text`` as bytes, with the byte-order mark ``original`` had; refused when the file would grow
    past the size cnninspect reads, so a fix never writes a file it could not read again."""
    bom = codecs.BOM_UTF8 if original.startswith(codecs.BOM_UTF8) else b""
    data = bom + text.encode("utf-8")
    if len(data) > MAX_SPEC_BYTES:
        raise EditError(
            f"the fixed file would be {len(data):,} bytes, over the {MAX_SPEC_BYTES:,}-byte limit for a spec; "
            "nothing was written"
        )
    return data


def write_atomic(path: Path, data: bytes, expected: bytes | None) -> None:
    """Replace the file's contents in one step: a temporary file in the same folder, then a
    rename; permissions kept; no temporary file left behind, even when interrupted.

    ``expected`` is what the file held when it was read: a file that changed since, or that
    another cnninspect is writing at this moment (the folder is locked from the check to the
    rename), is refused, so no one's edit is lost. None: a new file, or one replaced whole
    (``--save``). A read-only file is refused. A file with several hard links is written in
    place under the lock instead, so every link sees the fix (a rename would leave the others
    holding the old text)."""
    target = path.resolve()
    with _locked(target.parent, path):
        info = None
        if expected is not None or target.exists():
            try:
                info = target.stat()
                current = target.read_bytes() if expected is not None else None
            except OSError as error:
                raise EditError(f"{path}: cannot read it again: {error.strerror}; nothing was written") from None
            if expected is not None and current != expected:
                raise EditError(f"{path}: changed while it was being fixed; nothing was written — run again")
            if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
                raise EditError(f"{path}: is read-only; nothing was written")
        if info is not None and info.st_nlink > 1:
            _write_in_place(target, path, data)
            return
        try:  # a short name of our own: the file's own name may already be as long as the system allows
            handle, temporary = tempfile.mkstemp(prefix=".cnninspect-", suffix=".tmp", dir=target.parent)
        except OSError as error:
            raise EditError(f"{path}: cannot write in its folder: {error.strerror}; nothing was written") from None
        done = False
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            if info is None:  # a new file gets the mode any new file gets here, not mkstemp's private one
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(temporary, 0o666 & ~umask)
            else:
                os.chmod(temporary, stat.S_IMODE(info.st_mode))
                with contextlib.suppress(OSError):  # only root may keep another owner; the mode is what matters
                    os.chown(temporary, info.st_uid, info.st_gid)
            os.replace(temporary, target)
            done = True
        except OSError as error:
            raise EditError(f"{path}: cannot write: {error.strerror}; nothing was written") from None
        finally:
            if not done:
                Path(temporary).unlink(missing_ok=True)


def _write_in_place(target: Path, path: Path, data: bytes) -> None:
    """The file's own inode rewritten: what every hard link to it then reads."""
    try:
        with open(target, "r+b") as stream:
            stream.write(data)
            stream.truncate()
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as error:
        raise EditError(f"{path}: cannot write: {error.strerror}") from None


@contextlib.contextmanager
def _locked(folder: Path, path: Path) -> Iterator[None]:
    """An exclusive lock on the folder while a file in it is checked and replaced: two writers take
    turns, and the second sees the first one's change. The lock file lives in the system's temporary
    folder (named by the folder's path), so nothing is left beside the user's files; filelock makes
    it work alike on Linux, macOS and Windows. A writer that holds it past LOCK_TIMEOUT is not waited
    for."""
    from filelock import FileLock, Timeout

    key = hashlib.sha256(os.fsencode(folder)).hexdigest()[:32]
    lock = FileLock(os.path.join(tempfile.gettempdir(), f"cnninspect-{key}.lock"), timeout=LOCK_TIMEOUT)
    try:
        lock.acquire()
    except Timeout:
        raise EditError(
            f"{path}: another process has held its folder for {LOCK_TIMEOUT:g} s; nothing was written — run again"
        ) from None
    try:
        yield
    finally:
        lock.release()


def unified_diff(before: str, after: str, label: str) -> str:
    """A unified diff of two versions of a text, as ``diff -u`` and git print it."""
    lines = []
    name = label.lstrip("/")
    for line in difflib.unified_diff(_lines(before), _lines(after), f"a/{name}", f"b/{name}"):
        lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def _lines(text: str) -> list[str]:
    # str.splitlines also cuts at form feeds and Unicode separators; diff cuts at \n only.
    return re.findall(r"[^\n]*\n|[^\n]+$", text)
