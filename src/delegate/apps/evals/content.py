"""Evaluating the content workflows (blog, report, project, general) on a shipped set.

Each case of ``content_eval.json`` is ``{id, workflow, objective, inputs}`` (``inputs``: names
of files in the shipped samples folder, for the report workflow); the shipped set takes the
workflows in turn, so that its first four cases (``--limit 4``) span all four.
:func:`evaluate_content` runs the workflow on every case and scores the Markdown it wrote with
the checks of :mod:`delegate.apps._common.checks`:

- **sections**: the ``##`` sections the output has that the model wrote. For ``blog`` every
  section; the n-th, when its heading is the outline's n-th heading, is also measured against
  that section's key points and word target (from the outline task's output); for
  ``report`` every section except the executive summary; for ``project`` the requirements and
  phases (the team, breakdown and timeline are tables computed from data); for ``general`` the
  synthesis's own ``##`` sections, if any.
- **synthesis**: the final text that ties the sections together: the blog's introduction (the
  editor's text before the first section), the report's executive summary, the project's
  summary, the general workflow's whole answer.
- per output: heading problems (empty, duplicated, title-equal, over the output's headings),
  repeated-line ratio and distinct 4-gram ratio over what the model wrote (the synthesis and
  the sections above, as :func:`~delegate.apps._common.checks.prose`), empty and cut-off
  sections, mean key-point coverage and mean length ratio (blog), and for the synthesis: empty,
  cut off, its own repeated-line and 4-gram ratios.
- cost: wall seconds (around the whole workflow call) and model calls per objective, and
  the reviewer's share of them: ``review_calls`` are the calls of purpose ``review`` (its
  verdicts) and ``revision`` (the rewrites it asked for), ``review_seconds`` their latency.

Given a baseline (an earlier run's ``content_eval.json``), the report also compares itself
with it, goal by goal (see :mod:`delegate.apps.evals.content_report`).

A case whose workflow raises a :class:`~delegate.errors.DelegateError` is recorded with its
message and ``finished=False``, and left out of every aggregate except the counts.

The set is read in :mod:`delegate.apps.evals.content_cases`, one output scored in
:mod:`delegate.apps.evals.content_score`; this module re-exports their names.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import DelegateError, UsageError
from .._common.content import WorkflowResult
from .._common.evals import mean, run_cases, write_report
from .content_cases import REVIEWED, SAMPLES, ContentCase, load_content_set
from .content_score import ContentRow, score_output

if TYPE_CHECKING:
    from .content_report import Baseline

__all__ = [
    "ContentCase",
    "ContentReport",
    "ContentRow",
    "evaluate_content",
    "load_content_set",
    "run_content_eval",
    "score_output",
]


@dataclass(frozen=True)
class ContentReport:
    """Per-objective rows (in set order) and their aggregates."""

    rows: tuple[ContentRow, ...]
    elapsed_seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())
    baseline: Baseline | None = None

    def with_notes(self, *notes: str) -> ContentReport:
        return replace(self, notes=self.notes + notes)

    @property
    def done(self) -> list[ContentRow]:
        return [r for r in self.rows if r.finished]

    def aggregates(self) -> dict[str, Any]:
        """The aggregate numbers by name, over finished objectives."""
        done = self.done
        calls = sum(r.model_calls for r in done)
        review_calls = sum(r.review_calls for r in done)
        rep = [r.repeated_line_ratio for r in done if r.repeated_line_ratio is not None]
        grams = [r.distinct_4gram_ratio for r in done if r.distinct_4gram_ratio is not None]
        walls = sorted(r.wall_seconds for r in done)
        synth = [r for r in done if r.synthesis_empty is not None]
        return {
            "objectives": len(self.rows),
            "finished": len(done),
            "runs_succeeded": sum(r.status == "succeeded" for r in done),
            "headings": sum(r.headings for r in done),
            "duplicated_headings": sum(r.duplicated_headings for r in done),
            "title_equal_headings": sum(r.title_equal_headings for r in done),
            "empty_headings": sum(r.empty_headings for r in done),
            "mean_repeated_line_ratio": mean(rep),
            "max_repeated_line_ratio": max(rep, default=None),
            "outputs_repeated_line_ratio_le_0.05": sum(x <= 0.05 for x in rep),
            "mean_distinct_4gram_ratio": mean(grams),
            "min_distinct_4gram_ratio": min(grams, default=None),
            "outputs_distinct_4gram_ratio_ge_0.8": sum(x >= 0.8 for x in grams),
            "sections": sum(r.sections for r in done),
            "empty_sections": sum(r.empty_sections for r in done),
            "cut_off_sections": sum(r.cut_off_sections for r in done),
            "mean_key_point_coverage": mean([r.key_point_coverage for r in done
                                              if r.key_point_coverage is not None]),
            "mean_length_ratio": mean([r.length_ratio for r in done
                                        if r.length_ratio is not None]),
            "synthesis_empty": sum(bool(r.synthesis_empty) for r in synth),
            "synthesis_cut_off": sum(bool(r.synthesis_cut_off) for r in synth),
            "mean_synthesis_distinct_4gram_ratio": mean(
                [r.synthesis_distinct_4gram_ratio for r in synth
                 if r.synthesis_distinct_4gram_ratio is not None]),
            "mean_wall_seconds": mean(walls),
            "median_wall_seconds": statistics.median(walls) if walls else None,
            "total_model_calls": calls,
            "mean_model_calls": mean([r.model_calls for r in done]),
            "total_review_calls": review_calls,
            "review_share_of_calls": review_calls / calls if calls else None,
            "elapsed_seconds": self.elapsed_seconds,
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: aggregates, cases, notes, and the comparison with the baseline
        when there is one."""
        data = {"aggregates": self.aggregates(), "cases": [r.to_dict() for r in self.rows],
                "notes": list(self.notes)}
        if self.baseline is not None:
            from .content_report import compare

            data["comparison"] = compare(self, self.baseline).to_dict()
        return data

    def to_markdown(self, title: str, command: str, model_name: str) -> str:
        """A report: how it was run, the aggregates, the comparison with the baseline if
        any, one row per objective, the problems."""
        from .content_report import render_markdown

        return render_markdown(self, title, command, model_name)


