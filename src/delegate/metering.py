"""Counting what a run's model calls cost, by wrapping the models it uses.

Every model call of a run (planning, each worker, synthesis) goes through a
:class:`MeteredModel` that adds its usage to the run's :class:`Meter` and emits a
:class:`~delegate.events.ModelCalled` event. Providers know nothing of this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import OutputValidationError
from .events import EventBus, ModelCalled
from .journal import request_key
from .llm.base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage, WrapperModel

if TYPE_CHECKING:
    from .journal import Journal

__all__ = ["Meter", "MeteredModel"]


class Meter:
    """Adds up the usage of one run and reports each call on the event bus.

    With a ``journal`` (a durable run), every call goes through it: answered from the store
    where it can be, committed to the store when a model answered it.
    """

    def __init__(self, run_id: str, bus: EventBus, journal: Journal | None = None) -> None:
        self.run_id = run_id
        self.bus = bus
        self.journal = journal
        self.usage = Usage()
        self.notes: list[str] = []

    def record(self, task_id: str, purpose: str, model: str, response: ModelResponse,
               source: str = "model") -> None:
        self.usage += response.usage
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
                )
            )


class MeteredModel(WrapperModel):
    """A model whose calls are recorded on a :class:`Meter`, attributed to a task or to the
    run's planning or synthesis (``purpose``)."""

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
        journal = self.meter.journal
        if journal is not None:
            key, request = request_key(self.wrapped, messages, output, settings)
            hit = journal.lookup(key, output, settings)
            if hit is not None:
                response, source = hit
                journal.record_call(key, request, response, task_id=self.task_id,
                                    purpose=self.purpose, source=source, settings=settings)
                self.meter.record(self.task_id, self.purpose, self.wrapped.name, response, source)
                return response
        try:
            response = await self.wrapped.request(messages, output=output, settings=settings)
        except OutputValidationError as exc:  # the failed attempts still cost tokens
            if exc.usage is not None:
                failed = ModelResponse(text=exc.output, usage=exc.usage,
                                       notes=(f"invalid output: {exc.message}",))
                self.meter.record(self.task_id, self.purpose, self.wrapped.name, failed)
            raise
        if journal is not None:  # committed before the worker sees the answer
            journal.record_call(key, request, response, task_id=self.task_id,
                                purpose=self.purpose, source="model", settings=settings)
        self.meter.record(self.task_id, self.purpose, self.wrapped.name, response)
        return response
