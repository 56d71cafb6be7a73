"""A task's attempts in the general case: its model metered, a journal consulted, events
emitted, each attempt under the task timeout, in this process or sent to an executor, and
transient failures retried under the scheduler's policy.

:class:`~delegate.core._execution.Execution` calls :func:`run_attempts` for every task it does
not await directly, and for a direct one whose first attempt failed (to judge and retry it).
"""

from __future__ import annotations

import asyncio
from time import time as _now
from typing import TYPE_CHECKING

from ..errors import ErrorInfo, RunWaiting, TaskTimeout, describe
from .events import TaskRetried, TaskStarted
from .hooks import AttemptSpec
from .outcomes import TaskOutcome
from .plan import Task
from .workers import Revision, TaskContext

if TYPE_CHECKING:
    from ._execution import Execution

__all__ = ["failed_outcome", "run_attempts"]


async def run_attempts(ex: Execution, task: Task, revision: Revision | None = None, *,
                       failed: Exception | None = None,
                       first_start: float | None = None) -> TaskOutcome:
    """Run ``task`` until it succeeds or fails for good. Anything that raises on the way
    (resolving its model, restoring it, a subscriber) fails the task, never the run.
    ``failed`` is the error of a first attempt already made (from ``first_start``)."""
    scheduler, policy = ex.scheduler, ex.scheduler.retry
    first_start = first_start or _now()
    model = spec_model = None
    try:
        worker = scheduler.workers[task.worker]
        if ex.remote is not None:
            spec_model = scheduler.model_spec_for(worker)
        else:
            model = scheduler.model_for(worker)
            if model is not None:
                model = ex.meter.wrap(model, task.id,
                                      purpose="task" if revision is None else "revision")
        deps = ex.dependencies(task)
        if revision is None and failed is None and ex.meter.restores:
            restored = ex.meter.restore(task)  # finished before the run was interrupted
            if restored is not None:
                return restored
    except Exception as exc:
        return failed_outcome(task, 0, first_start, exc)
    attempt = 0 if failed is None else 1
    timeout = scheduler.task_timeout
    while True:
        failure: BaseException | ErrorInfo | None = failed
        failed = None
        if failure is None:
            attempt += 1
            ex.attempted[task.id] = (attempt, first_start)
            try:
                if ex.bus.active:
                    ex.emit(TaskStarted(run_id=ex.run_id, task_id=task.id,
                                        worker=task.worker, attempt=attempt))
                if ex.remote is not None:
                    call = ex.remote.run_attempt(AttemptSpec(
                        ex.run_id, ex.objective, task, deps, ex.shared_data,
                        task.worker, spec_model, attempt, revision))
                else:
                    call = worker.run(TaskContext(ex.run_id, ex.objective, task, deps,
                                                  ex.shared, model, attempt, revision))
                if timeout is None:
                    output = await call
                else:
                    try:
                        async with asyncio.timeout(timeout):
                            output = await call
                    except TimeoutError:
                        raise TaskTimeout(task.id, timeout) from None
                if ex.remote is not None:
                    failure, output = output.error, output.output
            except Exception as exc:
                failure = exc
        if failure is None:
            ex.attempted.pop(task.id, None)
            return TaskOutcome(task.id, task.worker, "succeeded", attempt, first_start,
                               _now(), output=output)
        if policy.should_retry(failure, attempt):
            delay = policy.delay(attempt, failure)
            try:
                if ex.bus.active:
                    ex.emit(TaskRetried(run_id=ex.run_id, task_id=task.id, attempt=attempt,
                                        error=describe(failure), delay=delay))
                await ex.meter.sleep(delay, scheduler.sleep)
            except Exception as stop:  # the budget ran out while waiting
                failure = stop
            else:
                continue
        ex.attempted.pop(task.id, None)
        return failed_outcome(task, attempt, first_start, failure)


def failed_outcome(task: Task, attempts: int, first_start: float | None,
                   failure: BaseException | ErrorInfo) -> TaskOutcome:
    """The outcome of a task that failed for good with ``failure``."""
    if isinstance(failure, ErrorInfo):
        info, timed_out = failure, failure.type == TaskTimeout.__name__
    else:
        info, timed_out = ErrorInfo.of(failure), isinstance(failure, TaskTimeout)
    status = "timed_out" if timed_out else "waiting" if info.type == RunWaiting.__name__ \
        else "failed"  # a task that asked a person ends waiting, to be carried on
    return TaskOutcome(task.id, task.worker, status, attempts, first_start, _now(),
                       info.describe(), info.type, error_info=info)
