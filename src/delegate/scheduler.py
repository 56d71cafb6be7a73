"""Running a validated plan: ready queue, priorities, concurrency, retries, outcomes.

A task starts as soon as every task it depends on has succeeded, while fewer than
``max_concurrency`` tasks run. Among ready tasks the higher ``priority`` goes first, then the
longer remaining critical path, then plan order. Each attempt may have a timeout; transient
failures are retried under the :class:`~delegate.retry.RetryPolicy`; anything else fails the
task for good. Under the ``continue`` policy the failed task's dependents are skipped and the
rest of the plan goes on; under ``fail_fast`` running tasks are cancelled and nothing new
starts. Cancelling the coroutine (Ctrl-C) cancels running workers, records every unfinished
task as ``cancelled``, emits the final events and re-raises ``CancelledError``.

Completion is pushed to the loop by each task rather than polled, so the cost per task stays
constant with the size of the plan.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal

from .errors import TaskTimeout, UsageError
from .events import (
    EventBus,
    PlanCreated,
    RunFinished,
    RunStarted,
    Subscriber,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TaskQueued,
    TaskRetried,
    TaskRevised,
    TaskSkipped,
    TaskStarted,
)
from .llm.base import Model
from .llm.registry import get_model
from .metering import Meter, MeteredModel
from .outcomes import PlanningReport, RunResult, TaskOutcome, run_status
from .plan import Plan, PlanLimits, Task, validate_plan
from .retry import RetryPolicy
from .workers import (
    DependencyResult,
    Revision,
    TaskContext,
    Worker,
    WorkerFunction,
    WorkerRegistry,
)

__all__ = ["FailurePolicy", "Scheduler"]

FailurePolicy = Literal["continue", "fail_fast"]
_END_EVENT = {
    "succeeded": TaskFinished, "failed": TaskFailed, "timed_out": TaskFailed,
    "skipped": TaskSkipped, "cancelled": TaskCancelled,
}


class Scheduler:
    """Runs plans against a set of workers.

    Args:
        workers: the workers (or plain async functions) plans may name.
        model: the default model for workers that declare none (a ``provider:model`` string
            or a :class:`Model`); ``None`` for runs of plain functions.
        max_concurrency: most tasks running at once.
        retry: retry policy for transient failures.
        task_timeout: seconds one attempt may run; ``None`` for no limit.
        failure_policy: ``continue`` (skip dependents) or ``fail_fast`` (stop the run).
        limits: plan size limits checked before anything runs.
        subscribers: event subscribers, or an :class:`EventBus` to share.
        sleep: the function used to wait between retries (tests pass a recorder).
    """

    def __init__(
        self,
        workers: WorkerRegistry | Iterable[Worker | WorkerFunction],
        *,
        model: Model | str | None = None,
        max_concurrency: int = 4,
        retry: RetryPolicy | None = None,
        task_timeout: float | None = None,
        failure_policy: FailurePolicy = "continue",
        limits: PlanLimits | None = None,
        subscribers: Iterable[Subscriber] | EventBus = (),
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if max_concurrency < 1:
            raise UsageError("max_concurrency must be at least 1")
        if failure_policy not in ("continue", "fail_fast"):
            raise UsageError(f"unknown failure policy {failure_policy!r}")
        self.workers = workers if isinstance(workers, WorkerRegistry) else WorkerRegistry(workers)
        self.model = get_model(model) if isinstance(model, str) else model
        self.max_concurrency = max_concurrency
        self.retry = retry or RetryPolicy()
        self.task_timeout = task_timeout
        self.failure_policy = failure_policy
        self.limits = limits or PlanLimits()
        self.bus = (
            subscribers if isinstance(subscribers, EventBus) else EventBus(tuple(subscribers))
        )
        self.sleep = sleep
        self._worker_models: dict[str, Model | None] = {}
        #: the result of the latest run, also when it was cancelled part way
        self.last_result: RunResult | None = None

    def model_for(self, worker: Worker) -> Model | None:
        """The model a worker uses: its own, else the scheduler's default."""
        if worker.name not in self._worker_models:
            own = worker.model
            self._worker_models[worker.name] = get_model(own) if own is not None else self.model
        return self._worker_models[worker.name]

    async def run(
        self,
        plan: Plan,
        *,
        objective: str = "",
        shared: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        meter: Meter | None = None,
        planning: PlanningReport | None = None,
        announce: bool = True,
        done: Mapping[str, TaskOutcome] | None = None,
    ) -> RunResult:
        """Validate ``plan`` and run it to the end; return every task's outcome.

        ``announce`` emits RunStarted/PlanCreated/RunFinished; a caller that frames the run
        itself (planning first, synthesis after) turns it off and emits its own. ``done``
        holds outcomes of tasks that finished under an earlier version of the plan: they are
        not run again, their outputs reach their dependents, and a dependent of one that did
        not succeed is skipped.

        Raises:
            PlanError: the plan is invalid; nothing has run.
            asyncio.CancelledError: the run was cancelled; outcomes were emitted first.
        """
        validate_plan(plan, self.workers, self.limits)
        run_id = run_id or uuid.uuid4().hex
        meter = meter or Meter(run_id, self.bus)
        started = time.perf_counter()
        if announce and self.bus.active:
            self.bus.emit(RunStarted(run_id=run_id, objective=objective))
            self.bus.emit(PlanCreated(run_id=run_id, plan=plan, source="given"))
        execution = _Execution(self, plan, objective, shared or {}, run_id, meter, done)
        cancelled = False
        try:
            await execution.drive()
        except asyncio.CancelledError:
            cancelled = True
            await execution.cancel_all()
            raise
        finally:
            result = RunResult(
                run_id=run_id,
                plan=plan,
                outcomes=execution.ordered_outcomes(),
                status=run_status(execution.ordered_outcomes(), cancelled=cancelled),
                usage=meter.usage,
                planning=planning or PlanningReport(),
                wall_seconds=time.perf_counter() - started,
                notes=tuple(meter.notes),
                budget_reached=meter.budget_reached,
            )
            self.last_result = result
            if announce and self.bus.active:
                self.bus.emit(RunFinished(run_id=run_id, result=result))
        return result


    async def revise(
        self,
        plan: Plan,
        task_id: str,
        outputs: Mapping[str, Any],
        revision: Revision,
        *,
        objective: str = "",
        shared: Mapping[str, Any] | None = None,
        run_id: str = "",
        meter: Meter | None = None,
    ) -> TaskOutcome:
        """Run one task of a finished plan again, with the reviewer's notes.

        Its dependencies' results come from ``outputs``; retries and timeouts apply as on the
        first pass. Emits :class:`TaskRevised`, not a second terminal event.
        """
        meter = meter or Meter(run_id, self.bus)
        execution = _Execution(self, plan, objective, shared or {}, run_id, meter)
        execution.results.update(outputs)
        outcome = await execution._attempts(plan.task(task_id), revision)
        if self.bus.active:
            self.bus.emit(TaskRevised(run_id=run_id, task_id=task_id, round=revision.round,
                                      outcome=outcome))
        return outcome


