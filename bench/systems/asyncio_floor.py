"""Plain asyncio: the floor no orchestrator can beat on this interpreter.

The fan-out is ``asyncio.gather`` over one coroutine per task between a planner function and
an aggregator function. A DAG runs as one asyncio task per node that awaits its dependencies'
tasks, then sleeps (what one would write by hand; no concurrency limit).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from dags import Dag

__all__ = ["build", "fanout"]


def _plan(n: int) -> list[int]:
    return list(range(n))


async def _work(item: int, seconds: float) -> int:
    if seconds:
        await asyncio.sleep(seconds)
    return item


def _gather(results: list[int]) -> int:
    return len(results)


async def fanout(n: int, work: float) -> int:
    items = _plan(n)
    return _gather(await asyncio.gather(*(_work(i, work) for i in items)))


def build(dag: Dag, concurrency: int | None,
          trace: list[tuple[str, float, float]] | None = None) -> Callable[[], Awaitable[int]]:
    if concurrency is not None and concurrency < len(dag):
        raise ValueError("the asyncio floor runs without a concurrency limit; see fifo_queue")

    async def node(task: str, deps: list[asyncio.Task[str]]) -> str:
        if deps:
            await asyncio.gather(*deps)
        start = time.perf_counter()
        await asyncio.sleep(dag.durations[task])
        if trace is not None:
            trace.append((task, start, time.perf_counter()))
        return task

    async def runner() -> int:
        jobs: dict[str, asyncio.Task[str]] = {}
        for t in dag.tasks:  # plan order: dependencies exist before their dependents
            jobs[t] = asyncio.create_task(node(t, [jobs[d] for d in dag.deps[t]]))
        return len(await asyncio.gather(*jobs.values()))

    return runner
