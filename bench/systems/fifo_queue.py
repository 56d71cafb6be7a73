"""The FIFO baseline of the makespan bench: a ready queue served first come, first served.

A task joins the back of the queue when its last dependency finishes (initially: the tasks
without dependencies, in plan order); whenever fewer than ``concurrency`` tasks run, the one at
the front starts. Completion is pushed through an :class:`asyncio.Queue`, so the loop never
polls. Same engine shape as delegate's scheduler; only the order of the ready queue differs.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from dags import Dag

__all__ = ["build", "fanout"]


def build(dag: Dag, concurrency: int | None,
          trace: list[tuple[str, float, float]] | None = None) -> Callable[[], Awaitable[int]]:
    limit = concurrency or len(dag)

    async def execute(task: str, finished: asyncio.Queue[str]) -> None:
        start = time.perf_counter()
        await asyncio.sleep(dag.durations[task])
        if trace is not None:
            trace.append((task, start, time.perf_counter()))
        finished.put_nowait(task)

    async def runner() -> int:
        waiting = {t: len(dag.deps[t]) for t in dag.tasks}
        ready = deque(t for t in dag.tasks if waiting[t] == 0)
        finished: asyncio.Queue[str] = asyncio.Queue()
        jobs: set[asyncio.Task[None]] = set()  # strong references until each job ends
        running = done = 0
        while ready or running:
            while ready and running < limit:
                job = asyncio.create_task(execute(ready.popleft(), finished))
                jobs.add(job)
                job.add_done_callback(jobs.discard)
                running += 1
            task = await finished.get()
            running -= 1
            done += 1
            for child in dag.dependents[task]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        return done

    return runner


async def fanout(n: int, work: float) -> int:
    """Not part of the fan-out comparison (the asyncio floor is); here for completeness."""
    dag = Dag(tuple(f"t{i}" for i in range(n)), {f"t{i}": () for i in range(n)},
              {f"t{i}": work for i in range(n)})
    return await build(dag, None)()
