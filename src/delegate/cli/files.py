"""Files the command line reads and writes, checked before anything is paid for.

Reading (``--prices``, ``--brand-voice``, ``--catalog``, ``--input``, the CSV file of an
``analysis`` run, ``eval content --baseline``): :func:`read_text` reads with
:func:`delegate.files.read_regular` (regular files only, checked with ``stat`` before opening,
so a FIFO with no writer, ``/dev/zero`` or a directory never blocks or fills memory; opened
without blocking; at most the cap plus one byte read) and takes UTF-8 text only (a file
holding NUL bytes counts as binary). Every refusal is a :class:`~delegate.errors.UsageError`
with a one-line message.

Writing (``--out DIR``, ``--report FILE``, ``runs report --out FILE``): :func:`check_out_dir`
and :func:`check_out_file` say whether the path could be written (an existing directory that
is writable, or a nearest existing ancestor that is a writable directory; a file that is not
a directory nor a device). A directory is found writable by creating and removing a temporary
file in it, not by its permission bits; nothing is left behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from ..errors import UsageError
from ..files import FileRefused, read_regular

__all__ = [
    "CATALOG_MAX_BYTES",
    "CSV_MAX_BYTES",
    "INPUT_MAX_BYTES",
    "PRICES_MAX_BYTES",
    "VOICE_MAX_BYTES",
    "check_out_dir",
    "check_out_file",
    "decode_text",
    "digest",
    "read_bytes",
    "read_text",
]

#: Caps on what the CLI reads. A catalog and an analysis's CSV are data (a few thousand
#: products with long descriptions fit in a few MB), so they get their loaders' own ceilings.
PRICES_MAX_BYTES = 1_000_000
VOICE_MAX_BYTES = 1_000_000
INPUT_MAX_BYTES = 5_000_000
CATALOG_MAX_BYTES = 50_000_000
CSV_MAX_BYTES = 50_000_000


def _mb(n: int) -> str:
    return f"{n / 1e6:g} MB"


def read_bytes(path: str | os.PathLike[str], *, what: str, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes`` of them
    (:func:`delegate.files.read_regular`).

    Args:
        path: the file, as the user gave it.
        what: what the file is for, for messages (``"brand voice"``, ``"prices"``).
        max_bytes: the cap; a larger file is refused, not truncated.

    Raises:
        UsageError: missing, unreadable, not a regular file (directory, FIFO, device,
            socket), or over the cap.
    """
    try:
        return read_regular(path, max_bytes=max_bytes)
    except FileRefused as exc:
        raise UsageError(_refusal(exc, what)) from None


def _refusal(exc: FileRefused, what: str) -> str:
    """The message of a refused file (``what`` it is for, its path and why)."""
    name, cap = exc.path, _mb(exc.max_bytes)
    if exc.reason == "missing":
        return f"no {what} file at {name}"
    if exc.reason == "directory":
        return f"the {what} file {name} is a directory; give a file"
    if exc.reason == "not_regular":
        return (f"the {what} file {name} is not a regular file (a pipe, device or socket); "
                "give a file")
    if exc.reason == "too_big" and exc.size is not None:
        return f"the {what} file {name} is {exc.size / 1e6:.1f} MB; the limit is {cap}"
    if exc.reason == "too_big":
        return f"the {what} file {name} is over the {cap} limit"
    return f"cannot read the {what} file {name}: {exc.detail}"


def read_text(path: str | os.PathLike[str], *, what: str, max_bytes: int) -> str:
    """The UTF-8 text of the file at ``path`` (a leading BOM dropped); see :func:`read_bytes`.

    Raises:
        UsageError: as :func:`read_bytes`, or the file is not UTF-8 text, holds NUL bytes
            (a binary file), or is empty.
    """
    data = read_bytes(path, what=what, max_bytes=max_bytes)
    return decode_text(data, path, what=what)


def decode_text(data: bytes, path: str | os.PathLike[str], *, what: str) -> str:
    """``data`` read from ``path`` as UTF-8 text; the checks of :func:`read_text`."""
    name = os.fspath(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"the {what} file {name} is not UTF-8 text (bad byte at offset "
                         f"{exc.start})") from None
    if "\x00" in text:
        raise UsageError(f"the {what} file {name} is binary, not text")
    if not text.strip():
        raise UsageError(f"the {what} file {name} is empty")
    return text


def digest(data: bytes) -> str:
    """The sha256 of ``data``, hex: how a resumed run knows a file is the one it started on."""
    return hashlib.sha256(data).hexdigest()


def check_out_dir(path: str | os.PathLike[str], *, option: str = "--out") -> Path:
    """Check that ``path`` is, or could be made, a writable directory; leave nothing behind.

    Raises:
        UsageError: it is a file, an ancestor is a file, or the directory that would hold it
            is not writable.
    """
    target = Path(os.fspath(path))
    if not os.fspath(path).strip():
        raise UsageError(f"{option} is empty; give a directory")
    try:
        if target.exists():
            if not target.is_dir():
                raise UsageError(f"{option} {target} is a file; give a directory")
            _probe(target, target, option)
            return target
        _check_parent(target, option)
    except OSError as exc:
        raise UsageError(f"{option} {target} cannot be used: {exc.strerror or exc}") from None
    return target


def check_out_file(path: str | os.PathLike[str], *, option: str = "--report") -> Path:
    """Check that a file could be written at ``path``; create nothing.

    Raises:
        UsageError: it is a directory or not a regular file (a FIFO or device), it exists
            and is read-only, or the directory that would hold it cannot be made or written.
    """
    target = Path(os.fspath(path))
    if not os.fspath(path).strip():
        raise UsageError(f"{option} is empty; give a file name")
    try:
        if target.is_dir():
            raise UsageError(f"{option} {target} is a directory; give a file name")
        if target.exists():
            if not target.is_file():
                raise UsageError(f"{option} {target} is not a regular file; give a file name")
            if not os.access(target, os.W_OK):
                raise UsageError(f"{option} {target} is not writable")
            return target
        _check_parent(target, option)
    except OSError as exc:
        raise UsageError(f"{option} {target} cannot be used: {exc.strerror or exc}") from None
    return target


def _check_parent(target: Path, option: str) -> None:
    """The nearest existing ancestor of ``target`` must be a writable directory."""
    ancestor = target.absolute().parent
    while not ancestor.exists():
        if ancestor.is_symlink():  # a dangling link: mkdir would fail
            raise UsageError(f"{option} {target}: {ancestor} is a broken link")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{option} {target}: {ancestor} is a file, not a directory")
    _probe(ancestor, target, option)


def _probe(directory: Path, target: Path, option: str) -> None:
    """Create and remove a temporary file in ``directory``: whether files can be made there
    (permission bits do not say: to root, ``/proc`` looks writable). Nothing is left behind.

    Raises:
        UsageError: no file can be created there.
    """
    try:
        fd, name = tempfile.mkstemp(prefix=".delegate-check-", dir=directory)
    except OSError as exc:
        what = target if directory == target else f"{target}: the directory {directory}"
        raise UsageError(f"{option} {what} is not writable ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(name)
