"""The orchestrator: turns an objective into a validated :class:`~delegate.core.plan.Plan`.

It shows the model the registered workers and asks for a plan under a JSON schema whose
``worker`` field is an enum of their names, so that a constrained decoder cannot even name an
unknown worker. The answer is validated (:func:`~delegate.core.plan.validate_plan`); an invalid plan
goes back to the model with every problem listed, up to ``max_repairs`` times. After that the
workflow's declared fallback plan runs, and the run's :class:`PlanningReport` says
``fallback_plan`` with the reason. With no fallback declared, planning fails with
:class:`~delegate.errors.PlanningError`. Nothing falls back silently.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from ..errors import (
    OutputValidationError,
    PlanError,
    PlanningError,
    TransientModelError,
    describe,
)
from ..llm.base import Message, Model, ModelSettings
from .outcomes import PlanningReport
from .plan import Plan, PlanLimits, Strategy, Task, merge_repeated_tasks, validate_plan
from .retry import RetryPolicy, call_with_retry
from .schemas import depends_on_schema, fixed_lists
from .workers import WorkerRegistry

__all__ = ["DEFAULT_PLANNER_INSTRUCTIONS", "Orchestrator"]

DEFAULT_PLANNER_INSTRUCTIONS = """\
You are the orchestrator of a team of specialised workers. Break the objective into a few \
subtasks, each for one worker. Number the tasks t1, t2, t3 in order. For each task give the \
worker that should do it, a one-sentence instruction, and in depends_on the ids of earlier \
tasks whose results it needs (never a worker's name). Tasks without dependencies run at the \
same time. Use at most {max_tasks} tasks. Answer with JSON only, for example:
{{"tasks": [{{"id": "t1", "worker": "{first}", "instruction": "Collect the facts and \
examples the objective needs.", "depends_on": []}}, {{"id": "t2", "worker": "{last}", \
"instruction": "Write the answer from the result of t1.", "depends_on": ["t1"]}}]}}

Workers:
{workers}"""

FallbackPlan = Plan | Callable[[str], Plan] | None


#: Bounds on what the model writes, so that a constrained decoder always finishes in budget.
MAX_INSTRUCTION_CHARS = 240
#: Fewest words an instruction needs (a small model copies placeholders such as "...").
MIN_INSTRUCTION_WORDS = 1
_LETTERS = re.compile(r"[^\W\d_]{2,}")
TOKENS_PER_DRAFT_TASK = 110


def draft_schema(worker_names: Sequence[str], max_tasks: int) -> dict[str, Any]:
    """The JSON schema the model answers in, built so that a constrained decoder can only
    write a well-formed graph: task ``n`` has id ``tn``, its ``worker`` is one of the registered
    names, and its ``depends_on`` may name only ``t1`` ... ``t(n-1)``. So a grammar-bound
    model cannot write a cycle, an unknown dependency or an unknown worker; every string and
    list is bounded so that the answer always fits ``max_tokens``. Providers that do not
    enforce schemas get the same rules checked after the fact."""

    def task(n: int) -> dict[str, Any]:
        depends_on = depends_on_schema([f"t{k}" for k in range(1, n)], unique=True)
        return {
            "type": "object",
            "properties": {
                "id": {"const": f"t{n}"},
                "worker": {"enum": list(worker_names)},
                "instruction": {"type": "string", "minLength": 1,
                                "maxLength": MAX_INSTRUCTION_CHARS},
                "depends_on": depends_on,
                "priority": {"enum": list(range(10))},
            },
            "required": ["id", "worker", "instruction", "depends_on"],
            "additionalProperties": False,
        }

    tasks = [task(n) for n in range(1, max_tasks + 1)]
    return {
        "title": "Plan",
        "type": "object",
        "properties": {"tasks": {"anyOf": fixed_lists(tasks, range(1, max_tasks + 1))}},
        "required": ["tasks"],
        "additionalProperties": False,
    }


class Orchestrator:
    """Plans with a model, repairs invalid plans, and falls back openly.

    Args:
        model: the planning model (``None``: the run's model).
        instructions: the planning system prompt; ``{workers}`` and ``{max_tasks}`` are filled in.
        max_repairs: how many times an invalid plan goes back to the model.
        limits: plan limits, checked on every plan.
        max_plan_tasks: most tasks the model may write (default: ``limits.max_tasks``); a
            small model plans better, and faster, with a tight bound.
        max_tokens: cap on the planning answer (default: enough for ``max_plan_tasks``).
        retry: retry policy for transient model errors while planning.
    """

    def __init__(
        self,
        model: Model | None = None,
        *,
        instructions: str = DEFAULT_PLANNER_INSTRUCTIONS,
        max_repairs: int = 2,
        limits: PlanLimits | None = None,
        max_plan_tasks: int | None = None,
        max_tokens: int | None = None,
        retry: RetryPolicy | None = None,
        strategy: Strategy = "static",
    ) -> None:
        self.model = model
        self.instructions = instructions
        self.max_repairs = max_repairs
        self.limits = limits or PlanLimits()
        self.max_plan_tasks = min(max_plan_tasks or self.limits.max_tasks, self.limits.max_tasks)
        self.max_tokens = max_tokens or 60 + TOKENS_PER_DRAFT_TASK * self.max_plan_tasks
        self.retry = retry or RetryPolicy()
        self.strategy = strategy

    def messages(self, objective: str, workers: WorkerRegistry) -> list[Message]:
        names = list(workers)
        system = self.instructions.format(
            workers=workers.describe(), max_tasks=self.max_plan_tasks,
            first=names[0], last=names[-1],
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
                fallback, since a fallback plan would fail the same way. A transient failure
                that outlasts the retries (the model unreachable, overloaded or too slow)
                falls back to ``fallback`` like an invalid plan does, with the reason.
        """
        schema = self.schema(workers)
        messages = self.messages(objective, workers)
        settings = ModelSettings(max_tokens=self.max_tokens)
        problems: list[str] = []
        for repair in range(self.max_repairs + 1):
            try:
                response = await call_with_retry(
                    functools.partial(model.request, messages, output=schema, settings=settings),
                    self.retry, sleep,
                )
            except TransientModelError as exc:  # still failing after the retries
                if fallback is None:
                    raise
                return self._fallback(objective, workers, fallback, repair,
                                      f"the planning model failed: {describe(exc)}")
            except OutputValidationError as exc:
                raw = exc.output
                problems = self._explain(raw, workers) or [exc.message]
            else:
                raw = response.text
                try:
                    plan = self.to_plan(response.data, workers)
                except PlanError as exc:
                    problems = exc.problems
                else:
                    plan, notes = self.tidy(plan)
                    return plan, PlanningReport(
                        source="model" if repair == 0 else "repaired", repairs=repair,
                        reason="; ".join(notes),
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
        return self._fallback(objective, workers, fallback, self.max_repairs, reason)

    def _fallback(self, objective: str, workers: WorkerRegistry, fallback: FallbackPlan,
                  repairs: int, reason: str) -> tuple[Plan, PlanningReport]:
        assert fallback is not None
        plan = fallback(objective) if callable(fallback) else fallback
        validate_plan(plan, workers, self.limits)
        return plan, PlanningReport(source="fallback_plan", repairs=repairs, reason=reason)

    def tidy(self, plan: Plan) -> tuple[Plan, list[str]]:
        """The valid plan a model wrote, with what would only repeat work taken out, and a
        note for each change (the planning report's ``reason``). By default a task that
        repeats another (same worker, same instruction) is merged into it; a workflow's
        planner may tidy more."""
        plan, merged = merge_repeated_tasks(plan)
        return plan, [_merged_note(merged)] if merged else []

    def schema(self, workers: WorkerRegistry) -> dict[str, Any]:
        """The JSON schema the planning model answers in (a hook for other planners)."""
        return draft_schema(list(workers), self.max_plan_tasks)

    def to_plan(self, draft: Any, workers: WorkerRegistry) -> Plan:
        """Turn the model's JSON into a validated plan; every problem is collected.

        Raises:
            PlanError: with every problem, to be sent back to the model.
        """
        if not isinstance(draft, dict) or not isinstance(draft.get("tasks"), list):
            raise PlanError(['the answer must be an object with a "tasks" list'])
        problems: list[str] = []
        tasks: list[Task] = []
        for n, t in enumerate(draft["tasks"], 1):
            try:
                tasks.append(Task.model_validate(t))
            except ValidationError as exc:
                problems += [
                    f"task {n}: {'.'.join(map(str, e['loc'])) or 'task'}: {e['msg']}"
                    for e in exc.errors()
                ]
        problems += [f"task {t.id}: the instruction {t.instruction!r} says nothing; write in "
                     "one sentence what the worker must do" for t in tasks
                     if len(_LETTERS.findall(t.instruction)) < MIN_INSTRUCTION_WORDS]
        if problems:
            raise PlanError(problems)
        plan = Plan(tasks=tuple(tasks), strategy=self.strategy)
        return validate_plan(plan, workers, self.limits)

    def _explain(self, raw: str, workers: WorkerRegistry) -> list[str]:
        """Plan-level problems of an answer that failed the schema, when it parses at all:
        "dependency cycle: t1 -> t2 -> t1" helps a model more than a schema path does."""
        try:
            self.to_plan(json.loads(raw), workers)
        except PlanError as exc:
            return exc.problems
        except ValueError:
            pass
        return []


def _merged_note(merged: dict[str, str]) -> str:
    """The planning note of merged repeats: "t4 and t5 repeated t2 ... merged into it"."""
    into: dict[str, list[str]] = {}
    for dropped, kept in merged.items():
        into.setdefault(kept, []).append(dropped)
    return "; ".join(
        f"{' and '.join(dropped)} repeated {kept} (same worker and instruction) and "
        f"{'was' if len(dropped) == 1 else 'were'} merged into it"
        for kept, dropped in into.items())
