"""Budgets per run: tokens, dollars and seconds.

A :class:`Budget` is checked before every model call of a run (:meth:`BudgetGuard.admit`).
The call is admitted when the run's usage so far plus the most the call can add still fits:
its prompt (counted with the model's tokenizer where it has one, else estimated at four
characters a token, as the rate limiter does) plus its ``max_tokens`` (or
:data:`DEFAULT_RESERVE` where none is set), priced with the run's price table for the
dollar budget. The time budget is spent once the run has been going that long, whether or
not a call is waiting.

The first call that does not fit, or the end of the time, **stops** the run: no task starts
after that; tasks already running finish (``on_exceed="finish"``, the default; their further
calls are still admitted while they fit) or are cancelled (``"cancel"``); the refused call
raises :class:`~delegate.errors.BudgetExceeded` in its task. Review and replanning rounds do
not start. The synthesizer still writes the answer from the work that completed, saying what
is missing, if its own call fits; when it does not, the answer is assembled from the
completed results without a model, and the run's notes say so. The result's
``budget_reached`` says which budget was reached and how.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from .errors import BudgetExceeded, UsageError
from .llm.base import Message, Model, ModelSettings, Usage
from .pricing import PriceTable
from .ratelimit import DEFAULT_COMPLETION_RESERVE, estimate_tokens

__all__ = ["DEFAULT_RESERVE", "Budget", "BudgetGuard", "reserve_tokens"]

#: Completion tokens reserved for a call that sets no ``max_tokens``.
DEFAULT_RESERVE = DEFAULT_COMPLETION_RESERVE


def reserve_tokens(model: Model, messages: Sequence[Message],
                   settings: ModelSettings | None) -> tuple[int, int]:
    """The most a call can cost in tokens: (prompt, completion), reckoned as the rate
    limiter reckons it (:func:`delegate.ratelimit.estimate_tokens`)."""
    completion = settings.max_tokens if settings and settings.max_tokens else DEFAULT_RESERVE
    return estimate_tokens(model, messages), completion


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits for one run; ``None`` means no limit of that kind."""

    tokens: int | None = None
    usd: float | None = None
    seconds: float | None = None
    on_exceed: Literal["finish", "cancel"] = "finish"

    def __post_init__(self) -> None:
        for name in ("tokens", "usd", "seconds"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise UsageError(f"the {name} budget must be a positive number")
        if self.on_exceed not in ("finish", "cancel"):
            raise UsageError("on_exceed must be 'finish' or 'cancel'")


class BudgetGuard:
    """Holds one run to its budget. The run's meter asks it before every call."""

    def __init__(self, budget: Budget, prices: PriceTable) -> None:
        self.budget = budget
        self.prices = prices
        self.reached: str | None = None
        self._started = time.monotonic()
        self._listeners: list[Callable[[str], None]] = []
        self._timer: asyncio.TimerHandle | None = None

    def check(self, model: Model | None) -> None:
        """Refuse, before anything runs, a dollar budget on a model with no price."""
        if (self.budget.usd is not None and model is not None
                and self.prices.price(model.provider, model.model_name) is None):
            raise UsageError(f"a dollar budget needs the price of {model.name}; give it in a "
                             "prices file (--prices or DELEGATE_PRICES)")

    def start(self) -> None:
        """Start the clock (and the timer of the time budget) at the start of the run."""
        self._started = time.monotonic()
        if self.budget.seconds is not None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(
                self.budget.seconds, self.stop,
                f"time budget of {self.budget.seconds:g}s reached")

    def on_stop(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(reason)`` when the run stops; returns a function that removes it."""
        self._listeners.append(listener)
        if self.reached is not None:
            listener(self.reached)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def stop(self, reason: str) -> None:
        if self.reached is not None:
            return
        self.reached = reason
        for listener in list(self._listeners):
            listener(reason)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def admit(self, model: Model, messages: Sequence[Message],
              settings: ModelSettings | None, usage: Usage) -> None:
        """Return if the call fits what is left; else stop the run and raise."""
        budget = self.budget
        self.check(model)
        why = None
        if budget.seconds is not None and time.monotonic() - self._started >= budget.seconds:
            why = f"time budget of {budget.seconds:g}s reached"
        else:
            prompt, completion = reserve_tokens(model, messages, settings)
            used = usage.prompt_tokens + usage.completion_tokens
            if budget.tokens is not None and used + prompt + completion > budget.tokens:
                why = (f"token budget of {budget.tokens:,} reached: {used:,} used, the next "
                       f"call needs up to {prompt + completion:,}")
            elif budget.usd is not None:
                cost = self.prices.cost(model.provider, model.model_name, prompt, completion)
                if usage.cost_usd + (cost or 0.0) > budget.usd:
                    why = (f"dollar budget of ${budget.usd:g} reached: "
                           f"${usage.cost_usd:.4f} spent, the next call may cost "
                           f"${cost:.4f}")
        if why is not None:
            self.stop(why)
            raise BudgetExceeded(why)
