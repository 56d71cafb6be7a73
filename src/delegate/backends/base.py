"""The executor seam: run one attempt of one task somewhere, and say how it ended.

``Executor.run_attempt(AttemptSpec) -> AttemptResult``. The scheduler keeps the ready queue,
retries, the task timeout and the events; an executor runs one attempt. The spec and the
result pickle, so the attempt can run in another process or on another machine: the spec
names the worker and the model (the receiving side has its own registry) and carries the
dependencies' outputs and the run's shared data as plain values; a failure comes back as an
:class:`~delegate.errors.ErrorInfo`, not as the exception.

The protocol and both dataclasses are defined in :mod:`delegate.core.hooks` (the engine builds
them and may import nothing from here) and re-exported here, where executors are written.
A minimal executor that runs each attempt in a process pool::

    class PoolExecutor:
        def __init__(self, pool: concurrent.futures.ProcessPoolExecutor) -> None:
            self.pool = pool

        async def run_attempt(self, spec: AttemptSpec) -> AttemptResult:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.pool, run_in_child, spec)

    def run_in_child(spec: AttemptSpec) -> AttemptResult:  # module level, so it pickles
        return asyncio.run(LocalExecutor(MY_WORKERS).run_attempt(spec))

A model call made inside such an attempt goes to the receiving side's own model: the run's
budget, rate limits, cache and journal do not see it.
"""

from __future__ import annotations

from ..core.hooks import AttemptResult, AttemptSpec, Executor
from ..errors import ErrorInfo

__all__ = ["AttemptResult", "AttemptSpec", "ErrorInfo", "Executor"]
