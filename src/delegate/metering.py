"""Counting what a run's model calls cost, by wrapping the models it uses.

Every model call of a run (planning, each worker, review, synthesis) goes through a
:class:`MeteredModel` that asks the run's budget first (:mod:`delegate.budget`), prices the
call (:mod:`delegate.pricing`), adds its usage to the run's :class:`Meter` and emits a
:class:`~delegate.events.ModelCalled` event. Providers know nothing of this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .budget import Budget, BudgetGuard
from .errors import OutputValidationError
from .events import BudgetReached, EventBus, ModelCalled
from .journal import request_key
from .llm.base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage, WrapperModel
from .pricing import PriceTable, default_prices

if TYPE_CHECKING:
    from .journal import Journal

__all__ = ["Meter", "MeteredModel"]


class Meter:
    """Adds up the usage of one run and reports each call on the event bus.

    With a ``journal`` (a durable run), every call goes through it: answered from the store
    where it can be, committed to the store when a model answered it. With a ``budget``,
    every call that would reach the model is admitted by it first.
    """

    def __init__(self, run_id: str, bus: EventBus, journal: Journal | None = None, *,
                 budget: Budget | None = None, prices: PriceTable | None = None) -> None:
        self.run_id = run_id
        self.bus = bus
        self.journal = journal
        self.prices = prices or default_prices()
        self.guard = BudgetGuard(budget, self.prices) if budget is not None else None
        if self.guard is not None:
            self.guard.on_stop(self._announce)
        self.usage = Usage()
        self.notes: list[str] = []

    @property
    def budget_reached(self) -> str | None:
        """Why the run stopped for its budget, or ``None``."""
        return self.guard.reached if self.guard is not None else None

    def _announce(self, reason: str) -> None:
        if self.bus.active:
            self.bus.emit(BudgetReached(run_id=self.run_id, reason=reason))

    def cost(self, model: Model, usage: Usage) -> float | None:
        return self.prices.cost(model.provider, model.model_name, usage.prompt_tokens,
                                usage.completion_tokens)

    def record(self, task_id: str, purpose: str, model: str, response: ModelResponse,
               source: str = "model", messages: Sequence[Message] = (),
               settings: ModelSettings | None = None, cost: float | None = 0.0) -> None:
        self.usage += response.usage
        if cost is None:
            self.usage.unpriced_calls += 1
        else:
            self.usage.cost_usd += cost
        for note in response.notes:
            self.notes.append(f"{task_id or purpose}: {note}")
        if self.bus.active:
            self.bus.emit(
                ModelCalled(
                    run_id=self.run_id,
                    task_id=task_id,
                    purpose=purpose,
                    model=model,
                    prompt_tokens=response.usage.prompt_tokens,
                    completion_tokens=response.usage.completion_tokens,
                    latency_seconds=response.usage.latency_seconds,
                    notes=response.notes,
                    source=source,
                    messages=tuple(messages),
                    response=response,
                    settings=settings,
                    cost_usd=cost,
                )
            )


class MeteredModel(WrapperModel):
    """A model whose calls are recorded on a :class:`Meter`, attributed to a task or to the
    run's planning, review or synthesis (``purpose``)."""

    def __init__(
        self, wrapped: Model, meter: Meter, task_id: str = "", purpose: str = "task"
    ) -> None:
        super().__init__(wrapped)
        self.meter = meter
        self.task_id = task_id
        self.purpose = purpose

    async def request(
        self,
        messages: Sequence[Message],
        *,
        output: OutputType = None,
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        meter, journal = self.meter, self.meter.journal
        if journal is not None:
            key, request = request_key(self.wrapped, messages, output, settings)
            hit = journal.lookup(key, output, settings)
            if hit is not None:  # costs nothing, so no budget applies
                response, source = hit
                journal.record_call(key, request, response, task_id=self.task_id,
                                    purpose=self.purpose, source=source, settings=settings,
                                    cost=0.0)
                meter.record(self.task_id, self.purpose, self.wrapped.name, response, source,
                             messages, settings)
                return response
        if meter.guard is not None:
            meter.guard.admit(self.wrapped, messages, settings, meter.usage)
        try:
            response = await self.wrapped.request(messages, output=output, settings=settings)
        except OutputValidationError as exc:  # the failed attempts still cost tokens
            if exc.usage is not None:
                failed = ModelResponse(text=exc.output, usage=exc.usage,
                                       notes=(f"invalid output: {exc.message}",))
                meter.record(self.task_id, self.purpose, self.wrapped.name, failed,
                             messages=messages, settings=settings,
                             cost=meter.cost(self.wrapped, exc.usage))
            raise
        cost = meter.cost(self.wrapped, response.usage)
        if journal is not None:  # committed before the worker sees the answer
            journal.record_call(key, request, response, task_id=self.task_id,
                                purpose=self.purpose, source="model", settings=settings,
                                cost=cost)
        meter.record(self.task_id, self.purpose, self.wrapped.name, response,
                     messages=messages, settings=settings, cost=cost)
        return response
