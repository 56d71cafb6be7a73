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
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import DelegateError, UsageError
from .._common import checks
from .._common.content import WorkflowResult
from .._common.evals import checked, mean, run_cases, write_report

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

WORKFLOWS = ("blog", "report", "project", "general")
#: The workflows with a reviewer (``general`` has none).
REVIEWED = ("blog", "report", "project")
SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
_COMPUTED = {"project": {"team", "work breakdown", "timeline", "problems", "summary"}}


@dataclass(frozen=True)
class ContentCase:
    """One objective of the set."""

    id: str
    workflow: str
    objective: str
    inputs: tuple[str, ...] = ()


def load_content_set(path: str | Path | None = None) -> list[ContentCase]:
    """Read a set: a JSON list of ``{id, workflow, objective, inputs}``.

    Raises:
        UsageError: the file is not such a list, or names an unknown workflow.
    """
    if path is None:
        text = resources.files("delegate.apps.data").joinpath("content_eval.json").read_text(
            "utf-8")
        where = "content_eval.json"
    else:
        text, where = Path(path).read_text("utf-8"), str(path)
    try:
        data = json.loads(text)
        if not isinstance(data, list):
            raise TypeError(f"a JSON {type(data).__name__}, not a list")
        cases = [ContentCase(str(item["id"]), str(item["workflow"]), str(item["objective"]),
                             tuple(str(x) for x in item.get("inputs", ())))
                 for item in data]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UsageError(f"{where} is not a list of content cases: {exc!r}.") from None
    bad = [c.id for c in cases if c.workflow not in WORKFLOWS]
    if bad:
        raise UsageError(f"{where}: case {bad[0]} names a workflow not in {', '.join(WORKFLOWS)}.")
    return cases


@dataclass(frozen=True)
class ContentRow:
    """What one objective measured; ``error`` is set when the workflow raised."""

    id: str
    workflow: str
    objective: str
    status: str = "failed"
    headings: int = 0
    empty_headings: int = 0
    duplicated_headings: int = 0
    title_equal_headings: int = 0
    repeated_line_ratio: float | None = None
    distinct_4gram_ratio: float | None = None
    sections: int = 0
    empty_sections: int = 0
    cut_off_sections: int = 0
    key_point_coverage: float | None = None
    length_ratio: float | None = None
    synthesis_empty: bool | None = None
    synthesis_cut_off: bool | None = None
    synthesis_repeated_line_ratio: float | None = None
    synthesis_distinct_4gram_ratio: float | None = None
    words: int = 0
    model_calls: int = 0
    review_calls: int = 0
    review_seconds: float = 0.0
    wall_seconds: float = 0.0
    problems: tuple[str, ...] = ()
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        row = {k: getattr(self, k) for k in self.__dataclass_fields__}
        row.update(finished=self.finished, problems=list(self.problems),
                   wall_seconds=round(self.wall_seconds, 3),
                   review_seconds=round(self.review_seconds, 3))
        return row

    @classmethod
    def from_dict(cls, data: Any) -> ContentRow:
        """A row from its :meth:`to_dict` form (a case of a saved report); a field it lacks
        takes its default (an older report has no review columns), unknown keys are ignored.

        Raises:
            ValueError: ``data`` is not an object with a string ``id``, or a field has a
                value of the wrong kind (the message names it).
        """
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ValueError("a case is not an object with a string id")
        values: dict[str, Any] = {}
        for name, spec in cls.__dataclass_fields__.items():
            if name in data:
                values[name] = checked(data["id"], name, data[name], str(spec.type))
        if data.get("finished") is False and values.get("error") is None:
            values["error"] = "did not finish"
        values.setdefault("workflow", "")
        values.setdefault("objective", "")
        return cls(**{**values, "problems": tuple(values.get("problems", ()))})


