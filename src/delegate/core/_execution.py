"""The mutable state of one run of one plan, driven by :class:`~delegate.core.scheduler.Scheduler`.

Each running task pushes its outcome onto ``finished`` and wakes the driver; the driver settles
outcomes in the order they arrive, releases dependents whose last dependency just succeeded,
and skips the dependents of a task that did not. A budget stop (see
:mod:`delegate.limits.budget`) or a ``fail_fast`` failure stops new starts; whatever never
started ends ``skipped``.

Released tasks wait in ``pending`` in the order they became ready. While there are slots for
all of them they simply start; only when slots are scarce do they go through the ready heap,
keyed by (-priority, -remaining critical path, plan index), the path weighed in expected
seconds where the plan or the workers' history gives any (see :meth:`Execution._key`).
A large ready set starts in bursts of :data:`BURST`: the driver creates a burst, lets it take
its first steps (where a worker sends its request), settles what finished meanwhile and starts
the next, so the first task's work begins after 64 creations rather than a thousand, and a
``fail_fast`` failure or a budget stop in one burst keeps the later ones from starting.

Each task runs as :func:`~delegate.core._attempts.execute`: a plain function worker with no
model, on a run with no timeout, journal, listener or remote executor (see ``direct``), is
awaited there directly; every other task goes through its attempts.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Mapping
from inspect import CORO_CREATED, getcoroutinestate
from types import MappingProxyType, coroutine
from typing import TYPE_CHECKING, Any

from ._attempts import execute as _execute_task
from ._builders import Dependency as _Dependency
from .events import TaskCancelled, TaskFailed, TaskFinished, TaskQueued, TaskSkipped, TaskWaiting
from .meter import Meter
from .outcomes import TaskOutcome
from .plan import Plan, Task
from .workers import DependencyResult, Worker

if TYPE_CHECKING:
    from .scheduler import Scheduler

__all__ = ["Execution"]

_new = object.__new__  # with the builders of core/_builders.py

#: how many tasks the driver starts before it lets them take their first steps
BURST = 64


@coroutine
def _yield() -> Any:
    """One pass of the event loop (what ``asyncio.sleep(0)`` does, without its call)."""
    yield


_END_EVENT = {
    "succeeded": TaskFinished, "failed": TaskFailed, "timed_out": TaskFailed,
    "skipped": TaskSkipped, "cancelled": TaskCancelled, "waiting": TaskWaiting,
}


class Execution:
    """The mutable state of one run of one plan."""

    def __init__(
        self, scheduler: Scheduler, plan: Plan, objective: str, shared: Mapping[str, Any],
        run_id: str, meter: Meter, done: Mapping[str, TaskOutcome] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.bus = scheduler.bus
        self.plan = plan
        self.objective = objective
        self.shared_data = dict(shared)  # plain, for attempts sent elsewhere
        self.shared = MappingProxyType(self.shared_data)
        self.run_id = run_id
        self.meter = meter
        graph = plan._graph  # built once per plan, by validate_plan
        self.tasks: dict[str, Task] = graph.tasks
        self.dependents: dict[str, list[str]] = graph.dependents
        self.running: dict[str, asyncio.Task[None]] = {}
        self.outcomes: dict[str, TaskOutcome] = {}
        self.results: dict[str, Any] = {}
        #: for a task in :func:`run_attempts`, its latest attempt and when the first began
        #: (what its outcome says if it is cancelled)
        self.attempted: dict[str, tuple[int, float]] = {}
        #: each succeeded task's result as its dependents receive it, built once (on its
        #: success, when something depends on it) and shared by all of them: it is frozen
        self.handed: dict[str, DependencyResult] = {}
        self.pending: list[str] = []
        self.heap: list[tuple[tuple[int, float, int], str]] = []
        self.finished: deque[TaskOutcome] = deque()
        #: what the driver awaits while nothing is finished; set by the first to finish
        self.waiter: asyncio.Future[None] | None = None
        self.stopping = False
        self.stop_reason = "the run stopped after a failure (fail_fast)"
        #: tasks cancelled before they started, whose outcome the driver recorded
        self.reported: set[str] = set()
        self.tearing_down = False
        self.teardown_error: Exception | None = None
        self.observed = scheduler.observed
        self._remaining: dict[str, float] | None = None
        executor = scheduler.executor
        self.remote = None if getattr(executor, "in_process", executor is None) else executor
        #: the worker functions awaited directly (see the module docstring), by worker name
        self.direct: dict[str, Any] = {}
        if self.remote is None and scheduler.task_timeout is None and not meter.restores:
            for name in graph.workers:
                worker = scheduler.workers.get(name)
                if (worker is not None and worker.fn is not None
                        and type(worker).run is Worker.run
                        and worker.model is None and scheduler.model is None):
                    self.direct[name] = worker.fn
        #: for each task with dependencies, how many of them have yet to succeed
        self.waiting = dict(graph.indegree)
        if done:
            for tid, outcome in done.items():
                if tid in self.tasks:
                    self.outcomes[tid] = outcome
                    if outcome.ok:
                        self.results[tid] = outcome.output
            results = self.results
            for tid in self.waiting:
                self.waiting[tid] = sum(d not in results for d in self.tasks[tid].depends_on)

    def emit(self, event: Any) -> None:
        if not self.tearing_down:
            self.bus.emit(event)
            return
        try:  # tearing down: every outcome is recorded whatever a subscriber does
            self.bus.emit(event)
        except Exception as exc:
            self.teardown_error = self.teardown_error or exc

    def _budget_stop(self, reason: str) -> None:
        """The budget was reached: start nothing more; cancel running work if so asked."""
        self.stopping = True
        self.stop_reason = f"not started: {reason}"
        if self.meter.cancel_on_stop:
            self._cancel_running()
        self._wake()

    async def drive(self) -> None:
        unlisten = self.meter.on_stop(self._budget_stop)
        try:
            await self._drive()
        finally:
            unlisten()

    async def _drive(self) -> None:
        outcomes, waiting = self.outcomes, self.waiting
        if self.bus.active or outcomes:
            for tid, task in self.tasks.items():
                if tid in outcomes:
                    continue  # finished under an earlier version of the plan
                if self.bus.active:
                    self.emit(TaskQueued(run_id=self.run_id, task_id=tid, worker=task.worker))
                if not waiting.get(tid):
                    self.pending.append(tid)
            for tid in [tid for tid, o in outcomes.items() if not o.ok]:
                self._skip_dependents(tid)
        else:
            self.pending = list(self.plan._graph.roots)
        running, finished = self.running, self.finished
        new_future = asyncio.get_running_loop().create_future
        while True:
            if (self.pending or self.heap) and not self.stopping and self._start():
                await _yield()  # a burst started: let it take its first steps, then go on
                while finished:
                    self._settle(finished.popleft())
                continue
            if not running:
                break
            if not finished:
                self.waiter = new_future()
                try:
                    await self.waiter
                finally:  # woken, or cancelled: nobody may set it any more
                    self.waiter = None
            while finished:
                self._settle(finished.popleft())
        if len(outcomes) < len(self.tasks):  # whatever never started (fail_fast, budget)
            for tid, task in self.tasks.items():
                if tid not in outcomes:
                    self._end(TaskOutcome(tid, task.worker, "skipped", error=self.stop_reason))

    def _start(self) -> bool:
        """Start ready tasks while there are slots: all of them when they fit, else the best
        by :meth:`_key`; at most :data:`BURST` at a time. Returns whether ready tasks and free
        slots are left (the burst was cut short)."""
        running = self.running
        free = self.scheduler.max_concurrency - len(running)
        if free <= 0:
            return False
        pending, heap = self.pending, self.heap
        if len(pending) + len(heap) <= free:
            batch = [tid for _, tid in sorted(heap)] + pending if heap else pending
            heap[:] = ()
            if len(batch) > BURST:
                self.pending, batch = batch[BURST:], batch[:BURST]
            else:
                self.pending = []
        else:
            key = self._key
            for tid in pending:
                heapq.heappush(heap, (key(tid), tid))
            pending.clear()
            batch = [heapq.heappop(heap)[1] for _ in range(min(free, BURST))]
        loop, execute, tasks = asyncio.get_running_loop(), _execute_task, self.tasks
        if loop.get_task_factory() is None:  # what loop.create_task would do, without its frame
            for tid in batch:
                running[tid] = asyncio.Task(execute(self, tasks[tid]), loop=loop)
        else:
            for tid in batch:
                running[tid] = loop.create_task(execute(self, tasks[tid]))
        return len(batch) == BURST and bool(self.pending or heap) and free > BURST

    def _key(self, tid: str) -> tuple[int, float, int]:
        """Higher priority first, then the longer remaining critical path, then plan order."""
        if self._remaining is None:
            self._remaining = self.plan.critical_path(self.scheduler.expected_seconds(self.plan))
        return (-self.tasks[tid].priority, -self._remaining[tid],
                self.plan._graph.position[tid])

    def _settle(self, outcome: TaskOutcome) -> None:
        tid = outcome.task_id
        del self.running[tid]
        self.outcomes[tid] = outcome
        if self.bus.tracked:
            self.emit(_END_EVENT[outcome.status](run_id=self.run_id, task_id=tid,
                                                 outcome=outcome))
        if outcome.status == "succeeded":
            self.results[tid] = outcome.output
            if self.dependents[tid]:
                self.handed[tid] = self._handed(tid)
            started, ended = outcome.started_at, outcome.finished_at
            if started is not None and ended is not None:  # the worker's time, for _key
                seen = self.observed.get(outcome.worker)
                if seen is None:
                    seen = self.observed[outcome.worker] = [0.0, 0]
                seen[0] += ended - started
                seen[1] += 1
            waiting, outcomes, pending = self.waiting, self.outcomes, self.pending
            for child in self.dependents[tid]:
                left = waiting[child] - 1
                waiting[child] = left
                if left == 0 and child not in outcomes:
                    pending.append(child)
        elif outcome.status == "waiting":  # its dependents wait too; the rest goes on
            self._skip_dependents(tid, f"dependency {tid!r} is waiting for an answer")
        elif outcome.status != "cancelled":
            if self.scheduler.failure_policy == "fail_fast":
                self.stopping = True
                self._cancel_running()
            else:
                self._skip_dependents(tid)

    def _skip_dependents(self, failed: str, why: str = "") -> None:
        why = why or f"dependency {failed!r} did not succeed"
        stack = list(self.dependents[failed])
        while stack:
            child = stack.pop()
            if child in self.outcomes:
                continue
            self._end(TaskOutcome(child, self.tasks[child].worker, "skipped", error=why))
            stack.extend(self.dependents[child])

    def _end(self, outcome: TaskOutcome) -> None:
        self.outcomes[outcome.task_id] = outcome
        if self.bus.tracked:
            self.emit(_END_EVENT[outcome.status](
                run_id=self.run_id, task_id=outcome.task_id, outcome=outcome))

    def _cancel_running(self) -> None:
        """Cancel every running task. One cancelled before its first step never enters
        :func:`~delegate.core._attempts.execute`, so never reports: it is recorded here."""
        for tid, job in self.running.items():
            if tid not in self.reported and getcoroutinestate(job.get_coro()) == CORO_CREATED:
                self.reported.add(tid)
                self.report(TaskOutcome(tid, self.tasks[tid].worker, "cancelled",
                                        error="cancelled before it started"))
            job.cancel()

    def _handed(self, tid: str) -> DependencyResult:
        """``tid``'s result as a dependent receives it."""
        dep = _new(_Dependency)  # a DependencyResult, built as core/_builders.py says
        dep.task_id, dep.worker, dep.output = tid, self.tasks[tid].worker, self.results[tid]
        dep.__class__ = DependencyResult
        return dep

    def dependencies(self, task: Task) -> tuple[DependencyResult, ...]:
        """The results of ``task``'s dependencies, in plan order."""
        if not task.depends_on:
            return ()
        handed, order = self.handed, sorted(task.depends_on,
                                            key=self.plan._graph.position.__getitem__)
        try:
            return tuple(map(handed.__getitem__, order))
        except KeyError:  # results given from outside the run (an earlier version, a revision)
            for d in order:
                if d not in handed:
                    handed[d] = self._handed(d)
            return tuple(map(handed.__getitem__, order))

    def report(self, outcome: TaskOutcome) -> None:
        """Hand ``outcome`` to the driver and wake it."""
        self.finished.append(outcome)
        self._wake()

    def _wake(self) -> None:
        """Wake the driver if it waits (the first to finish sets its future)."""
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            waiter.set_result(None)

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
        for tid, task in self.tasks.items():
            if tid not in self.outcomes:
                self._end(TaskOutcome(tid, task.worker, "cancelled",
                                      error="the run was cancelled before the task started"))

    def ordered_outcomes(self) -> tuple[TaskOutcome, ...]:
        outcomes = self.outcomes
        if len(outcomes) == len(self.tasks):
            return tuple(map(outcomes.__getitem__, self.tasks))
        return tuple(outcomes[tid] for tid in self.tasks if tid in outcomes)

