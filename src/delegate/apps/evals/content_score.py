"""Scoring one content workflow's output: what one objective measured, as a :class:`ContentRow`.

:func:`score_output` applies the checks of :mod:`delegate.apps._common.checks` to the Markdown
a workflow wrote; what counts as a section and as the synthesis for each workflow, and every
figure of the row, is described in :mod:`delegate.apps.evals.content`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._common import checks
from .._common.content import WorkflowResult
from .._common.evals import checked, mean
from .content_cases import ContentCase

__all__ = ["ContentRow", "score_output"]

_COMPUTED = {"project": {"team", "work breakdown", "timeline", "problems", "summary"}}


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
    """Score one finished workflow's Markdown (see :mod:`delegate.apps.evals.content`)."""
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
