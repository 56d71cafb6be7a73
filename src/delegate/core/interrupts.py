"""A run that stops to ask a person: the interrupt, its answer, and plan approval.

An :class:`Interrupt` is one question a run puts to a person: approve the plan, answer a
task's question, approve a tool call. Its id is deterministic (``plan:1`` is the approval of
plan version 1), so a run carried on after a stop asks the same question under the same id
and gets the stored answer instead of asking again. The answer's shape is given by the
interrupt's JSON Schema.

Who answers is an :class:`InterruptHandler`: a function of the application's (a terminal
prompt, a web form, a test's script) that returns the answer. The run store keeps each
interrupt as a durable record (see :mod:`delegate.durable.store`), so that a question can
outlive the process that asked it.

Plan approval: after the plan is validated and repaired, before any worker starts, the run
asks ``plan_approval``. The answers (:data:`PLAN_ANSWER_SCHEMA`):

- ``{"action": "approve"}``: the plan runs as it is;
- ``{"action": "reject", "reason": "..."}``: nothing runs; the run ends ``cancelled`` with the
  reason;
- ``{"action": "edit", "plan": {...}, "reason": "..."}``: the edited plan passes the same
  validation as a model's plan (unknown worker, missing dependency, cycle, limits); a plan that
  does not is refused with the validator's message and the question is asked again; one that
  does becomes a new plan version from the ``human`` source.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from ..errors import PlanError, RunError, UsageError
from .plan import Plan, PlanLimits, Task, validate_plan

__all__ = [
    "answer_of",
    "on_deadline",
    "PLAN_ANSWER_SCHEMA",
    "TOOL_ANSWER_SCHEMA",
    "check_answer",
    "Interrupt",
    "InterruptHandler",
    "PlanDecision",
    "decide_plan",
    "plan_interrupt",
]

InterruptKind = Literal["plan_approval", "question", "tool_approval"]
#: What happens when an interrupt's deadline passes with no answer.
OnTimeout = Literal["reject", "approve", "fail"]


@dataclass(frozen=True, slots=True)
class Interrupt:
    """One question a run puts to a person.

    Attributes:
        id: unique within the run and deterministic (the same question after a resume has
            the same id).
        kind: ``plan_approval``, ``question`` or ``tool_approval``.
        payload: what the person is shown (JSON-ready): the plan, the question, the call.
        schema: the JSON Schema the answer must match.
        task_id: the task that asks, or ``""`` for the run itself.
        deadline: epoch seconds after which ``on_timeout`` applies, or ``None``.
        on_timeout: ``reject``, ``approve`` or ``fail`` at the deadline.
        error: why the previous answer to this question was refused, if it was.
    """

    id: str
    kind: InterruptKind
    payload: dict[str, Any]
    schema: dict[str, Any]
    task_id: str = ""
    deadline: float | None = None
    on_timeout: OnTimeout | None = None
    error: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The interrupt as JSON-ready data (as the run store keeps it)."""
        return {"id": self.id, "kind": self.kind, "task_id": self.task_id,
                "payload": self.payload, "schema": self.schema, "deadline": self.deadline,
                "on_timeout": self.on_timeout, "error": self.error}


#: Answers a run's interrupts: returns the answer (JSON-ready).
InterruptHandler = Callable[[Interrupt], Awaitable[Any]]

def _approval_schema(edited: str, what: str) -> dict[str, Any]:
    """The answer to an approval: approve, reject (with a reason) or edit (``edited``)."""
    return {
        "type": "object",
        "required": ["action"],
        "properties": {
            "action": {"enum": ["approve", "reject", "edit"]},
            "reason": {"type": "string", "maxLength": 2000},
            edited: {"type": "object", "description": f"the edited {what} (action edit)"},
            "by": {"type": "string", "maxLength": 200},
        },
        "additionalProperties": False,
    }