def _outline_sections(result: WorkflowResult) -> list[tuple[str, list[str], int]]:
    """(normalised heading, key points, word target) of each section of a blog run's outline,
    in order."""
    outline = result.run.outputs.get("outline")
    sections = getattr(outline, "sections", None) or ()
    return [(checks.normalise(s.heading), list(s.key_points), int(s.word_target))
            for s in sections]


def score_output(case: ContentCase, result: WorkflowResult, *, wall_seconds: float = 0.0
                 ) -> ContentRow:
    """Score one finished workflow's Markdown (see the module docstring)."""
    markdown = result.markdown
    title, lead, all_sections = checks.split_sections(markdown)
    headings = [s.heading for s in all_sections]
    found = checks.heading_problems(headings, title or result.title, case.objective)
    if case.workflow == "blog":
        synthesis: str | None = lead
        outline = _outline_sections(result)
        scored = all_sections
    elif case.workflow == "report":
        summary = [s for s in all_sections if checks.normalise(s.heading) == "executive summary"]
        synthesis = summary[0].text if summary else ""
        scored = [s for s in all_sections if s not in summary]
        outline = []
    elif case.workflow == "project":
        summary = [s for s in all_sections if checks.normalise(s.heading) == "summary"]
        synthesis = summary[0].text if summary else ""
        scored = [s for s in all_sections
                  if checks.normalise(s.heading) not in _COMPUTED["project"]]
        outline = []
    else:
        synthesis = result.run.text or markdown
        scored, outline = all_sections, []
    problems = list(found.problems)
    empty = cut = 0
    coverage: list[float] = []
    ratios: list[float] = []
    for n, section in enumerate(scored):
        planned = n < len(outline) and outline[n][0] == checks.normalise(section.heading)
        points, target = (outline[n][1], outline[n][2]) if planned else ([], 0)
        if checks.is_empty(section.text):
            empty += 1
            problems.append(f"section {section.heading!r} is empty")
            continue
        if checks.is_cut_off(section.text):
            cut += 1
            problems.append(f"section {section.heading!r} ends mid-sentence")
        kp = checks.key_point_coverage(section.text, points)
        if kp is not None:
            coverage.append(kp)
        lr = checks.length_ratio(section.text, target)
        if lr is not None:
            ratios.append(lr)
    synthesis_empty = synthesis_cut = None
    if synthesis is not None:
        synthesis_empty = checks.is_empty(synthesis)
        synthesis_cut = not synthesis_empty and checks.is_cut_off(synthesis)
        if synthesis_empty:
            problems.append("the synthesis is empty")
        elif synthesis_cut:
            problems.append("the synthesis ends mid-sentence")
    written = checks.prose("\n\n".join(
        ([synthesis] if synthesis else []) + ([] if case.workflow == "general"
                                              else [s.text for s in scored])))
    synthesis_prose = None if synthesis is None else checks.prose(synthesis)
    review = result.run.review_usage()
    return ContentRow(
        case.id, case.workflow, case.objective, status=result.run.status,
        headings=len(headings), empty_headings=found.empty,
        duplicated_headings=found.duplicated, title_equal_headings=found.title_equal,
        repeated_line_ratio=checks.repeated_line_ratio(written),
        distinct_4gram_ratio=checks.distinct_ngram_ratio(written),
        sections=len(scored), empty_sections=empty, cut_off_sections=cut,
        key_point_coverage=mean(coverage), length_ratio=mean(ratios),
        synthesis_empty=synthesis_empty, synthesis_cut_off=synthesis_cut,
        synthesis_repeated_line_ratio=None if synthesis_prose is None
        else checks.repeated_line_ratio(synthesis_prose),
        synthesis_distinct_4gram_ratio=None if synthesis_prose is None
        else checks.distinct_ngram_ratio(synthesis_prose),
        words=len(markdown.split()), model_calls=result.run.usage.model_calls,
        review_calls=sum(u.model_calls for u in review),
        review_seconds=sum(u.latency_seconds for u in review),
        wall_seconds=wall_seconds, problems=tuple(problems),
    )


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
