"""The plug protocols of the engine: where a task attempt runs.

An :class:`Executor` runs one attempt of one task and reports how it ended; the driver
(:class:`~delegate.core.scheduler.Scheduler`) keeps everything around the attempt: the ready
queue, retries, the task timeout, events and outcomes. So an executor never retries, never
times out on its own account and emits nothing; it is given an :class:`AttemptSpec` and
answers an :class:`AttemptResult`.

Both are plain, frozen and picklable, so an attempt can cross a process boundary: the spec
names the worker and the model instead of holding them (the receiving side has its own
registry), and the result carries a failure as an :class:`~delegate.errors.ErrorInfo`
rather than the exception, which may not pickle.

The default is to run the attempt in this process with the run's live, metered model
(:class:`delegate.backends.local.LocalExecutor`); the scheduler then builds no spec at all.
Implementations live in :mod:`delegate.backends`.

Two more plugs face the layers below the engine: a :class:`CallGateway` is how the engine calls
models and waits (the run's model stack stands behind it), and a :class:`Recorder` records the
run (the durable layer's journal).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import ErrorInfo
from ..llm.base import Model, Usage
from .events import Event
from .outcomes import TaskOutcome
from .plan import Task
from .workers import DependencyResult, Revision

__all__ = ["AttemptResult", "AttemptSpec", "CallGateway", "Executor", "Recorder"]


@dataclass(frozen=True)
class AttemptSpec:
    """One attempt of one task, as data another process can receive.

    Attributes:
        run_id: the run's id.
        objective: the request the whole run serves.
        task: the task to carry out (a pydantic model: it pickles).
        dependencies: the results of ``task.depends_on`` in plan order, each its task id,
            worker and output.
        shared: the run's shared data, a plain dict (read it, never change it: every
            attempt of the run is given the same one).
        worker: the name of the worker to run, looked up in the receiving side's registry.
        model: the model the worker uses as a ``provider:model`` string (the worker's own,
            else the run's default), or ``None`` for a run without a model. Never a live
            model: model calls in another process go to that process's own model.
        attempt: 1 for the first attempt, 2 for the first retry, ...
        revision: the reviewer's notes and the previous output when the task was sent
            back, else ``None``.
    """

    run_id: str
    objective: str
    task: Task
    dependencies: tuple[DependencyResult, ...]
    shared: Mapping[str, Any]
    worker: str
    model: str | None
    attempt: int = 1
    revision: Revision | None = None


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt ended: its output, or what failed it.

    Attributes:
        output: the worker's result when it succeeded (it must pickle to come back from
            another process).
        error: what failed the attempt, or ``None`` when it succeeded. The driver judges it
            under the run's retry policy as it would the exception.
    """

    output: Any = None
    error: ErrorInfo | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Executor(Protocol):
    """Runs one attempt of one task; see the module docstring for what stays with the
    driver.

    ``run_attempt`` reports a worker's failure in :attr:`AttemptResult.error` rather than
    raising it. An exception it raises itself (its pool broke, a spec would not pickle) fails
    the attempt all the same, judged by the retry policy like a worker's.

    An executor whose ``in_process`` attribute is true runs attempts in the scheduler's own
    process; the scheduler then runs them itself, with the run's live, metered model, and
    builds no spec (see :class:`delegate.backends.local.LocalExecutor`).
    """

    async def run_attempt(self, spec: AttemptSpec) -> AttemptResult:
        """Run ``spec``'s attempt to its end and say how it ended."""
        ...


# -- the model calls of a run, and its recorder (the durable layer's journal) ---------------------

@runtime_checkable
class CallGateway(Protocol):
    """The one way a run's engine reaches models and waits: what the scheduler, the review
    rounds and the session ask of the run's model stack, and nothing of how it is made.

    :class:`delegate.core.meter.Meter` is the plain implementation (it counts usage and
    nothing else, for a scheduler used on its own); the run's composition root puts the
    whole stack behind the same methods (replay and cache, budget, call timeout, rate limit,
    metering and pricing, output repair; see :mod:`delegate.runtime`), so the engine never
    imports limits, durable storage or a provider.

    Attributes:
        usage: what the run's model calls used so far (one object, added to in place).
        notes: what the model calls said (a repair, a fallback), for the run's result.
    """

    usage: Usage
    notes: list[str]

    @property
    def budget_reached(self) -> str | None:
        """Why the run stopped for its budget, or ``None``."""
        ...

    @property
    def cancel_on_stop(self) -> bool:
        """Whether the budget's stop cancels running tasks (else they finish)."""
        ...

    @property
    def restores(self) -> bool:
        """Whether :meth:`restore` can ever give an outcome (a durable run)."""
        ...

    def wrap(self, model: Model, task_id: str = "", purpose: str = "task") -> Model:
        """``model`` as the run calls it for ``task_id`` and ``purpose`` (``plan``, ``task``,
        ``review``, ``revision``, ``synthesis``): every call counted, and held to the run's
        limits."""
        ...

    async def sleep(self, seconds: float,
                    sleep: Callable[[float], Awaitable[Any]] | None = None) -> None:
        """Wait ``seconds`` (a retry's back-off) with ``sleep`` (``asyncio.sleep`` by
        default); the budget's stop interrupts the wait with
        :class:`~delegate.errors.BudgetExceeded`."""
        ...

    def on_stop(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(reason)`` when the budget stops the run; returns the function that
        removes it."""
        ...

    def restore(self, task: Task) -> TaskOutcome | None:
        """The outcome ``task`` already has from an earlier life of the run, or ``None``."""
        ...

    def usage_by_purpose(self) -> dict[str, Usage]:
        """A copy of :attr:`usage` split by purpose; the parts add up to it."""
        ...

    def check(self, model: Model | None) -> None:
        """Refuse, before the run starts, what its limits cannot allow (a dollar budget on a
        model with no price)."""
        ...

    def start(self) -> None:
        """The run started (the budget's clock starts)."""
        ...

    def close(self) -> None:
        """The run ended (timers stop); on every path."""
        ...


@runtime_checkable
class Recorder(Protocol):
    """Records a run as it goes (a :class:`delegate.durable.journal.Journal`): it subscribes
    to the run's events, and the run's session opens it before ``RunStarted`` and closes it
    after ``RunFinished`` with the final status, on every path.

    Attributes:
        run_id: the id the run takes.
    """

    run_id: str

    def __call__(self, event: Event) -> None:
        """Record ``event`` (raises :class:`~delegate.errors.StoreError` once the store
        failed)."""
        ...

    async def open(self) -> None:
        """Start recording; idempotent."""
        ...

    async def close(self, status: str, result: Any = None, error: str | None = None) -> None:
        """Write what is queued and give the run up with ``status``, ``result`` and ``error``;
        idempotent (the first status counts)."""
        ...
