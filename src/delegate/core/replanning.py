"""The rounds of a ``dynamic`` or ``hybrid`` run: grow the plan, have each new version
approved where asked (``RunConfig.approve_extensions``), and run its new tasks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from ..llm.base import Model
from .events import EventBus, PlanCreated
from .meter import Meter
from .orchestrator import Orchestrator
from .outcomes import RunResult
from .plan import Plan, Strategy
from .scheduler import Scheduler
from .strategies import PlanVersion, propose_extension
from .workers import WorkerRegistry

__all__ = ["replan_rounds"]


async def replan_rounds(
    strategy: Strategy, max_replans: int, orchestrator: Orchestrator,
    registry: WorkerRegistry, planner: Model, scheduler: Scheduler, result: RunResult,
    objective: str, shared: Mapping[str, Any] | None, meter: Meter, bus: EventBus,
    versions: list[PlanVersion], notes: list[str], rejected: Sequence[str] = (),
    gate: Callable[[Plan, Plan], Awaitable[tuple[Plan, str] | None]] | None = None,
) -> RunResult:
    """Grow the plan under ``dynamic`` or ``hybrid`` and run each new version's new tasks.

    Under ``hybrid`` a round happens only for tasks that failed, or that the reviewer
    ``rejected`` for good; each such task is made up for once. ``gate(grown, before)``, where
    given, decides whether a grown plan runs: it answers the plan to run and its source
    (``model``, or ``human`` for a person's edit), or ``None`` to keep the plan as it was.
    """
    handled: set[str] = set()
    for _ in range(max_replans):
        failed = [o.task_id for o in result.outcomes
                  if o.status in ("failed", "timed_out") and o.task_id not in handled]
        failed += [tid for tid in rejected if tid not in handled and tid not in failed]
        if strategy == "hybrid" and not failed:
            break
        handled.update(failed)
        grown, why = await propose_extension(
            orchestrator, objective, registry, planner, result, strategy, failed=failed)
        if grown is None:
            notes.append(f"plan v{result.plan.version} kept: {why}")
            break
        source = "model"
        if gate is not None:
            approved = await gate(grown, result.plan)
            if approved is None:
                break
            grown, source = approved
        before = {t.id for t in result.plan.tasks}
        added = [t.id for t in grown.tasks if t.id not in before]
        versions.append(PlanVersion(grown.version, grown, "added " + ", ".join(added), why))
        bus.emit(PlanCreated(run_id=result.run_id, plan=grown, source=source, reason=why))
        result = await scheduler.run(
            grown, objective=objective, shared=shared, run_id=result.run_id, meter=meter,
            planning=result.planning, announce=False,
            done={o.task_id: o for o in result.outcomes},
        )
    return result
