"""What a run's model calls used: :class:`Meter` adds it up and announces each call, and
:class:`CountedModel` is the wrapper that counts a model's calls on a meter.

The plain meter counts and nothing else (no prices, no budget, no store); it is the run's
:class:`~delegate.core.hooks.CallGateway` when nothing richer is given. The run's model stack
(:class:`delegate.runtime.ModelStack`) extends both classes with pricing, the budget and the
journal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from ..errors import OutputValidationError
from ..llm.base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage, WrapperModel
from .events import EventBus, ModelCalled
from .outcomes import TaskOutcome
from .plan import Task

__all__ = ["CountedModel", "Meter"]


class Meter:
    """Adds up the usage of one run and reports each call on the event bus; the plain
    :class:`~delegate.core.hooks.CallGateway`.

    On its own (a :class:`~delegate.core.scheduler.Scheduler` given no meter) it counts and
    nothing else: no prices (every call is unpriced), no budget, no store. The run's model
    stack (:class:`delegate.runtime.ModelStack`) extends it with all of those.

    Attributes:
        usage: the run's usage so far; ``by_purpose`` splits it.
        notes: the notes of the model calls, each prefixed by its task (or purpose).
    """

    def __init__(self, run_id: str, bus: EventBus) -> None:
        self.run_id = run_id
        self.bus = bus
        self.usage = Usage()
        self.by_purpose: dict[str, Usage] = {}
        self.notes: list[str] = []

    # the gateway
    @property
    def budget_reached(self) -> str | None:
        return None

    @property
    def cancel_on_stop(self) -> bool:
        return False

    @property
    def restores(self) -> bool:
        return False

    def wrap(self, model: Model, task_id: str = "", purpose: str = "task") -> Model:
        """``model`` with its calls counted on this meter."""
        return CountedModel(model, self, task_id, purpose)

    async def sleep(self, seconds: float,
                    sleep: Callable[[float], Awaitable[Any]] | None = None) -> None:
        await (sleep or asyncio.sleep)(seconds)

    def on_stop(self, listener: Callable[[str], None]) -> Callable[[], None]:
        return lambda: None  # no budget: never stops

    def restore(self, task: Task) -> TaskOutcome | None:
        return None

    def check(self, model: Model | None) -> None:  # no limits: nothing to refuse,
        pass

    def start(self) -> None:  # no clock to start,
        pass

    def close(self) -> None:  # and none to stop
        pass

    # the ledger
    def usage_by_purpose(self) -> dict[str, Usage]:
        """A copy of the usage so far split by purpose (``plan``, ``task``, ``review``,
        ``revision``, ``synthesis``, or whatever a caller named); the parts add up to
        :attr:`usage`."""
        return {purpose: replace(usage) for purpose, usage in self.by_purpose.items()}

    def record(self, task_id: str, purpose: str, model: str, response: ModelResponse,
               source: str = "model", messages: Sequence[Message] = (),
               settings: ModelSettings | None = None) -> None:
        """Count one call, answered by ``source`` (``model``, ``cache``, ``journal``), and
        announce it. ``response.usage`` is counted whole, its price included: a call with
        ``unpriced_calls`` has no known cost."""
        usage = response.usage
        self.usage += usage
        part = self.by_purpose.get(purpose)
        if part is None:
            part = self.by_purpose[purpose] = Usage()
        part += usage
        for note in response.notes:
            self.notes.append(f"{task_id or purpose}: {note}")
        if self.bus.active:
            self.bus.emit(ModelCalled(
                run_id=self.run_id, task_id=task_id, purpose=purpose, model=model,
                prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                latency_seconds=usage.latency_seconds, notes=response.notes, source=source,
                messages=tuple(messages), response=response, settings=settings,
                cost_usd=None if usage.unpriced_calls else usage.cost_usd))


class CountedModel(WrapperModel):
    """A model whose calls are counted on a :class:`Meter`, attributed to a task and to a
    purpose: the metering layer of a model stack.

    A call's usage is priced by :meth:`cost` (here: unknown, so the call counts as unpriced;
    :class:`delegate.limits.metering.MeteredModel` prices it) and the response goes back with
    that price in its usage. An answer that failed validation still cost its tokens: they are
    counted, and the error's ``usage`` is priced the same way before it is re-raised.
    """

    def __init__(self, wrapped: Model, meter: Meter, task_id: str = "",
                 purpose: str = "task") -> None:
        super().__init__(wrapped)
        self.meter = meter
        self.task_id = task_id
        self.purpose = purpose

    def cost(self, usage: Usage) -> float | None:
        """What ``usage`` cost in dollars, or ``None`` when the price is unknown."""
        return None

    def priced(self, usage: Usage) -> Usage:
        cost = self.cost(usage)
        return replace(usage, cost_usd=cost or 0.0, unpriced_calls=int(cost is None))

    async def request(
        self,
        messages: Sequence[Message],
        *,
        output: OutputType = None,
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        try:
            response = await self.wrapped.request(messages, output=output, settings=settings)
        except OutputValidationError as exc:  # the failed attempts still cost tokens
            if exc.usage is not None:
                exc.usage = self.priced(exc.usage)
                failed = ModelResponse(text=exc.output, usage=exc.usage,
                                       notes=(f"invalid output: {exc.message}",))
                self.meter.record(self.task_id, self.purpose, self.name, failed,
                                  messages=messages, settings=settings)
            raise
        response = replace(response, usage=self.priced(response.usage))
        self.meter.record(self.task_id, self.purpose, self.name, response,
                          messages=messages, settings=settings)
        return response
