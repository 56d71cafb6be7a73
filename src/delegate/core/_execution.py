"""The mutable state of one run of one plan, driven by :class:`~delegate.core.scheduler.Scheduler`.

The ready heap is keyed by (-priority, -remaining critical path, plan index). Each running
task pushes its outcome onto ``finished`` and sets ``wake``; the driver settles outcomes in
the order they arrive, releases dependents whose last dependency just succeeded, and skips
the dependents of a task that did not. A budget stop (see :mod:`delegate.limits.budget`) or a
``fail_fast`` failure stops new starts; whatever never started ends ``skipped``.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..errors import TaskTimeout, describe
from ..limits.metering import Meter, MeteredModel
from .events import (
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TaskQueued,
    TaskRetried,
    TaskSkipped,
    TaskStarted,
)
from .outcomes import TaskOutcome
from .plan import Plan, Task
from .workers import DependencyResult, Revision, TaskContext

if TYPE_CHECKING:
    from .scheduler import Scheduler

__all__ = ["Execution"]

_END_EVENT = {
    "succeeded": TaskFinished, "failed": TaskFailed, "timed_out": TaskFailed,
    "skipped": TaskSkipped, "cancelled": TaskCancelled,
}


class Execution:
    """The mutable state of one run of one plan."""

    def __init__(
        self, sched: Scheduler, plan: Plan, objective: str, shared: Mapping[str, Any],
        run_id: str, meter: Meter, done: Mapping[str, TaskOutcome] | None = None,
    ) -> None:
        self.s = sched
        self.plan = plan
        self.objective = objective
        self.shared = MappingProxyType(dict(shared))
        self.run_id = run_id
        self.meter = meter
        self.tasks: dict[str, Task] = {t.id: t for t in plan.tasks}
        self.index = {t.id: n for n, t in enumerate(plan.tasks)}
        self.dependents = plan.dependents()
        self.waiting: dict[str, int] = {}
        cp = plan.critical_path()
        self.key = {t.id: (-t.priority, -cp[t.id], self.index[t.id]) for t in plan.tasks}
        self.ready: list[tuple[tuple[int, float, int], str]] = []
        self.running: dict[str, asyncio.Task[TaskOutcome]] = {}
        self.outcomes: dict[str, TaskOutcome] = {}
        self.results: dict[str, Any] = {}
        self.finished: deque[TaskOutcome] = deque()
        self.wake = asyncio.Event()
        self.stopping = False
        self.stop_reason = "the run stopped after a failure (fail_fast)"
        self.reported: set[str] = set()
        self.tearing_down = False
        self.teardown_error: Exception | None = None
        for tid, outcome in (done or {}).items():
            if tid in self.tasks:
                self.outcomes[tid] = outcome
                if outcome.ok:
                    self.results[tid] = outcome.output
        for task in plan.tasks:
            self.waiting[task.id] = sum(d not in self.results for d in set(task.depends_on))

    def emit(self, event: Any) -> None:
        if not self.tearing_down:
            self.s.bus.emit(event)
            return
        try:  # tearing down: every outcome is recorded whatever a subscriber does
            self.s.bus.emit(event)
        except Exception as exc:
            self.teardown_error = self.teardown_error or exc

    def _budget_stop(self, reason: str) -> None:
        """The budget was reached: start nothing more; cancel running work if so asked."""
        self.stopping = True
        self.stop_reason = f"not started: {reason}"
        guard = self.meter.guard
        if guard is not None and guard.budget.on_exceed == "cancel":
            self._cancel_running()
        self.wake.set()

    async def drive(self) -> None:
        guard = self.meter.guard
        unlisten = guard.on_stop(self._budget_stop) if guard is not None else None
        try:
            await self._drive()
        finally:
            if unlisten is not None:
                unlisten()

    async def _drive(self) -> None:
        bus = self.s.bus
        carried = [tid for tid, o in self.outcomes.items() if not o.ok]
        for task in self.plan.tasks:
            if task.id in self.outcomes:
                continue  # finished under an earlier version of the plan
            if bus.active:
                self.emit(TaskQueued(run_id=self.run_id, task_id=task.id, worker=task.worker))
            if self.waiting[task.id] == 0:
                heapq.heappush(self.ready, (self.key[task.id], task.id))
        for tid in carried:
            self._skip_dependents(tid)
        limit = self.s.max_concurrency
        while True:
            while self.ready and len(self.running) < limit and not self.stopping:
                _, tid = heapq.heappop(self.ready)
                self.running[tid] = asyncio.create_task(self._execute(self.tasks[tid]))
            if not self.running:
                break
            await self.wake.wait()
            self.wake.clear()
            while self.finished:
                self._settle(self.finished.popleft())
        for task in self.plan.tasks:  # whatever never started (fail_fast, budget)
            if task.id not in self.outcomes:
                self._end(TaskOutcome(task.id, task.worker, "skipped", error=self.stop_reason))

    def _settle(self, outcome: TaskOutcome) -> None:
        tid = outcome.task_id
        del self.running[tid]
        self._end(outcome)
        if outcome.ok:
            self.results[tid] = outcome.output
            for child in self.dependents[tid]:
                self.waiting[child] -= 1
                if self.waiting[child] == 0 and child not in self.outcomes:
                    heapq.heappush(self.ready, (self.key[child], child))
        elif outcome.status != "cancelled":
            if self.s.failure_policy == "fail_fast":
                self.stopping = True
                self._cancel_running()
            else:
                self._skip_dependents(tid)

    def _skip_dependents(self, failed: str) -> None:
        stack = list(self.dependents[failed])
        while stack:
            child = stack.pop()
            if child in self.outcomes:
                continue
            self._end(TaskOutcome(child, self.tasks[child].worker, "skipped",
                                  error=f"dependency {failed!r} did not succeed"))
            stack.extend(self.dependents[child])

    def _end(self, outcome: TaskOutcome) -> None:
        self.outcomes[outcome.task_id] = outcome
        if self.s.bus.tracked:
            self.emit(_END_EVENT[outcome.status](
                run_id=self.run_id, task_id=outcome.task_id, outcome=outcome))

    def _cancel_running(self) -> None:
        """Cancel every running task. One cancelled before its first step never enters
        ``_execute`` and so never reports: its outcome is recorded here instead."""
        for tid, job in self.running.items():
            if tid not in self.reported:
                self.reported.add(tid)
                self.finished.append(TaskOutcome(tid, self.tasks[tid].worker, "cancelled",
                                                 error="cancelled before it started"))
            job.cancel()

    async def _execute(self, task: Task) -> TaskOutcome:
        self.reported.add(task.id)  # from here on, _execute reports how it ended
        try:
            outcome = await self._attempts(task)
        except asyncio.CancelledError:
            outcome = TaskOutcome(task.id, task.worker, "cancelled",
                                  error="cancelled while running")
            self.finished.append(outcome)
            self.wake.set()
            raise
        except Exception as exc:  # a step around the attempts failed: the task failed
            outcome = TaskOutcome(task.id, task.worker, "failed", error=describe(exc),
                                  error_type=type(exc).__name__)
        self.finished.append(outcome)
        self.wake.set()
        return outcome

    async def _attempts(self, task: Task, revision: Revision | None = None) -> TaskOutcome:
        """Run ``task`` until it succeeds or fails for good. Anything that raises on the way
        (resolving its model, restoring it, a subscriber) fails the task, never the run."""
        s = self.s
        first_start = time.time()
        try:
            worker = s.workers[task.worker]
            model = s.model_for(worker)
            if model is not None:
                model = MeteredModel(model, self.meter, task.id,
                                     purpose="task" if revision is None else "revision")
            deps = tuple(
                DependencyResult(d, self.tasks[d].worker, self.results[d])
                for d in sorted(set(task.depends_on), key=self.index.__getitem__)
            )
            journal = self.meter.journal
            if revision is None and journal is not None:
                restored = journal.restore(task)  # finished before the run was interrupted
                if restored is not None:
                    return restored
        except Exception as exc:
            return TaskOutcome(task.id, task.worker, "failed", 0, first_start, time.time(),
                               describe(exc), type(exc).__name__)
        attempt = 0
        while True:
            attempt += 1
            try:
                if s.bus.active:
                    self.emit(TaskStarted(run_id=self.run_id, task_id=task.id,
                                          worker=task.worker, attempt=attempt))
                ctx = TaskContext(self.run_id, self.objective, task, deps, self.shared, model,
                                  attempt, revision)
                if s.task_timeout is None:
                    output = await worker.run(ctx)
                else:
                    try:
                        async with asyncio.timeout(s.task_timeout):
                            output = await worker.run(ctx)
                    except TimeoutError:
                        raise TaskTimeout(task.id, s.task_timeout) from None
            except Exception as exc:
                if s.retry.should_retry(exc, attempt):
                    delay = s.retry.delay(attempt, exc)
                    try:
                        if s.bus.active:
                            self.emit(TaskRetried(run_id=self.run_id, task_id=task.id,
                                                  attempt=attempt, error=describe(exc),
                                                  delay=delay))
                        await self.meter.sleep(delay, s.sleep)
                    except Exception as stop:  # the budget ran out while waiting
                        exc = stop
                    else:
                        continue
                return TaskOutcome(
                    task.id, task.worker,
                    "timed_out" if isinstance(exc, TaskTimeout) else "failed",
                    attempt, first_start, time.time(), describe(exc), type(exc).__name__,
                )
            return TaskOutcome(task.id, task.worker, "succeeded", attempt, first_start,
                               time.time(), output=output)

    async def cancel_all(self) -> None:
        """Cancel running tasks, wait for them, and mark everything unfinished cancelled.

        Used when the run is cancelled or the engine failed (a subscriber raised): every
        outcome is recorded even if a subscriber keeps raising; the first such error is kept
        in :attr:`teardown_error` and the caller re-raises its own error."""
        self.tearing_down = True
        for running in self.running.values():
            running.cancel()
        if self.running:
            await asyncio.gather(*self.running.values(), return_exceptions=True)
        while self.finished:
            outcome = self.finished.popleft()
            self.running.pop(outcome.task_id, None)
            self._end(outcome)
        for task in self.plan.tasks:
            if task.id not in self.outcomes:
                self._end(TaskOutcome(task.id, task.worker, "cancelled",
                                      error="the run was cancelled before the task started"))

    def ordered_outcomes(self) -> tuple[TaskOutcome, ...]:
        return tuple(self.outcomes[t.id] for t in self.plan.tasks if t.id in self.outcomes)
