"""Metering and pricing: the layer of a run's model stack that counts what each call cost.

Every model call of a run (planning, each worker, review, synthesis) goes through a
:class:`MeteredModel` just above the provider (and its output repair): it prices the call with
the run's :class:`~delegate.limits.pricing.PriceTable`, adds its usage to the run's
:class:`~delegate.core.meter.Meter` and emits a :class:`~delegate.core.events.ModelCalled`
event. A call repaired after an invalid answer is one call here, with every attempt's tokens.
Calls answered from a run store never get this far (they cost nothing; the replay layer
counts them). Providers know nothing of this.
"""

from __future__ import annotations

from ..core.config import DEFAULT_CALL_TIMEOUT
from ..core.meter import CountedModel, Meter
from ..llm.base import Model, Usage
from .pricing import PriceTable

__all__ = ["DEFAULT_CALL_TIMEOUT", "PURPOSES", "MeteredModel"]

#: What a model call is for: planning (and replanning), a task's work, the reviewer's
#: verdicts, a worker's rewrite after a review sent its work back, the final synthesis.
PURPOSES = ("plan", "task", "review", "revision", "synthesis")


class MeteredModel(CountedModel):
    """A model whose calls are priced with ``prices`` and counted on ``meter``, attributed
    to a task and to one of :data:`PURPOSES` (``purpose``). A model with no price counts its
    calls as ``unpriced_calls``."""

    def __init__(self, wrapped: Model, meter: Meter, *, prices: PriceTable,
                 task_id: str = "", purpose: str = "task") -> None:
        super().__init__(wrapped, meter, task_id, purpose)
        self.prices = prices

    def cost(self, usage: Usage) -> float | None:
        return self.prices.cost(self.provider, self.model_name, usage.prompt_tokens,
                                usage.completion_tokens)
