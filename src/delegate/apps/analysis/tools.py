"""The numeric tools behind the ``analysis`` workflow: load, clean, describe and model a CSV.

Workers plan and interpret; every number they report comes from these functions, which wrap
pandas, numpy and scipy and return small frozen dataclasses (each with a JSON-ready
``to_dict()``) or plain dicts. :func:`summary_report` is the overview a worker's model is
shown: numbers rounded to 6 significant digits, NaN as ``None``.

pandas and scipy are optional (``pip install 'delegate[analysis]'``) and imported only when a
tool runs; without them a tool raises :class:`~delegate.errors.ConfigurationError`. Data that
cannot be analysed (a missing, empty, binary or oversized file, a non-numeric target, too few
rows) raises :class:`DataError` with a message meant to be shown to the user as is.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from delegate.errors import UsageError

from . import _stats as st

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AGGREGATIONS",
    "ColumnProfile",
    "Correlation",
    "DataError",
    "LinearFit",
    "MAX_REPORT_CORRELATIONS",
    "correlations",
    "group_summary",
    "linear_fit",
    "load_csv",
    "preprocess",
    "profile_columns",
    "summary_report",
]

AGGREGATIONS = ("mean", "median", "sum", "min", "max", "std", "count")
"""Aggregations :func:`group_summary` accepts."""

MAX_REPORT_CORRELATIONS = 20
"""Strongest correlations :func:`summary_report` includes."""


class DataError(UsageError):
    """The data cannot be loaded or cannot answer the question asked; the message says why."""


@dataclass(frozen=True)
class ColumnProfile:
    """What one column holds.

    Attributes:
        name: the column name.
        kind: ``"numeric"``, ``"categorical"``, ``"datetime"`` or ``"text"``.
        dtype: the pandas dtype, as text (``"float64"``).
        count: non-missing values. missing: missing values. unique: distinct non-missing values.
        mean, std, min, q1, median, q3, max: numeric columns only (as ``DataFrame.describe``,
            ``std`` with ``ddof=1``); None where undefined or for other kinds.
        top: categorical columns only: up to 5 ``(value, count)`` pairs, most frequent first.
        first, last: datetime columns only: the earliest and latest value, ISO 8601.
    """

    name: str
    kind: str
    dtype: str
    count: int
    missing: int
    unique: int
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    q1: float | None = None
    median: float | None = None
    q3: float | None = None
    max: float | None = None
    top: tuple[tuple[Any, int], ...] = ()
    first: str | None = None
    last: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields that apply to this kind of column, JSON-ready."""
        out: dict[str, Any] = {key: getattr(self, key) for key in ("name", "kind", "dtype")}
        out.update(count=self.count, missing=self.missing, unique=self.unique)
        if self.kind == "numeric":
            for key in ("mean", "std", "min", "q1", "median", "q3", "max"):
                out[key] = getattr(self, key)
        elif self.kind == "categorical":
            out["top"] = [{"value": value, "count": count} for value, count in self.top]
        elif self.kind == "datetime":
            out.update(first=self.first, last=self.last)
        return out


@dataclass(frozen=True)
class Correlation:
    """The correlation of two numeric columns over the ``n`` rows where both are present."""

    x: str
    y: str
    method: str
    r: float
    p_value: float | None
    n: int

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class LinearFit:
    """An ordinary least squares fit ``target = intercept + sum(coefficient * feature)``.

    Attributes:
        target: the column predicted. features: the predictors, in the order given.
        intercept: the fitted constant. coefficients: the fitted slope of each feature.
        r_squared: the share of the target's variance the fit explains, on the fitted rows.
        n: rows used (those with no missing value in the target or any feature).
    """

    target: str
    features: tuple[str, ...]
    intercept: float
    coefficients: dict[str, float]
    r_squared: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return {**asdict(self), "features": list(self.features)}


