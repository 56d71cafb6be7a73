"""A second executor for the contract tests: each attempt runs in a worker process of a
``ProcessPoolExecutor``. The workers are module-level so that the child process finds them by
name; the child runs the attempt with :class:`LocalExecutor` over the same registry."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os

from delegate import TaskContext, worker
from delegate.backends.base import AttemptResult, AttemptSpec
from delegate.backends.local import LocalExecutor
from delegate.errors import ModelServerError


@worker(description="Twice the shared number.")
async def double(ctx: TaskContext) -> int:
    return 2 * ctx.shared["x"]


@worker(description="Fails transiently on its first attempt, then answers.")
async def flaky(ctx: TaskContext) -> str:
    if ctx.attempt == 1:
        raise ModelServerError("busy", status=503)
    return f"ok on attempt {ctx.attempt}"


@worker(description="The dependencies' outputs, in plan order.")
async def collect(ctx: TaskContext) -> list[object]:
    return [(d.task_id, d.worker, d.output) for d in ctx.dependencies]


@worker(description="Always fails.")
async def broken(ctx: TaskContext) -> None:
    raise ValueError(f"no good: {ctx.task.instruction}")


@worker(description="Ends its process at once, as a crash would.")
async def crash(ctx: TaskContext) -> None:
    os._exit(3)


WORKERS = [double, flaky, collect, broken, crash]


def run_in_child(spec: AttemptSpec) -> AttemptResult:
    """What a pool process runs: the attempt, on its own event loop."""
    return asyncio.run(LocalExecutor(WORKERS).run_attempt(spec))


class PoolExecutor:
    """Sends every attempt to a process pool; records what it sent."""

    def __init__(self, pool: concurrent.futures.ProcessPoolExecutor) -> None:
        self.pool = pool
        self.sent: list[tuple[str, int]] = []

    async def run_attempt(self, spec: AttemptSpec) -> AttemptResult:
        self.sent.append((spec.task.id, spec.attempt))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, run_in_child, spec)
