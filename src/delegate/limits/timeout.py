"""The call timeout: the layer of a run's model stack that bounds one model call.

It sits below the budget and above the rate limiter, so a call's deadline counts its wait for
rate-limit room too: a call that cannot get room in time fails like one that got no answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ..errors import ModelTimeoutError
from ..llm.base import Message, Model, ModelResponse, ModelSettings, OutputType, WrapperModel

__all__ = ["TimeoutModel"]


class TimeoutModel(WrapperModel):
    """A model whose calls fail with a transient :class:`~delegate.errors.ModelTimeoutError`
    when they take more than ``seconds`` (waits below included)."""

    def __init__(self, wrapped: Model, seconds: float) -> None:
        super().__init__(wrapped)
        self.seconds = seconds

    async def request(
        self,
        messages: Sequence[Message],
        *,
        output: OutputType = None,
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        try:
            async with asyncio.timeout(self.seconds):
                return await self.wrapped.request(messages, output=output, settings=settings)
        except TimeoutError:
            raise ModelTimeoutError(
                f"{self.name} did not answer within {self.seconds:g}s",
                provider=self.provider, model=self.model_name) from None
