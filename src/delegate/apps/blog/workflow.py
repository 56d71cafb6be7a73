"""The blog workflow: an outline, sections written in parallel, an editor's introduction.

The plan grows in two versions::

    v1: outline                          (the model outlines the post under a JSON schema)
    v2: outline -> s1, s2, ... -> editor (one writer task per outlined section)

Sections that do not depend on each other are written at the same time; a section that
builds on another waits for it and reads its text. The reviewer scores the sections only,
and sends back just the failing ones; the editor then reads the reviewed sections and writes
the introduction. The Markdown is put together in Python, in outline order, with the
outline's headings, so the post follows its outline by construction. Use :func:`run_blog`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from ...core.config import RunConfig
from ...core.events import Subscriber
from ...core.outcomes import PlanningReport
from ...core.plan import Plan, PlanLimits, Strategy, Task
from ...core.review import CheckResult, Reviewer, Rubric
from ...core.workers import WorkerRegistry
from ...durable.journal import Journal
from ...errors import UsageError
from ...llm.base import Model
from ...runner import check_objective
from .._common import feedback
from .._common.content import WorkflowResult
from .._common.prose import section_body
from .._common.settings import ENGINE_SETTINGS, workflow_config
from .._common.staged import MAX_NEW_TASKS, MAX_REPLANS, StagedRun
from .outline import (
    HEADING_CHARS,
    MAX_SECTIONS,
    Outline,
    OutlineSection,
    fallback_outline,
    outline_problems,
    outline_schema,
    topic_outline,
)
from .workers import PROMPTS, blog_workers

__all__ = [
    "SETTINGS",
    "EXAMPLE_TOPIC",
    "BlogPost",
    "BlogSection",
    "Outline",
    "OutlineSection",
    "blog_reviewer",
    "blog_workers",
    "outline_schema",
    "run_blog",
    "section_check",
    "sections_plan",
]

#: The settings of a RunConfig the blog applies (a stage waits on the one before, so the
#: failure policy does not apply; the outline sets the plan's size).
SETTINGS = (*ENGINE_SETTINGS, "strategy")

EXAMPLE_TOPIC = "Getting started with trail running"
REVIEW_GUIDANCE = (
    "You judge one section of a blog post. Coverage: it covers every key point of its task. "
    "Cohesion: it stays on its heading and reads as connected prose. Tone: friendly, clear, "
    "practical."
)


class BlogSection(BaseModel):
    """One written section of the post."""

    id: str
    heading: str
    text: str
    word_count: int


class BlogPost(BaseModel):
    """The typed result of the blog workflow."""

    title: str
    sections: list[BlogSection]


def section_check(task: Task, output: Any, outputs: Mapping[str, Any]) -> CheckResult | None:
    """The reviewer's checks on a written section (see
    :func:`~delegate.apps._common.feedback.check_text`): against its outline entry's key points
    and word target, and the other sections' text (and the writer's example, which a small
    model may copy)."""
    outline = outputs.get("outline")
    if task.worker != "writer" or not isinstance(outline, Outline):
        return None
    entry = next((s for s in outline.sections if s.id == task.id), None)
    others = [section_body(v) for k, v in outputs.items()
              if k != task.id and k != "outline" and isinstance(v, str)]
    headings = "\n".join(s.heading for s in outline.sections)  # echoes of the prompt count too
    found = feedback.check_text(
        section_body(str(output)), key_points=entry.key_points if entry else (),
        word_target=entry.word_target if entry else 0,
        others=[*others, PROMPTS["writer"].example, task.instruction, outline.title, headings])
    return CheckResult(found.problems, found.score)


def sections_plan(outline: Outline, outline_task: Task, strategy: Strategy = "static") -> Plan:
    """Plan v2: the outline, one writer task per section, and the editor after them all."""
    tasks = [outline_task]
    for s in outline.sections:
        tasks.append(Task(
            id=s.id, worker="writer", depends_on=("outline", *s.depends_on),
            instruction=(f"Write the section \"{s.heading}\" (about {s.word_target} words). "
                         f"Cover: {'; '.join(s.key_points)}."),
        ))
    ids = [s.id for s in outline.sections]
    tasks.append(Task(id="editor", worker="editor", depends_on=("outline", *ids),
                      instruction="Write the introduction of the post."))
    return Plan(tasks=tuple(tasks), version=2, strategy=strategy)


def blog_reviewer(*, model_verdict: bool = False) -> Reviewer:
    """The blog's reviewer: :func:`section_check` names each section's problems, and a section
    with any is rewritten (at most two rounds; a rewrite stands only if its checks score
    higher). With ``model_verdict`` the model's verdict on a rubric adds to the checks, at a
    model call per section and round; on the embedded default model it cost about twice the
    time for little (``bench/README.md``), so it is off unless asked for."""
    return Reviewer(Rubric(criteria=("cohesion", "coverage", "tone"), guidance=REVIEW_GUIDANCE),
                    max_rounds=2, checks=section_check, model_verdict=model_verdict)


async def run_blog(
    topic: str,
    *,
    model: Model | str | None = None,
    config: RunConfig | None = None,
    reviewer: Reviewer | bool | None = True,
    subscribers: Iterable[Subscriber] = (),
    journal: Journal | None = None,
    on_interrupt: Any = None,
    max_sections: int = 4,
    **settings: Any,
) -> WorkflowResult:
    """Write a blog post on ``topic``.

    Args:
        topic: what the post is about.
        model: ``provider:model`` or a :class:`Model` (default: ``DELEGATE_MODEL``, then
            ``local:default``).
        config: the run's settings (:data:`SETTINGS` apply). Its ``strategy``: ``static``;
            ``dynamic`` or ``hybrid`` also let the model add sections after the outlined
            ones (see :mod:`delegate.core.strategies`).
        reviewer: ``True`` for the default reviewer (cohesion, coverage, tone; two rounds),
            a :class:`Reviewer`, or ``False``/``None`` for no review.
        subscribers: event subscribers (progress display, stores).
        journal: makes the run durable (see :mod:`delegate.durable.journal`).
        max_sections: most sections the outline may have (1 to 8).
        **settings: ``RunConfig`` settings as keywords (deprecated; see ``config``).

    Returns:
        The post (``markdown``), the typed :class:`BlogPost` (``data``) and the run, whose
        ``plan_versions`` hold v1 (outline) and v2 (sections).

    Raises:
        UsageError: an empty or oversized topic, a bad option or model name.
    """
    cfg = workflow_config(config, settings, workflow="blog", supported=SETTINGS,
                          caller="run_blog")
    strategy = cfg.strategy
    topic = check_objective(topic, what="topic")
    if not 1 <= max_sections <= MAX_SECTIONS:
        raise UsageError(f"max_sections must be between 1 and {MAX_SECTIONS}")
    if reviewer is True:
        reviewer = blog_reviewer()
    workers = blog_workers(max_sections)
    room = MAX_REPLANS * MAX_NEW_TASKS
    limits = PlanLimits(max_tasks=max_sections + 2 + room, max_depth=max_sections + 2 + room)
    staged = StagedRun(topic, workers, model, config=cfg, subscribers=subscribers,
                       journal=journal, on_interrupt=on_interrupt, limits=limits,
                       planning=PlanningReport(
                           "given", reason="an outline, then one task per outlined section"))
    async with staged:
        outline_task = Task(id="outline", worker="outline", output_schema=outline_schema(
            max_sections), instruction=f"Outline a blog post about: {topic}")
        staged.propose(Plan(tasks=(outline_task,), strategy=strategy), "initial plan",
                       "outline the post first")
        stopped = await staged.approve()
        if stopped is not None:  # rejected, or waiting for a person's answer
            return WorkflowResult("blog", topic, f"# {topic}\n\n{stopped.notes[-1]}\n", stopped)
        assert staged.plan is not None
        outline_task = staged.plan.tasks[0]  # its instruction as a person may have edited it
        await staged.execute()
        if not await _an_outline(staged, topic):
            text = (f"# {topic}\n\nThe post could not be outlined: "
                    f"{staged.outcomes['outline'].error}\n")
            return WorkflowResult("blog", topic, text, staged.finish(text))
        outline = await _outline_that_holds(staged, topic)
        plan = sections_plan(outline, outline_task, strategy)
        plan = Plan(tasks=plan.tasks, version=staged.plan.version + 1, strategy=strategy)
        staged.propose(plan, "added " + ", ".join(plan.ids[1:]),
                       f"the outline has {len(outline.sections)} sections")
        await staged.execute(hold=("editor",))
        if reviewer:
            await staged.review(reviewer, [s.id for s in outline.sections])
        added = await staged.extend(strategy, WorkerRegistry(
            [workers["outline"], workers["writer"]]), hold=("editor",))
        await staged.execute()
        markdown, post = _assemble(outline, staged, added)
        return WorkflowResult("blog", outline.title, markdown, staged.finish(markdown), post)


async def _an_outline(staged: StagedRun, topic: str) -> bool:
    """Whether the run has an outline to go on. An answer that was no usable outline (it
    broke the schema, or ran past its token cap) is asked for once more with the error
    named; if that fails too, :func:`~delegate.apps.blog.outline.topic_outline` stands in, and
    the run's notes say so. Any other failure (the model unreachable, the budget spent, a
    cancellation) ends the post."""
    first = staged.outcomes["outline"]
    if first.ok:
        return True
    info = first.error_info
    if info is None or info.type != "OutputValidationError" or staged.meter.budget_reached:
        return False
    error = info.message
    notes = (f"Your answer could not be used: {error}. Answer with a short outline: "
             "a title and 2 to 4 sections, each with a short heading and key points.")
    if await staged.revise("outline", notes, 1, lambda answer: ""):
        return True
    if staged.meter.budget_reached:
        return False
    error = staged.outcomes["outline"].error or first.error
    outline = topic_outline(topic)
    staged.notes.append(f"outline fallback (the model gave no usable outline twice: {error}): "
                        "an outline built from the topic, with the sections "
                        + ", ".join(repr(s.heading) for s in outline.sections))
    staged.outcomes["outline"] = replace(first, status="succeeded", output=outline, error=None,
                                         error_type=None, error_info=None)
    return True


async def _outline_that_holds(staged: StagedRun, topic: str) -> Outline:
    """The outline, its problems repaired: asked again once with the problems named (the
    answer stands if it has fewer problems), then, if any remain, mended by
    :func:`~delegate.apps.blog.outline.fallback_outline`, which the run's notes record."""
    outline: Outline = staged.outcomes["outline"].output
    problems = outline_problems(outline, topic)
    if problems and not staged.meter.budget_reached:
        def fewer(answer: Any) -> str:
            left = outline_problems(answer, topic)
            return "" if len(left) < len(problems) else (
                f"the new outline has {len(left)} problems: " + "; ".join(left[:3]))

        notes = ("Fix these problems of the outline: " + "; ".join(problems)
                 + ". Give every section its own short heading and its own key points.")
        if await staged.revise("outline", notes, 1, fewer):
            outline = staged.outcomes["outline"].output
            problems = outline_problems(outline, topic)
    if problems:
        outline, changes = fallback_outline(outline, topic)
        staged.notes.append("outline fallback (" + "; ".join(problems) + "): "
                            + "; ".join(changes))
        staged.outcomes["outline"] = replace(staged.outcomes["outline"], output=outline)
    return outline


