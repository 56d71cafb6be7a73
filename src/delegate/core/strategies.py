"""Replanning: how a plan may grow while it runs.

- ``static``: the plan is made once.
- ``dynamic``: after each completed wave, the orchestrator's model sees the results and may add
  tasks (building on any task that succeeded), in at most ``max_replans`` rounds.
- ``hybrid``: the initial plan stands unless a task fails; then the model may add tasks that
  reach the failed tasks' goals another way.

Each change is a new :class:`~delegate.core.plan.Plan` version that keeps every earlier task (its
outcome stays on record, failures included) and adds new ones; :class:`PlanVersion` says what
changed and why. As with planning, the schema admits only well-formed additions: new ids, known
workers, and dependencies on succeeded tasks or earlier new ones.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from ..errors import OutputValidationError, PlanError
from ..llm.base import Message, Model, ModelSettings
from .orchestrator import MAX_INSTRUCTION_CHARS, Orchestrator
from .outcomes import RunResult
from .plan import Plan, Task, validate_plan
from .render import render_value, truncate
from .retry import call_with_retry
from .schemas import depends_on_schema, fixed_lists
from .workers import WorkerRegistry

__all__ = ["PlanVersion", "extension_schema", "propose_extension"]

Mode = Literal["dynamic", "hybrid"]
RESULT_CHARS = 600

DYNAMIC_INSTRUCTIONS = """\
You lead a team of workers on an objective. Some tasks are done; their results are below. If \
something important for the objective is still missing, add up to {max_new} tasks for it; \
otherwise add none (an empty list). Say why in reason. Answer with JSON only.

Workers:
{workers}"""

HYBRID_INSTRUCTIONS = """\
You lead a team of workers on an objective. Some tasks failed (listed below with their \
errors). Add up to {max_new} tasks that reach the failed tasks' goals another way, building \
only on tasks that succeeded; or add none if the objective does not need them. Say why in \
reason. Answer with JSON only.

Workers:
{workers}"""


@dataclass(frozen=True)
class PlanVersion:
    """One version of a run's plan: what changed from the previous one, and why."""

    version: int
    plan: Plan
    change: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "change": self.change, "reason": self.reason,
                "tasks": [t.id for t in self.plan.tasks]}


def new_task_ids(existing: Collection[str], count: int) -> list[str]:
    """``count`` fresh ids ``tN`` that do not clash with ``existing``."""
    ids, n = [], len(existing)
    while len(ids) < count:
        n += 1
        if f"t{n}" not in existing:
            ids.append(f"t{n}")
    return ids


def extension_schema(
    worker_names: Sequence[str], usable: Sequence[str], new_ids: Sequence[str]
) -> dict[str, Any]:
    """Schema of an answer adding 0 to ``len(new_ids)`` tasks; new task ``k`` may depend on
    the ``usable`` (succeeded) tasks and on new tasks before it."""

    def task(k: int) -> dict[str, Any]:
        depends = depends_on_schema([*usable, *new_ids[:k]])
        return {
            "type": "object",
            "properties": {
                "id": {"const": new_ids[k]},
                "worker": {"enum": list(worker_names)},
                "instruction": {"type": "string", "minLength": 1,
                                "maxLength": MAX_INSTRUCTION_CHARS},
                "depends_on": depends,
            },
            "required": ["id", "worker", "instruction", "depends_on"],
            "additionalProperties": False,
        }

    shapes: list[dict[str, Any]] = [{"const": []}]
    shapes += fixed_lists([task(k) for k in range(len(new_ids))], range(1, len(new_ids) + 1))
    return {
        "title": "PlanExtension",
        "type": "object",
        "properties": {"reason": {"type": "string", "maxLength": 200},
                       "tasks": {"anyOf": shapes}},
        "required": ["reason", "tasks"],
        "additionalProperties": False,
    }


