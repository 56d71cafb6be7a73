"""One task's run, from its start to the outcome it hands the driver.

:func:`execute` is the body of the asyncio task :class:`~delegate.core._execution.Execution`
starts for each plan task. A direct task (see that module) has its worker awaited there, with
its context and outcome built as core/_builders.py says. Every other task goes through
:func:`run_attempts`, the general case: its model metered, a journal consulted, events emitted,
each attempt under the task timeout, in this process or sent to an executor, and transient
failures retried under the scheduler's policy; so does a direct one whose first attempt failed
(to judge and retry it).
"""

from __future__ import annotations

import asyncio
from time import time as _now
from typing import TYPE_CHECKING

from ..errors import ErrorInfo, RunWaiting, TaskTimeout, describe
from ._builders import Context as _Context
from ._builders import Outcome as _Outcome
from .events import TaskRetried, TaskStarted
from .hooks import AttemptSpec
from .outcomes import TaskOutcome
from .plan import Task
from .workers import Revision, TaskContext

if TYPE_CHECKING:
    from ._execution import Execution

__all__ = ["execute", "failed_outcome", "run_attempts"]

_new = object.__new__  # with the builders of core/_builders.py


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


async def execute(ex: Execution, task: Task) -> None:
    """Run ``task`` to its end and hand its outcome to ``ex``'s driver: a direct task's worker
    awaited here, any other through :func:`run_attempts`; a cancelled one reports how far it
    got."""
    tid = task.id  # once here, execute reports how the task ended (see _cancel_running)
    started = None
    try:
        fn = ex.direct.get(task.worker)
        if fn is None or ex.bus.active:
            outcome = await run_attempts(ex, task)
        else:  # the context and the outcome are built as core/_builders.py says
            started = _now()
            ctx = _new(_Context)
            ctx.run_id, ctx.objective, ctx.task, ctx.shared = (
                ex.run_id, ex.objective, task, ex.shared)
            ctx.dependencies = ex.dependencies(task) if task.depends_on else ()
            ctx.model, ctx.attempt, ctx.revision = None, 1, None
            ctx.__class__ = TaskContext
            try:
                output = await fn(ctx)
            except Exception as exc:
                outcome = await run_attempts(ex, task, failed=exc, first_start=started)
            else:
                outcome = _new(_Outcome)
                outcome.task_id, outcome.worker, outcome.status = tid, task.worker, "succeeded"
                outcome.attempts, outcome.started_at, outcome.finished_at = 1, started, _now()
                outcome.error = outcome.error_type = outcome.error_info = None
                outcome.output = output
                outcome.__class__ = TaskOutcome
    except asyncio.CancelledError:  # the attempts made so far, and since when
        attempts, began = ex.attempted.pop(tid, (0 if started is None else 1, started))
        ex.report(TaskOutcome(tid, task.worker, "cancelled", attempts, began, _now(),
                              error="cancelled while running"))
        raise
    except Exception as exc:  # a step around the attempts failed: the task failed
        outcome = failed_outcome(task, 0, None, exc)
    ex.report(outcome)
