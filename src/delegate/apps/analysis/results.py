"""What the ``analysis`` tools find: small frozen dataclasses, each with a JSON-ready
``to_dict()`` (see :mod:`delegate.apps.analysis.tools`, which re-exports them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ColumnProfile", "Correlation", "LinearFit"]


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
