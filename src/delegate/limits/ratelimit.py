"""Requests-per-minute and tokens-per-minute limits, shared by every worker of a runtime.

A :class:`RateLimit` comes from a spec such as ``openai:gpt-4o-mini=500rpm/200000tpm,groq=30rpm``
(:func:`parse_rate_limits`, in :mod:`delegate.limits.ratespec`). A runtime's :class:`Limiters`
hold one :class:`RateLimiter` per limit key, so every concurrent worker calling the same
``provider:model`` (or provider) draws from one window; a run's model stack puts a
:class:`RateLimitedModel` over each model it calls, below the budget and above metering.

The limiter keeps a sliding-window log: each admission is an entry ``(time, tokens, 1 request)``
that counts against the limits until ``time + 60``. A request is admitted at the earliest
instant ``t`` at which the entries with ``time > t - 60``, plus the request, fit both limits.
So every half-open 60-second window ``[s, s + 60)`` holds at most the limit: at the last
admission ``t`` inside it, every other entry of the window had ``time >= s > t - 60`` and was
counted. (A token bucket refilling ``C/60`` per second with burst ``C`` cannot promise that:
it admits up to ``2C`` in one window.) Waiters are served first come, first served, so a large
request is never starved by small ones; the head waiter is admitted the moment it fits, by a
timer set to exactly the instant the entries it needs gone expire, and re-examined whenever
room is freed early (a refund) or taken away (a pause).

Time is the running event loop's clock (``loop.time()``, monotonic), and waiting is a loop
timer: a test runs the loop on virtual time and nothing really sleeps.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from ..errors import OutputValidationError, RateLimitError, UsageError
from ..llm.base import Message, Model, ModelResponse, ModelSettings, OutputType, WrapperModel
from ..llm.tokens import DEFAULT_COMPLETION_RESERVE, estimate_tokens, reserve_tokens
from .ratespec import MAX_PER_MINUTE, RateLimit, parse_rate_limits

__all__ = [
    "DEFAULT_COMPLETION_RESERVE",
    "MAX_PER_MINUTE",
    "WINDOW_SECONDS",
    "Limiters",
    "RateLimit",
    "RateLimitedModel",
    "RateLimiter",
    "Reservation",
    "Wait",
    "estimate_tokens",
    "parse_rate_limits",
]

WINDOW_SECONDS = 60.0
#: How a caller's wait for room may be interrupted: awaits its argument unless something
#: (a run's budget, :meth:`delegate.limits.budget.BudgetGuard.wait`) stops it first.
Wait = Callable[[Awaitable[Any]], Awaitable[Any]]


class Reservation:
    """One admission: ``tokens`` and ``requests`` charged at ``admitted_at`` (limiter time)
    until the window passes it. ``live`` while it still counts."""

    __slots__ = ("_limiter", "_settled", "admitted_at", "live", "requests", "tokens")

    def __init__(self, limiter: RateLimiter, at: float, tokens: int, requests: int) -> None:
        self._limiter, self._settled, self.live = limiter, False, True
        self.admitted_at, self.tokens, self.requests = at, tokens, requests

    def settle(self, actual_tokens: int) -> None:
        """Correct the charge to what the call used, once. Less refunds the difference at once
        (the room is free to waiters now); more is charged as a new entry at the current
        time, so it counts for a full window from when it became known."""
        if self._settled:
            raise RuntimeError("this reservation is already settled")
        self._settled = True
        self._limiter._correct(self, max(0, actual_tokens), self.requests)

    def release(self) -> None:
        """Give the whole reservation back (the call was never made)."""
        self._settled = True
        self._limiter._correct(self, 0, 0)


class RateLimiter:
    """A sliding-window limiter over requests and tokens (see the module docstring).

    Call it from one event loop at a time; its time is that loop's ``time()``.
    """

    def __init__(self, limit: RateLimit, name: str = "") -> None:
        self.limit = limit
        self.name = name
        self._log: deque[Reservation] = deque()
        self._tokens = self._requests = 0  # sums over the log
        self._queue: deque[tuple[int, asyncio.Future[Reservation]]] = deque()
        self._paused_until = -math.inf
        self._last = -math.inf
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self, tokens: int) -> Reservation:
        """Wait for room for one request of ``tokens``, first come first served.

        Raises:
            UsageError: ``tokens`` exceeds the whole per-minute token limit (it never fits).
        """
        tpm = self.limit.tokens_per_minute
        if tokens < 0:
            raise ValueError("tokens must not be negative")
        if tpm is not None and tokens > tpm:
            raise UsageError(f"a call reserving {tokens:,} tokens can never fit the limit of "
                             f"{tpm:,} tokens per minute for {self.name or 'this model'}; "
                             "raise the limit or lower max_tokens")
        future = asyncio.get_running_loop().create_future()
        self._queue.append((tokens, future))
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                future.result().release()  # admitted, but the caller is gone
            elif (tokens, future) in self._queue:
                self._queue.remove((tokens, future))
                self._dispatch()
            raise

    def pause(self, seconds: float) -> None:
        """Admit nothing for ``seconds`` from now (a 429's Retry-After); never shortens one."""
        self._paused_until = max(self._paused_until, self._now() + max(0.0, seconds))
        self._dispatch()

    def in_window(self) -> tuple[int, int]:
        """Requests and tokens counted against the limits now; :attr:`waiting` callers queued."""
        self._expire(self._now())
        return self._requests, self._tokens

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def _now(self, at: float = -math.inf) -> float:
        # A loop fires timers up to its clock resolution early; a timer's own deadline counts.
        self._last = max(self._last, asyncio.get_running_loop().time(), at)
        return self._last

    def _expire(self, now: float) -> None:
        while self._log and self._log[0].admitted_at + WINDOW_SECONDS <= now:
            entry = self._log.popleft()
            entry.live = False
            self._tokens -= entry.tokens
            self._requests -= entry.requests

    def _ready_at(self, tokens: int) -> float:
        """Earliest time the log, as it stands, leaves room for ``tokens`` and one request."""
        ready = self._paused_until
        for limit, used, need, field in (
            (self.limit.tokens_per_minute, self._tokens, tokens, "tokens"),
            (self.limit.requests_per_minute, self._requests, 1, "requests"),
        ):
            excess = used + need - limit if limit is not None else 0
            for entry in self._log if excess > 0 else ():
                excess -= getattr(entry, field)
                if excess <= 0:
                    ready = max(ready, entry.admitted_at + WINDOW_SECONDS)
                    break
        return ready

    def _dispatch(self, at: float = -math.inf) -> None:
        """Admit waiters from the head while they fit; else set a timer for when the head will."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self._now(at)
        self._expire(now)
        while self._queue:
            tokens, future = self._queue[0]
            if future.done():  # cancelled while queued
                self._queue.popleft()
                continue
            ready = self._ready_at(tokens)
            if ready > now:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_at(ready, self._dispatch, ready)
                return
            self._queue.popleft()
            future.set_result(self._charge(now, tokens, 1))

    def _charge(self, now: float, tokens: int, requests: int) -> Reservation:
        entry = Reservation(self, now, tokens, requests)
        self._log.append(entry)
        self._tokens += tokens
        self._requests += requests
        return entry

    def _correct(self, entry: Reservation, tokens: int, requests: int) -> None:
        extra = tokens - entry.tokens
        if extra > 0:
            self._charge(self._now(), extra, 0)
            return
        if entry.live:
            self._tokens += extra
            self._requests += requests - entry.requests
        entry.tokens, entry.requests = tokens, requests
        if entry.live and self._queue:
            self._dispatch()


class Limiters:
    """The rate limiters of one application (a :class:`~delegate.runtime.Runtime` holds
    one): one :class:`RateLimiter` per limit key, shared by every model and run under it.
    Nothing is process-wide: two ``Limiters`` share no window.

    Args:
        limits: limits by ``provider`` or ``provider:model`` (see :func:`parse_rate_limits`).
    """

    def __init__(self, limits: Mapping[str, RateLimit] | None = None) -> None:
        self.limits = dict(limits or {})
        self._by_key: dict[str, RateLimiter] = {}

    def limiter(self, key: str, limit: RateLimit) -> RateLimiter:
        """The limiter for ``key``. A different limit for a key replaces its limiter (new
        callers start from an empty window; callers holding the old one keep it)."""
        limiter = self._by_key.get(key)
        if limiter is None or limiter.limit != limit:
            limiter = self._by_key[key] = RateLimiter(limit, key)
        return limiter

    def wrap(self, model: Model, wait: Wait | None = None) -> Model:
        """``model`` wrapped in a :class:`RateLimitedModel` under the most specific limit that
        names it (``provider:model``, else ``provider``); unchanged when none does. ``wait``
        interrupts its waits for room (a run passes its budget's)."""
        if isinstance(model, RateLimitedModel) or not self.limits:
            return model
        provider = model.provider.lower()
        for key in (f"{provider}:{model.model_name}", provider):
            if key in self.limits:
                return RateLimitedModel(model, self.limiter(key, self.limits[key]), wait)
        return model

    def clear(self) -> None:
        self._by_key.clear()


class RateLimitedModel(WrapperModel):
    """A model whose calls wait for room in ``limiter``; the one thing this layer of a run's
    model stack does.

    Each call reserves one request and its prompt tokens (:func:`estimate_tokens`) plus
    ``max_tokens`` (:data:`DEFAULT_COMPLETION_RESERVE` when unset), then settles to the usage
    the response reports. A :class:`RateLimitError` with ``retry_after`` pauses the limiter,
    so every caller of it waits, and is re-raised for the retry policy. A call that fails in
    another way keeps its reservation: what the provider counted is unknown. The wait for
    room goes through ``wait`` when one is given, so that it can be interrupted.
    """

    def __init__(self, wrapped: Model, limiter: RateLimiter, wait: Wait | None = None) -> None:
        super().__init__(wrapped)
        self.limiter = limiter
        self.wait = wait

    async def request(
        self,
        messages: Sequence[Message],
        *,
        output: OutputType = None,
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        acquire = self.limiter.acquire(sum(reserve_tokens(self.wrapped, messages, settings)))
        reservation = await (acquire if self.wait is None else self.wait(acquire))
        try:
            response = await self.wrapped.request(messages, output=output, settings=settings)
        except RateLimitError as exc:
            if exc.retry_after is not None:
                self.limiter.pause(exc.retry_after)
            raise
        except OutputValidationError as exc:
            if exc.usage is not None:
                reservation.settle(exc.usage.total_tokens)
            raise
        reservation.settle(response.usage.total_tokens)
        return response
