"""The numeric tools behind the ``analysis`` workflow: load, clean, describe and model a CSV.

Workers plan and interpret; every number they report comes from these functions, which wrap
pandas, numpy and scipy and return small frozen dataclasses (each with a JSON-ready
``to_dict()``) or plain dicts. :func:`summary_report` is the overview a worker's model is
shown: numbers rounded to 6 significant digits, NaN as ``None``.

pandas and scipy are optional (``pip install 'delegate[analysis]'``) and imported only when a
tool runs; without them a tool raises :class:`~delegate.errors.ConfigurationError`. Data that
cannot be analysed (a missing, empty, binary or oversized file, a non-numeric target, too few
rows) raises :class:`DataError` with a message meant to be shown to the user as is.

Loading and cleaning are in :mod:`delegate.apps.analysis.data`, the dataclasses in
:mod:`delegate.apps.analysis.results`; this module re-exports both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from delegate.errors import UsageError

from . import _stats as st
from .data import DataError, load_csv, preprocess
from .results import ColumnProfile, Correlation, LinearFit

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