class _Execution:
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
        for tid, outcome in (done or {}).items():
            if tid in self.tasks:
                self.outcomes[tid] = outcome
                if outcome.ok:
                    self.results[tid] = outcome.output
        for task in plan.tasks:
            self.waiting[task.id] = sum(d not in self.results for d in set(task.depends_on))

    def emit(self, event: Any) -> None:
        self.s.bus.emit(event)

    def _budget_stop(self, reason: str) -> None:
        """The budget was reached: start nothing more; cancel running work if so asked."""
        self.stopping = True
        self.stop_reason = f"not started: {reason}"
        guard = self.meter.guard
        if guard is not None and guard.budget.on_exceed == "cancel":
            for running in self.running.values():
                running.cancel()
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
                job = asyncio.create_task(self._execute(self.tasks[tid]))
                job.add_done_callback(functools.partial(self._unstarted, self.tasks[tid]))
                self.running[tid] = job
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
                for other in self.running.values():
                    other.cancel()
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
        if self.s.bus.active:
            self.emit(_END_EVENT[outcome.status](
                run_id=self.run_id, task_id=outcome.task_id, outcome=outcome))

    def _unstarted(self, task: Task, job: asyncio.Task[TaskOutcome]) -> None:
        """A task cancelled before its first step never ran ``_execute``: report it here."""
        if job.cancelled() and task.id not in self.reported:
            self.reported.add(task.id)
            self.finished.append(TaskOutcome(task.id, task.worker, "cancelled",
                                             error="cancelled before it started"))
            self.wake.set()

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
        self.finished.append(outcome)
        self.wake.set()
        return outcome

    async def _attempts(self, task: Task, revision: Revision | None = None) -> TaskOutcome:
        s = self.s
        worker = s.workers[task.worker]
        model = s.model_for(worker)
        if model is not None:
            model = MeteredModel(model, self.meter, task.id)
        deps = tuple(
            DependencyResult(d, self.tasks[d].worker, self.results[d])
            for d in sorted(set(task.depends_on), key=self.index.__getitem__)
        )
        journal = self.meter.journal
        if revision is None and journal is not None:
            restored = journal.restore(task)  # finished before the run was interrupted
            if restored is not None:
                return restored
        first_start = time.time()
        attempt = 0
        while True:
            attempt += 1
            if s.bus.active:
                self.emit(TaskStarted(run_id=self.run_id, task_id=task.id,
                                      worker=task.worker, attempt=attempt))
            ctx = TaskContext(self.run_id, self.objective, task, deps, self.shared, model,
                              attempt, revision)
            try:
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
                    if s.bus.active:
                        self.emit(TaskRetried(run_id=self.run_id, task_id=task.id,
                                              attempt=attempt, error=_one_line(exc), delay=delay))
                    await s.sleep(delay)
                    continue
                return TaskOutcome(
                    task.id, task.worker,
                    "timed_out" if isinstance(exc, TaskTimeout) else "failed",
                    attempt, first_start, time.time(), _one_line(exc), type(exc).__name__,
                )
            return TaskOutcome(task.id, task.worker, "succeeded", attempt, first_start,
                               time.time(), output=output)

    async def cancel_all(self) -> None:
        """Cancel running tasks, wait for them, and mark everything unfinished cancelled."""
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


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
