"""Helpers behind :mod:`delegate.apps.analysis.tools`: lazy imports, plain numbers, parsing.

Private. pandas, numpy and scipy are imported only inside functions, so importing this module
costs nothing and works where they are not installed. Nothing here raises ``DataError``: the
parsers return ``None`` (or say what they found) and the public module decides what is an error.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from delegate.errors import ConfigurationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_HINT = "pip install 'delegate[analysis]'"

MISSING_MARKERS = frozenset(
    {"-", "--", "\u2014", "?", ".", "n.a.", "na", "n/a", "nan", "none", "null", "missing"}
)
"""Cell texts (compared without case) read as missing when the rest of a column is numbers."""

_NUMBER = re.compile(
    r"^(\()?\s*([-+])?\s*([$€£¥])?\s*([-+])?\s*"
    r"(\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)\s*(%)?\s*(\))?$"
)
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)
_CATEGORICAL_MAX_UNIQUE = 20


def require_pandas() -> Any:
    """Return the pandas module, or raise ConfigurationError saying how to install it."""
    try:
        import pandas
    except ImportError as exc:
        raise ConfigurationError(f"the analysis workflow needs pandas: {_HINT}") from exc
    return pandas


def require_scipy_stats() -> Any:
    """Return ``scipy.stats``, or raise ConfigurationError saying how to install it."""
    try:
        from scipy import stats
    except ImportError as exc:
        raise ConfigurationError(f"the analysis workflow needs scipy: {_HINT}") from exc
    return stats


def plain(value: Any) -> float | None:
    """Return ``value`` as a Python float; None for None, NaN, NaT or an infinity."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def plain_value(value: Any) -> Any:
    """Return a JSON-ready form of one cell: str, bool, int, float, ISO text, or None."""
    pd = require_pandas()
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, (str, _dt.date)):  # a pandas.Timestamp is a datetime.date too
        return value if isinstance(value, str) else value.isoformat()
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if isinstance(value, bool | int | float):
        return plain(value) if isinstance(value, float) else value
    return str(value)


def round_sig(obj: Any, digits: int = 6) -> Any:
    """Round every float in a nest of dicts, lists and tuples to ``digits`` significant digits.

    NaN and infinities become None; tuples become lists; everything else is returned as is.
    """
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}") if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: round_sig(item, digits) for key, item in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_sig(item, digits) for item in obj]
    return obj


def column_kind(series: pd.Series) -> str:
    """Classify a column as ``"numeric"``, ``"categorical"``, ``"datetime"`` or ``"text"``.

    Booleans and pandas categoricals are categorical; timedeltas are text. Other non-numeric
    columns are categorical when they hold at most 20 distinct values or when at most half of
    their non-missing values are distinct, and text otherwise (names, ids, free comments).
    """
    types = require_pandas().api.types
    dtype = series.dtype
    if types.is_bool_dtype(dtype) or isinstance(dtype, require_pandas().CategoricalDtype):
        return "categorical"
    if types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if types.is_timedelta64_dtype(dtype) or types.is_complex_dtype(dtype):
        return "text"
    if types.is_numeric_dtype(dtype):
        return "numeric"
    count = int(series.count())
    unique = int(series.nunique(dropna=True))
    if unique <= _CATEGORICAL_MAX_UNIQUE or unique <= count / 2:
        return "categorical"
    return "text"


def is_textual(series: pd.Series) -> bool:
    """Return True for object or string columns (the ones preprocessing may convert)."""
    types = require_pandas().api.types
    return types.is_object_dtype(series.dtype) or types.is_string_dtype(series.dtype)


@dataclass(frozen=True)
class NumberParse:
    """A text column read as numbers: the values, the markers read as missing, an example."""

    values: pd.Series
    markers: int
    percent: bool
    example: tuple[str, float]


def parse_numbers(series: pd.Series) -> NumberParse | None:
    """Read a text column such as ``"$1,234.50"``, ``"(12)"`` or ``"7.5%"`` as numbers.

    Every non-missing cell must be a number (currency symbol, thousands separators in groups of
    three, parentheses or a sign for negatives, a ``%`` on all cells or none) or one of
    :data:`MISSING_MARKERS`; otherwise, or when a cell has a leading zero such as ``"0213"``
    (an identifier, not a number), the column is left alone and None is returned.
    """
    pd = require_pandas()
    text = series.dropna().astype(str).str.strip()
    is_marker = text.str.lower().isin(MISSING_MARKERS)
    cells = text[~is_marker]
    if cells.empty:
        return None
    parts = cells.str.extract(_NUMBER)
    digits = parts[4]
    if not (digits.notna() & (parts[0].notna() == parts[6].notna())).all():
        return None
    percent = parts[5].notna()
    if (percent.any() and not percent.all()) or digits.str.match(r"0\d").any():
        return None
    number = digits.str.replace(",", "", regex=False).astype(float)
    negative = parts[1].eq("-") | parts[3].eq("-") | parts[0].notna()
    number = number.where(~negative, -number)
    values = pd.Series(float("nan"), index=series.index, dtype="float64")
    values.loc[number.index] = number.to_numpy(dtype="float64")
    decorated = cells.str.contains(r"[^\d.\-+]", regex=True)
    first = decorated.idxmax() if decorated.any() else cells.index[0]
    return NumberParse(
        values, int(is_marker.sum()), bool(percent.all()), (str(cells[first]), float(number[first]))
    )


