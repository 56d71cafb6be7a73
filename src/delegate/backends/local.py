"""The in-process executor, the default: attempts run on this event loop.

Given to a :class:`~delegate.core.scheduler.Scheduler` (or left out: ``executor=None`` means
the same), :class:`LocalExecutor` is only a marker: ``in_process`` tells the scheduler to run
each attempt itself, with the registry's worker and the run's live, metered model, and to build
no :class:`~delegate.core.hooks.AttemptSpec` at all, so the default costs nothing per task.

Called directly with a spec, it is the receiving end of any other executor: it looks the
worker up in its own registry, resolves the spec's model string (once per string) and runs
the attempt, answering a failure as an :class:`~delegate.errors.ErrorInfo`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import MappingProxyType

from ..core.hooks import AttemptResult, AttemptSpec
from ..core.workers import TaskContext, Worker, WorkerFunction, WorkerRegistry
from ..errors import ErrorInfo
from ..llm.base import Model

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """Runs attempts in this process.

    Args:
        workers: the registry :meth:`run_attempt` looks workers up in (not needed when the
            executor is given to a scheduler, which uses its own).
        resolve: turns a spec's ``provider:model`` string into a model for
            :meth:`run_attempt`; :func:`~delegate.llm.registry.get_model` by default. Calls
            to such a model are not metered by the run that sent the spec.
    """

    #: the scheduler runs this executor's attempts itself (see the module docstring)
    in_process = True

    def __init__(
        self,
        workers: WorkerRegistry | Iterable[Worker | WorkerFunction] = (),
        *,
        resolve: Callable[[str], Model] | None = None,
    ) -> None:
        self.workers = workers if isinstance(workers, WorkerRegistry) else WorkerRegistry(workers)
        self.resolve = resolve
        self._models: dict[str, Model] = {}

    async def run_attempt(self, spec: AttemptSpec) -> AttemptResult:
        """Run the attempt ``spec`` describes with this executor's worker of that name."""
        try:
            worker = self.workers[spec.worker]
            ctx = TaskContext(spec.run_id, spec.objective, spec.task, spec.dependencies,
                              MappingProxyType(dict(spec.shared)), self._model(spec.model),
                              spec.attempt, spec.revision)
            output = await worker.run(ctx)
        except Exception as exc:
            return AttemptResult(error=ErrorInfo.of(exc))
        return AttemptResult(output=output)

    def _model(self, spec: str | None) -> Model | None:
        if spec is None:
            return None
        if spec not in self._models:
            if self.resolve is None:
                from ..llm.registry import get_model

                self.resolve = get_model
            self._models[spec] = self.resolve(spec)
        return self._models[spec]
