"""The orchestrator: turns an objective into a validated :class:`~delegate.plan.Plan`.

It shows the model the registered workers and asks for a plan under a JSON schema whose
``worker`` field is an enum of their names, so that a constrained decoder cannot even name an
unknown worker. The answer is validated (:func:`~delegate.plan.validate_plan`); an invalid plan
goes back to the model with every problem listed, up to ``max_repairs`` times. After that the
workflow's declared fallback plan runs, and the run's :class:`PlanningReport` says
``fallback_plan`` with the reason. With no fallback declared, planning fails with
:class:`~delegate.errors.PlanningError`. Nothing falls back silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .errors import OutputValidationError, PlanError, PlanningError
from .llm.base import Message, Model, ModelSettings
from .outcomes import PlanningReport
from .plan import Plan, PlanLimits, Strategy, Task, validate_plan
from .retry import RetryPolicy, call_with_retry
from .workers import WorkerRegistry

__all__ = ["DEFAULT_PLANNER_INSTRUCTIONS", "Orchestrator"]

DEFAULT_PLANNER_INSTRUCTIONS = """\
You are the orchestrator of a team of specialised workers. Break the objective into a few \
subtasks, each for one worker. Give each task a short id (t1, t2, ...), the worker that \
should do it, a one-sentence instruction, and the ids of earlier tasks whose results it needs \
in depends_on. Tasks without dependencies run at the same time. Use at most {max_tasks} tasks. \
Answer with JSON only.

Workers:
{workers}"""

FallbackPlan = Plan | Callable[[str], Plan] | None


def draft_type(worker_names: tuple[str, ...], limits: PlanLimits) -> type[BaseModel]:
    """The schema the model must answer in: ``worker`` is an enum of the registered names."""
    task_draft = create_model(
        "TaskDraft",
        __config__=ConfigDict(extra="forbid"),
        id=(str, Field(min_length=1, max_length=32)),
        worker=(Literal[worker_names], ...),
        instruction=(str, Field(min_length=1)),
        depends_on=(list[str], Field(default_factory=list, max_length=limits.max_tasks)),
        priority=(int, 0),
    )
    return create_model(
        "PlanDraft",
        __config__=ConfigDict(extra="forbid"),
        tasks=(list[task_draft], Field(min_length=1, max_length=limits.max_tasks)),
    )


class Orchestrator:
    """Plans with a model, repairs invalid plans, and falls back openly.

    Args:
        model: the planning model (``None``: the run's model).
        instructions: the planning system prompt; ``{workers}`` and ``{max_tasks}`` are filled in.
        max_repairs: how many times an invalid plan goes back to the model.
        limits: plan limits; also bound the schema the model answers in.
        max_tokens: cap on the planning answer.
        retry: retry policy for transient model errors while planning.
    """

    def __init__(
        self,
        model: Model | None = None,
        *,
        instructions: str = DEFAULT_PLANNER_INSTRUCTIONS,
        max_repairs: int = 2,
        limits: PlanLimits | None = None,
        max_tokens: int = 700,
        retry: RetryPolicy | None = None,
        strategy: Strategy = "static",
    ) -> None:
        self.model = model
        self.instructions = instructions
        self.max_repairs = max_repairs
        self.limits = limits or PlanLimits()
        self.max_tokens = max_tokens
        self.retry = retry or RetryPolicy()
        self.strategy = strategy

    def messages(self, objective: str, workers: WorkerRegistry) -> list[Message]:
        system = self.instructions.format(
            workers=workers.describe(), max_tasks=self.limits.max_tasks
        )
        return [Message.system(system), Message.user(f"Objective: {objective}")]

    async def plan(
        self,
        objective: str,
        workers: WorkerRegistry,
        model: Model,
        *,
        fallback: FallbackPlan = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> tuple[Plan, PlanningReport]:
        """Ask ``model`` for a plan; repair it; fall back to ``fallback`` if it stays invalid.

        Raises:
            PlanningError: no valid plan and no fallback.
            ModelError: a permanent model failure (a rejected key, say); not hidden by the
                fallback, since a fallback plan would fail the same way.
        """
        schema = draft_type(tuple(workers), self.limits)
        messages = self.messages(objective, workers)
        settings = ModelSettings(max_tokens=self.max_tokens)
        problems: list[str] = []
        for repair in range(self.max_repairs + 1):
            try:
                response = await call_with_retry(
                    lambda: model.request(messages, output=schema, settings=settings),
                    self.retry, sleep,
                )
            except OutputValidationError as exc:
                problems = [exc.message]
                raw = exc.output
            else:
                raw = response.text
                try:
                    plan = self._to_plan(response.data, workers)
                except PlanError as exc:
                    problems = exc.problems
                else:
                    return plan, PlanningReport(
                        source="model" if repair == 0 else "repaired", repairs=repair
                    )
            messages = [
                *messages,
                Message.assistant(raw or "(no answer)"),
                Message.user(
                    "That plan is invalid:\n" + "\n".join(f"- {p}" for p in problems)
                    + "\nAnswer with a corrected plan as JSON."
                ),
            ]
        reason = f"no valid plan after {self.max_repairs} repairs: " + "; ".join(problems)
        if fallback is None:
            raise PlanningError(reason)
        plan = fallback(objective) if callable(fallback) else fallback
        validate_plan(plan, workers, self.limits)
        return plan, PlanningReport(source="fallback_plan", repairs=self.max_repairs, reason=reason)

    def _to_plan(self, draft: Any, workers: WorkerRegistry) -> Plan:
        problems: list[str] = []
        tasks: list[Task] = []
        for n, t in enumerate(draft.tasks, 1):
            try:
                tasks.append(Task(**t.model_dump()))
            except ValidationError as exc:
                problems += [
                    f"task {n} ({t.id!r}): {'.'.join(map(str, e['loc']))}: {e['msg']}"
                    for e in exc.errors()
                ]
        if problems:
            raise PlanError(problems)
        plan = Plan(tasks=tuple(tasks), strategy=self.strategy)
        return validate_plan(plan, workers, self.limits)
