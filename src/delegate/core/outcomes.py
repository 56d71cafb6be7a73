"""What a run leaves behind: one :class:`TaskOutcome` per task and a :class:`RunResult`.

Outcomes are honest: a task that failed has status ``failed`` and its error, never an output
that dependents would mistake for content. A task whose dependency failed is ``skipped``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Literal

from ..errors import ErrorInfo
from ..llm.base import Usage
from .plan import Plan

__all__ = ["PlanningReport", "RunResult", "RunStatus", "TaskOutcome", "TaskStatus"]

TaskStatus = Literal["succeeded", "failed", "skipped", "timed_out", "cancelled", "waiting"]
RunStatus = Literal["succeeded", "partial", "failed", "cancelled", "waiting"]


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """How one task ended.

    Attributes:
        task_id: the task.
        worker: the worker that ran (or would have run) it.
        status: ``succeeded``, ``failed``, ``skipped``, ``timed_out``, ``cancelled``, or
            ``waiting`` (it asked a person with ``ctx.ask`` and nobody has answered yet).
        attempts: how many times it started (0 when skipped).
        started_at, finished_at: epoch seconds of the first start and of the end.
        error: what went wrong, one line; ``None`` on success.
        error_type: the exception's class name, where there was one (deprecated: read
            ``error_info.type``; kept for one release).
        output: the worker's result on success, else ``None``.
        error_info: the exception that failed the task, as picklable data (see
            :class:`~delegate.errors.ErrorInfo`; ``error_info.exception()`` rebuilds it);
            ``None`` on success, and for a task skipped or cancelled without an exception.
    """

    task_id: str
    worker: str
    status: TaskStatus
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    error_type: str | None = None
    output: Any = None
    error_info: ErrorInfo | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "worker": self.worker,
            "status": self.status,
            "attempts": self.attempts,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class PlanningReport:
    """Where the plan came from: ``given`` (by code), ``model`` (first answer valid),
    ``repaired`` (valid after ``repairs`` repairs), ``rules`` (a planner decided without a
    model, ``reason`` says on what evidence) or ``fallback_plan`` (with ``reason``)."""

    source: Literal["given", "model", "repaired", "rules", "fallback_plan"] = "given"
    repairs: int = 0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "repairs": self.repairs, "reason": self.reason}


@dataclass(frozen=True)
class RunResult:
    """Everything a run produced. ``outcomes`` is in plan order, whatever the completion order.

    Attributes:
        run_id: the run's id.
        plan: the plan that ran (the last version, when it was replanned).
        outcomes: one per task, in plan order.
        status: ``succeeded`` (every task), ``partial`` (some), ``failed`` (none, or the
            run could not finish), ``cancelled``, or ``waiting`` (stopped to wait for a
            person's answer; carried on once answered).
        text: the final answer, where a synthesizer wrote one.
        usage: model calls and tokens over the whole run (planning and synthesis included).
        usage_by_purpose: ``usage`` split by what the calls were for (``plan``, ``task``,
            ``review``, ``revision``: a worker's rewrite after review, ``synthesis``; see
            :data:`delegate.limits.metering.PURPOSES`); the parts add up to ``usage``. Empty when
            the result was built without a run's meter.
        planning: where the plan came from.
        wall_seconds: elapsed time of the whole run.
        notes: anything the caller should know that is not an outcome (a provider fallback).
        reviews: the reviewer's verdicts, round by round (empty without a reviewer).
        plan_versions: every version of the plan with what changed and why (see
            :mod:`delegate.core.strategies`); empty when the plan never changed.
        budget_reached: which budget stopped the run and how, or ``None`` (see
            :mod:`delegate.limits.budget`).
        error: the error that ended the run, one line (``Type: message``), when it ended
            by an exception or a cancellation; ``None`` when it ran to its end.
    """

    run_id: str
    plan: Plan
    outcomes: tuple[TaskOutcome, ...]
    status: RunStatus
    text: str = ""
    usage: Usage = field(default_factory=Usage)
    planning: PlanningReport = field(default_factory=PlanningReport)
    wall_seconds: float = 0.0
    notes: tuple[str, ...] = ()
    reviews: tuple[Any, ...] = ()
    plan_versions: tuple[Any, ...] = ()
    budget_reached: str | None = None
    error: str | None = None
    usage_by_purpose: Mapping[str, Usage] = field(default_factory=dict)

    def outcome(self, task_id: str) -> TaskOutcome:
        for outcome in self.outcomes:
            if outcome.task_id == task_id:
                return outcome
        raise KeyError(task_id)

    @property
    def outputs(self) -> Mapping[str, Any]:
        """Outputs of the tasks that succeeded, keyed by task id, in plan order."""
        return {o.task_id: o.output for o in self.outcomes if o.ok}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the CLI prints with ``--json``."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "planning": self.planning.to_dict(),
            "plan": {
                "version": self.plan.version,
                "strategy": self.plan.strategy,
                "tasks": [
                    {
                        "id": t.id,
                        "worker": t.worker,
                        "instruction": t.instruction,
                        "depends_on": list(t.depends_on),
                        "priority": t.priority,
                    }
                    for t in self.plan.tasks
                ],
            },
            "outcomes": [o.to_dict() for o in self.outcomes],
            "text": self.text,
            "usage": self.usage.as_dict(),
            "usage_by_purpose": {purpose: {**usage.as_dict(),
                                           "latency_seconds": round(usage.latency_seconds, 3)}
                                 for purpose, usage in self.usage_by_purpose.items()},
            "wall_seconds": round(self.wall_seconds, 3),
            "notes": list(self.notes),
            "reviews": [r.to_dict() for r in self.reviews],
            "plan_versions": [v.to_dict() for v in self.plan_versions],
            "budget_reached": self.budget_reached,
            "error": self.error,
            "critical_path_seconds": round(self.critical_path_seconds(), 3),
        }

    def review_usage(self) -> tuple[Usage, Usage]:
        """What reviewing cost: the reviewer's verdicts (purpose ``review``) and the workers'
        rewrites after a verdict sent work back (purpose ``revision``)."""
        empty = Usage()
        return (self.usage_by_purpose.get("review", empty),
                self.usage_by_purpose.get("revision", empty))

    def critical_path_seconds(self) -> float:
        """The longest chain of dependent tasks, by how long each task actually ran: no
        schedule of this plan could have finished its tasks sooner."""
        took = {o.task_id: (o.finished_at - o.started_at)
                for o in self.outcomes if o.started_at is not None and o.finished_at is not None}
        if not took:
            return 0.0
        chains = self.plan.critical_path({t.id: took.get(t.id, 0.0) for t in self.plan.tasks})
        return max(chains.values(), default=0.0)


def run_status(outcomes: tuple[TaskOutcome, ...], *, cancelled: bool = False) -> RunStatus:
    """The run's status from its task outcomes (``cancelled`` when the run itself was)."""
    if cancelled:
        return "cancelled"
    statuses = list(map(_status, outcomes))  # no Python call per task
    succeeded = statuses.count("succeeded")
    if outcomes and succeeded == len(outcomes):
        return "succeeded"
    if "waiting" in statuses:  # a task asked a person and nobody has answered yet
        return "waiting"
    return "partial" if succeeded else "failed"


_status = attrgetter("status")


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()
