"""One owner per run: :class:`RunSession` frames a run from its first event to its last.

:func:`delegate.run` and the staged content workflows both run inside a session. The
session holds the run's id, event bus and meter (the run's
:class:`~delegate.core.hooks.CallGateway`, a :class:`~delegate.core.meter.Meter`), and
guarantees, on success, on an error in any step and on cancellation alike:

- exactly one :class:`~delegate.core.events.RunStarted` and one
  :class:`~delegate.core.events.RunFinished`; on failure the finish carries a result whose
  ``status`` is ``failed`` (or ``cancelled``) and whose ``error`` says why, with every task
  the run knew of accounted for (a task of the current plan that never ended is recorded
  ``cancelled``);
- the meter is closed (the budget's clock stops), the journal (if any) is flushed and
  released with the final status, and whatever the session was given to close (a private
  runtime and the models it resolved) is closed;
- an exception from a subscriber while the run winds down does not stop the winding down;
  the run's own error is what propagates.

What the run is made of comes from outside: the composition root
(:func:`delegate.runtime.new_session`) passes the model stack as ``meter``, the journal as
``journal``, and how model strings are resolved and closed. The session itself uses nothing
but the engine. :class:`Meter` and :class:`CountedModel` live in :mod:`delegate.core.meter`
and are importable from here too.

Usage: ``async with new_session(objective, ...) as session:`` plan, schedule, review and
synthesise, then ``return session.finish(result)`` (emits ``RunFinished`` once).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..errors import UsageError, describe
from ..llm.base import Model
from .events import (
    Event,
    EventBus,
    PlanCreated,
    RunFinished,
    RunStarted,
    Subscriber,
    TaskCancelled,
    TaskEnded,
    TaskRevised,
)
from .hooks import Recorder
from .meter import CountedModel, Meter
from .outcomes import PlanningReport, RunResult, TaskOutcome, run_status
from .plan import Plan

__all__ = ["CountedModel", "Meter", "RunSession"]


class RunSession:
    """The owner of one run (see the module docstring).

    Args:
        objective: what the run is for.
        subscribers: event subscribers, called in order.
        journal: records the run (a :class:`~delegate.core.hooks.Recorder`); the run takes
            its id, opens it when it starts and closes it (flushed, released with the final
            status) when it ends.
        run_id: the run's id (default: the journal's, else a random one).
        meter: makes the run's meter from its id and event bus (default: a plain
            :class:`Meter`, which counts usage and nothing else).
        resolve: turns a ``provider:model`` string (or ``None``, the default model) into a
            model; default: only :class:`~delegate.llm.base.Model` objects are taken.
        close: awaited when the run ends, on every path (what the session's maker opened
            for it: a private runtime and its models).
    """

    def __init__(
        self, objective: str, *, subscribers: Iterable[Subscriber] = (),
        journal: Recorder | None = None, run_id: str | None = None,
        meter: Callable[[str, EventBus], Meter] | None = None,
        resolve: Callable[[str | Model | None], Model] | None = None,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.objective = objective
        self.journal = journal
        self._resolve = resolve
        self._close = close
        self.run_id = journal.run_id if journal is not None else run_id or uuid.uuid4().hex
        # the session listens first, so it knows every plan and outcome even when a later
        # subscriber raises
        self.bus = EventBus((*([journal] if journal is not None else ()), *subscribers),
                            trackers=(self._track,))
        self.meter = (meter or Meter)(self.run_id, self.bus)
        self.planning = PlanningReport()
        self.plan: Plan | None = None
        self.outcomes: dict[str, TaskOutcome] = {}
        self.notes: list[str] = []
        self.started = time.perf_counter()
        self.result: RunResult | None = None
        self._entered = False

    # models
    def model(self, spec: str | Model | None = None) -> Model:
        """``spec`` resolved for the run (a string by the session's ``resolve``).

        Raises:
            UsageError: a string, or no model, and nothing to resolve it with.
        """
        if self._resolve is not None:
            return self._resolve(spec)
        if isinstance(spec, Model):
            return spec
        raise UsageError(f"this session cannot resolve the model {spec!r}; give a Model")

    def check_budget(self, model: Model | None) -> None:
        """Refuse before anything runs what the budget cannot allow (an unpriced model)."""
        self.meter.check(model)

    # the frame
    async def __aenter__(self) -> RunSession:
        try:
            if self.journal is not None:
                await self.journal.open()
            self._entered = True
            self.bus.emit(RunStarted(run_id=self.run_id, objective=self.objective))
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self.meter.start()
        return self

    def finish(self, result: RunResult) -> RunResult:
        """Announce the run's final ``result`` (exactly once) and return it; a result with no
        ``usage_by_purpose`` gets the meter's."""
        if self.result is not None:
            raise RuntimeError("the run has already finished")
        if not result.usage_by_purpose:  # the meter's split, whoever built the result
            result = dataclasses.replace(result, usage_by_purpose=self.meter.usage_by_purpose())
        self.result = result
        self.bus.emit(RunFinished(run_id=self.run_id, result=result))
        return result

    async def __aexit__(self, kind: Any, error: BaseException | None, tb: Any) -> bool:
        problems: list[BaseException] = []
        self.meter.close()
        if not self._entered:  # it never started: only what was resolved is closed
            await self._close_opened(problems)
            return False
        if self.result is None:
            if error is None:
                error = RuntimeError("the run ended without a result")
                problems.append(error)
            self._wind_down(error, problems)
        if self.journal is not None:
            result: RunResult | None = self.result
            try:
                await asyncio.shield(self.journal.close(
                    result.status if result is not None else "failed",
                    result.to_dict() if result is not None else None,
                    result.error if result is not None else None))
            except Exception as exc:
                problems.append(exc)
        await self._close_opened(problems)
        if error is None and problems:
            raise problems[0]
        return False

    async def close_unstarted(self) -> None:
        """Close what a session that never entered was given to close (a private runtime)."""
        await self.__aexit__(None, None, None)

    async def _close_opened(self, problems: list[BaseException]) -> None:
        close, self._close = self._close, None
        if close is not None:
            try:
                await asyncio.shield(close())
            except Exception as exc:
                problems.append(exc)

    def _wind_down(self, error: BaseException, problems: list[BaseException]) -> None:
        """Account for every task, then announce the failed or cancelled run."""
        cancelled = isinstance(error, asyncio.CancelledError | KeyboardInterrupt)
        for task in self.plan.tasks if self.plan is not None else ():
            if task.id not in self.outcomes:  # held back, or never reached
                outcome = TaskOutcome(task.id, task.worker, "cancelled",
                                      error="the run ended before the task started")
                self._emit_quietly(TaskCancelled(run_id=self.run_id, task_id=task.id,
                                                 outcome=outcome), problems)
                self.outcomes[task.id] = outcome
        why = "cancelled" if cancelled and not str(error) else describe(error)
        result = self.snapshot(status="cancelled" if cancelled else "failed", error=why)
        self.result = result
        self._emit_quietly(RunFinished(run_id=self.run_id, result=result), problems)

    def _emit_quietly(self, event: Event, problems: list[BaseException]) -> None:
        try:
            self.bus.emit(event)
        except Exception as exc:
            problems.append(exc)

    def snapshot(self, *, text: str = "", status: str | None = None,
                 error: str | None = None, **changes: Any) -> RunResult:
        """The run so far as a :class:`RunResult` over the current plan version."""
        plan = self.plan or Plan(tasks=())
        outcomes = tuple(self.outcomes[t.id] for t in plan.tasks if t.id in self.outcomes)
        result = RunResult(
            run_id=self.run_id, plan=plan, outcomes=outcomes,
            status=status or run_status(outcomes),  # type: ignore[arg-type]
            text=text, usage=self.meter.usage, planning=self.planning,
            wall_seconds=time.perf_counter() - self.started,
            notes=(*self.meter.notes, *self.notes),
            budget_reached=self.meter.budget_reached, error=error,
            usage_by_purpose=self.meter.usage_by_purpose(),
        )
        return dataclasses.replace(result, **changes) if changes else result

    def _track(self, event: Event) -> None:
        if isinstance(event, PlanCreated):
            self.plan = event.plan
        elif isinstance(event, TaskEnded | TaskRevised):
            self.outcomes[event.task_id] = event.outcome
