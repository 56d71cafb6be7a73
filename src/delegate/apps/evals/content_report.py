"""The content evaluation's Markdown report, and its comparison with a baseline.

A baseline is an earlier run's ``content_eval.json`` (typically the figures before a change).
:func:`load_baseline` reads and checks it, so that a bad file is refused before anything
runs. :func:`compare` measures a report against it over the objectives both evaluated (the
baseline's other objectives are left out, so a ``--limit`` run compares like with like),
goal by goal:

- duplicated and title-equal headings: 0;
- every output's repeated-line ratio at most 0.05 (outputs meeting it, of the finished ones,
  and the largest ratio); every output's distinct 4-gram ratio at least 0.8 (outputs meeting
  it, an output too short to measure not meeting it, and the smallest ratio);
- empty and cut-off sections 0, an empty or cut-off synthesis 0;
- mean key-point coverage at least 0.6;
- each objective's wall time at most 1.2 times the baseline's for the same id (objectives
  meeting it, of those the baseline finished; one that did not finish now does not meet it),
  and the median of the ratios.

The objectives finished, the model calls and the median wall time are shown beside them,
without a goal.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ...files import FileRefused, read_regular
from .._common.evals import fmt
from .content import ContentReport, ContentRow

__all__ = ["BASELINE_MAX_BYTES", "Baseline", "Comparison", "GoalRow", "compare",
           "load_baseline", "render_markdown"]

#: The largest repeated-line ratio, smallest distinct 4-gram ratio, smallest mean key-point
#: coverage and largest wall-time ratio against the baseline that meet the goals.
MAX_REPEATED, MIN_4GRAM, MIN_COVERAGE, MAX_WALL_RATIO = 0.05, 0.8, 0.6, 1.2
#: The largest baseline file read (a 20-objective report is a few tens of kB).
BASELINE_MAX_BYTES = 10_000_000


@dataclass(frozen=True)
class Baseline:
    """An earlier evaluation's rows, to compare with; ``name`` is its file's name."""

    name: str
    rows: tuple[ContentRow, ...]
    model: str = ""

    def ids(self) -> set[str]:
        return {r.id for r in self.rows}


def load_baseline(path: str | Path, *, text: str | None = None) -> Baseline:
    """Read an earlier run's ``content_eval.json``: an object with a non-empty list of
    ``cases``, each with a string ``id``, its ``wall_seconds`` and fields of the right kind
    (fields a case lacks take their defaults).

    Args:
        path: the file. It is read only when ``text`` is not given, and only as a regular
            file of at most :data:`BASELINE_MAX_BYTES` (a FIFO or a device is refused before
            it is opened, so nothing blocks or fills memory).
        text: the file's text, when the caller has read it.

    Raises:
        UsageError: the file cannot be read, is not a regular file, is too large, is not
            JSON, or is not of that shape; one line.
    """
    where = Path(path)
    try:
        data = json.loads(_read_baseline(where) if text is None else text)
    except RecursionError:
        raise UsageError(f"the baseline {path} is JSON nested too deeply to read.") from None
    except ValueError as exc:  # not UTF-8, or not JSON
        raise UsageError(f"the baseline {path} is not JSON: {exc}.") from None
    cases = data.get("cases") if isinstance(data, dict) else None
    try:
        if not isinstance(cases, list) or not cases:
            raise ValueError("it has no list of cases")
        rows = tuple(ContentRow.from_dict(case) for case in cases)
        lacking = [case["id"] for case in cases if "wall_seconds" not in case]
        if lacking:
            raise ValueError(f"case {lacking[0]} has no wall_seconds")
        ids = [r.id for r in rows]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"case {twice[0]} appears twice")
    except ValueError as exc:
        raise UsageError(f"the baseline {path} is not a content evaluation's JSON: "
                         f"{exc}.") from None
    model = data.get("model")
    return Baseline(where.name, rows, model if isinstance(model, str) else "")


def _read_baseline(path: Path) -> bytes:
    """The bytes of the regular file at ``path``, read with
    :func:`delegate.files.read_regular` (checked with ``stat`` before it is opened, opened
    without blocking); one over :data:`BASELINE_MAX_BYTES` is refused."""
    try:
        return read_regular(path, max_bytes=BASELINE_MAX_BYTES)
    except FileRefused as exc:
        if exc.reason in ("directory", "not_regular"):
            message = f"the baseline {path} is not a regular file; give a content_eval.json."
        elif exc.reason == "too_big":
            message = f"the baseline {path} is over the {exc.max_bytes / 1e6:g} MB limit."
        else:  # missing or unreadable
            message = f"cannot read the baseline {path}: {exc.detail}."
        raise UsageError(message) from None


@dataclass(frozen=True)
class GoalRow:
    """One line of the comparison. ``before``/``after`` are counts or numbers (``None``
    where not measured); ``of_before``/``of_after``, when set, are what a count is out of.
    ``goal`` is empty for a line shown for context; ``met`` says whether ``after`` meets the
    goal (``None``: no goal, or nothing to judge)."""

    metric: str
    before: Any
    after: Any
    goal: str = ""
    met: bool | None = None
    of_before: int | None = None
    of_after: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Comparison:
    """A report against its baseline: the goal lines, each objective's wall-time ratio
    (this run's over the baseline's, where both finished), the ids compared and this run's
    ids the baseline lacks."""

    baseline: str
    model: str
    metrics: tuple[GoalRow, ...]
    wall_ratios: dict[str, float] = field(default_factory=dict)
    compared: tuple[str, ...] = ()
    not_in_baseline: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "baseline_model": self.model,
                "objectives_compared": list(self.compared),
                "not_in_baseline": list(self.not_in_baseline),
                "metrics": [m.to_dict() for m in self.metrics],
                "wall_ratios": {k: round(v, 3) for k, v in self.wall_ratios.items()}}


def _at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _at_least(value: float | None, limit: float) -> bool | None:
    return None if value is None else value >= limit


def compare(report: ContentReport, baseline: Baseline) -> Comparison:
    """``report`` against ``baseline`` over the objectives both evaluated (see the module
    docstring for the goals)."""
    ids = [r.id for r in report.rows]
    before_rows = tuple(r for r in baseline.rows if r.id in set(ids))
    b, a = ContentReport(before_rows).aggregates(), report.aggregates()
    done_b, done_a = b["finished"], a["finished"]
    timed = {r.id: r.wall_seconds for r in before_rows if r.finished and r.wall_seconds > 0}
    ratios = {r.id: r.wall_seconds / timed[r.id] for r in report.rows
              if r.finished and r.id in timed}
    within = sum(x <= MAX_WALL_RATIO for x in ratios.values())
    median = statistics.median(ratios.values()) if ratios else None

    def every(metric: str, key: str) -> GoalRow:
        return GoalRow(metric, b[key], a[key], "every output",
                       done_a > 0 and a[key] == done_a, done_b, done_a)

    def zero(metric: str, before: int, after: int) -> GoalRow:
        return GoalRow(metric, before, after, "0", after == 0)

    metrics = (
        GoalRow("objectives finished", done_b, done_a, of_before=len(before_rows),
                of_after=len(ids)),
        zero("duplicated + title-equal headings",
             b["duplicated_headings"] + b["title_equal_headings"],
             a["duplicated_headings"] + a["title_equal_headings"]),
        every(f"outputs with repeated-line ratio ≤ {MAX_REPEATED}",
              f"outputs_repeated_line_ratio_le_{MAX_REPEATED}"),
        GoalRow("max repeated-line ratio", b["max_repeated_line_ratio"],
                a["max_repeated_line_ratio"], f"≤ {MAX_REPEATED}",
                _at_most(a["max_repeated_line_ratio"], MAX_REPEATED)),
        every(f"outputs with distinct 4-gram ratio ≥ {MIN_4GRAM}",
              f"outputs_distinct_4gram_ratio_ge_{MIN_4GRAM}"),
        GoalRow("min distinct 4-gram ratio", b["min_distinct_4gram_ratio"],
                a["min_distinct_4gram_ratio"], f"≥ {MIN_4GRAM}",
                _at_least(a["min_distinct_4gram_ratio"], MIN_4GRAM)),
        zero("empty sections", b["empty_sections"], a["empty_sections"]),
        zero("cut-off sections", b["cut_off_sections"], a["cut_off_sections"]),
        zero("empty synthesis", b["synthesis_empty"], a["synthesis_empty"]),
        zero("cut-off synthesis", b["synthesis_cut_off"], a["synthesis_cut_off"]),
        GoalRow("mean key-point coverage", b["mean_key_point_coverage"],
                a["mean_key_point_coverage"], f"≥ {MIN_COVERAGE}",
                _at_least(a["mean_key_point_coverage"], MIN_COVERAGE)),
        GoalRow(f"objectives within {MAX_WALL_RATIO}x the baseline's wall time", None, within,
                "every objective", bool(timed) and within == len(timed), None, len(timed)),
        GoalRow("median wall-time ratio", None, median, f"≤ {MAX_WALL_RATIO}",
                _at_most(median, MAX_WALL_RATIO)),
        GoalRow("median wall seconds", b["median_wall_seconds"], a["median_wall_seconds"]),
        GoalRow("total model calls", b["total_model_calls"], a["total_model_calls"]),
    )
    return Comparison(baseline.name, baseline.model, metrics, ratios,
                      tuple(r.id for r in before_rows),
                      tuple(i for i in ids if i not in baseline.ids()))


def _cell(value: Any, of: int | None) -> str:
    return fmt(value) if of is None else f"{fmt(value)} of {of}"


def _comparison_lines(found: Comparison) -> list[str]:
    missing = (f"; not in the baseline: {', '.join(found.not_in_baseline)}"
               if found.not_in_baseline else "")
    lines = ["", "## Before and after", "",
             f"Before: `{found.baseline}`" + (f" (`{found.model}`)" if found.model else "")
             + f", over the {len(found.compared)} objectives this run also evaluated{missing}. "
             "After: this run. A wall-time ratio is this run's seconds over the baseline's "
             "for the same objective.", "",
             "| Metric | Before | After | Goal | Met |", "|---|---|---|---|---|"]
    for m in found.metrics:
        met = "" if not m.goal else fmt(m.met)
        lines.append(f"| {m.metric} | {_cell(m.before, m.of_before)} | "
                     f"{_cell(m.after, m.of_after)} | {m.goal} | {met} |")
    return lines


def render_markdown(report: ContentReport, title: str, command: str, model_name: str) -> str:
    """A report: how it was run, the aggregates, the comparison with the baseline (when the
    report has one), one row per objective, the problems."""
    found = compare(report, report.baseline) if report.baseline is not None else None
    lines = [f"# {title}", "", f"- Command: `{command}`", f"- Model: `{model_name}`",
             f"- Objectives: {len(report.rows)} ({len(report.done)} finished)"]
    lines += [f"- Note: {note}" for note in report.notes]
    lines += ["", "| Metric | Value |", "|---|---|"]
    lines += [f"| {name} | {fmt(value)} |" for name, value in report.aggregates().items()]
    lines += [
        "", "Headings: equal means equal after lower-casing and replacing punctuation "
        "by spaces; title-equal also counts a heading with exactly the objective's words. "
        "Ratios are over what the model wrote (sections and synthesis, tables and "
        "images left out); key-point coverage and length ratio (words over "
        "the outline's target) only where the workflow has an outline (blog). A cut-off "
        "section's last prose line does not end in . ! or ?. Synthesis: the blog's "
        "introduction, the report's executive summary, the project's summary, the general "
        "workflow's answer. Review calls: the reviewer's verdicts and the rewrites it asked "
        "for; review s: their model seconds.",
    ]
    if found is not None:
        lines += _comparison_lines(found)
    ratio_head = " wall ratio |" if found is not None else ""
    lines += [
        "", "## Per objective", "",
        "| id | workflow | status | headings | dup | title= | rep lines | 4-gram | "
        "sections | empty | cut off | key pts | length | synth empty | synth cut | "
        "synth 4-gram | words | calls | review calls | review s | wall s |" + ratio_head
        + " error |",
        "|" + "---|" * (23 if found is not None else 22),
    ]
    for r in report.rows:
        cells = [r.id, r.workflow, r.status, r.headings, r.duplicated_headings,
                 r.title_equal_headings, fmt(r.repeated_line_ratio),
                 fmt(r.distinct_4gram_ratio), r.sections, r.empty_sections,
                 r.cut_off_sections, fmt(r.key_point_coverage), fmt(r.length_ratio),
                 fmt(r.synthesis_empty), fmt(r.synthesis_cut_off),
                 fmt(r.synthesis_distinct_4gram_ratio), r.words, r.model_calls,
                 r.review_calls, fmt(r.review_seconds), fmt(r.wall_seconds)]
        if found is not None:
            cells.append(fmt(found.wall_ratios.get(r.id)))
        cells.append((r.error or "").replace("|", "/"))
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "## Problems found", ""]
    for r in report.rows:
        for problem in r.problems:
            lines.append(f"- {r.id}: {problem}".replace("|", "/"))
    return "\n".join(lines) + "\n"