PLAN_ANSWER_SCHEMA: dict[str, Any] = _approval_schema("plan", "plan")
#: The answers to a tool call's approval.
TOOL_ANSWER_SCHEMA: dict[str, Any] = _approval_schema("arguments", "arguments")


def plan_interrupt(plan: Plan, error: str = "", asked: int = 1,
                   timeout: float | None = None,
                   on_timeout: OnTimeout | None = None, *,
                   workers: Sequence[str] | None = None, limits: PlanLimits | None = None,
                   same_shape: bool = False, kept: Sequence[Task] = ()) -> Interrupt:
    """The approval of ``plan``: id ``plan:<version>``, or ``plan:<version>:<n>`` when it is
    asked the ``n``-th time (an earlier answer was refused). The payload carries the rules
    an edit must keep (the run's worker names, its plan limits, ``same_shape`` and the
    ``kept`` tasks, as :func:`decide_plan` takes them), so that an answer given elsewhere is
    checked by :func:`check_answer` as the run would check it."""
    suffix = f":{asked}" if asked > 1 else ""
    rules: dict[str, Any] = {}
    if workers is not None:
        rules["workers"] = list(workers)
    if limits is not None:
        rules["limits"] = {"max_tasks": limits.max_tasks, "max_depth": limits.max_depth}
    if same_shape:
        rules["same_shape"] = True
    if kept:
        rules["kept"] = [t.model_dump(mode="json") for t in kept]
    return Interrupt(id=f"plan:{plan.version}{suffix}", kind="plan_approval",
                     payload={"plan": plan.model_dump(mode="json"), **rules},
                     schema=PLAN_ANSWER_SCHEMA, error=error,
                     deadline=None if timeout is None else time.time() + timeout,
                     on_timeout=on_timeout)


@dataclass(frozen=True, slots=True)
class PlanDecision:
    """What a person decided about a plan: ``plan`` to run (the same or an edited one, with
    ``edited``), or ``None`` when rejected; ``reason`` and ``by`` as they said."""

    plan: Plan | None
    edited: bool = False
    reason: str = ""
    by: str = ""


def decide_plan(plan: Plan, answer: Any, workers: Any, limits: PlanLimits, *,
                same_shape: bool = False, kept: Sequence[Task] = (),
                version: int | None = None) -> PlanDecision:
    """Read ``answer`` to the approval of ``plan``.

    An edit must pass the plan's validation, and two rules where they apply:
    ``same_shape`` (a plan the workflow wrote, whose code reads its tasks' results: the same
    tasks, workers and dependencies; only the instructions may change) and ``kept`` (tasks
    that already ran, which an extension may not change). The edited plan is version
    ``version`` (default: one after ``plan``'s).

    Raises:
        UsageError: the answer is malformed, or the edited plan fails validation or a rule
            (the message says which); nothing should run on it.
    """
    if not isinstance(answer, dict) or answer.get("action") not in ("approve", "reject",
                                                                    "edit"):
        raise UsageError("an answer to a plan approval is {\"action\": \"approve\"}, "
                         "{\"action\": \"reject\", \"reason\": ...} or {\"action\": \"edit\", "
                         "\"plan\": {...}}")
    reason, by = str(answer.get("reason") or ""), str(answer.get("by") or "")
    if answer["action"] == "approve":
        return PlanDecision(plan, reason=reason, by=by)
    if answer["action"] == "reject":
        return PlanDecision(None, reason=reason or "the plan was rejected", by=by)
    data = answer.get("plan")
    if not isinstance(data, dict):
        raise UsageError("an edit answers with the edited plan under \"plan\"")
    try:
        edited = Plan.model_validate({
            **data, "version": version if version is not None else plan.version + 1,
            "strategy": data.get("strategy", plan.strategy)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"the edited plan is invalid: {where}: {first['msg']}") from None
    try:
        validate_plan(edited, workers, limits)
    except PlanError as exc:
        raise UsageError(f"the edited plan is invalid: {exc}") from None
    if same_shape and _shape(edited) != _shape(plan):
        raise UsageError("this workflow reads its own tasks' results: keep its tasks, workers "
                         "and dependencies; only the instructions can be edited")
    changed = [t.id for t in kept if t not in edited.tasks]
    if changed:
        raise UsageError("an extension keeps the tasks that already ran as they were: "
                         + ", ".join(changed))
    return PlanDecision(edited, edited=True, reason=reason, by=by)


def _shape(plan: Plan) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(t.id, t.worker, tuple(sorted(t.depends_on))) for t in plan.tasks]


