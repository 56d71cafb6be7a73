"""The analysis workflow's typed report and its Markdown.

:class:`AnalysisReport` holds the computed results at full precision and the model's
interpretation; :func:`render_report` writes them as Markdown, every number outside the
``Interpretation`` section to 6 significant digits (see :mod:`delegate.apps.analysis.workflow`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from . import tools

__all__ = ["AnalysisReport", "render_report"]


class AnalysisReport(BaseModel):
    """The typed result of :func:`~delegate.apps.analysis.workflow.run_analysis`; numbers at
    full precision.

    Attributes:
        file: the CSV's name. rows, columns: the cleaned shape. steps: what cleaning did.
        statistics: one :meth:`ColumnProfile.to_dict` per column. groups: per categorical
            column, each numeric column's mean per group. correlations: strongest first.
        fit: :meth:`LinearFit.to_dict` with ``sensible: True``, or ``sensible: False, reason``.
        interpretation: the model's text ("" when it failed; the run says why).
        unsupported_numbers: numbers in the interpretation found in no computed result.
    """

    file: str
    rows: int
    columns: int
    steps: list[str]
    statistics: list[dict[str, Any]]
    groups: list[dict[str, Any]] = []
    correlations: list[dict[str, Any]]
    fit: dict[str, Any]
    interpretation: str
    unsupported_numbers: list[str] = []


def render_report(report: AnalysisReport, question: str, failed: str) -> str:
    """``report`` as Markdown, headed by ``question`` when one was asked; ``failed`` says why
    when there is no interpretation."""
    lines = [f"# Analysis of {report.file}", ""]
    if question:
        lines += [f"**Question:** {question}", ""]
    lines += [f"{report.rows} rows and {report.columns} columns after preprocessing.", "",
              "## Preprocessing", ""]
    lines += [f"- {s}" for s in report.steps] or ["- Nothing needed cleaning."]
    numeric = [p for p in report.statistics if p["kind"] == "numeric"]
    other = [p for p in report.statistics if p["kind"] != "numeric"]
    lines += ["", "## Statistics", ""]
    if numeric:
        keys = ("count", "missing", "mean", "std", "min", "q1", "median", "q3", "max")
        lines += _table(["Column", "Count", "Missing", "Mean", "Std", "Min", "25%", "Median",
                         "75%", "Max"], [[p["name"], *(p[k] for k in keys)] for p in numeric])
    if other:
        lines += ["", *_table(["Column", "Kind", "Count", "Missing", "Unique", "Most frequent"],
                              [[p["name"], p["kind"], p["count"], p["missing"], p["unique"],
                                _top(p)] for p in other])]
    for group in report.groups:
        lines += ["", f"### Mean per {group['by']}", ""]
        lines += _table([group["by"], *group["values"], "Rows"],
                        [[r[group["by"]], *(r[v] for v in group["values"]), r["rows"]]
                         for r in group["rows"]])
    lines += ["", "## Correlations", ""]
    shown = report.correlations[:tools.MAX_REPORT_CORRELATIONS]
    lines += _table(["Columns", "Method", "r", "p-value", "Rows"],
                    [[f"{c['x']} ~ {c['y']}", c["method"], c["r"], c["p_value"], c["n"]]
                     for c in shown]) if shown else ["No pair of numeric columns correlates."]
    if len(report.correlations) > len(shown):
        lines += ["", f"The {len(shown)} strongest of {len(report.correlations)} are shown."]
    lines += ["", "## Linear fit", ""]
    fit = report.fit
    if fit["sensible"]:
        lines += [f"{fit['target']} fitted on {', '.join(fit['features'])} by least squares, "
                  f"over {fit['n']} complete rows.", "", *_table(["Term", "Value"], [
                      ["Intercept", fit["intercept"]],
                      *([f"{f} coefficient", c] for f, c in fit["coefficients"].items()),
                      ["R²", fit["r_squared"]]])]
    else:
        lines.append(f"No linear fit is sensible here: {fit['reason']}.")
    lines += ["", "## Interpretation", ""]
    lines.append(report.interpretation or f"_No interpretation was written: {failed}_")
    if report.unsupported_numbers:
        lines += ["", "_Numbers above that match no computed result: "
                  + ", ".join(report.unsupported_numbers) + "._"]
    return "\n".join(lines) + "\n"


def _top(profile: dict[str, Any]) -> str:
    if profile["kind"] == "categorical":
        return ", ".join(f"{t['value']} ({t['count']})" for t in profile["top"][:3])
    if profile["kind"] == "datetime":
        return f"{profile['first']} to {profile['last']}"
    return "-"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """Markdown table lines; columns holding only numbers are right-aligned."""
    numbers = [all(isinstance(r[i], int | float | None) for r in rows) for i in range(len(header))]
    rule = "|" + "|".join("---:" if n else "---" for n in numbers) + "|"
    cells = [" | ".join(_cell(v) for v in row) for row in rows]
    return ["| " + " | ".join(header) + " |", rule, *(f"| {c} |" for c in cells)]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|").replace("\n", " ")