def parse_iso_dates(series: pd.Series) -> tuple[pd.Series | None, list[str]]:
    """Read a text column of ISO 8601 dates or date-times.

    Returns:
        ``(dates, [])`` when every non-missing cell is a valid ISO date (times with an offset
        or ``Z`` are converted to UTC); ``(None, bad)`` when every cell looks like an ISO date
        but the ``bad`` ones are impossible (``2024-02-30``); ``(None, [])`` when the column is
        not ISO dates at all.
    """
    pd = require_pandas()
    text = series.dropna().astype(str).str.strip()
    if text.empty:
        return None, []
    if not text.str.fullmatch(_ISO_DATE.pattern).all():
        return None, []
    utc = bool(text.str.extract(_ISO_DATE)[0].notna().any())
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=utc)
    if parsed.isna().any():
        return None, text[parsed.isna()].tolist()
    dates = pd.Series(pd.NaT, index=series.index, dtype=parsed.dtype)
    dates.loc[parsed.index] = parsed
    return dates, []


def decode_text(raw: bytes) -> str | None:
    """Decode file bytes as UTF-8 (or Latin-1 when not UTF-8); None when they look binary.

    Bytes look binary when the first 64 KiB hold a NUL byte or more than 1% control characters.
    """
    if b"\x00" in raw[:65536]:
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    sample = text[:65536]
    control = sum(
        1 for ch in sample if ch not in "\t\n\r" and (ord(ch) < 32 or 127 <= ord(ch) < 160)
    )
    return None if control > len(sample) / 100 else text


def clean(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Implement :func:`delegate.apps.analysis.tools.preprocess` (see there)."""
    out, steps = df.copy(), []
    names = [str(name).strip() for name in out.columns]
    pairs = zip(map(str, out.columns), names, strict=True)
    stripped = [f"{old!r} → {new!r}" for old, new in pairs if old != new]
    if stripped:
        steps.append(f"Stripped spaces from {_n(len(stripped), 'column name')}: {_list(stripped)}.")
    seen: dict[str, int] = {}
    renamed = []
    for i, name in enumerate(names):
        if name in seen:
            while f"{name}.{seen[name]}" in names:
                seen[name] += 1
            names[i] = f"{name}.{seen[name]}"
            renamed.append(f"{name!r} → {names[i]!r}")
        seen.setdefault(names[i], 1)
    if renamed:
        steps.append(f"Renamed {_n(len(renamed), 'duplicate column')}: {_list(renamed)}.")
    out.columns = names
    blanks, blank_cols = 0, []
    for name in names:
        if is_textual(out[name]):
            blank = out[name].notna() & out[name].astype(str).str.strip().eq("")
            if blank.any():
                out[name] = out[name].mask(blank)
                blanks, blank_cols = blanks + int(blank.sum()), [*blank_cols, repr(name)]
    if blanks:
        steps.append(f"Read {_n(blanks, 'blank text cell')} as missing (in {_list(blank_cols)}).")
    empty_cols = [name for name in names if out[name].isna().all()]
    if empty_cols:
        out = out.drop(columns=empty_cols)
        dropped = _list([repr(name) for name in empty_cols])
        steps.append(f"Dropped {_n(len(empty_cols), 'completely empty column')}: {dropped}.")
    empty_rows = out.index[out.isna().all(axis=1)]
    if len(empty_rows):
        out = out.drop(index=empty_rows)
        where = _list([str(label) for label in empty_rows])
        steps.append(f"Dropped {_n(len(empty_rows), 'completely empty row')} (index {where}).")
    for name in out.columns:
        if is_textual(out[name]):
            steps.extend(_convert(out, name))
    return out, steps


def _convert(out: pd.DataFrame, name: str) -> list[str]:
    """Read one text column as numbers or as dates where it clearly is; say what was done."""
    parsed = parse_numbers(out[name])
    if parsed is not None:
        out[name] = parsed.values
        text, number = parsed.example
        step = f"Read {name!r} as numbers (e.g. {text!r} → {number!r})"
        if parsed.percent:
            step += "; percent signs removed, values stay in percent"
        if parsed.markers:
            step += f"; {_n(parsed.markers, 'placeholder cell')} (like '-', 'n/a') read as missing"
        return [step + "."]
    dates, bad = parse_iso_dates(out[name])
    if dates is not None:
        out[name] = dates
        example = out[name].dropna().iloc[0].isoformat()
        utc = "; times with a UTC offset converted to UTC" if "UTC" in str(dates.dtype) else ""
        return [f"Parsed {name!r} as dates (ISO 8601, e.g. {example}){utc}."]
    if bad:
        return [
            f"Left {name!r} as text: {_n(len(bad), 'value')} look like ISO dates but are not"
            f" valid dates (e.g. {bad[0]!r})."
        ]
    return []


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _list(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def ols(features: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Fit ``target = b0 + features @ b`` by least squares (``numpy.linalg.lstsq``).

    Returns:
        ``(coefficients, r_squared, rank)``: the intercept first, then one coefficient per
        feature column; ``rank`` below ``features.shape[1] + 1`` means collinear features.
    """
    import numpy

    design = numpy.column_stack([numpy.ones(len(target)), features])
    coefficients, _, rank, _ = numpy.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coefficients
    total = target - target.mean()
    r_squared = 1.0 - float(residual @ residual) / float(total @ total)
    return coefficients, r_squared, int(rank)
