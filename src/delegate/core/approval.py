"""Plan approval inside a run: the question asked until an answer can be acted on, and the
result of a run that stopped before any worker started (see :mod:`delegate.core.interrupts`)."""

from __future__ import annotations

import time
from typing import Any

from ..errors import UsageError
from .config import RunConfig
from .events import InterruptAnswered, InterruptRaised, TaskSkipped
from .interrupts import (
    MAX_REFUSED,
    InterruptHandler,
    PlanDecision,
    answer_of,
    decide_plan,
    plan_interrupt,
)
from .outcomes import PlanningReport, RunResult, TaskOutcome
from .plan import Plan
from .session import RunSession
from .workers import WorkerRegistry

__all__ = ["MAX_REFUSED_ANSWERS", "approve_plan", "nothing_ran"]


#: How many refused answers to one approval before the run gives up.
MAX_REFUSED_ANSWERS = MAX_REFUSED


async def approve_plan(session: RunSession, plan: Plan, registry: WorkerRegistry,
                       cfg: RunConfig, ask: InterruptHandler, **rules: Any,
                       ) -> PlanDecision:
    """Ask for ``plan``'s approval until the answer is one the run can act on; an edited
    plan that fails validation is refused (the validator's message goes back with the
    question) and nothing runs on it.

    Raises:
        UsageError: :data:`MAX_REFUSED_ANSWERS` answers in a row were refused.
    """
    bus, error = session.bus, ""
    for asked in range(1, MAX_REFUSED_ANSWERS + 1):
        interrupt = plan_interrupt(plan, error, asked, cfg.approval_timeout,
                                   cfg.on_approval_timeout, workers=list(registry),
                                   limits=cfg.limits,
                                   same_shape=rules.get("same_shape", False),
                                   kept=rules.get("kept", ()))
        bus.emit(InterruptRaised(run_id=session.run_id, interrupt=interrupt))
        answer = await answer_of(ask, interrupt)
        by = str(answer.get("by") or "") if isinstance(answer, dict) else ""
        bus.emit(InterruptAnswered(run_id=session.run_id, interrupt_id=interrupt.id,
                                   answer=answer, by=by))
        try:
            return decide_plan(plan, answer, registry, cfg.limits, **rules)
        except UsageError as exc:
            error = str(exc)
            session.notes.append(f"plan approval: an answer was refused: {error}")
    raise UsageError(f"{MAX_REFUSED_ANSWERS} answers to the plan's approval were refused; "
                     f"the last: {error}")


def nothing_ran(session: RunSession, plan: Plan, planning: PlanningReport, status: str,
                 why: str) -> RunResult:
    """The result of a run that stopped before any worker started (its plan rejected, or
    waiting for an answer): every task skipped, saying why.

    A rejected plan's tasks end there, and each is announced (``TaskSkipped``). A waiting
    run's are not: they have not ended, and the plan that runs once the answer comes (an
    edited one may drop some) gives them their outcomes; a stored outcome now would outlive
    a task the edit removed."""
    outcomes = tuple(TaskOutcome(t.id, t.worker, "skipped", error=f"not started: {why}")
                     for t in plan.tasks)
    for outcome in outcomes if status != "waiting" else ():
        session.bus.emit(TaskSkipped(run_id=session.run_id, task_id=outcome.task_id,
                                     outcome=outcome))
    meter = session.meter
    return session.finish(RunResult(
        run_id=session.run_id, plan=plan, outcomes=outcomes, status=status,  # type: ignore[arg-type]
        usage=meter.usage, planning=planning, notes=(*meter.notes, *session.notes, why),
        wall_seconds=time.perf_counter() - session.started))
