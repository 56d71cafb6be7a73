"""The project workflow: a description in, a scheduled plan out. The model proposes, Python counts.

The plan is fixed::

    requirements -> phases -> breakdown -> schedule -> summary

``requirements``, ``phases`` and ``breakdown`` are model workers with bounded structured output.
The breakdown's JSON schema (:func:`breakdown_schema`, the technique of
:func:`delegate.core.orchestrator.draft_schema`) lets a grammar-bound model write only valid work
items: item ``n`` has id ``wn``, depends only on ``w1`` ... ``w(n-1)`` (so no cycle and no unknown
id), takes one of :data:`ESTIMATES` days, and needs one of the resources' skills. ``schedule`` is
a function worker: :func:`~delegate.apps.project.tools.validate_breakdown` and
:func:`~delegate.apps.project.tools.schedule`, so the critical path and the makespan in the
report are computed, never written by the model. ``summary`` is a model worker shown the computed
timeline as JSON. A breakdown that is still invalid (from a provider that does not enforce
schemas) fails its task with the problems listed; the report says so and ``data`` is ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from ...core.config import RunConfig
from ...core.events import Subscriber
from ...core.outcomes import RunResult
from ...core.plan import Plan, Task
from ...core.render import truncate
from ...core.review import CheckResult, Reviewer
from ...core.workers import Revision, TaskContext, Worker, WorkerRegistry
from ...durable.journal import Journal
from ...errors import PlanError, UsageError
from ...llm.base import Model, ModelSettings
from ...runner import check_objective, run
from .._common import checks, feedback
from .._common.content import WorkflowResult
from .._common.prompts import prompts
from .._common.prose import PROSE_SETTINGS, drop_echo
from .._common.settings import ENGINE_SETTINGS, workflow_config
from .outputs import (
    ESTIMATES,
    MAX_ITEMS,
    MIN_ITEMS,
    Phase,
    Phases,
    ProjectPlan,
    Requirements,
    Scheduled,
    breakdown_schema,
)
from .report import copied_requirement, render_plan
from .tools import Resource, WorkItem, schedule, validate_breakdown

__all__ = [
    "DEFAULT_RESOURCES", "ESTIMATES", "EXAMPLE_DESCRIPTION", "EXAMPLE_RESOURCES", "MAX_ITEMS",
    "SETTINGS",
    "Phase", "Phases", "ProjectPlan", "Requirements", "breakdown_schema", "project_check",
    "project_plan", "project_workers", "run_project",
]

#: The settings of a RunConfig the project applies (its plan is fixed: no strategy, no
#: limits; a schedule, not a synthesis, ends it).
SETTINGS = (*ENGINE_SETTINGS, "failure_policy")

DEFAULT_RESOURCES = (Resource(name="Generalist 1"), Resource(name="Generalist 2"))
"""Who does the work when no resources are given: two generalists (skill ``general``)."""

EXAMPLE_DESCRIPTION = (
    "Launch a small online shop for our hand-made hiking gear (backpacks, pouches and wool "
    "hats) within 8 weeks. We are a team of three: a designer who also takes the product "
    "photos, a developer who runs operations, and a marketer who writes. The shop needs a "
    "catalogue of about 20 products, card payments, shipping within the EU, and a launch "
    "campaign on social media."
)
EXAMPLE_RESOURCES = (
    Resource(name="Ines", skills=("design", "photography")),
    Resource(name="Jonas", skills=("development", "operations")),
    Resource(name="Mia", skills=("marketing", "writing", "operations"), capacity=0.8),
)

PROMPTS = prompts("project")  # the model workers' prompts, as data in prompts/project.toml
#: The JSON list workers' sampling: the local provider applies no repeat penalty under a
#: schema by default, and the 135M model then loops ("1.1.1.1..." as every requirement);
#: with 1.1 the project objectives of the content evaluation went from a minimum distinct
#: 4-gram ratio of 0.18 to 0.70 (1.3 was no better). The n-gram ban is not for JSON.
LIST_SETTINGS = ModelSettings(repeat_penalty=1.1)


def project_workers(resources: Sequence[Resource]) -> WorkerRegistry:
    """The five workers; ``schedule`` places the breakdown on ``resources``."""

    async def schedule_items(ctx: TaskContext) -> Scheduled:
        try:
            items = tuple(WorkItem.model_validate(i) for i in ctx.result_of("breakdown")["items"])
        except ValidationError as exc:
            raise PlanError([f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors()]) from None
        validate_breakdown(items, resources)
        return Scheduled(items, schedule(items, resources))

    return WorkerRegistry([
        _ListWorker("analyst", "Lists what the project must deliver.",
                    PROMPTS["analyst"].instructions(), output_schema=Requirements,
                    max_tokens=700, settings=LIST_SETTINGS),
        _ListWorker("planner", "Splits the project into phases.",
                    PROMPTS["planner"].instructions(), output_schema=Phases, max_tokens=750,
                    settings=LIST_SETTINGS),
        _ListWorker("estimator", "Breaks the phases into estimated work items.",
                    PROMPTS["estimator"].instructions(), max_tokens=60 + 100 * MAX_ITEMS,
                    settings=LIST_SETTINGS),
        Worker("scheduler", "Validates the breakdown and schedules it.", fn=schedule_items),
        _Summarizer("writer", "Writes a short overview of the scheduled plan.",
                    PROMPTS["writer"].instructions(), max_tokens=250, settings=PROSE_SETTINGS),
    ])


def project_check_text(output: Any) -> str | None:
    """The requirements, the phases or the breakdown's item names as the list the report
    shows, else ``None``."""
    if isinstance(output, Requirements):
        return "\n".join(f"- {r}" for r in output.requirements)
    if isinstance(output, Phases):
        return "\n".join(f"- {p.name}: {p.goal}" for p in output.phases)
    if isinstance(output, dict) and isinstance(output.get("items"), list):
        return "\n".join(f"- {i.get('name', '')}" for i in output["items"]
                         if isinstance(i, dict))
    return None


class _ListWorker(Worker):
    """A worker that answers with a list people read (requirements, phases, work items):
    when the list repeats itself (items, or the same phrases over and over), it is asked
    once more within its task, with every problem named (its echoes of the description and
    of the lists it builds on too), and the better list is kept, so that the tasks after it
    build on the mended one. A list that only echoes the description or an earlier list is
    kept as it is: asked again, the embedded model answered the same list (the report shows
    those lists side by side as references)."""

    async def run(self, ctx: TaskContext) -> Any:
        # the project's description and the lists this one builds on, which it may copy
        others = [ctx.objective, *(t for d in ctx.dependencies
                                   if (t := project_check_text(d.output)))]
        first = await super().run(ctx)
        text = project_check_text(first)
        if not text or not feedback.check_text(text).problems:
            return first
        found = feedback.check_text(text, others=others)
        notes = "Fix these problems of the list: " + "; ".join(found.problems) + "."
        again = replace(ctx, revision=Revision(notes, first, ctx.attempt))
        second = await super().run(again)
        text = project_check_text(second)
        better = text and feedback.check_text(text, others=others).score > found.score
        return second if better else first


def project_check(task: Task, output: Any, outputs: Mapping[str, Any]) -> CheckResult | None:
    """The reviewer's checks (see :func:`~delegate.apps._common.feedback.check_text`) on the
    overview, against the lists it may echo. Only the overview: the lists were checked and
    mended within their own tasks, and a list rewritten after the tasks that read it would
    leave them stale."""
    if task.id != "summary" or not isinstance(output, str):
        return None
    shown = [project_check_text(v) for k, v in outputs.items() if k != task.id]
    found = feedback.check_text(output, others=[t for t in shown if t])
    return CheckResult(found.problems, found.score)


def project_plan(resources: Sequence[Resource]) -> Plan:
    """The fixed plan; the breakdown's schema and instruction name the resources' skills."""
    skills = sorted({s for r in resources for s in r.skills})
    who = "; ".join(f"{s} ({', '.join(r.name for r in resources if s in r.skills)})"
                    for s in skills)
    return Plan(tasks=(
        Task(id="requirements", worker="analyst",
             instruction="List the requirements the project must meet (2 to 6)."),
        Task(id="phases", worker="planner", depends_on=("requirements",),
             instruction="Split the project into 2 to 4 phases that meet the requirements."),
        Task(id="breakdown", worker="estimator", depends_on=("phases",),
             output_schema=breakdown_schema(skills),
             instruction=f"Break the phases into {MIN_ITEMS} to {MAX_ITEMS} work items w1, w2, "
             "..., in order. Give each a short name, an estimate in days, the earlier items it "
             f"needs finished first, and the skill it needs. Skills (who has them): {who}."),
        Task(id="schedule", worker="scheduler", depends_on=("breakdown",),
             instruction="Check the breakdown and schedule it on the team."),
        Task(id="summary", worker="writer", depends_on=("phases", "schedule"),
             instruction="Write a short overview of the plan and its computed timeline."),
    ))


class _Summarizer(Worker):
    """A model worker shown the phases and the computed timeline as plain lines; lines it
    copies back from that prompt are dropped (:func:`~delegate.apps._common.prose.drop_echo`)."""

    async def run(self, ctx: TaskContext) -> Any:
        text = await super().run(ctx)
        return drop_echo(text, self.user_prompt(ctx)) or text

    def user_prompt(self, ctx: TaskContext) -> str:
        phases = [f"{n}. {p.name}: {p.goal}"
                  for n, p in enumerate(ctx.result_of("phases").phases, 1)]
        return "\n\n".join([
            f"Project: {ctx.objective}", "Phases:\n" + "\n".join(phases),
            "Computed timeline:\n" + truncate(ctx.result_of("schedule").summary()),
            f"Your task: {ctx.task.instruction} Write prose, not a list.",
        ])


async def run_project(
    description: str,
    *,
    resources: Sequence[Resource] | None = None,
    model: Model | str | None = None,
    config: RunConfig | None = None,
    subscribers: Iterable[Subscriber] = (),
    journal: Journal | None = None,
    on_interrupt: Any = None,
    reviewer: Reviewer | bool | None = True,
    **settings: Any,
) -> WorkflowResult:
    """Plan a project: requirements, phases, a breakdown, a computed schedule, an overview.

    Args:
        description: what the project is (see :data:`EXAMPLE_DESCRIPTION`).
        resources: who does the work (:data:`DEFAULT_RESOURCES` when ``None`` or empty).
        model: the model (``None``: ``DELEGATE_MODEL``, then ``local:default``).
        config: the run's settings (:data:`SETTINGS` apply).
        subscribers: run event subscribers. journal: makes the run durable.
        reviewer: ``True`` for the default reviewer (the deterministic checks of
            :func:`project_check` on the overview, two rounds, no model verdict; the lists
            are checked and mended within their own tasks), a :class:`Reviewer`, or
            ``False``/``None`` for no review.

    Returns:
        The plan; when a step failed, ``run.status`` is not ``succeeded``, the Markdown names
        the step and its error, and ``data`` is ``None`` unless only the summary failed.

    Raises:
        UsageError: an empty or oversized description, bad resources, a bad model name.
    """
    cfg = workflow_config(config, settings, workflow="project", supported=SETTINGS,
                          caller="run_project")
    description = check_objective(description, what="project description")
    resources = _check_resources(resources or DEFAULT_RESOURCES)
    if reviewer is True:
        reviewer = Reviewer(checks=project_check, model_verdict=False, max_rounds=2)
    result = await run(
        description, workers=project_workers(resources), model=model,
        plan=project_plan(resources),
        config=cfg.replace(synthesize=False),
        subscribers=subscribers, journal=journal, on_interrupt=on_interrupt,
        reviewer=reviewer or None,
    )
    result = _without_repeats(result)
    out = result.outputs
    done: Scheduled | None = out.get("schedule")
    data = None if done is None else ProjectPlan(
        requirements=out["requirements"].requirements, phases=out["phases"].phases,
        items=list(done.items), timeline=done.timeline.to_dict(),
        critical_path_days=done.timeline.critical_path.length_days,
        makespan_days=done.timeline.makespan_days,
    )
    return WorkflowResult("project", "Project plan", render_plan(description, resources, result),
                          result, data)


def _without_repeats(result: RunResult) -> RunResult:
    """The run with requirements and phases that repeat an earlier one (the same words) left
    out of the plan, each recorded in the run's notes; a list keeps at least two items."""
    notes = list(result.notes)
    outcomes = []
    for outcome in result.outcomes:
        output = outcome.output
        if outcome.ok and isinstance(output, Requirements | Phases):
            field = "requirements" if isinstance(output, Requirements) else "phases"
            items = getattr(output, field)
            keys = [checks.normalise(i if isinstance(i, str) else f"{i.name} {i.goal}")
                    for i in items]
            kept = [i for n, i in enumerate(items) if keys[n] not in keys[:n]]
            if 2 <= len(kept) < len(items):
                notes.append(f"{outcome.task_id}: {len(items) - len(kept)} repeated "
                             f"{field} left out of the plan")
                outcome = replace(outcome, output=output.model_copy(update={field: kept}))
        outcomes.append(outcome)
    result = replace(result, outcomes=tuple(outcomes), notes=tuple(notes))
    out = result.outputs
    if "requirements" in out and "phases" in out:
        wanted = out["requirements"].requirements
        copied = [p for p in out["phases"].phases if copied_requirement(p.goal, wanted)]
        if copied:
            notes.append(f"phases: {len(copied)} phase goal(s) copy a requirement, shown as "
                         "a reference to it")
    return replace(result, notes=tuple(notes))


def _check_resources(resources: Sequence[Resource]) -> tuple[Resource, ...]:
    try:
        checked = tuple(r if isinstance(r, Resource) else Resource.model_validate(r)
                        for r in resources)
    except ValidationError as exc:
        raise UsageError(f"invalid resource: {exc.errors()[0]['msg']}") from None
    names = [r.name for r in checked]
    if len(set(names)) != len(names):
        raise UsageError(f"resource names must be unique: {', '.join(names)}")
    return checked