def _assemble(outline: Outline, staged: StagedRun, added: list[str]) -> tuple[str, BlogPost]:
    """The Markdown and the typed post, in outline order with the outline's headings."""
    assert staged.plan is not None
    outputs = {tid: section_body(text) for tid, text in staged.outputs.items()
               if isinstance(text, str)}
    parts = [f"# {outline.title}"]
    if outputs.get("editor"):
        parts.append(outputs["editor"])
    pieces = [(s.id, s.heading) for s in outline.sections]
    pieces += [(tid, _heading_of(staged.plan.task(tid).instruction)) for tid in added
               if staged.plan.task(tid).worker == "writer"]
    sections = []
    for tid, heading in pieces:
        text = outputs.get(tid)
        if not text:
            outcome = staged.outcomes.get(tid)
            why = ("the answer was empty" if outcome is not None and outcome.ok
                   else (outcome.error or outcome.status) if outcome else "it did not run")
            parts.append(f"## {heading}\n\n*This section was not written: {why}.*")
            continue
        parts.append(f"## {heading}\n\n{text}")
        sections.append(BlogSection(id=tid, heading=heading, text=text,
                                    word_count=len(text.split())))
    return "\n\n".join(parts) + "\n", BlogPost(title=outline.title, sections=sections)


def _heading_of(instruction: str) -> str:
    """A heading for a section the model added: its instruction's first sentence."""
    first = instruction.strip().split(". ")[0].rstrip(".")
    return first if len(first) <= HEADING_CHARS else first[:HEADING_CHARS - 1] + "…"