RunFn = Callable[[ContentCase], Awaitable[WorkflowResult]]


async def evaluate_content(run_fn: RunFn, cases: Sequence[ContentCase], *, concurrency: int = 1,
                           on_case: Callable[[ContentRow], None] | None = None
                           ) -> ContentReport:
    """Run ``run_fn`` on every case, at most ``concurrency`` at once, and score each output.

    Raises:
        UsageError: ``concurrency`` is below 1. An exception other than a DelegateError
            propagates (the other cases are cancelled).
    """
    if concurrency < 1:
        raise UsageError("concurrency must be at least 1.")

    async def one(case: ContentCase) -> ContentRow:
        start = time.perf_counter()
        try:
            result = await run_fn(case)
        except DelegateError as exc:
            return ContentRow(case.id, case.workflow, case.objective,
                              wall_seconds=time.perf_counter() - start,
                              error=f"{type(exc).__name__}: {exc}")
        return score_output(case, result, wall_seconds=time.perf_counter() - start)

    rows, elapsed = await run_cases(one, cases, concurrency=concurrency, on_case=on_case)
    return ContentReport(tuple(rows), elapsed_seconds=elapsed)


async def run_content_eval(
    model_spec: Any = None, *, limit: int | None = None, concurrency: int = 2,
    out: Path | None = None, command: str | None = None,
    cases: Sequence[ContentCase] | None = None,
    on_case: Callable[[ContentRow], None] | None = None,
    baseline: Baseline | str | Path | None = None,
    review: bool = True,
) -> ContentReport:
    """Evaluate the content workflows on the shipped set (or ``cases``) with one model.

    Args:
        model_spec: ``provider:model``, a :class:`~delegate.llm.base.Model` (not closed
            here), or None for ``DELEGATE_MODEL`` / ``local:default``.
        limit: evaluate only the first ``limit`` cases.
        concurrency: most objectives running at once.
        out: a folder to write ``content_eval.json`` and ``content_eval.md`` into.
        command: the command line to print in the Markdown report.
        on_case: called with each row as its objective ends, for progress.
        baseline: an earlier run's ``content_eval.json`` (or its :class:`Baseline`) to
            compare with; checked before anything runs.
        review: ``False`` runs the workflows that have a reviewer without it (to see what
            the reviewer buys).

    With ``out``, each objective's Markdown (and the run's notes) is also written to
    ``out/content_eval_outputs/<id>.md``.

    Raises:
        UsageError: the baseline cannot be read, is not a content evaluation's JSON, or
            shares no objective with the cases to evaluate (nothing has run then).
    """
    from ...llm import get_model
    from ...llm.base import Model
    from ..workflows import run_workflow
    from .content_report import Baseline, load_baseline

    cases = list(load_content_set() if cases is None else cases)
    cases = cases[:limit] if limit is not None else cases
    if baseline is not None and not isinstance(baseline, Baseline):
        baseline = load_baseline(baseline)
    if baseline is not None and not baseline.ids() & {c.id for c in cases}:
        raise UsageError(f"the baseline {baseline.name} has none of the objectives to "
                         "evaluate.")
    owned = not isinstance(model_spec, Model)
    model = get_model(model_spec) if owned else model_spec

    written = None if out is None else Path(out) / "content_eval_outputs"

    async def run_fn(case: ContentCase) -> WorkflowResult:
        options: dict[str, Any] = {"model": model}
        if case.inputs:
            options["inputs"] = [str(SAMPLES / name) for name in case.inputs]
        if not review and case.workflow in REVIEWED:
            options["reviewer"] = False
        result = await run_workflow(case.workflow, case.objective, **options)
        if written is not None:  # what was scored, for a person to read
            written.mkdir(parents=True, exist_ok=True)
            notes = "".join(f"\n- {n}" for n in result.run.notes)
            (written / f"{case.id}.md").write_text(
                result.markdown + (f"\n---\nRun notes:{notes}\n" if notes else ""), "utf-8")
        return result

    try:
        report = await evaluate_content(run_fn, cases, concurrency=concurrency, on_case=on_case)
    finally:
        if owned:
            await model.aclose()
    report = replace(report, baseline=baseline)
    if out is not None:
        write_report(out, "content_eval", model.name, report, "Content evaluation",
                     command or f"run_content_eval({model_spec!r}, limit={limit!r})")
    return report
