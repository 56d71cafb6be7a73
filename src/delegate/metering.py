"""Counting what a run's model calls cost, by wrapping the models it uses.

Every model call of a run (planning, each worker, synthesis) goes through a
:class:`MeteredModel` that adds its usage to the run's :class:`Meter` and emits a
:class:`~delegate.events.ModelCalled` event. Providers know nothing of this.
"""

from __future__ import annotations

from collections.abc import Sequence

from .events import EventBus, ModelCalled
from .llm.base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage, WrapperModel

__all__ = ["Meter", "MeteredModel"]


class Meter:
    """Adds up the usage of one run and reports each call on the event bus."""

    def __init__(self, run_id: str, bus: EventBus) -> None:
        self.run_id = run_id
        self.bus = bus
        self.usage = Usage()
        self.notes: list[str] = []

    def record(self, task_id: str, model: str, response: ModelResponse) -> None:
        self.usage += response.usage
        for note in response.notes:
            self.notes.append(f"{task_id or 'run'}: {note}")
        if self.bus.active:
            self.bus.emit(
                ModelCalled(
                    run_id=self.run_id,
                    task_id=task_id,
                    model=model,
                    prompt_tokens=response.usage.prompt_tokens,
                    completion_tokens=response.usage.completion_tokens,
                    latency_seconds=response.usage.latency_seconds,
                    notes=response.notes,
                )
            )


class MeteredModel(WrapperModel):
    """A model whose calls are recorded on a :class:`Meter`, attributed to ``task_id``."""

    def __init__(self, wrapped: Model, meter: Meter, task_id: str = "") -> None:
        super().__init__(wrapped)
        self.meter = meter
        self.task_id = task_id

    async def request(
        self,
        messages: Sequence[Message],
        *,
        output: OutputType = None,
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        response = await self.wrapped.request(messages, output=output, settings=settings)
        self.meter.record(self.task_id, self.wrapped.name, response)
        return response