def check_answer(record: Mapping[str, Any], answer: Any) -> None:
    """Check ``answer`` to a stored interrupt ``record`` (the store's form: ``kind``,
    ``payload``, ...) as far as it can be without the run: a plan approval's action, and an
    edited plan under the rules its payload carries (see :func:`plan_interrupt`: every
    problem at once). A question stored without them (by an earlier version) gets the shape
    checks alone; the run checks the rest when it carries on.

    Raises:
        UsageError: one line saying what is wrong.
    """
    if record.get("kind") == "question":
        choices = (record.get("payload") or {}).get("choices")
        if choices and answer not in choices:
            raise UsageError("the answer must be one of: " + ", ".join(map(str, choices)))
        return
    if record.get("kind") == "tool_approval":
        action = answer.get("action") if isinstance(answer, dict) else None
        if action not in ("approve", "reject", "edit"):
            raise UsageError("an answer to a tool call's approval is {\"action\": "
                             "\"approve\"}, {\"action\": \"reject\", \"reason\": ...} or "
                             "{\"action\": \"edit\", \"arguments\": {...}}")
        if action == "edit" and not isinstance(answer.get("arguments"), dict):
            raise UsageError("an edit answers with the edited arguments under \"arguments\"")
        return
    if record.get("kind") != "plan_approval":
        return
    payload = record.get("payload") or {}
    try:
        plan = Plan.model_validate(payload.get("plan") or {})
    except ValidationError:
        plan = Plan(tasks=())
    try:
        limits = PlanLimits(**payload["limits"]) if "limits" in payload else PlanLimits()
        kept = [Task.model_validate(t) for t in payload.get("kept") or ()]
    except (TypeError, ValueError):  # a payload this code did not write: the plain checks
        limits, kept = PlanLimits(), []
    workers = payload.get("workers")
    decide_plan(plan, answer, workers if isinstance(workers, list) else None, limits,
                same_shape=payload.get("same_shape") is True, kept=kept)


#: How many refused answers to one approval before giving up.
MAX_REFUSED = 5


async def answer_of(handler: InterruptHandler, interrupt: Interrupt) -> Any:
    """``handler``'s answer to ``interrupt``; past the interrupt's deadline, what its
    ``on_timeout`` says: ``{"action": "approve"}``, ``{"action": "reject", "reason": ...}``,
    or, for ``fail`` (and no rule), a ``RunError``. (A durable handler stores the deadline
    and applies the same rule when the run is carried on after it.)"""
    if interrupt.deadline is None:
        return await handler(interrupt)
    try:
        async with asyncio.timeout_at(_loop_time(interrupt.deadline)):
            return await handler(interrupt)
    except TimeoutError:
        return on_deadline(interrupt)


def on_deadline(interrupt: Interrupt) -> Any:
    """The answer ``interrupt``'s ``on_timeout`` gives once its deadline passed.

    Raises:
        RunError: ``on_timeout`` is ``fail`` or not set.
    """
    if interrupt.on_timeout == "approve":
        return {"action": "approve", "by": "deadline"}
    if interrupt.on_timeout == "reject":
        return {"action": "reject", "reason": "no answer before the deadline",
                "by": "deadline"}
    raise RunError(f"{interrupt.id} was not answered before its deadline")


def _loop_time(deadline: float) -> float:
    """The event loop's clock at the epoch time ``deadline``."""
    return asyncio.get_running_loop().time() + (deadline - time.time())
