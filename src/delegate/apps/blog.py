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

from collections.abc import Iterable

from pydantic import BaseModel

from ..budget import Budget
from ..errors import UsageError
from ..events import Subscriber
from ..journal import Journal
from ..llm.base import Model
from ..outcomes import PlanningReport
from ..plan import Plan, PlanLimits, Strategy, Task
from ..review import Reviewer, Rubric
from ..runner import check_objective
from ..workers import TaskContext, Worker, WorkerRegistry
from ._outline import HEADING_CHARS, MAX_SECTIONS, Outline, OutlineSection, outline_schema
from ._prose import TextWorker, excerpt, section_body
from ._staged import MAX_NEW_TASKS, MAX_REPLANS, STRATEGIES, StagedRun
from .content import WorkflowResult

__all__ = [
    "EXAMPLE_TOPIC",
    "BlogPost",
    "BlogSection",
    "Outline",
    "OutlineSection",
    "blog_workers",
    "outline_schema",
    "run_blog",
    "sections_plan",
]

EXAMPLE_TOPIC = "Getting started with trail running"
TOKENS_PER_WORD = 1.5

OUTLINE_INSTRUCTIONS = """\
You plan blog posts. Give the post a short title and 1 to {max_sections} sections, numbered \
s1, s2, ... in reading order. For each section give a heading, 1 to 4 key points (short \
phrases), a word target, and in depends_on the earlier sections whose text it must build on; \
leave depends_on empty when the section stands on its own, so that sections can be written \
at the same time. Answer with JSON only."""
WRITER_INSTRUCTIONS = """\
You write one section of a blog post: friendly, concrete and practical. Cover the key points \
you are given, stay close to the word target, and do not repeat what earlier sections said. \
Write only the section's text (paragraphs or short lists), without its heading."""
EDITOR_INSTRUCTIONS = """\
You are the editor of a blog post. Write its introduction: two to four sentences that tell \
the reader what the post covers and why it matters, leading into the first section. Write \
only the introduction, without a heading."""
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


class _OutlineWorker(Worker):
    """Answers under the task's outline schema; returns the typed :class:`Outline`."""

    async def run(self, ctx: TaskContext) -> Outline:
        return Outline.model_validate(await super().run(ctx))


class _BlogWorker(TextWorker):
    """A writer or the editor: reads the outline and sections as text, not JSON, and a
    section's answer is capped near its word target."""

    def budget(self, ctx: TaskContext) -> int | None:
        outline = _outline_of(ctx)
        target = next((s.word_target for s in outline.sections if s.id == ctx.task.id),
                      None) if outline else None
        cap = self.max_tokens or 800
        return cap if target is None else min(cap, int(target * TOKENS_PER_WORD) + 40)

    def context(self, ctx: TaskContext) -> list[str]:
        outline = _outline_of(ctx)
        if outline is None:
            parts = [f"Blog post about: {ctx.objective}."]
        else:
            headings = "; ".join(f"{n}. {s.heading}" for n, s in enumerate(outline.sections, 1))
            parts = [f"Blog post: \"{outline.title}\". Its sections: {headings}."]
        for dep in ctx.dependencies:
            if not isinstance(dep.output, Outline):
                heading = (outline.heading(dep.task_id) if outline else None) or dep.task_id
                text = excerpt(section_body(dep.output), self.excerpt_chars)
                parts.append(f"The section \"{heading}\" says:\n{text}")
        return parts


def _outline_of(ctx: TaskContext) -> Outline | None:
    return next((d.output for d in ctx.dependencies if isinstance(d.output, Outline)), None)


def blog_workers(max_sections: int = 4) -> WorkerRegistry:
    """The blog's three workers: ``outline``, ``writer`` and ``editor``."""
    return WorkerRegistry([
        _OutlineWorker("outline", "Outlines a blog post: title, sections, key points.",
                       OUTLINE_INSTRUCTIONS.format(max_sections=max_sections),
                       max_tokens=80 + 200 * max_sections),
        _BlogWorker("writer", "Writes one section of the post from its key points.",
                    WRITER_INSTRUCTIONS, max_tokens=800),
        _BlogWorker("editor", "Writes the post's introduction once the sections exist.",
                    EDITOR_INSTRUCTIONS, max_tokens=160, excerpt_chars=500),
    ])


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


async def run_blog(
    topic: str,
    *,
    model: Model | str | None = None,
    strategy: Strategy = "static",
    reviewer: Reviewer | bool | None = True,
    max_concurrency: int = 4,
    subscribers: Iterable[Subscriber] = (),
    journal: Journal | None = None,
    budget: Budget | None = None,
    max_sections: int = 4,
) -> WorkflowResult:
    """Write a blog post on ``topic``.

    Args:
        topic: what the post is about.
        model: ``provider:model`` or a :class:`Model` (default: ``DELEGATE_MODEL``, then
            ``local:default``).
        strategy: ``static``; ``dynamic`` or ``hybrid`` also let the model add sections
            after the outlined ones (see :mod:`delegate.strategies`).
        reviewer: ``True`` for the default reviewer (cohesion, coverage, tone; two rounds),
            a :class:`Reviewer`, or ``False``/``None`` for no review.
        max_concurrency: most tasks at once.
        subscribers: event subscribers (progress display, stores).
        max_sections: most sections the outline may have (1 to 8).

    Returns:
        The post (``markdown``), the typed :class:`BlogPost` (``data``) and the run, whose
        ``plan_versions`` hold v1 (outline) and v2 (sections).

    Raises:
        UsageError: an empty or oversized topic, a bad option or model name.
    """
    topic = check_objective(topic, what="topic")
    if not 1 <= max_sections <= MAX_SECTIONS:
        raise UsageError(f"max_sections must be between 1 and {MAX_SECTIONS}")
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}; use static, dynamic or hybrid")
    if reviewer is True:
        reviewer = Reviewer(Rubric(criteria=("cohesion", "coverage", "tone"),
                                   guidance=REVIEW_GUIDANCE), max_rounds=2)
    workers = blog_workers(max_sections)
    room = MAX_REPLANS * MAX_NEW_TASKS
    limits = PlanLimits(max_tasks=max_sections + 2 + room, max_depth=max_sections + 2 + room)
    staged = StagedRun(topic, workers, model, max_concurrency=max_concurrency,
                       subscribers=subscribers, journal=journal, budget=budget, limits=limits,
                       planning=PlanningReport(
                           "given", reason="an outline, then one task per outlined section"))
    async with staged:
        outline_task = Task(id="outline", worker="outline", output_schema=outline_schema(
            max_sections), instruction=f"Outline a blog post about: {topic}")
        staged.propose(Plan(tasks=(outline_task,), strategy=strategy), "initial plan",
                       "outline the post first")
        await staged.execute()
        first = staged.outcomes["outline"]
        if not first.ok:
            text = f"# {topic}\n\nThe post could not be outlined: {first.error}\n"
            return WorkflowResult("blog", topic, text, staged.finish(text))
        outline: Outline = first.output
        plan = sections_plan(outline, outline_task, strategy)
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
