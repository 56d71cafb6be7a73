"""Running a validated plan: ready queue, priorities, concurrency, retries, outcomes.

A task starts as soon as every task it depends on has succeeded, while fewer than
``max_concurrency`` tasks run. Among ready tasks the higher ``priority`` goes first, then the
longer remaining critical path, then plan order. The critical path is weighed in seconds where
anything says how long tasks take (a task's ``expected_seconds``, else the mean time its
worker took in this scheduler's earlier runs), and in tasks otherwise.

Each attempt may have a timeout; transient failures are retried under the
:class:`~delegate.core.retry.RetryPolicy`; anything else fails the task for good. Under the
``continue`` policy the failed task's dependents are skipped and the rest of the plan goes on;
under ``fail_fast`` running tasks are cancelled and nothing new starts. Cancelling the
coroutine (Ctrl-C) cancels running workers, records every unfinished task as ``cancelled``,
emits the final events and re-raises ``CancelledError``.

Completion is pushed to the loop by each task rather than polled, so the cost per task stays
constant with the size of the plan. Attempts run in this process unless an
:class:`~delegate.core.hooks.Executor` that runs them elsewhere is given.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from ..errors import UsageError
from ..llm.base import Model
from ._attempts import run_attempts
from ._execution import Execution
from .config import FailurePolicy
from .events import (
    EventBus,
    PlanCreated,
    RunFinished,
    RunStarted,
    Subscriber,
)
from .hooks import Executor
from .meter import Meter
from .outcomes import PlanningReport, RunResult, TaskOutcome, run_status
from .plan import Plan, PlanLimits, validate_plan
from .retry import RetryPolicy
from .workers import (
    Revision,
    Worker,
    WorkerFunction,
    WorkerRegistry,
)

__all__ = ["FailurePolicy", "Scheduler"]



def _unresolvable(spec: str) -> Model:
    raise UsageError(f"this scheduler cannot resolve the model {spec!r}; give a Model, or "
                     "resolve= (delegate.llm.registry.get_model)")


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
        sleep: the function used to wait between retries (tests pass a recorder); the
            run's budget interrupts the wait either way.
        resolve: turns a ``provider:model`` string (``model``, or a worker's) into a model:
            the run's session passes its own, which also closes them; code that gives the
            scheduler strings passes one too (:func:`delegate.llm.registry.get_model`). The
            engine resolves no string itself: without ``resolve``, a string ``model`` is a
            :class:`~delegate.errors.UsageError`, and a worker's string fails its tasks.
        executor: where attempts run; ``None`` (or an executor whose ``in_process`` is true,
            such as :class:`~delegate.backends.local.LocalExecutor`) runs them in this
            process with the run's live, metered model. Any other executor is sent an
            :class:`~delegate.core.hooks.AttemptSpec` per attempt; retries, the timeout and
            events stay with the scheduler.
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
        resolve: Callable[[str], Model] | None = None,
        executor: Executor | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise UsageError("max_concurrency must be at least 1")
        if failure_policy not in ("continue", "fail_fast"):
            raise UsageError(f"unknown failure policy {failure_policy!r}")
        self.workers = workers if isinstance(workers, WorkerRegistry) else WorkerRegistry(workers)
        self.resolve = resolve or _unresolvable
        self.model = self.resolve(model) if isinstance(model, str) else model
        self.model_spec = model if isinstance(model, str) else getattr(model, "name", None)
        self.max_concurrency = max_concurrency
        self.retry = retry or RetryPolicy()
        self.task_timeout = task_timeout
        self.failure_policy = failure_policy
        self.limits = limits or PlanLimits()
        self.bus = (
            subscribers if isinstance(subscribers, EventBus) else EventBus(tuple(subscribers))
        )
        self.sleep = sleep
        self.executor = executor
        self._worker_models: dict[str, Model | None] = {}
        #: per worker, the seconds its succeeded tasks took in all and how many there were
        #: (added to as each run settles its tasks; read by :meth:`expected_seconds`)
        self.observed: dict[str, list[float]] = {}
        #: the result of the latest run, also when it was cancelled part way
        self.last_result: RunResult | None = None

    def model_for(self, worker: Worker) -> Model | None:
        """The model a worker uses: its own, else the scheduler's default."""
        if worker.name not in self._worker_models:
            own = worker.model
            self._worker_models[worker.name] = (
                self.resolve(own) if isinstance(own, str) else own if own is not None
                else self.model)
        return self._worker_models[worker.name]

    def model_spec_for(self, worker: Worker) -> str | None:
        """The ``provider:model`` string of the model a worker uses, for an attempt run
        elsewhere: its own (a string as declared, a model's ``name``), else the default's."""
        own = worker.model
        if own is None:
            return self.model_spec
        return own if isinstance(own, str) else own.name

    def expected_seconds(self, plan: Plan) -> dict[str, float] | None:
        """How long each task of ``plan`` is expected to take: its ``expected_seconds``, else
        its worker's mean observed time, else the mean of those known in the plan. ``None``
        when nothing is known: the critical path then counts tasks."""
        means = {name: total / count for name, (total, count) in self.observed.items()
                 if total > 0}
        known = {t.id: t.expected_seconds if t.expected_seconds is not None
                 else means[t.worker] for t in plan.tasks
                 if t.expected_seconds is not None or t.worker in means}
        if not known:
            return None
        if len(known) < len(plan.tasks):
            fill = sum(known.values()) / len(known)
            known = {t.id: known.get(t.id, fill) for t in plan.tasks}
        return known

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
        execution = Execution(self, plan, objective, shared or {}, run_id, meter, done)
        cancelled = False
        try:
            await execution.drive()
        except BaseException as exc:  # cancelled, or the engine failed: nothing left running
            cancelled = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
            await asyncio.shield(execution.cancel_all())
            raise
        finally:
            outcomes = execution.ordered_outcomes()
            result = RunResult(
                run_id=run_id,
                plan=plan,
                outcomes=outcomes,
                status=run_status(outcomes, cancelled=cancelled),
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
        first pass. Emits no terminal event: the caller decides whether the rewrite stands
        and announces :class:`~delegate.core.events.TaskRevised`.
        """
        meter = meter or Meter(run_id, self.bus)
        execution = Execution(self, plan, objective, shared or {}, run_id, meter)
        execution.results.update(outputs)
        return await run_attempts(execution, plan.task(task_id), revision)
