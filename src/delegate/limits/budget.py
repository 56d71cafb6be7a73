"""Budgets per run: tokens, dollars and seconds.

A :class:`Budget` is checked before every model call of a run that reaches the budget layer
of its model stack (:class:`BudgetedModel`: below replay and the cache, so an answer from a
run store costs nothing, and above the rate limiter, so a refused call never waits for room).
The call is admitted (:meth:`BudgetGuard.admit`) when the run's usage so far, plus what the
calls still in flight have reserved, plus the most this call can add still fits: its prompt
(counted with the model's tokenizer where it has one, else estimated at four characters a
token, as the rate limiter does) plus its ``max_tokens`` (or :data:`DEFAULT_RESERVE` where
none is set), priced with the run's price table for the dollar budget. An admitted call holds
that reservation until it ends, then settles to what it really used
(:meth:`Reservation.release`, after the metering layer below has counted the usage), so
concurrent calls can never spend more than the budget together. The time budget is spent once
the run has been going that long, whether or not a call is waiting; reaching it interrupts
every wait of the run (retry back-offs, rate-limit queues; see :meth:`BudgetGuard.wait`).

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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from ..core.meter import Meter
from ..errors import BudgetExceeded, UsageError
from ..llm.base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage, WrapperModel
from ..llm.tokens import DEFAULT_COMPLETION_RESERVE, reserve_tokens
from .pricing import PriceTable

__all__ = ["DEFAULT_RESERVE", "Budget", "BudgetGuard", "BudgetedModel", "Reservation",
           "reserve_tokens"]

#: Completion tokens reserved for a call that sets no ``max_tokens``.
DEFAULT_RESERVE = DEFAULT_COMPLETION_RESERVE
T = TypeVar("T")


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


@dataclass(slots=True)
class Reservation:
    """What one admitted call holds of the budget until it ends."""

    guard: BudgetGuard | None
    tokens: int = 0
    usd: float = 0.0

    def release(self) -> None:
        """Give the reservation back (the meter has counted what the call really used by
        then). Idempotent."""
        guard, self.guard = self.guard, None
        if guard is not None:
            guard.reserved_tokens -= self.tokens
            guard.reserved_usd -= self.usd


class BudgetGuard:
    """Holds one run to its budget. The run's :class:`BudgetedModel` layers ask it before
    every call.

    Attributes:
        reached: why the run stopped for its budget, or ``None``.
        reserved_tokens, reserved_usd: what the calls in flight hold.
    """

    def __init__(self, budget: Budget, prices: PriceTable) -> None:
        self.budget = budget
        self.prices = prices
        self.reached: str | None = None
        self.reserved_tokens = 0
        self.reserved_usd = 0.0
        self._started = time.monotonic()
        self._listeners: list[Callable[[str], None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._stopped: asyncio.Event | None = None

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
        if self._stopped is not None:
            self._stopped.set()
        for listener in list(self._listeners):
            listener(reason)

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` unless the run stops for its budget first.

        Raises:
            BudgetExceeded: the budget was reached before ``awaitable`` finished (it is
                cancelled). A wait that would outlast the time budget is cut at its end.
        """
        if self.reached is not None:
            _close(awaitable)
            raise BudgetExceeded(self.reached)
        if self._stopped is None:
            self._stopped = asyncio.Event()
        work = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait((work, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        if work.cancelled() or not work.done():
            raise BudgetExceeded(self.reached or "the budget was reached")
        return work.result()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def remaining_seconds(self) -> float | None:
        """Seconds left of the time budget (``None`` without one)."""
        if self.budget.seconds is None:
            return None
        return max(0.0, self.budget.seconds - (time.monotonic() - self._started))

    def admit(self, model: Model, messages: Sequence[Message],
              settings: ModelSettings | None, usage: Usage) -> Reservation:
        """Reserve what the call may cost if it fits what is left (counting what the calls
        in flight hold); else stop the run and raise :class:`BudgetExceeded`."""
        budget = self.budget
        self.check(model)
        why = None
        tokens, usd = 0, 0.0
        if budget.seconds is not None and time.monotonic() - self._started >= budget.seconds:
            why = f"time budget of {budget.seconds:g}s reached"
        else:
            prompt, completion = reserve_tokens(model, messages, settings)
            tokens = prompt + completion
            used = usage.prompt_tokens + usage.completion_tokens
            held = self.reserved_tokens
            if budget.tokens is not None and used + held + tokens > budget.tokens:
                why = (f"token budget of {budget.tokens:,} reached: {used:,} used"
                       + (f" and {held:,} held by calls in flight" if held else "")
                       + f", the next call needs up to {tokens:,}")
            elif budget.usd is not None:
                usd = self.prices.cost(model.provider, model.model_name, prompt, completion) or 0.0
                spent = usage.cost_usd + self.reserved_usd
                if spent + usd > budget.usd:
                    why = (f"dollar budget of ${budget.usd:g} reached: "
                           f"${spent:.4f} spent or held, the next call may cost ${usd:.4f}")
        if why is not None:
            self.stop(why)
            raise BudgetExceeded(why)
        self.reserved_tokens += tokens
        self.reserved_usd += usd
        return Reservation(self, tokens, usd)


class BudgetedModel(WrapperModel):
    """The budget layer of a run's model stack: each call is admitted by ``guard`` (reserving
    the most it can cost, against what ``meter`` counted so far) before it goes further, and
    gives the reservation back once the layers below have counted what it used.

    Raises:
        BudgetExceeded: the call does not fit what is left (the run stops for its budget).
    """

    def __init__(self, wrapped: Model, guard: BudgetGuard, meter: Meter) -> None:
        super().__init__(wrapped)
        self.guard = guard
        self.meter = meter

    async def request(
        self,
        messages: Sequence[Message],
        *,
        output: OutputType = None,
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        reservation = self.guard.admit(self.wrapped, messages, settings, self.meter.usage)
        try:
            return await self.wrapped.request(messages, output=output, settings=settings)
        finally:  # the metering layer below has counted what the call used by now
            reservation.release()


def _close(awaitable: Awaitable[object]) -> None:
    """Close a coroutine that will never be awaited, so that nothing warns about it."""
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
