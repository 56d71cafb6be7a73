"""Counting what a run's model calls cost, by wrapping the models it uses.

Every model call of a run (planning, each worker, synthesis) goes through a
:class:`MeteredModel` that adds its usage to the run's :class:`Meter` and emits a
:class:`~delegate.events.ModelCalled` event. Providers know nothing of this.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import OutputValidationError
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

    def record(self, task_id: str, purpose: str, model: str, response: ModelResponse) -> None:
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
        try:
            response = await self.wrapped.request(messages, output=output, settings=settings)
        except OutputValidationError as exc:  # the failed attempts still cost tokens
            if exc.usage is not None:
                failed = ModelResponse(text=exc.output, usage=exc.usage,
                                       notes=(f"invalid output: {exc.message}",))
                self.meter.record(self.task_id, self.purpose, self.wrapped.name, failed)
            raise
        self.meter.record(self.task_id, self.purpose, self.wrapped.name, response)
        return response
