"""Reading a file a user named: a regular file only, within a cap, never waiting on a writer.

:func:`read_regular` is the one reader behind the files the command line and the apps read by
path (``--prices``, ``--input``, ``--catalog``, an ``analysis`` run's CSV file, a plan edited
for ``runs answer --edit``, a content evaluation's baseline). It checks the path with ``stat``
and refuses anything but a regular file (a directory, FIFO, device or socket) before opening
it, so a FIFO with no writer, ``/dev/zero`` or a directory never blocks or fills memory; opens
it without blocking; checks with ``fstat`` that the file opened is a regular file within the
cap too; and reads at most the cap plus one byte, so a file over the cap is refused, never
truncated.

A refusal is a :class:`FileRefused`: why (its ``reason``), the path and the system's words, so
each caller writes its own one-line message and raises its own error class. Its own message,
for a caller that does not, is one line too.
"""

from __future__ import annotations

import os
import stat
from typing import Literal

from .errors import UsageError

__all__ = ["FileRefused", "Reason", "read_regular"]

#: Why a file was not read.
Reason = Literal["missing", "directory", "not_regular", "too_big", "unreadable"]


class FileRefused(UsageError):
    """The file at ``path`` was not read; ``reason`` says why.

    Attributes:
        reason: ``"missing"`` (nothing at the path, or a link to nothing), ``"directory"``,
            ``"not_regular"`` (a FIFO, device or socket), ``"too_big"``, or ``"unreadable"``
            (any other failure to stat, open or read it: no permission, a file where a
            directory should be, a path holding a NUL byte, an I/O error).
        path: the path, as ``os.fspath`` gives it.
        max_bytes: the cap.
        detail: the system's words for ``"missing"`` and ``"unreadable"``
            (``"Permission denied"``); ``""`` otherwise.
        size: for ``"too_big"``, the size ``stat`` gave; ``None`` when the file was found over
            the cap only by reading it (it grew, or its size is not known ahead, as in
            ``/proc``), so its size is not known, only that it is over.
    """

    def __init__(self, reason: Reason, path: str, max_bytes: int, *, detail: str = "",
                 size: int | None = None) -> None:
        self.reason: Reason = reason
        self.path = path
        self.max_bytes = max_bytes
        self.detail = detail
        self.size = size
        super().__init__(_message(reason, path, max_bytes, detail))


def _message(reason: Reason, path: str, max_bytes: int, detail: str) -> str:
    if reason == "missing":
        return f"no file at {path}"
    if reason == "directory":
        return f"{path} is a directory; give a file"
    if reason == "not_regular":
        return f"{path} is not a regular file (a pipe, device or socket); give a file"
    if reason == "too_big":
        return f"{path} is over the limit of {max_bytes:,} bytes"
    return f"cannot read {path}: {detail}"


def read_regular(path: str | os.PathLike[str], *, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes`` of them.

    A link is followed (what it points to is checked). Nothing but a regular file is opened,
    and it is opened with ``O_NONBLOCK``.

    Raises:
        FileRefused: missing, a directory, not a regular file, over ``max_bytes`` (by its size
            or by what was read), or unreadable; never with a traceback of its own.
    """
    name = os.fspath(path)
    try:
        info = os.stat(name)
    except FileNotFoundError as exc:
        raise FileRefused("missing", name, max_bytes, detail=_words(exc)) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise FileRefused("unreadable", name, max_bytes, detail=_words(exc)) from None
    _check(info, name, max_bytes)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise FileRefused("unreadable", name, max_bytes, detail=_words(exc)) from None
    try:
        _check(os.fstat(fd), name, max_bytes)  # the file opened, not only the path, is checked
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise FileRefused("unreadable", name, max_bytes, detail=_words(exc)) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise FileRefused("too_big", name, max_bytes)
    return data


def _check(info: os.stat_result, name: str, max_bytes: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise FileRefused("directory", name, max_bytes)
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused("not_regular", name, max_bytes)
    if info.st_size > max_bytes:
        raise FileRefused("too_big", name, max_bytes, size=info.st_size)


def _words(exc: Exception) -> str:
    """An OS error's own words (``"No such file or directory"``), else its message."""
    return getattr(exc, "strerror", None) or str(exc)
