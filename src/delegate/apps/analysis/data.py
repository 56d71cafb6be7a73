"""Loading and cleaning the CSV the ``analysis`` workflow analyses.

:func:`load_csv` reads a file (or CSV text) within size and row limits, from a regular file
only (a FIFO, a device or a directory is refused before it is read, so nothing blocks or fills
memory); :func:`preprocess` cleans the frame and says in plain words what it did. Data that
cannot be analysed raises :class:`DataError`, whose message is meant to be shown to the user as
is. The other tools are in :mod:`delegate.apps.analysis.tools`, which re-exports these names.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING

from delegate.errors import UsageError
from delegate.files import FileRefused, read_regular

from . import _stats as st

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DataError", "load_csv", "preprocess"]


class DataError(UsageError):
    """The data cannot be loaded or cannot answer the question asked; the message says why."""


def load_csv(
    path_or_text: str | os.PathLike[str], *, max_bytes: int = 50_000_000, max_rows: int = 1_000_000
) -> pd.DataFrame:
    """Read a comma-separated file, or CSV text, into a DataFrame.

    Args:
        path_or_text: a path, or the CSV text itself (a ``str`` with a line break in it).
        max_bytes: largest file or text accepted. max_rows: most data rows accepted.

    Raises:
        DataError: a missing, empty, binary, oversized or unparseable file, one that is not a
            regular file (a directory, FIFO or device), or one with no columns or no data rows.
        ConfigurationError: pandas is not installed.
    """
    pd = st.require_pandas()
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        raw, label = path_or_text.encode("utf-8"), "the CSV text"
    else:
        raw, label = _read_file(os.fspath(path_or_text), max_bytes), f"{path_or_text!s}"
    if len(raw) > max_bytes:
        raise DataError(f"{label} is {len(raw):,} bytes, over the limit of {max_bytes:,} bytes")
    if not raw.strip():
        raise DataError(f"{label} is empty")
    text = st.decode_text(raw)
    if text is None:
        raise DataError(f"{label} is binary data, not CSV text")
    try:
        df = pd.read_csv(io.StringIO(text), nrows=max_rows + 1, low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{label} has no columns to read") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{label} is not readable as CSV: {exc}") from exc
    if df.shape[1] == 0:
        raise DataError(f"{label} has no columns to read")
    if len(df) == 0:
        raise DataError(f"{label} has a header row but no data rows")
    if len(df) > max_rows:
        raise DataError(f"{label} has more than {max_rows:,} data rows (the max_rows limit)")
    return df


def _read_file(path: str, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes``
    (:func:`delegate.files.read_regular`: a FIFO, a device or a directory is refused before it
    is opened, and nothing blocks)."""
    try:
        return read_regular(path, max_bytes=max_bytes)
    except FileRefused as exc:
        raise DataError(_refusal(exc, path)) from None


def _refusal(exc: FileRefused, path: str) -> str:
    if exc.reason == "missing":
        return (f"no such file: {path!r} (to pass CSV text instead, include at least one line "
                "break)")
    if exc.reason == "directory":
        return f"{path!r} is a directory, not a CSV file"
    if exc.reason == "not_regular":
        return f"{path!r} is not a regular file (a pipe, device or socket), not a CSV file"
    if exc.reason == "too_big":  # found by reading: the cap plus one byte was read
        size = exc.max_bytes + 1 if exc.size is None else exc.size
        return f"{path} is {size:,} bytes, over the limit of {exc.max_bytes:,} bytes"
    return f"cannot read {path}: {exc.detail}"


def preprocess(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Clean a freshly loaded frame, saying in plain words what was done.

    In order: strip spaces from column names (renaming any duplicates this creates), read
    blank text cells as missing, drop columns and rows that are entirely empty, read number-like
    text (``"1,234"``, ``"$5.00"``, ``"(12)"``, ``"7%"``) as numbers, and parse ISO 8601 dates.
    Each change adds one line to the steps; nothing is dropped or converted without one. The
    input frame is not modified.

    Returns:
        ``(cleaned, steps)``; ``steps`` is empty when nothing needed doing.
    """
    return st.clean(df)