async def propose_extension(
    orchestrator: Orchestrator,
    objective: str,
    workers: WorkerRegistry,
    model: Model,
    result: RunResult,
    mode: Mode,
    *,
    max_new: int = 3,
    failed: Sequence[str] = (),
) -> tuple[Plan | None, str]:
    """Ask the model for tasks to add to ``result.plan``.

    Returns:
        The next plan version, or ``None`` with the reason when nothing is added (the model
        added none, or its answer stayed invalid: the run goes on with what it has).
    """
    plan = result.plan
    room = orchestrator.limits.max_tasks - len(plan.tasks)
    if room <= 0:
        return None, f"the plan already has {len(plan.tasks)} tasks, the limit"
    new_ids = new_task_ids(plan.ids, min(max_new, room))
    usable = [o.task_id for o in result.outcomes if o.ok]
    schema = extension_schema(list(workers), usable, new_ids)
    template = DYNAMIC_INSTRUCTIONS if mode == "dynamic" else HYBRID_INSTRUCTIONS
    system = template.format(max_new=len(new_ids), workers=workers.describe())
    messages = [Message.system(system), Message.user(_situation(objective, result, failed))]
    settings = ModelSettings(max_tokens=80 + 110 * len(new_ids))
    problems: list[str] = []
    for _ in range(orchestrator.max_repairs + 1):
        try:
            response = await call_with_retry(
                functools.partial(model.request, messages, output=schema, settings=settings),
                orchestrator.retry,
            )
            data = response.data
            added = tuple(Task.model_validate(t) for t in data["tasks"])
            if not added:
                return None, str(data["reason"]).strip() or "the model added no task"
            added, repeats = _fresh(objective, plan, added)
            if not added:
                return None, f"the model only repeated work the plan has ({repeats})"
            grown = Plan(tasks=(*plan.tasks, *added), version=plan.version + 1,
                         strategy=mode)
            why = str(data["reason"]) + (f"; {repeats}" if repeats else "")
            return validate_plan(grown, workers, orchestrator.limits), why
        except (OutputValidationError, PlanError, ValidationError) as exc:
            problems = getattr(exc, "problems", None) or [str(exc)]
            raw = getattr(exc, "output", "") or json.dumps(problems)
            messages = [*messages, Message.assistant(raw), Message.user(
                "That answer is invalid: " + "; ".join(problems) + ". Answer again.")]
    return None, "no valid extension after repairs: " + "; ".join(problems)


def _fresh(objective: str, plan: Plan, added: Sequence[Task]) -> tuple[tuple[Task, ...], str]:
    """The added tasks that ask for new work, and a note of the others: a task with the same
    worker and instruction as one the plan has (or an earlier added one), or whose instruction
    is the objective itself, would do the same work again (a small model proposes such
    repeats round after round). A kept task's dependency on a dropped one goes to the task it
    repeated."""
    def words(text: str) -> str:
        return " ".join(text.lower().split()).rstrip(".")

    seen = {(t.worker, words(t.instruction)): t.id for t in plan.tasks}
    whole, kept, into = words(objective), [], {}
    for task in added:
        key = (task.worker, words(task.instruction))
        if key[1] == whole:
            into[task.id] = ""
        elif key in seen:
            into[task.id] = seen[key]
        else:
            seen[key] = task.id
            kept.append(task)
    if not into:
        return tuple(added), ""
    kept = [Task.model_validate({**t.model_dump(), "depends_on": [
        into.get(d) or d for d in t.depends_on if into.get(d, d)]}) for t in kept]
    notes = [f"{tid} repeated {other}" if other else f"{tid} only restated the objective"
             for tid, other in into.items()]
    return tuple(kept), "left out as repeats: " + ", ".join(notes)


def _situation(objective: str, result: RunResult, failed: Sequence[str]) -> str:
    lines = [f"Objective: {objective}", "", "Tasks so far:"]
    for o in result.outcomes:
        task = result.plan.task(o.task_id)
        line = f"- {o.task_id} [{task.worker}] {o.status}: {task.instruction}"
        if o.ok:
            line += "\n  result: " + truncate(render_value(o.output), RESULT_CHARS)
        elif o.error:
            line += f"\n  error: {o.error}"
        lines.append(line)
    if failed:
        lines.append("\nTasks that failed or were rejected, to make up for: " + ", ".join(failed))
    return "\n".join(lines)
