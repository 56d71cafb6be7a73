"""Counting what a run's model calls cost, by wrapping the models it uses.

Every model call of a run (planning, each worker, review, synthesis) goes through a
:class:`MeteredModel` that asks the run's budget first (:mod:`delegate.limits.budget`), prices the
call (:mod:`delegate.limits.pricing`), adds its usage to the run's :class:`Meter` and emits a
:class:`~delegate.core.events.ModelCalled` event. Providers know nothing of this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..core.events import BudgetReached, EventBus, ModelCalled
from ..errors import ModelTimeoutError, OutputValidationError
from ..llm.base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage, WrapperModel
from ..llm.keys import request_key
from .budget import Budget, BudgetGuard
from .pricing import PriceTable, default_prices
from .ratelimit import WAIT_GUARD

if TYPE_CHECKING:
    from ..durable.journal import Journal

__all__ = ["DEFAULT_CALL_TIMEOUT", "PURPOSES", "Meter", "MeteredModel"]

#: Seconds one model call may take, waits for a rate limit included, unless the run says.
DEFAULT_CALL_TIMEOUT = 300.0

#: What a model call is for: planning (and replanning), a task's work, the reviewer's
#: verdicts, a worker's rewrite after a review sent its work back, the final synthesis.
PURPOSES = ("plan", "task", "review", "revision", "synthesis")


class Meter:
    """Adds up the usage of one run and reports each call on the event bus.

    With a ``journal`` (a durable run), every call goes through it: answered from the store
    where it can be, committed to the store when a model answered it. With a ``budget``,
    every call that would reach the model is admitted by it first.
    """

    def __init__(self, run_id: str, bus: EventBus, journal: Journal | None = None, *,
                 budget: Budget | None = None, prices: PriceTable | None = None,
                 call_timeout: float | None = DEFAULT_CALL_TIMEOUT) -> None:
        self.run_id = run_id
        self.call_timeout = call_timeout
        self.bus = bus
        self.journal = journal
        self.prices = prices or default_prices()
        self.guard = BudgetGuard(budget, self.prices) if budget is not None else None
        if self.guard is not None:
            self.guard.on_stop(self._announce)
        self.usage = Usage()
        self.by_purpose: dict[str, Usage] = {}
        self.notes: list[str] = []

    @property
    def budget_reached(self) -> str | None:
        """Why the run stopped for its budget, or ``None``."""
        return self.guard.reached if self.guard is not None else None

    def _announce(self, reason: str) -> None:
        if self.bus.active:
            self.bus.emit(BudgetReached(run_id=self.run_id, reason=reason))

    async def sleep(self, seconds: float,
                    sleep: Callable[[float], Awaitable[Any]] | None = None) -> None:
        """Wait ``seconds`` (a retry's back-off) with ``sleep`` (``asyncio.sleep`` by
        default; tests pass a virtual clock); the budget's stop interrupts the wait with
        :class:`~delegate.errors.BudgetExceeded`."""
        waiting = (sleep or asyncio.sleep)(seconds)
        if self.guard is None:
            await waiting
        else:
            await self.guard.wait(waiting)

    async def call(self, model: Model, request: Awaitable[ModelResponse]) -> ModelResponse:
        """Await one model call under the run's call timeout; any wait inside it (a rate
        limit's queue) is interrupted when the budget stops the run."""
        token = WAIT_GUARD.set(self.guard.wait if self.guard is not None else None)
        try:
            if self.call_timeout is None:
                return await request
            try:
                async with asyncio.timeout(self.call_timeout):
                    return await request
            except TimeoutError:
                raise ModelTimeoutError(
                    f"{model.name} did not answer within {self.call_timeout:g}s",
                    provider=model.provider, model=model.model_name) from None
        finally:
            WAIT_GUARD.reset(token)

    def cost(self, model: Model, usage: Usage) -> float | None:
        return self.prices.cost(model.provider, model.model_name, usage.prompt_tokens,
                                usage.completion_tokens)

    def usage_by_purpose(self) -> dict[str, Usage]:
        """A copy of the usage so far split by purpose (:data:`PURPOSES`, or whatever a
        caller named); the parts add up to :attr:`usage`."""
        return {purpose: replace(usage) for purpose, usage in self.by_purpose.items()}

    def record(self, task_id: str, purpose: str, model: str, response: ModelResponse,
               source: str = "model", messages: Sequence[Message] = (),
               settings: ModelSettings | None = None, cost: float | None = 0.0) -> None:
        part = self.by_purpose.setdefault(purpose, Usage())
        for usage in (self.usage, part):
            usage += response.usage
            if cost is None:
                usage.unpriced_calls += 1
            else:
                usage.cost_usd += cost
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
    """A model whose calls are recorded on a :class:`Meter`, attributed to a task and to
    one of :data:`PURPOSES` (``purpose``)."""

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
        key, request = "", {}
        if journal is not None:
            key, request = request_key(self.wrapped, messages, output, settings)
            hit = await journal.replay.lookup(key, output, settings)
            if hit is not None:  # costs nothing, so no budget applies
                response, source = hit.response, hit.source
                await journal.record_call(key, request, response, task_id=self.task_id,
                                          purpose=self.purpose, source=source,
                                          settings=settings, cost=0.0, error=hit.error)
                meter.record(self.task_id, self.purpose, self.wrapped.name, response, source,
                             messages, settings)
                if hit.error is not None:  # answered before, invalid: the same failure
                    raise hit.error
                return response
        reservation = (meter.guard.admit(self.wrapped, messages, settings, meter.usage)
                       if meter.guard is not None else None)
        try:
            return await self._answer(messages, output, settings, key, request)
        finally:
            if reservation is not None:  # after the meter counted what the call used
                reservation.release()

    async def _answer(self, messages: Sequence[Message], output: OutputType,
                      settings: ModelSettings | None, key: str, request: dict[str, Any],
                      ) -> ModelResponse:
        """The call itself, counted on the meter (and committed to the journal)."""
        meter, journal = self.meter, self.meter.journal
        try:
            response = await meter.call(self.wrapped, self.wrapped.request(
                messages, output=output, settings=settings))
        except OutputValidationError as exc:  # the failed attempts still cost tokens
            if exc.usage is not None:
                failed = ModelResponse(text=exc.output, usage=exc.usage,
                                       notes=(f"invalid output: {exc.message}",))
                if journal is not None:  # answered: replayed as this failure on resume
                    await journal.record_call(key, request, failed, task_id=self.task_id,
                                              purpose=self.purpose, source="model",
                                              settings=settings, error=exc,
                                              cost=meter.cost(self.wrapped, exc.usage))
                meter.record(self.task_id, self.purpose, self.wrapped.name, failed,
                             messages=messages, settings=settings,
                             cost=meter.cost(self.wrapped, exc.usage))
            raise
        cost = meter.cost(self.wrapped, response.usage)
        if journal is not None:  # committed before the worker sees the answer
            await journal.record_call(key, request, response, task_id=self.task_id,
                                      purpose=self.purpose, source="model",
                                      settings=settings, cost=cost)
        meter.record(self.task_id, self.purpose, self.wrapped.name, response,
                     messages=messages, settings=settings, cost=cost)
        return response
