"""delegate: the :class:`~delegate.core.scheduler.Scheduler` with function workers.

The planner step is a function that builds the :class:`~delegate.core.plan.Plan` (``n`` tasks and
an aggregator that depends on all of them); one scheduler, built once, runs every plan, as an
application would keep one. No subscribers, so no events are built: the engine's own cost.

A DAG's tasks carry their duration as ``Task.expected_seconds`` (a plan that knows how long
its tasks take), so the scheduler's critical path is weighed in seconds; ``delegate_counts``
runs the same plans without them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from dags import Dag

from delegate import Plan, PlanLimits, Scheduler, Task, TaskContext, worker
from delegate.core.plan import HARD_MAX_DEPTH, HARD_MAX_TASKS

__all__ = ["build", "fanout", "fanout_plan"]


@worker(description="Sleeps the run's simulated model call, if any, and answers its id.")
async def work(ctx: TaskContext) -> str:
    seconds = ctx.shared["work"]
    if seconds:
        await asyncio.sleep(seconds)
    return ctx.task.id


@worker(description="Gathers the results of every task it depends on.")
async def gather(ctx: TaskContext) -> int:
    return len(ctx.dependencies)


@worker(description="Sleeps the task's duration; records when it ran where asked.")
async def sleep(ctx: TaskContext) -> str:
    trace = ctx.shared["trace"]
    start = time.perf_counter()
    await asyncio.sleep(ctx.shared["durations"][ctx.task.id])
    if trace is not None:
        trace.append((ctx.task.id, start, time.perf_counter()))
    return ctx.task.id


_BIG = PlanLimits(max_tasks=HARD_MAX_TASKS, max_depth=HARD_MAX_DEPTH)
_fanout_scheduler = Scheduler([work, gather], max_concurrency=HARD_MAX_TASKS, limits=_BIG)


def fanout_plan(n: int) -> Plan:
    """The planner step: ``n`` independent tasks and one aggregator over all of them."""
    ids = [f"t{i}" for i in range(n)]
    tasks = [Task(id=tid, worker="work") for tid in ids]
    tasks.append(Task(id="gather", worker="gather", depends_on=ids))
    return Plan(tasks=tuple(tasks))


async def fanout(n: int, work: float) -> int:
    result = await _fanout_scheduler.run(fanout_plan(n), shared={"work": work})
    last = result.outcomes[-1]  # outcomes come in plan order: the aggregator is last
    if last.task_id != "gather" or not last.ok:
        raise AssertionError(f"the aggregator did not succeed: {last}")
    return last.output


def build(dag: Dag, concurrency: int | None,
          trace: list[tuple[str, float, float]] | None = None,
          estimates: bool = True) -> Callable[[], Awaitable[int]]:
    plan = Plan(tasks=tuple(Task(id=t, worker="sleep", depends_on=dag.deps[t],
                                 expected_seconds=dag.durations[t] if estimates else None)
                            for t in dag.tasks))
    scheduler = Scheduler([sleep], max_concurrency=concurrency or len(dag), limits=_BIG)
    shared: dict[str, Any] = {"durations": dag.durations, "trace": trace}

    async def runner() -> int:
        result = await scheduler.run(plan, shared=shared)
        return sum(o.ok for o in result.outcomes)

    return runner
