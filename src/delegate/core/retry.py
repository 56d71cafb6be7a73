"""When and how long to wait before trying a task again.

Only transient failures are retried (timeouts, connection errors, 429 and 5xx; see
:func:`delegate.errors.is_transient`). The policy decides from the exception, or from its
:class:`~delegate.errors.ErrorInfo` when the attempt ran elsewhere and sent back only that.
The delay grows exponentially with jitter and never falls below the server's ``Retry-After``
hint; a hint longer than :attr:`RetryPolicy.max_retry_after` is not waited for: the error is
final.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ..errors import ErrorInfo, is_transient

__all__ = ["DEFAULT_MAX_RETRY_AFTER", "RetryPolicy", "call_with_retry"]

#: The longest ``Retry-After`` a run waits for by default (seconds).
DEFAULT_MAX_RETRY_AFTER = 60.0

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings for tasks and model calls.

    Attributes:
        max_attempts: attempts in all, the first included (1 disables retries).
        base_delay: seconds before the first retry, doubled for each later one.
        max_delay: ceiling on the computed delay (a larger Retry-After still wins).
        jitter: the delay is multiplied by a random factor in ``[1 - jitter, 1 + jitter]``.
        retry_on: which errors are worth another attempt. Given an :class:`ErrorInfo`, the
            default (:func:`is_transient`) reads its ``transient`` flag; any other predicate
            gets the exception rebuilt from it (:meth:`ErrorInfo.exception`).
        max_retry_after: the longest server ``Retry-After`` worth waiting for; an error
            asking for more is not retried (the task fails now rather than sleep past any
            sensible deadline; retrying sooner than the server asked would be refused again).
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25
    retry_on: Callable[[BaseException], bool] = is_transient
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.max_retry_after >= 0:
            raise ValueError("max_retry_after must not be negative")

    def should_retry(self, error: BaseException | ErrorInfo, attempt: int) -> bool:
        """Whether to try again after ``attempt`` (1-based) failed with ``error``."""
        if attempt >= self.max_attempts:
            return False
        judged = (error.exception() if isinstance(error, ErrorInfo)
                  and self.retry_on is not is_transient else error)
        if not self.retry_on(judged):  # type: ignore[arg-type]
            return False
        retry_after = getattr(error, "retry_after", None)
        return retry_after is None or float(retry_after) <= self.max_retry_after

    def delay(self, attempt: int, error: BaseException | ErrorInfo | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt``, honouring ``retry_after``."""
        backoff = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        if self.jitter:
            backoff *= 1 + self.jitter * (2 * self.rng.random() - 1)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            backoff = max(backoff, float(retry_after))
        return max(0.0, backoff)


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> T:
    """Await ``call()``, retrying transient failures under ``policy``."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except Exception as exc:
            if not policy.should_retry(exc, attempt):
                raise
            await (sleep or asyncio.sleep)(policy.delay(attempt, exc))