def load_csv(
    path_or_text: str | os.PathLike[str], *, max_bytes: int = 50_000_000, max_rows: int = 1_000_000
) -> pd.DataFrame:
    """Read a comma-separated file, or CSV text, into a DataFrame.

    Args:
        path_or_text: a path, or the CSV text itself (a ``str`` with a line break in it).
        max_bytes: largest file or text accepted. max_rows: most data rows accepted.

    Raises:
        DataError: a missing, empty, binary, oversized or unparseable file, or one with no
            columns or no data rows.
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
    if not os.path.exists(path):
        raise DataError(
            f"no such file: {path!r} (to pass CSV text instead, include at least one line break)"
        )
    if os.path.isdir(path):
        raise DataError(f"{path!r} is a directory, not a CSV file")
    size = os.path.getsize(path)
    if size > max_bytes:
        raise DataError(f"{path} is {size:,} bytes, over the limit of {max_bytes:,} bytes")
    with open(path, "rb") as handle:
        return handle.read()


def profile_columns(df: pd.DataFrame) -> list[ColumnProfile]:
    """Describe every column: its kind, counts, and the statistics that suit its kind."""
    profiles = []
    for name in df.columns:
        series = df[name]
        kind = st.column_kind(series)
        base: dict[str, Any] = {
            "name": str(name), "kind": kind, "dtype": str(series.dtype),
            "count": int(series.count()), "missing": int(series.isna().sum()),
            "unique": int(series.nunique(dropna=True)),
        }  # fmt: skip
        if kind == "numeric":
            q1, median, q3 = (st.plain(q) for q in series.quantile([0.25, 0.5, 0.75]))
            base.update(
                mean=st.plain(series.mean()), std=st.plain(series.std()),
                min=st.plain(series.min()), q1=q1, median=median, q3=q3,
                max=st.plain(series.max()),
            )  # fmt: skip
        elif kind == "categorical":
            counts = series.value_counts(dropna=True).head(5)
            base["top"] = tuple((st.plain_value(v), int(c)) for v, c in counts.items())
        elif kind == "datetime" and base["count"]:
            base.update(first=series.min().isoformat(), last=series.max().isoformat())
        profiles.append(ColumnProfile(**base))
    return profiles


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


def correlations(df: pd.DataFrame, method: str = "pearson") -> list[Correlation]:
    """Correlate every pair of numeric columns, strongest first.

    Each pair uses the rows where both values are present (as ``DataFrame.corr`` does); ``r``
    and ``p_value`` come from ``scipy.stats.pearsonr`` or ``spearmanr``. Pairs with fewer than
    3 shared rows, or where either column is constant on them, have no defined correlation and
    are left out.

    Raises:
        UsageError: ``method`` is neither ``"pearson"`` nor ``"spearman"``.
    """
    if method not in ("pearson", "spearman"):
        raise UsageError(f"unknown correlation method {method!r}; use 'pearson' or 'spearman'")
    stats = st.require_scipy_stats()
    test = stats.pearsonr if method == "pearson" else stats.spearmanr
    columns = _numeric_columns(df)
    found = []
    for i, x in enumerate(columns):
        for y in columns[i + 1 :]:
            pair = df[[x, y]].dropna().astype("float64")
            if len(pair) < 3 or pair[x].nunique() < 2 or pair[y].nunique() < 2:
                continue
            result = test(pair[x].to_numpy(), pair[y].to_numpy())
            r, p = float(result.statistic), st.plain(result.pvalue)
            found.append(Correlation(str(x), str(y), method, r, p, len(pair)))
    return sorted(found, key=lambda c: -abs(c.r))


def linear_fit(df: pd.DataFrame, target: str, features: Sequence[str] | None = None) -> LinearFit:
    """Fit ``target`` on ``features`` (default: every other numeric column) by least squares.

    Rows with a missing value in the target or any feature are left out; ``n`` says how many
    were used.

    Raises:
        DataError: an unknown or non-numeric column, no features, fewer complete rows than
            features + 2, a constant target, or constant or collinear features.
    """
    numeric = _numeric_columns(df)
    _check_numeric(df, target, numeric, "target")
    if features is None:
        features = [name for name in numeric if name != target]
    features = list(features)
    if not features:
        raise DataError(f"no numeric feature columns to fit {target!r} on")
    for name in features:
        _check_numeric(df, name, numeric, "feature")
    if target in features:
        raise DataError(f"the target {target!r} cannot also be a feature")
    rows = df[[*features, target]].dropna().astype("float64")
    needed = len(features) + 2
    if len(rows) < needed:
        raise DataError(
            f"too few rows to fit {target!r}: {len(rows)} complete rows, need at least {needed}"
            f" ({len(features)} features + 2)"
        )
    if rows[target].nunique() < 2:
        raise DataError(f"the target {target!r} is constant, so there is nothing to fit")
    coefficients, r_squared, rank = st.ols(rows[features].to_numpy(), rows[target].to_numpy())
    if rank < len(features) + 1:
        constant = [name for name in features if rows[name].nunique() < 2]
        why = f"constant features {constant}" if constant else "collinear features"
        raise DataError(f"cannot fit {target!r}: {why} (drop some and try again)")
    return LinearFit(
        target=target, features=tuple(features), intercept=float(coefficients[0]),
        coefficients={name: float(c) for name, c in zip(features, coefficients[1:], strict=True)},
        r_squared=r_squared, n=len(rows),
    )  # fmt: skip


def group_summary(
    df: pd.DataFrame, by: str | Sequence[str], value: str, agg: str = "mean"
) -> list[dict[str, Any]]:
    """Aggregate ``value`` per group of ``by``: one dict per group, in sorted group order.

    Each dict holds the group's key columns, the aggregate under the name of ``agg``, and
    ``n``, the non-missing values aggregated. Rows with a missing key form their own group
    (key ``None``) rather than being dropped.

    Raises:
        UsageError: ``agg`` is not one of :data:`AGGREGATIONS`.
        DataError: an unknown column, or a non-numeric ``value`` for an agg other than count.
    """
    if agg not in AGGREGATIONS:
        raise UsageError(f"unknown aggregation {agg!r}; use one of {', '.join(AGGREGATIONS)}")
    keys = [by] if isinstance(by, str) else list(by)
    for name in [*keys, value]:
        _check_column(df, name)
    if agg != "count":
        _check_numeric(df, value, _numeric_columns(df), "value")
    table = df.groupby(keys, dropna=False, sort=True)[value].agg(["count", agg])
    rows = []
    for key, stats in zip(table.index, table.itertuples(index=False), strict=True):
        parts = key if isinstance(key, tuple) else (key,)
        row = {name: st.plain_value(part) for name, part in zip(keys, parts, strict=True)}
        row[agg] = int(stats[0]) if agg == "count" else st.plain(stats[1])
        row["n"] = int(stats[0])
        rows.append(row)
    return rows


def summary_report(df: pd.DataFrame) -> dict[str, Any]:
    """The overview a worker's model is shown: shape, profile, correlations, a simple fit.

    The fit is of the last numeric column on the other numeric columns, when there are at
    least two; when it cannot be made, ``linear_fit`` is None and ``notes`` says why. At most
    :data:`MAX_REPORT_CORRELATIONS` correlations are listed. Every number is a plain int or a
    float rounded to 6 significant digits; NaN is None, so ``json.dumps`` accepts the result.
    """
    found = correlations(df)
    report: dict[str, Any] = {
        "rows": len(df), "columns": int(df.shape[1]),
        "profile": [p.to_dict() for p in profile_columns(df)],
        "correlations": [c.to_dict() for c in found[:MAX_REPORT_CORRELATIONS]],
        "linear_fit": None, "notes": [],
    }  # fmt: skip
    if len(found) > MAX_REPORT_CORRELATIONS:
        report["notes"].append(f"{MAX_REPORT_CORRELATIONS} strongest of {len(found)} shown.")
    numeric = _numeric_columns(df)
    if len(numeric) >= 2:
        target, features = numeric[-1], numeric[:-1]
        try:
            report["linear_fit"] = linear_fit(df, target, features).to_dict()
        except DataError as exc:
            report["notes"].append(f"No linear fit: {exc}.")
    else:
        report["notes"].append("No linear fit: fewer than two numeric columns.")
    return st.round_sig(report)


def _numeric_columns(df: pd.DataFrame) -> list[Any]:
    return [name for name in df.columns if st.column_kind(df[name]) == "numeric"]


def _check_column(df: pd.DataFrame, name: str) -> None:
    if name not in df.columns:
        columns = ", ".join(repr(str(c)) for c in df.columns)
        raise DataError(f"no column named {name!r}; the columns are {columns}")


def _check_numeric(df: pd.DataFrame, name: str, numeric: list[Any], role: str) -> None:
    _check_column(df, name)
    if name not in numeric:
        kind = st.column_kind(df[name])
        raise DataError(f"the {role} {name!r} is {kind}, not numeric")
