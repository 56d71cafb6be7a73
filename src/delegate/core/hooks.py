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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import ErrorInfo
from .plan import Task
from .workers import DependencyResult, Revision

__all__ = ["AttemptResult", "AttemptSpec", "Executor"]


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
